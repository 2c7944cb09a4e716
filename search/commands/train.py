"""``sensorium-search train CONFIG.yaml``: train one configuration with the three contracts, no Ray or MLflow.

The YAML holds a ``data:``, a ``model:`` and a ``trainer:`` block. The best weights, the config and the
final scores are written to ``--out`` in one atomic step, so the folder is complete or absent.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from sensorium_models.atomic import atomic_path, check_target

OUTPUTS = ("model.pt", "config.yaml", "scores.json")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train one configuration (data/model/trainer blocks) without Ray",
        description="Train one model configuration, print its validation and test scores, and save the best "
                    "weights with the config.")
    parser.add_argument("config", type=Path, help="YAML file with data:, model: and trainer: blocks")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, the weights and the batches (default 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for model.pt, config.yaml and scores.json (default runs/train/<config>-seed<S>)")
    parser.set_defaults(func=_train)


def read_train_config(path: Path):
    """The run a train YAML describes (read as search configs are), validated; a missing ``model`` or
    ``trainer`` block means their defaults."""
    from search.config import read_blocks
    from sensorium_models.compose import RunConfig

    return RunConfig.from_blocks(read_blocks(path), f"{path}: ")


def _print_scores(rows: list[dict], sessions) -> None:
    from sensorium_models.data.tiers import trained_test_tiers

    metrics = [m for m in ("challenge_corr", "single_trial_corr", "corr_to_average", "feve")
               if any(m in row for row in rows)]
    width = max([len("session")] + [len(row["session"]) for row in rows])
    print(f"{'session':<{width}} {'tier':<16} {'trials':>6} " + " ".join(f"{m:>17}" for m in metrics))
    for row in rows:
        values = " ".join(f"{row[m]:>17.4f}" if m in row else f"{'-':>17}" for m in metrics)
        print(f"{row['session']:<{width}} {row['tier']:<16} {row['trials']:>6} {values}")
    for session in sessions:
        trained = trained_test_tiers(session)
        if trained:
            print(f"not scored: {session.key} {', '.join(trained)} (trained on: data.train_on_test_tiers)")


def _train(args: argparse.Namespace) -> int:
    import torch

    from search.config import check_family
    from sensorium_models.compose import assemble, schemas
    from sensorium_models.prediction import predict
    from sensorium_models.progress import Progress
    from sensorium_models.scoring import tier_scores
    from sensorium_models.training import eval_skip

    run = read_train_config(args.config)                     # a bad key fails here, before any data is read
    out = args.out or Path("runs") / "train" / f"{args.config.stem}-seed{args.seed}"
    check_target(out, OUTPUTS)                               # refuse a folder of the user's before training
    assembled = assemble(run, args.seed)
    sessions, model, trainer_cfg = assembled.sessions, assembled.model, run.trainer
    check_family(run.blocks(), sessions[0].kind, schemas(), f"{args.config}: ")
    print(f"{len(sessions)} session(s): " + ", ".join(f"{s.key} ({s.kind}, {s.n_trials} trials, "
                                                       f"{s.n_neurons} neurons)" for s in sessions))
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters")
    with Progress(trainer_cfg.max_epochs, "train", unit="epoch") as bar:  # early stopping may end it sooner
        def report(epoch: int, metrics: dict, _checkpoint: Path) -> None:
            bar.update(epoch - bar.done, val_corr=f"{metrics['val_corr']:.4f}", loss=f"{metrics['loss']:.4g}",
                       lr=f"{metrics['lr']:.2g}")

        result = assembled.train(report)
    print(f"best validation correlation {result.best_val_corr:.4f} after {result.epochs} epochs")
    rows = tier_scores(sessions, lambda session, tier: predict(model, session, session.tier_indices(tier),
                                                               batch_size=trainer_cfg.eval_batch_size),
                       eval_skip(trainer_cfg))
    _print_scores(rows, sessions)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        torch.save(result.best_state, tmp / "model.pt")
        (tmp / "config.yaml").write_text(yaml.safe_dump(run.blocks(), sort_keys=False))
        summary = {"seed": args.seed, "best_val_corr": result.best_val_corr, "epochs": result.epochs,
                   "scores": rows, "history": result.history}
        (tmp / "scores.json").write_text(json.dumps(summary, indent=2))
    print(f"saved {out}/model.pt, config.yaml, scores.json")
    return 0
