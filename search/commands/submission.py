"""``sensorium-search submission validate|write``: check a file against its sessions, or regenerate every
file from a registered ensemble."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from search.api import runs_path as runs_dir
from search.commands.options import MLFLOW_URI, RUNS_DIR


FIRST_FRAMES = (51, 50)
MICE_HELP = "2023: the mice (folder names or keys) the file must hold"
HIDDEN_MICE = "those whose test responses of the file's track are hidden, the mice the server scores"


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("submission", help="check submission files against the sessions they are for")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="check a 2022 CSV or 2023 parquet submission file",
        description="Checks columns and types, that every test trial of the file's tier is present exactly "
        "once and nothing else, neuron ids (the session's, in its order), per-row shapes and finite values. "
        "Prints each problem and exits 1 if there is any.",
    )
    validate.add_argument("file", type=Path, help="e.g. submission_file_live_test.csv or "
                          "predictions_live_main.parquet.brotli (the name decides the tier)")
    validate.add_argument("--data", type=Path, required=True,
                          help="the session folder(s) the file is for: a session folder, its zip, or a folder of them")
    validate.add_argument("--mice", nargs="+", metavar="MOUSE", help=f"{MICE_HELP} (default: {HIDDEN_MICE})")
    validate.set_defaults(func=_validate)

    write = actions.add_parser("write", parents=[RUNS_DIR, MLFLOW_URI],
                               help="write (and validate) every submission file from a registered ensemble")
    write.add_argument("--model", required=True, help="registered ensemble, e.g. models:/tiny-ensemble@champion")
    write.add_argument("--data", type=Path, required=True, help="the competition session(s): folder, zip or parent")
    write.add_argument("--out", type=Path, required=True, help="folder for the submission files")
    write.add_argument("--mice", nargs="+", metavar="MOUSE",
                       help=f"{MICE_HELP} (default: the ensemble's data.submission_mice, else {HIDDEN_MICE})")
    write.add_argument("--first-frame", type=int, choices=FIRST_FRAMES, default=None,
                       help="2023 rows hold min(T, 300) - 51 frames from this one: 51 (51..299, ViV1T) or 50 "
                            "(50..298, DwiseNeuro); default: the ensemble's data.submission_first_frame (51)")
    write.set_defaults(func=_write)


def report(file: Path, sessions: list, mice: list[str] | None = None) -> int:
    """Print the file's problems (exit status 1) or one OK line with its row count and tier (status 0)."""
    from sensorium_models.submission import tier_of_file, validate_submission

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        problems = validate_submission(file, sessions, mice)
    for warning in caught:
        print(f"warning: {warning.message}")
    for problem in problems:
        print(f"{file}: {problem}")
    if problems:
        return 1
    print(f"OK: {file} ({_row_count(file)} rows, {tier_of_file(file)})")
    return 0


def _row_count(file: Path) -> int:
    """Data rows of a submission file that has just been validated (so it parses)."""
    if file.suffix == ".csv":
        import csv

        csv.field_size_limit(2**31 - 1)
        with open(file, newline="") as handle:
            return sum(1 for _ in csv.reader(handle)) - 1
    import pyarrow.parquet as pq

    return pq.ParquetFile(file).metadata.num_rows


def _validate(args: argparse.Namespace) -> int:
    from sensorium_models.data import load_sessions

    return report(args.file, load_sessions({"paths": [str(args.data)]}, seed=0), args.mice)


def _write(args: argparse.Namespace) -> int:
    import mlflow

    from search.registry import ENSEMBLE_FILE, download_ensemble, load_ensemble_folder
    from search.tracking import default_tracking_uri
    from sensorium_models.data import as_data_config, load_sessions
    from sensorium_models.errors import UserError
    from sensorium_models.submission import write_submissions
    from sensorium_models.submission.for_predictor import full_trials
    from sensorium_models.yaml_file import read_yaml

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out: {args.out} is a file; expected a folder for the submission files")
    mlflow.set_tracking_uri(args.mlflow_uri or default_tracking_uri(runs_dir(args.runs_dir)))
    folder = download_ensemble(args.model)
    trained = as_data_config(read_yaml(folder / ENSEMBLE_FILE, "ensemble description")["members"][0]["config"]["data"])
    data = load_sessions(full_trials({"paths": [str(args.data)], "max_frames": trained.max_frames,
                                      "train_on_test_tiers": trained.train_on_test_tiers}))
    ensemble, sessions = load_ensemble_folder(folder, data)
    mice = args.mice if args.mice is not None else trained.submission_mice
    first_frame = args.first_frame if args.first_frame is not None else trained.submission_first_frame
    for path in write_submissions(ensemble, sessions, args.out, mice=mice, first_frame=first_frame):
        print(f"OK: {path}")
    return 0
