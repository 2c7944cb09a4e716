"""``sensorium-search data``: look inside sessions (``inspect``) and write synthetic ones (``synth``)."""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect sessions, write synthetic ones")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")

    inspect = actions.add_parser("inspect", help="read sessions and summarise them (builds the cache)")
    inspect.add_argument("path", help="a session folder, its .zip, or a folder holding sessions")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(func=_inspect)

    synth = actions.add_parser("synth", help="write synthetic sessions in the organisers' layout")
    synth.add_argument("--kind", choices=("static", "video"), required=True,
                       help="SENSORIUM 2022 images (static) or 2023 videos (video)")
    synth.add_argument("--out", required=True, help="folder to write the sessions (and ground_truth/) into")
    synth.add_argument("--preset", choices=("tiny", "demo", "realistic"), default="tiny",
                       help="sizes: tiny (tests), demo (the `demo` command), realistic (the release's counts and folder names) (default tiny)")
    synth.add_argument("--sessions", type=int, default=None, help="number of sessions (default: the preset's)")
    synth.add_argument("--trials", type=int, default=None, help="trials per session (default: the preset's)")
    synth.add_argument("--neurons", type=int, default=None, help="neurons per session (default: the preset's)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the synthetic neurons and stimuli (default 0)")
    synth.set_defaults(func=_synth)


def summarise(session) -> dict:
    """What ``inspect`` reports about one session."""
    import numpy as np

    from sensorium_models.data.tiers import hidden_tiers

    tiers, counts = np.unique(session.tiers, return_counts=True)
    stimulus = "images" if session.kind == "static" else "videos"
    return {
        "name": session.name,
        "key": session.key,
        "path": str(session.path),
        "kind": session.kind,
        "trials": session.n_trials,
        "trials_per_tier": {str(t): int(c) for t, c in zip(tiers, counts)},
        "neurons": session.n_neurons,
        "stimulus_shape": list(session.stimuli.shape[1:]),
        "modalities": {stimulus: list(session.stimuli.shape[1:]),
                       "responses": list(session.responses.shape[1:]),
                       "behavior": list(session.behavior.shape[1:]),
                       "pupil_center": list(session.pupil_center.shape[1:])},
        "valid_frames": _valid_frames(session),
        "image_ids": session.image_ids is not None,
        "presentation_order": session.order is not None,
        "hidden_tiers": hidden_tiers(session),
        "quirks": _quirks(session),
    }


def _valid_frames(session) -> list[int] | None:
    """Shortest and longest usable trial, over the trials that were read."""
    if session.lengths is None:
        return None
    used = session.lengths[session.tiers != "none"]
    return [int(used.min()), int(used.max())] if len(used) else [0, 0]


def _quirks(session) -> dict | None:
    """The real release's quirks as the reader met them (video): counts of trials and frames."""
    q = session.quirks
    if not q:
        return None
    return {"trials_cut": q["trials_cut"], "frames_cut": q["frames_cut"], "nan_frames": q["nan_frames"],
            "trials_without_frames": len(q["unusable"]), "none_skipped": q["none_skipped"],
            "hidden_trials": int(session.hidden.sum()), "fields_left_out": len(q["notes"])}


def _inspect(args: argparse.Namespace) -> int:
    from sensorium_models.data import load_sessions

    summaries = [summarise(session) for session in load_sessions({"paths": [args.path]})]
    if args.json:
        print(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
        return 0
    for summary in summaries:
        print(f"{summary['name']}  ({summary['kind']}, key {summary['key']})")
        print(f"  path: {summary['path']}")
        tiers = ", ".join(f"{tier} {count}" for tier, count in summary["trials_per_tier"].items())
        print(f"  trials: {summary['trials']} ({tiers})")
        print(f"  neurons: {summary['neurons']}")
        for modality, shape in summary["modalities"].items():
            print(f"  {modality}: per trial {tuple(shape)}")
        if summary["valid_frames"]:
            print("  valid frames per trial: {} to {}".format(*summary["valid_frames"]))
        print(f"  image ids: {'yes' if summary['image_ids'] else 'no'}")
        print(f"  presentation order: {'recovered' if summary['presentation_order'] else 'not recoverable'}")
        print(f"  hidden test responses: {', '.join(summary['hidden_tiers']) or 'none'}")
        if summary["quirks"]:
            q = summary["quirks"]
            print(f"  quirks: {q['trials_cut']} trials cut at an interior NaN ({q['frames_cut']} frames left out, "
                  f"{q['nan_frames']} NaN frames), {q['trials_without_frames']} without a usable frame, "
                  f"{q['none_skipped']} 'none' trials skipped, {q['hidden_trials']} hidden test trials, "
                  f"{q['fields_left_out']} meta/trials fields left out")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from sensorium_models.data.synthetic import synthesize

    folders = synthesize(args.out, kind=args.kind, preset=args.preset, sessions=args.sessions,
                         trials=args.trials, neurons=args.neurons, seed=args.seed)
    for folder in folders:
        print(folder)
    return 0
