"""Whether the Ray cluster a search joins adds nodes for waiting work, and which nodes it may add.

The shipped cluster recipes start a head that offers no CPU and let Ray's autoscaler add GPU workers for
waiting trials: there a trial's resources that no live node offers are what the search waits for, not a
mistake. Every head runs Ray's monitor; without an autoscaling config it runs a read-only autoscaler that
mirrors the live nodes and names each one's type after its id (``node_<id>``, Ray's
``format_readonly_node_type``), while a configured one names its node types (``worker_gpu``, a KubeRay
worker group). The autoscaler v1 publishes those names in the GCS (``__autoscaling_status``); v2 does not,
so there ``search.resources.autoscaling: true`` says it. What the node types offer is read from
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
    types = configured_node_types(autoscaler_status())
    if types is not None:
        return Growth(AUTOSCALER_SAYS, bootstrap_node_types(Path(BOOTSTRAP_CONFIG).expanduser()))
    return Growth(USER_SAYS) if setting is True else None


def autoscaler_status() -> dict | None:
    """The autoscaler v1's last report from the GCS; None before its first, or under v2."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    text = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    return json.loads(text) if text else None


def configured_node_types(status: dict | None) -> set[str] | None:
    """The node type names of an autoscaler with a config; None for the read-only one (or no report)."""
    from ray.autoscaler._private.util import format_readonly_node_type

    mapping = ((status or {}).get("autoscaler_report") or {}).get("node_type_mapping") or {}
    configured = {kind for node, kind in mapping.items() if kind != format_readonly_node_type(node)}
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
