"""``sensorium-search search launch|resume|sync|status|best``: hyperparameter searches by name."""
from __future__ import annotations

import sys

from search.commands.options import ADDRESS, SEARCH_AT, connection_flags

NAME_HELP = "the search's name (its launch --name, by default the YAML's file name)"


def register(subparsers) -> None:
    parser = subparsers.add_parser("search", help="hyperparameter search with Ray Tune, Optuna and ASHA, tracked in MLflow")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    launch = actions.add_parser("launch", parents=[*SEARCH_AT, ADDRESS], help="start a search from a YAML search space")
    launch.add_argument("config", help="search YAML: data/model/trainer blocks and a search block")
    launch.add_argument("--name", help="search name (default: the YAML's file name)")
    launch.add_argument("--num-samples", type=int, help="override search.num_samples")
    launch.add_argument("--max-concurrent", type=int, help="override search.max_concurrent")
    launch.set_defaults(func=_launch)

    resume = actions.add_parser("resume", parents=[*SEARCH_AT, ADDRESS], help="continue a stopped or killed search")
    resume.add_argument("name", help=NAME_HELP)
    resume.set_defaults(func=_resume)

    sync = actions.add_parser("sync", parents=SEARCH_AT,
                              help="fill a search's MLflow runs from Tune's results (after the server was away)")
    sync.add_argument("name", help=NAME_HELP)
    sync.set_defaults(func=_sync)

    status = actions.add_parser("status", parents=SEARCH_AT, help="table of a search's trials")
    status.add_argument("name", help=NAME_HELP)
    status.set_defaults(func=_status)

    best = actions.add_parser("best", parents=SEARCH_AT, help="the best trial's configuration as YAML, ready for train")
    best.add_argument("name", help=NAME_HELP)
    best.add_argument("--output", "-o", help="write the YAML here instead of stdout")
    best.set_defaults(func=_best)


def _launch(args) -> int:
    from search import api

    spec = api.load(args.config, args.name, num_samples=args.num_samples, max_concurrent=args.max_concurrent)
    args.interrupt_hint = _resume_hint(spec.name, args)
    return _ended(api.launch(spec, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri,
                             address=args.address), args)


def _resume(args) -> int:
    from search import api

    args.interrupt_hint = _resume_hint(args.name, args)
    return _ended(api.resume(args.name, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri,
                             address=args.address), args)


def _ended(result, args) -> int:
    """The search's last lines and its exit status: 130 interrupted, 1 when every trial failed, else 0."""
    print(f"search {result.name} {'done' if result.finished else 'interrupted'}: {result.summary()}")
    if not result.finished:
        print(f"  {_resume_hint(result.name, args)}")
        return 130
    if result.all_failed:
        print(f"  every trial failed; the first one's error: {result.trials[0].error}", file=sys.stderr)
        return 1
    print(f"  best configuration: sensorium-search search best {result.name}{connection_flags(args)}")
    return 0


def _resume_hint(name: str, args) -> str:
    return f"continue with: sensorium-search search resume {name}{connection_flags(args)}"


def _sync(args) -> int:
    from search import api

    print(api.sync(args.name, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri).line(args.name))
    return 0


def _status(args) -> int:
    from search import api

    found = api.status(args.name, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri)
    record = found.record
    print(f"search {found.spec.name} ({record.experiment_path}; MLflow {record.tracking_uri}, "
          f"parent run {record.parent_run_id})")
    print(found.summary())
    if found.concentration():
        print(found.concentration())
    print(found.table())
    return 0


def _best(args) -> int:
    import yaml

    from search import api
    from sensorium_models.atomic import atomic_path, check_target

    if args.output:
        check_target(args.output)  # a folder there is the user's: refuse before reading anything
    found = api.best(args.name, runs_dir=args.runs_dir, storage=args.storage, mlflow_uri=args.mlflow_uri)
    trial = found.trial
    header = (f"# best trial {trial.trial_id} of search {found.search}: {found.metric} {trial.best:.4f} "
              f"({trial.state.lower()}, {trial.epochs} epochs); the search trained with --seed {found.seed}\n")
    text = header + yaml.safe_dump(found.run.blocks(), sort_keys=False)
    if args.output:
        with atomic_path(args.output) as tmp:
            tmp.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
