"""Ray's real autoscaler on a LocalCluster: the head's monitor adds worker nodes as trials wait, each a
raylet on this machine at its own loopback address.

Ray ships a provider for this (``fake_multinode``: the head started with ``RAY_FAKE_CLUSTER=1`` and an
``--autoscaling-config``), but it starts each worker at the machine's network address: the monitor process
runs no node of its own, so Ray asks the network which address is ours. This provider starts the same
workers with Ray's address lookup answering 127.0.0.3, 127.0.0.4, ... (Ray internals pinned at 2.60.0).
Worker raylets are children of the head's monitor, so ``LocalCluster.stop`` ends them with the head.
``RAY_enable_autoscaler_v2=1`` in the environment runs Ray's autoscaler v2 instead of v1.
"""
from __future__ import annotations

from unittest import mock

from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID, FakeMultiNodeProvider

from clusters.loopback import worker_ip

HEAD_TYPE = "ray.head.default"


def autoscaling_config(gcs_address: str, head_cpus: int, worker_types: dict[str, dict]) -> dict:
    """The autoscaler's config: a head of ``head_cpus`` and the worker types it may add
    (``{name: {"resources": {"CPU": 1}, "max_workers": 1}}``), started through this provider."""
    types = {name: {"node_config": {}, "min_workers": 0, **spec} for name, spec in worker_types.items()}
    return {
        "cluster_name": "local", "max_workers": sum(t.get("max_workers", 1) for t in types.values()),
        "upscaling_speed": 1.0, "idle_timeout_minutes": 60,
        "provider": {"type": "external", "module": f"{__name__}.LoopbackFakeProvider", "gcs_address": gcs_address,
                     "use_node_id_as_ip": True, "disable_node_updaters": True, "disable_launch_config_check": True},
        "available_node_types": {HEAD_TYPE: {"resources": {"CPU": head_cpus}, "node_config": {}, "max_workers": 0},
                                 **types},
        "head_node_type": HEAD_TYPE, "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


def head_env() -> dict[str, str]:
    """The head's environment: the fake provider's switch, an autoscaler that looks each second (not each
    5), and the head's instance id and node type as a cloud (and KubeRay) gives them, which v2 reads."""
    return {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_NODE_ID,
            "RAY_NODE_TYPE_NAME": HEAD_TYPE}


class LoopbackFakeProvider(FakeMultiNodeProvider):
    """Ray's fake multi-node provider, each new worker at the next loopback address."""

    def _create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        import ray

        ip = worker_ip(self._next_node_id)  # the parent numbers its workers from 1; the head is 127.0.0.2
        ours = lambda address=None: ip  # noqa: E731
        with mock.patch.object(ray._private.services, "get_node_ip_address", ours), \
                mock.patch.object(ray.util, "get_node_ip_address", ours):
            super()._create_node_with_resources_and_labels(node_config, tags, count, resources, labels)
