"""``sensorium-search search launch|resume|sync|status|best``: hyperparameter searches by name."""
from __future__ import annotations

import argparse
import sys

from search.commands.options import ADDRESS, MLFLOW_URI, RECORDED_MLFLOW, RUNS_DIR, runs_dir

STORAGE = argparse.ArgumentParser(add_help=False)
STORAGE.add_argument("--storage", help="Tune results, checkpoints and the search's record: a folder or s3://... "
                                       "(launch: default <runs>/ray_results; the others read the search from "
                                       "there, e.g. on another machine)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("search", help="hyperparameter search with Ray Tune, Optuna and ASHA, tracked in MLflow")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    launch = actions.add_parser("launch", parents=[RUNS_DIR, ADDRESS, MLFLOW_URI, STORAGE],
                                help="start a search from a YAML search space")
    launch.add_argument("config", help="search YAML: data/model/trainer blocks and a search block")
    launch.add_argument("--name", help="search name (default: the YAML's file name)")
    launch.add_argument("--num-samples", type=int, help="override search.num_samples")
    launch.add_argument("--max-concurrent", type=int, help="override search.max_concurrent")
    launch.set_defaults(func=_launch)

    resume = actions.add_parser("resume", parents=[RUNS_DIR, ADDRESS, STORAGE, RECORDED_MLFLOW],
                                help="continue a stopped or killed search")
    resume.add_argument("name")
    resume.set_defaults(func=_resume)

    sync = actions.add_parser("sync", parents=[RUNS_DIR, STORAGE, RECORDED_MLFLOW],
                              help="fill a search's MLflow runs from Tune's results (after the server was away)")
    sync.add_argument("name")
    sync.set_defaults(func=_sync)

    status = actions.add_parser("status", parents=[RUNS_DIR, STORAGE], help="table of a search's trials")
    status.add_argument("name")
    status.set_defaults(func=_status)

    best = actions.add_parser("best", parents=[RUNS_DIR, STORAGE],
                              help="the best trial's configuration as YAML, ready for train")
    best.add_argument("name")
    best.add_argument("--output", "-o", help="write the YAML here instead of stdout")
    best.set_defaults(func=_best)


def _launch(args) -> int:
    from search.config import load_spec
    from search.run import launch, schemas

    overrides = {"num_samples": args.num_samples, "max_concurrent": args.max_concurrent}
    spec = load_spec(args.config, schemas(), args.name, overrides)
    args.interrupt_hint = _resume_hint(spec.name, args)
    return launch(spec, runs_dir(args.runs_dir), args.storage, args.mlflow_uri, args.address)


def _resume(args) -> int:
    from search.run import resume

    args.interrupt_hint = _resume_hint(args.name, args)
    return resume(args.name, runs_dir(args.runs_dir), args.address, args.storage, args.mlflow_uri)


def _sync(args) -> int:
    from search.run import SearchRecord, load_trials, sync

    record = SearchRecord.read(runs_dir(args.runs_dir), args.name, args.storage, args.mlflow_uri)
    print(sync(record, record.spec(check_paths=False), load_trials(record)).line(args.name))
    return 0


def _resume_hint(name: str, args) -> str:
    runs = f" --runs-dir {args.runs_dir}" if args.runs_dir else ""
    storage = f" --storage {args.storage}" if args.storage else ""
    return f"continue with: sensorium-search search resume {name}{runs}{storage}"


def _status(args) -> int:
    from search.concentration import concentration_line
    from search.results import format_table, summary_line, trial_rows
    from search.run import SearchRecord, load_trials

    runs = runs_dir(args.runs_dir)
    record = SearchRecord.read(runs, args.name, args.storage)
    spec = record.spec(check_paths=False)
    rows = trial_rows(load_trials(record), spec)
    print(f"search {spec.name} ({record.experiment_path}; MLflow {record.tracking_uri}, parent run {record.parent_run_id})")
    print(summary_line(rows, spec))
    concentrated = concentration_line([r.params for r in rows], spec.searched)
    if concentrated:
        print(concentrated)
    print(format_table(rows, spec))
    return 0


def _best(args) -> int:
    import yaml

    from search.results import best_row, trial_rows
    from search.run import SearchRecord, load_trials
    from sensorium_models.atomic import atomic_path, check_target
    from sensorium_models.errors import UserError

    if args.output:
        check_target(args.output)  # a folder there is the user's: refuse before reading anything
    runs = runs_dir(args.runs_dir)
    record = SearchRecord.read(runs, args.name, args.storage)
    spec = record.spec(check_paths=False)
    best = best_row(trial_rows(load_trials(record), spec), spec.settings.mode)
    if best is None:
        raise UserError(f"search {args.name!r}: no trial has reported {spec.settings.metric} yet")
    header = (f"# best trial {best.trial_id} of search {spec.name}: {spec.settings.metric} {best.best:.4f} "
              f"({best.state.lower()}, {best.epochs} epochs); the search trained with --seed {spec.settings.seed}\n")
    text = header + yaml.safe_dump(spec.decode(best.config), sort_keys=False)
    if args.output:
        with atomic_path(args.output) as tmp:
            tmp.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
