"""``sensorium-search demo``: the whole loop on embedded defaults, for both competitions.

For each demo search config: write its synthetic sessions (unless present), summarise them, run the search
(or resume it, or reuse it when it finished), promote its best configurations to a 5-seed ensemble
registered in MLflow, and write validated submission files. Running it again redoes only what is missing,
except promotion, which registers a fresh version each time.
"""
from __future__ import annotations

from pathlib import Path

from search.commands.options import RUNS_DIR, runs_dir
from search.shipped import CONFIGS

# (competition, shipped search config, synthetic kind, preset): the config's data path (relative: to the working
# directory) is where the data goes.
DEMOS = [
    ("SENSORIUM 2022", CONFIGS / "search" / "demo_static.yaml", "static", "demo"),
    ("SENSORIUM 2023", CONFIGS / "search" / "demo_video.yaml", "video", "tiny"),
]


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", parents=[RUNS_DIR],
                                   help="synthetic data → search → promotion → submission files, both competitions")
    parser.add_argument("--only", choices=["static", "video"], help="run one competition's half only")
    parser.add_argument("--top-k", type=int, default=2, help="configurations promoted per search (default 2)")
    parser.add_argument("--seeds", type=int, default=5, help="members per configuration (default 5)")
    parser.set_defaults(func=_demo)


def _data_path(config: Path) -> Path:
    from sensorium_models.yaml_file import read_yaml

    return Path(read_yaml(config)["data"]["paths"][0])


def _prepare_data(config: Path, kind: str, preset: str) -> list:
    from sensorium_models.data import load_sessions
    from sensorium_models.data.synthetic import synthesize

    folder = _data_path(config)
    if not folder.exists():
        print(f"writing synthetic {kind} sessions ({preset} preset) to {folder}", flush=True)
        synthesize(folder, kind=kind, preset=preset, seed=0)
    sessions = load_sessions({"paths": [str(folder)]})
    for s in sessions:
        tiers = ", ".join(f"{t} {n}" for t, n in zip(*[a.tolist() for a in _tier_counts(s)]))
        print(f"  {s.name}: {s.kind}, {s.n_trials} trials ({tiers}), {s.n_neurons} neurons, "
              f"stimulus {tuple(s.stimuli.shape[1:])}", flush=True)
    return sessions


def _tier_counts(session):
    import numpy as np

    return np.unique(session.tiers, return_counts=True)


def _search(config: Path, name: str, runs: Path) -> None:
    from search.config import load_spec
    from search.results import trial_rows
    from search.run import SearchRecord, launch, load_trials, resume, schemas

    if not SearchRecord.folder(runs, name).exists():
        if launch(load_spec(config, schemas(), name), runs, None, None, None) != 0:
            raise SystemExit(130)
        return
    record = SearchRecord.read(runs, name)
    spec = record.spec()
    rows = trial_rows(load_trials(record), spec)
    if len(rows) < spec.settings.num_samples or any(r.state in ("RUNNING", "PENDING", "PAUSED") for r in rows):
        print(f"search {name} exists and is unfinished: resuming", flush=True)
        if resume(name, runs, None) != 0:
            raise SystemExit(130)
    else:
        print(f"search {name} finished earlier: reusing it (sensorium-search search status {name})", flush=True)


def _demo(args) -> int:
    from search.promote import promote
    from search.run import SearchRecord
    from search.tracking import default_tracking_uri

    runs = runs_dir(args.runs_dir)
    written = []
    for competition, config, kind, preset in DEMOS:
        if args.only and args.only != kind:
            continue
        name = f"demo-{kind}"
        print(f"\n== {competition}: {config.relative_to(CONFIGS.parent)}", flush=True)  # configs/search/...
        _prepare_data(config, kind, preset)
        _search(config, name, runs)
        promote(name, runs, top_k=args.top_k, seeds=args.seeds, alias="champion")
        promotion = SearchRecord.read(runs, name).storage_folder
        written.append((competition, f"{promotion}/promotion/submission", f"{name}-ensemble"))
    print("\n== done")
    for competition, folder, model in written:
        print(f"{competition}: submission files under {folder}; ensemble models:/{model}@champion")
    print(f"MLflow: sensorium-search ui --runs-dir {runs}   (then open the address it prints; "
          f"store {default_tracking_uri(runs)})")
    return 0
