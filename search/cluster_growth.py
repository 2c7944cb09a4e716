"""Whether the Ray cluster a search joins adds nodes for waiting work, and which nodes it may add.

The shipped cluster recipes start a head that offers no CPU and let Ray's autoscaler add GPU workers for
waiting trials: there a trial's resources that no live node offers are what the search waits for, not a
mistake. Every head runs Ray's monitor; without an autoscaling config it runs a read-only autoscaler that
mirrors the live nodes and names each one's type after its id (``node_<id>``, Ray's
``format_readonly_node_type``), while a configured one names its node types (``worker_gpu``, a KubeRay
worker group). The autoscaler v1 publishes those names in the GCS (``__autoscaling_status``), v2 through its
status API (a head started by hand has no type of its own there, one that KubeRay or a cloud starts has).
Where nothing tells, ``search.resources.autoscaling: true`` says it. What the node types offer is read from
``~/ray_bootstrap_config.yaml``, the config the cluster launcher leaves on the head (Tune's own sign of an
autoscaling cluster), when the search runs there. Ray internals pinned at 2.60.0.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"
AUTOSCALER_SAYS = "the cluster's autoscaler adds nodes for waiting trials"
USER_SAYS = "search.resources.autoscaling: true says the cluster adds nodes"


@dataclass(frozen=True)
class Growth:
    """A cluster that adds nodes: ``why`` we think so, and the node types it may add ({} where unknown)."""

    why: str
    node_types: dict[str, dict[str, float]] = field(default_factory=dict)


def cluster_growth(setting: bool | str) -> Growth | None:
    """How the connected cluster grows, per ``search.resources.autoscaling``; None: it does not."""
    if setting is False:
        return None
    if configured_node_types(reported_node_types()) is not None:
        return Growth(AUTOSCALER_SAYS, bootstrap_node_types(Path(BOOTSTRAP_CONFIG).expanduser()))
    return Growth(USER_SAYS) if setting is True else None


def reported_node_types() -> dict[str, str]:
    """Node → node type as the autoscaler last reported them ({} before its first report): v1 in the GCS's
    key-value store, v2 through its status API."""
    import ray
    from ray._private import ray_constants
    from ray._raylet import GCS_AUTOSCALER_STATE_NAMESPACE, GCS_AUTOSCALER_V2_ENABLED_KEY
    from ray.autoscaler.v2.sdk import get_cluster_status
    from ray.experimental.internal_kv import _internal_kv_get

    if _internal_kv_get(GCS_AUTOSCALER_V2_ENABLED_KEY, namespace=GCS_AUTOSCALER_STATE_NAMESPACE) == b"1":
        if ray.util.client.ray.is_connected():  # Ray Client: no GCS address here to ask; nothing tells
            return {}
        status = get_cluster_status(ray.get_runtime_context().gcs_address)
        return {node.node_id: node.ray_node_type_name for node in status.active_nodes + status.idle_nodes}
    text = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    report = (json.loads(text) if text else {}).get("autoscaler_report") or {}
    return report.get("node_type_mapping") or {}


def configured_node_types(mapping: dict[str, str]) -> set[str] | None:
    """The node types of an autoscaler with a config; None for the read-only one (or no report)."""
    from ray.autoscaler._private.util import format_readonly_node_type

    configured = {kind for node, kind in mapping.items() if kind and kind != format_readonly_node_type(node)}
    return configured or None


def bootstrap_node_types(path: Path) -> dict[str, dict[str, float]]:
    """``{type: resources}`` from the cluster launcher's config; {} when absent or a type's CPUs are not
    stated (its resources are then only known once its node starts)."""
    import yaml

    if not path.is_file():
        return {}
    types = (yaml.safe_load(path.read_text()) or {}).get("available_node_types") or {}
    resources = {name: (spec or {}).get("resources") or {} for name, spec in types.items()}
    if not resources or any("CPU" not in r for r in resources.values()):
        return {}
    return {name: {k: float(v) for k, v in r.items()} for name, r in resources.items()}
