"""``sensorium-search promote NAME``: top-k trials → seeds → ensemble → MLflow registry → submission files."""
from __future__ import annotations

from pathlib import Path

from search.commands.options import ADDRESS, SEARCH_AT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "promote", parents=[*SEARCH_AT, ADDRESS],
        help="retrain a search's best configurations with several seeds, ensemble, register, submit",
        description="Takes the top-k completed trials of search NAME, retrains each with --seeds seeds (each on "
        "its own train/validation re-split) as Ray tasks, ensembles each configuration by the mean, scores "
        "members and ensembles, registers the best ensemble in MLflow under --alias and writes validated "
        "submission files. Each member is saved to storage when it finishes: run it again after a crash and "
        "it trains only the members still missing; members, ensemble and submissions go to the search's "
        "storage unless --out names a folder.")
    parser.add_argument("name", help="the search to promote")
    parser.add_argument("--top-k", type=int, default=3, help="configurations to retrain (default 3)")
    parser.add_argument("--seeds", type=int, default=5, help="members per configuration (default 5)")
    parser.add_argument("--ensemble", choices=("best", "top-k"), default="best",
                        help="what is registered and submitted: the best configuration's seeds (default), or every "
                             "member of the top-k configurations averaged, e.g. across the families of one search")
    parser.add_argument("--alias", default="champion", help="registry alias for the best ensemble (default champion)")
    parser.add_argument("--model-name", help="registered model name (default NAME-ensemble)")
    parser.add_argument("--out", type=Path, help="folder for the ensemble and submissions (default: the promotion "
                                                 "folder beside the search's Tune experiment, on its storage)")
    parser.set_defaults(func=_promote)


def _promote(args) -> int:
    from search import api

    result = api.promote(args.name, top_k=args.top_k, seeds=args.seeds, alias=args.alias, model_name=args.model_name,
                         out=args.out, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri,
                         address=args.address, ensemble=args.ensemble)
    best = result.best
    print(f"best: trial {best.trial_id} ({len(best.members)}-member ensemble, members' own-split validation corr "
          f"{best.member_validation:.4f}) registered as {result.model_uri} (version {result.version})")
    print("submission files (validated):")
    for path in result.files:
        print(f"  {path}")
    return 0
