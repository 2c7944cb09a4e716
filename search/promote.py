"""Promotion: the top-k trials of a search, each retrained with several seeds on its own train/validation
re-split (test tiers untouched) as Ray tasks, ensembled by the mean, scored, registered in MLflow under an
alias, and written out as validated submission files.

The best ensemble is chosen by its members' validation correlation on their own held-out splits: the only
score every member earned on data it never trained on. The ensembles' scores on the shipped validation
tier (seen in training by some members) and on labelled test tiers are reported beside it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search.registry import Member, register_ensemble, save_ensemble
from search.results import EARLY_STOPPED, FINISHED
from search.run import SearchRecord, connect_ray, load_trials
from search.space import flatten
from sensorium_models.errors import UserError

SCORED_ROLES = ("validation", "test")


@dataclass
class Candidate:
    """One configuration taken from the search, and what its retrained members and ensemble scored."""

    trial_id: str
    search_score: float
    blocks: dict
    members: list[dict] = field(default_factory=list)   # results of train_member, in seed order
    scores: dict[str, float] = field(default_factory=dict)  # the ensemble's, "<session>/<tier>/<metric>"

    @property
    def member_validation(self) -> float:
        return float(np.mean([m["validation_corr"] for m in self.members]))


def top_candidates(record: SearchRecord, runs: Path, k: int) -> list[Candidate]:
    """The k completed trials (finished or stopped early) with the best search metric, best first."""
    from search.results import trial_rows

    spec = record.spec(runs)
    rows = [r for r in trial_rows(load_trials(record), spec)
            if r.state in (FINISHED, EARLY_STOPPED) and r.best is not None]
    if not rows:
        raise UserError(f"search {record.name!r} has no completed trial to promote")
    rows.sort(key=lambda r: r.best, reverse=spec.settings.mode == "max")
    return [Candidate(r.trial_id, r.best, spec.decode(r.config)) for r in rows[:k]]


def scored_tiers(session) -> list[str]:
    """The shipped validation tiers and the test tiers that carry responses (competition tests are zeroed).
    Decided by the tier label, not the session's roles, which a re-split changes."""
    from sensorium_models.data.session import TIER_ROLES

    return [tier for tier in sorted(set(session.tiers))
            if TIER_ROLES[tier] == "validation"
            or (TIER_ROLES[tier] == "test" and np.any(session.responses[session.tier_indices(tier)] != 0))]


def train_member(blocks: dict, seed: int, threads: int) -> dict:
    """One ensemble member, on a Ray worker: the contracts with a seeded re-split; returns weights,
    its own validation score, a fingerprint of its split and its predictions on the scored tiers."""
    import torch

    from search.trainable import sessions_for
    from sensorium_models.models import build_model
    from sensorium_models.prediction import predict
    from sensorium_models.training import eval_skip, train, trainer_config

    torch.set_num_threads(threads)
    sessions = sessions_for({**blocks["data"], "resplit": True}, seed)
    model = build_model(sessions, blocks["model"], seed)
    result = train(model, sessions, blocks["trainer"], seed)
    model.load_state_dict(result.best_state)
    split = hashlib.sha256(b"".join(s.indices("validation").tobytes() for s in sessions)).hexdigest()[:12]
    predictions = {s.key: {tier: predict(model, s, s.tier_indices(tier)) for tier in scored_tiers(s)}
                   for s in sessions}
    return {"seed": seed, "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "validation_corr": float(result.best_val_corr), "epochs": int(result.epochs), "split": split,
            "skip": eval_skip(model, trainer_config(blocks["trainer"])), "predictions": predictions}


def retrain(candidates: list[Candidate], seeds: list[int], cpus: float, gpus: float) -> None:
    """Every (candidate, seed) member as a Ray task with the search's per-trial resources."""
    import ray

    task = ray.remote(train_member).options(num_cpus=cpus, num_gpus=gpus, max_retries=1)
    pending = {task.remote(c.blocks, seed, max(1, int(cpus))): (c, seed) for c in candidates for seed in seeds}
    results = {}
    remaining = list(pending)
    while remaining:
        done, remaining = ray.wait(remaining, num_returns=1)
        candidate, seed = pending[done[0]]
        results[(candidate.trial_id, seed)] = ray.get(done[0])
        print(f"  member trial {candidate.trial_id} seed {seed}: validation corr "
              f"{results[(candidate.trial_id, seed)]['validation_corr']:.4f} ({len(results)}/{len(pending)})",
              flush=True)
    for candidate in candidates:
        candidate.members = [results[(candidate.trial_id, seed)] for seed in seeds]


def score(sessions, predictions_by_session: dict, skip: int) -> dict[str, float]:
    """Scores of predictions ``{session key: {tier: predictions}}``, keyed ``<session>/<tier>/<metric>``."""
    from sensorium_models.prediction import score_predictions

    scores = {}
    for session in sessions:
        for tier, predictions in predictions_by_session[session.key].items():
            for metric, value in score_predictions(session, session.tier_indices(tier), predictions, skip).items():
                scores[f"{session.key}/{tier}/{metric}"] = value
    return scores


