"""``sensorium-search demo``: the whole loop on embedded defaults, for both competitions.

For each demo search config: write its synthetic sessions (unless present), summarise them, run the search
(or resume it, or reuse it when it finished), promote its best configurations to a 5-seed ensemble
registered in MLflow, and write validated submission files. Running it again redoes only what is missing,
except promotion, which registers a fresh version each time.
"""
from __future__ import annotations

from pathlib import Path

from search.commands.options import RUNS_DIR
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
    """Launch the demo search, resume it if a run of the demo was cut short, or reuse it if it finished."""
    from search import api
    from search.results import search_finished
    from search.run import SearchRecord, load_trials

    if SearchRecord.folder(runs, name).exists():
        record = api.record(name, runs_dir=runs)
        if search_finished(load_trials(record), record.spec().settings.num_samples):
            print(f"search {name} finished earlier: reusing it (sensorium-search search status {name})", flush=True)
            return
        print(f"search {name} exists and is unfinished: resuming", flush=True)
        result = api.resume(name, runs_dir=runs)
    else:
        result = api.launch(config, name=name, runs_dir=runs)
    print(f"search {name} {'done' if result.finished else 'interrupted'}: {result.summary()}", flush=True)
    if not result.finished:
        raise SystemExit(130)


def _demo(args) -> int:
    from search import api
    from search.tracking import default_tracking_uri

    runs = api.runs_path(args.runs_dir)
    written = []
    for competition, config, kind, preset in DEMOS:
        if args.only and args.only != kind:
            continue
        name = f"demo-{kind}"
        print(f"\n== {competition}: {config.relative_to(CONFIGS.parent)}", flush=True)  # configs/search/...
        _prepare_data(config, kind, preset)
        _search(config, name, runs)
        promoted = api.promote(name, top_k=args.top_k, seeds=args.seeds, runs_dir=runs)
        written.append((competition, promoted.submission, promoted.model_uri))
    print("\n== done")
    for competition, folder, model in written:
        print(f"{competition}: submission files under {folder}; ensemble {model}")
    print(f"MLflow: sensorium-search ui --runs-dir {runs}   (then open the address it prints; "
          f"store {default_tracking_uri(runs)})")
    return 0
