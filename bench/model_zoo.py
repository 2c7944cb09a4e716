"""Benchmark: the model families side by side on synthetic releases, against the generator's oracle.

Each entry is a shipped train config (``configs/train/tiny_*.yaml``: its model and trainer blocks) or a
shipped model preset (``configs/model/<name>.yaml``) narrowed to CPU size, trained through the project's
own ``sensorium_models.training.train`` with ``--seeds`` seeds and the same epochs for every entry of a
release (the fixed budget; the trainer's early stopping may end a run sooner), then scored on test tiers:

  2023  synthetic video release (``video`` preset): the factorised 3-D baseline, the GRU baseline
        (``conv_gru``), the winner-class ``dwise`` family, and the kit's other options (full 3-D core with the
        static-affine shifter, rotation-equivariant GRU with the factorised readout); challenge correlation
        (frames 51.. of each trial) on the main test tiers, ``live_test_main`` + ``final_test_main`` (a new mouse's hidden
        responses from the ground truth, as the organisers score them), mean over mice.
  2022  synthetic static sessions with the carried-over population state (``state_strength``): the SOTA
        baseline, Model 4's earlier EMA variant, Model 4 as published (with its behaviour normalisation), the
        SENSORIUM+ baseline and seed 001's readout (several receptive-field samples per neuron);
        single-trial correlation on the labelled ``test`` tier, mean over neurons.

The oracle is the same metric on the same trials with the generator's noise-free rates as predictions.
An entry whose config is not on this branch is listed as such. Add a family with one line in ``VIDEO`` or
``STATIC`` and run the bench again: runs already made are read back from ``bench/data/model_zoo/runs.json``
(same entry, config path, data, epochs and seed), so only the new family trains.

    PYTHONPATH=. python bench/model_zoo.py [--release 2023 2022] [--seeds 0 1 2] [--epochs N]
    PYTHONPATH=. python bench/model_zoo.py --quick     # two epochs, one seed, small sessions: proves it runs
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import command_line, header, load_average, parse_args, table, write_result  # noqa: E402
from sensorium_models.atomic import atomic_path  # noqa: E402

DATA = ROOT / "bench" / "data" / "model_zoo"
# CPU size for the 2022 presets (64 channels x 4 layers would take hours here); depthwise convolutions are
# ~4x slower to train on a CPU, so every static entry uses full ones.
NARROW_STATIC = {"hidden_channels": 8, "layers": 2, "input_kern": 9, "hidden_kern": 5, "depth_separable": False}


@dataclass(frozen=True)
class Entry:
    """One family in the zoo: ``train_config`` (a train YAML) or ``preset`` plus ``overrides``; ``data``: data
    options the family needs (Model 4's behaviour normalisation)."""

    name: str
    train_config: str | None = None
    preset: str | None = None
    overrides: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def source(self) -> Path:
        return ROOT / (self.train_config or f"configs/model/{self.preset}.yaml")

    def available(self) -> bool:
        return self.source().is_file()

    def describe(self) -> str:
        """The first sentence of the config's leading comment: what the file says it is."""
        lines = []
        for line in self.source().read_text().splitlines():
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("#").strip())
        text = " ".join(lines)
        end = text.find(". ")
        return (text[:end + 1] if end >= 0 else text) or self.source().name


VIDEO = [
    Entry("factorised 3-D baseline", train_config="configs/train/tiny_video.yaml"),
    Entry("GRU baseline (conv_gru)", train_config="configs/train/tiny_video_gru.yaml"),
    Entry("dwise (winner class)", train_config="configs/train/tiny_video_dwise.yaml"),
    Entry("full 3-D core + static-affine shifter", train_config="configs/train/tiny_video_full3d.yaml"),
    Entry("rotation-equivariant GRU + factorised readout", train_config="configs/train/tiny_video_equivariant.yaml"),
]
STATIC = [
    Entry("SOTA baseline", preset="sota2022", overrides=NARROW_STATIC),
    Entry("Model 4, EMA variant", preset="model4_ema", overrides=NARROW_STATIC),
    Entry("Model 4 (exact)", preset="model4", overrides=NARROW_STATIC, data={"behavior_normalization": "model4"}),
    Entry("SENSORIUM+ baseline", preset="sensorium_plus", overrides=NARROW_STATIC),
    Entry("seed 001: 4 RF samples per neuron", preset="sensorium_plus_samples", overrides=NARROW_STATIC),
]
STATIC_TRAINER = {"batch_size": 64, "lr_init": 0.009, "device": "cpu"}
SIZES = {  # release -> synthesize() arguments; --quick shrinks them
    "2023": {"kind": "video", "preset": "tiny"},
    "2022": {"kind": "static", "preset": "demo", "sessions": 1},
}
EPOCHS = {"2023": 6, "2022": 30}  # per release: the GRU steps frame by frame, ~1 min an epoch on a loaded CPU
STATE_STRENGTH = 0.5  # 2022: std of the carried-over population state's log-rate term