def ensemble_predictions(members: list[dict]) -> dict:
    from sensorium_models.ensemble import mean_predictions

    first = members[0]["predictions"]
    return {key: {tier: mean_predictions([m["predictions"][key][tier] for m in members]) for tier in tiers}
            for key, tiers in first.items()}


def score_table(candidates: list[Candidate], member_scores: dict) -> str:
    """Markdown: one row per member and per ensemble, one column per session/tier/metric."""
    columns = sorted({c for scores in member_scores.values() for c in scores})
    lines = ["| trial | model | own-split val corr | " + " | ".join(columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for candidate in candidates:
        for member in candidate.members:
            cells = member_scores[(candidate.trial_id, member["seed"])]
            lines.append(f"| {candidate.trial_id} | seed {member['seed']} | {member['validation_corr']:.4f} | "
                         + " | ".join(f"{cells.get(c, float('nan')):.4f}" for c in columns) + " |")
        lines.append(f"| {candidate.trial_id} | **ensemble** | {candidate.member_validation:.4f} (mean) | "
                     + " | ".join(f"**{candidate.scores.get(c, float('nan')):.4f}**" for c in columns) + " |")
    return "\n".join(lines)


def promote(name: str, runs: Path, top_k: int, seeds: int, alias: str, out: Path | None,
            address: str | None, registered_name: str | None) -> int:
    """``sensorium-search promote``: see the module docstring. Returns the exit status."""
    from mlflow import MlflowClient
    import mlflow

    from search.registry import load_ensemble_folder
    from search.trainable import sessions_for
    from sensorium_models.submission import write_submissions

    record = SearchRecord.read(runs, name)
    spec = record.spec(runs)
    candidates = top_candidates(record, runs, top_k)
    seed_list = [spec.settings.seed + 100 + i for i in range(seeds)]
    out = (out or runs / "promotions" / name).absolute()
    print(f"promote {name}: top {len(candidates)} trials × {seeds} seeds {seed_list}; Ray {connect_ray(address)}",
          flush=True)

    client = MlflowClient(record.tracking_uri)
    parent = client.create_run(record.experiment_id, run_name=f"{name}-promotion", tags={
        "role": "promotion", "search_name": name, "mlflow.parentRunId": record.parent_run_id})
    parent_id = parent.info.run_id
    try:
        retrain(candidates, seed_list, spec.settings.resources.cpus, spec.settings.resources.gpus)
        member_scores = {}
        for candidate in candidates:
            sessions = sessions_for(candidate.blocks["data"], spec.settings.seed)
            skip = candidate.members[0]["skip"]
            for member in candidate.members:
                member_scores[(candidate.trial_id, member["seed"])] = score(sessions, member["predictions"], skip)
                _log_child(client, record.experiment_id, parent_id, candidate, member,
                           member_scores[(candidate.trial_id, member["seed"])])
            candidate.scores = score(sessions, ensemble_predictions(candidate.members), skip)
        best = max(candidates, key=lambda c: c.member_validation)
        table = score_table(candidates, member_scores)
        print(table)
        client.log_text(parent_id, table, "scores.md")
        client.log_dict(parent_id, best.blocks, "best_config.yaml")
        for key, value in best.scores.items():
            client.log_metric(parent_id, key.replace("/", "."), value)

        sessions = sessions_for(best.blocks["data"], spec.settings.seed)
        members = [Member(best.blocks, m["seed"], m["state_dict"]) for m in best.members]
        folder = save_ensemble(out / "ensemble", members, sessions, {
            "search": name, "trial_id": best.trial_id, "scores": best.scores,
            "member_splits": [m["split"] for m in best.members]})
        mlflow.set_tracking_uri(record.tracking_uri)
        model_name = registered_name or f"{name}-ensemble"
        version = register_ensemble(folder, model_name, alias, parent_id)
        ensemble, matched = load_ensemble_folder(folder, sessions)
        written = write_submissions(ensemble, matched, out / "submission")
        client.set_terminated(parent_id, "FINISHED")
    except BaseException:
        client.set_terminated(parent_id, "FAILED")
        raise
    print(f"best: trial {best.trial_id} ({seeds}-seed ensemble, members' own-split validation corr "
          f"{best.member_validation:.4f}) registered as models:/{model_name}@{alias} (version {version})")
    print("submission files (validated):")
    for path in written:
        print(f"  {path}")
    return 0


def _log_child(client, experiment_id: str, parent_id: str, candidate: Candidate, member: dict,
               scores: dict[str, float]) -> None:
    import time

    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, run_name=f"{candidate.trial_id}-seed{member['seed']}", tags={
        "role": "promotion-member", "mlflow.parentRunId": parent_id, "trial_id": candidate.trial_id,
        "split": member["split"]})
    params = {**{k: json.dumps(v) if isinstance(v, list) else v for k, v in flatten(candidate.blocks).items()},
              "seed": member["seed"], "epochs": member["epochs"]}
    metrics = {"validation_corr_own_split": member["validation_corr"],
               **{k.replace("/", "."): v for k, v in scores.items()}}
    client.log_batch(run.info.run_id,
                     metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.set_terminated(run.info.run_id, "FINISHED")
