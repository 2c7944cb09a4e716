"""``sensorium-search cluster local start|stop``: the local multi-node Ray cluster (clusters/local_cluster.py)
from the installed CLI, so it runs outside a checkout too. Its options come from clusters/local_options.py; the
cluster code (which imports Ray) loads only when the command runs."""
from __future__ import annotations

from clusters.local_options import add_actions


def register(subparsers) -> None:
    parser = subparsers.add_parser("cluster", help="Ray clusters to search on (local: nodes on this machine)")
    kinds = parser.add_subparsers(dest="cluster", required=True, metavar="KIND")
    local = kinds.add_parser("local", help="a head and worker nodes on this machine's loopback addresses",
                             description="A Ray cluster of one head and N worker nodes on this machine (stop ends "
                             "exactly the processes start started, by PID).")
    add_actions(local)
    local.set_defaults(func=_local)


def _local(args) -> int:
    from clusters.local_cluster import run

    return run(args)