def run_for(entry: Entry, data_path: Path, epochs: int, video: bool, device: str = "cpu"):
    """The run the entry trains: its own config, our data, the fixed epochs."""
    from search.config import BLOCKS, check_blocks, read_blocks
    from sensorium_models.compose import RunConfig

    if entry.train_config:
        model, trainer = (read_blocks(entry.source())[block] for block in ("model", "trainer"))
    else:
        model, trainer = {"preset": entry.preset, **entry.overrides}, dict(STATIC_TRAINER)
    data = {"paths": [str(data_path)], "cache_dir": str(DATA / "cache"), **entry.data}
    if not video:
        data["scale"] = 0.125
    raw = {"data": data, "model": model, "trainer": {**trainer, "max_epochs": epochs, "device": device}}
    return RunConfig.from_blocks(check_blocks(raw, entry.name, BLOCKS), f"{entry.name}: ")  # preset expanded


def synthesize_release(release: str, quick: bool) -> tuple[Path, str]:
    """The release's folder (written once) and a line saying what it holds."""
    from sensorium_models.data.synthetic import synthesize

    size = dict(SIZES[release])
    if quick:
        size |= {"trials": 240, "neurons": 40} if release == "2022" else {"trials": 16, "neurons": 10}
    if release == "2022":
        size["state_strength"] = STATE_STRENGTH  # the carried-over population state Model 4's network state models
    out = DATA / ("-".join(f"{k}{v}" for k, v in size.items()) + ("-quick" if quick else ""))
    if not any(out.glob("*-*")):
        synthesize(out, seed=0, **size)
    return out, ", ".join(f"{k}={v!r}" for k, v in size.items())


TEST_TIERS = {"video": ("live_test_main", "final_test_main"), "static": ("test",)}  # never trained or validated on


def test_trials(session) -> np.ndarray:
    return np.concatenate([session.tier_indices(tier) for tier in TEST_TIERS[session.kind]])


def truth_arrays(session, trials: np.ndarray) -> tuple[list | np.ndarray, list | np.ndarray]:
    """(responses, noise-free rates) of ``trials``, shaped as ``predict`` returns predictions. Responses a
    release hides (a new mouse's test tiers) come from the ground truth, as the organisers score them."""
    from sensorium_models.data.ground_truth import load_ground_truth
    from sensorium_models.prediction import trial_responses

    truth = load_ground_truth(session.path)
    if session.kind == "static":
        return trial_responses(session, trials), np.asarray(truth["rates"][np.asarray(trials)])
    hidden = {int(t): k for k, t in enumerate(np.flatnonzero(truth["hidden"]))}
    cut = [slice(0, int(session.lengths[t])) for t in trials]
    responses = [np.asarray(truth["hidden_responses"][hidden[int(t)]][:, c]).T if int(t) in hidden
                 else np.asarray(session.responses[t, c]) for t, c in zip(trials, cut)]
    return responses, [np.asarray(truth["rates"][t][:, c]).T for t, c in zip(trials, cut)]


def correlation(session, responses, predictions) -> float:
    """The competition's per-mouse score: 2023 challenge correlation, 2022 single-trial correlation."""
    from sensorium_models import metrics

    if session.kind == "video":
        return float(metrics.challenge_correlation(responses, predictions).mean())
    return float(metrics.single_trial_correlation(responses, predictions).mean())


def run_entry(entry: Entry, data_path: Path, epochs: int, seed: int, video: bool, device: str) -> dict:
    """Train one entry with one seed; its test score and the oracle's (mean over mice), epochs, seconds."""
    from sensorium_models.compose import fit, sessions_of
    from sensorium_models.prediction import predict

    run = run_for(entry, data_path, epochs, video, device)
    sessions_of(run.data, seed)  # loaded before the clock starts
    started = time.perf_counter()
    assembled, result = fit(run, seed)
    seconds = time.perf_counter() - started
    sessions, model = assembled.sessions, assembled.model
    scores, oracles = [], []
    for session in (s.whole_trials() for s in sessions):
        trials = test_trials(session)
        responses, rates = truth_arrays(session, trials)
        scores.append(correlation(session, responses, predict(model, session, trials)))
        oracles.append(correlation(session, responses, rates))
    return {"test": float(np.mean(scores)), "oracle": float(np.mean(oracles)), "epochs": result.epochs,
            "val": result.best_val_corr, "seconds": seconds,
            "parameters": sum(p.numel() for p in model.parameters())}


