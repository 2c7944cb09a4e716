"""The command-line options of the local cluster (``start``, ``stop``), apart from the cluster code: the installed
CLI builds them into ``sensorium-search cluster local`` without importing Ray, which local_cluster.py imports."""
from __future__ import annotations

import argparse

DEFAULT_DIR = "/tmp/sensorium-local-cluster"


def add_actions(parser: argparse.ArgumentParser) -> None:
    """``start`` and ``stop`` as subcommands of ``parser`` (the chosen one lands in ``args.action``)."""
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a head and worker nodes on loopback addresses")
    start.add_argument("--workers", type=int, default=2, help="worker nodes besides the head (default 2)")
    start.add_argument("--cpus-per-node", type=int, default=1, help="logical CPUs each node offers (default 1)")
    start.add_argument("--gpus-per-node", type=int, default=0, help="GPUs each node offers (default 0)")
    start.add_argument("--head-cpus", type=int, default=None,
                       help="CPUs of the head (default --cpus-per-node; 0: no trial runs there, as in the recipes)")
    start.add_argument("--resources", default="{}",
                       help='custom resources of every node, JSON: \'{"big_mem": 1}\' (default none: {})')
    start.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=True,
                       help="start the dashboard (needed for the Jobs API; default on)")
    start.add_argument("--dashboard-port", type=int, default=8265, help="the dashboard's port (default 8265)")
    start.add_argument("--port", type=int, default=None, help="GCS port of the head (default: a free one)")
    start.add_argument("--object-store-mb", type=int, default=256,
                       help="Ray object store per node, in MB (default 256)")
    stop = sub.add_parser("stop", help="stop the cluster started from --dir, by PID")
    for command in (start, stop):
        command.add_argument("--dir", default=DEFAULT_DIR, help=f"logs, token and PID file (default {DEFAULT_DIR})")
