"""Cluster helpers: a local multi-node Ray cluster (``sensorium-search cluster local``), its loopback autoscaler,
PID bookkeeping, and the cloud and KubeRay recipes (YAML, installed with the package)."""