def cached_run(entry: Entry, data_path: Path, epochs: int, seed: int, video: bool, args) -> dict:
    """``run_entry``, kept in ``DATA/runs.json`` by (entry, config, data, epochs, seed): a family added later
    trains alone when the bench runs again (``--fresh`` retrains every entry)."""
    store = DATA / "runs.json"
    done = json.loads(store.read_text()) if store.is_file() else {}
    key = f"{entry.name}|{entry.source().relative_to(ROOT)}|{data_path.name}|epochs {epochs}|seed {seed}|{args.device}"
    if args.fresh or key not in done:
        done[key] = run_entry(entry, data_path, epochs, seed, video, args.device) | {"load": load_average()}
        args.trained += 1
        with atomic_path(store) as tmp:
            tmp.write_text(json.dumps(done, indent=1))
    return done[key]


def release_section(release: str, entries: list[Entry], args) -> str:
    video, epochs = release == "2023", args.epochs_of[release]
    data_path, what = synthesize_release(release, args.quick)
    rows, missing = [], []
    for entry in entries:
        if not entry.available():
            missing.append(f"- {entry.name}: `{entry.source().relative_to(ROOT)}` is not on this branch; not run.")
            continue
        runs = [cached_run(entry, data_path, epochs, seed, video, args) for seed in args.seeds]
        args.runs += len(runs)
        test = np.array([r["test"] for r in runs])
        fraction = test / np.array([r["oracle"] for r in runs])
        rows.append([entry.name, f"`{entry.source().relative_to(ROOT)}`", runs[0]["parameters"],
                     " / ".join(f"{t:.4f}" for t in test), float(test.mean()), float(test.std(ddof=1))
                     if len(test) > 1 else "-", float(fraction.mean()), float(np.mean([r["val"] for r in runs])),
                     " / ".join(str(r["epochs"]) for r in runs), float(np.mean([r["seconds"] for r in runs]))])
        print(f"{release} {entry.name}: test {test.round(4).tolist()}, fraction of oracle {fraction.mean():.3f}",
              flush=True)
    metric = ("challenge correlation on `live_test_main` + `final_test_main` (a new mouse's hidden responses from "
              "the ground truth), mean over mice" if video else "single-trial correlation on the `test` tier")
    lines = [f"## {release}: {'video' if video else 'static'} synthetic release", "",
             f"Data: `synthesize({what}, seed=0)`. Metric: {metric}. Seeds {args.seeds}; at most {epochs} "
             "epochs each (the same for every entry; the trainer's early stopping may end a run sooner).", ""]
    lines.append(table(["family", "config", "parameters", "test per seed", "mean", "std", "fraction of oracle",
                        "best val", "epochs per seed", "build + train s (mean)"], rows) if rows else "Nothing ran.")
    lines += missing
    lines += [""] + [f"- {e.name}: {e.describe()}" for e in entries if e.available()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--release", nargs="+", choices=["2023", "2022"], default=["2023", "2022"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"max epochs, the same for every entry of a release (default: {EPOCHS})")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="trainer.device of every run")
    parser.add_argument("--fresh", action="store_true", help="retrain every entry (default: reuse runs.json)")
    # and small sessions; two epochs: dwise warms up for one; fresh: a quick run trains every entry
    args = parse_args(parser, argv, {"seeds": [0], "epochs": 2, "fresh": True})
    args.epochs_of = {release: args.epochs or EPOCHS[release] for release in args.release}
    args.trained, args.runs = 0, 0
    import torch

    torch.set_num_threads(1)  # every run's setting, so the header says what the runs used
    started = time.perf_counter()
    sections = [release_section(r, VIDEO if r == "2023" else STATIC, args) for r in args.release]
    text = "\n".join([
        header("Model zoo: families side by side on synthetic releases, as fractions of the generator's oracle"),
        f"One torch thread per run, runs one after another. Wall time: {(time.perf_counter() - started) / 60:.0f} "
        f"min; {args.trained} of {args.runs} runs trained by this invocation, the others read back from "
        "`bench/data/model_zoo/runs.json` (the load average each run started at is in that file).", "",
        *sections, "", f"- Reproduce: `{command_line()}`", ""])
    name = "model_zoo" if args.release == ["2023", "2022"] else f"model_zoo_{args.release[0]}"
    print(write_result(name, text, args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
