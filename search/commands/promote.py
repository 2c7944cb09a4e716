"""``sensorium-search promote NAME``: top-k trials → seeds → ensemble → MLflow registry → submission files."""
from __future__ import annotations

import re
from pathlib import Path

from search.commands.options import ADDRESS, RECORDED_MLFLOW, RUNS_DIR, runs_dir


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "promote", parents=[RUNS_DIR, ADDRESS, RECORDED_MLFLOW],
        help="retrain a search's best configurations with several seeds, ensemble, register, submit",
        description="Takes the top-k completed trials of search NAME, retrains each with --seeds seeds (each on "
        "its own train/validation re-split) as Ray tasks, ensembles each configuration by the mean, scores "
        "members and ensembles, registers the best ensemble in MLflow under --alias and writes validated "
        "submission files. Each member is saved to storage when it finishes: run it again after a crash and "
        "it trains only the members still missing.")
    parser.add_argument("name", help="the search to promote")
    parser.add_argument("--top-k", type=int, default=3, help="configurations to retrain (default 3)")
    parser.add_argument("--seeds", type=int, default=5, help="members per configuration (default 5)")
    parser.add_argument("--ensemble", choices=("best", "top-k"), default="best",
                        help="what is registered and submitted: the best configuration's seeds (default), or every "
                             "member of the top-k configurations averaged, e.g. across the families of one search")
    parser.add_argument("--alias", default="champion", help="registry alias for the best ensemble")
    parser.add_argument("--model-name", help="registered model name (default NAME-ensemble)")
    parser.add_argument("--out", type=Path, help="folder for the ensemble and submissions (default: the promotion "
                                                 "folder beside the search's Tune experiment, on its storage)")
    parser.add_argument("--storage", help="read the search from this storage (folder or s3://...), e.g. on another "
                                          "machine; members, ensemble and submissions go there too")
    parser.set_defaults(func=_promote)


def _promote(args) -> int:
    from search.promote import promote
    from sensorium_models.errors import UserError

    if args.top_k < 1 or args.seeds < 1:
        raise UserError(f"--top-k and --seeds must be at least 1 (found {args.top_k}, {args.seeds})")
    if re.fullmatch(r"[vV]\d+|latest", args.alias):
        raise UserError(f"--alias {args.alias!r}: MLflow reserves 'latest' and v<number> aliases; pick another name")
    return promote(args.name, runs_dir(args.runs_dir), top_k=args.top_k, seeds=args.seeds, alias=args.alias,
                   out=args.out, address=args.address, registered_name=args.model_name, storage=args.storage,
                   tracking_uri=args.mlflow_uri, ensemble=args.ensemble)
