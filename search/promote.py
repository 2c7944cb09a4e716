"""Promotion: the top-k trials of a search, each retrained with several seeds on its own train/validation
re-split (test tiers untouched) as Ray tasks, ensembled by the mean, scored, registered in MLflow under an
alias, and written out as validated submission files. With ``ensemble="top-k"`` the published ensemble is
every member of the top-k trials, averaged: of a cross-family search, an ensemble across model families.

The best ensemble is chosen by its members' validation correlation on their own held-out splits: the only
score every member earned on data it never trained on. The ensembles' scores on the shipped validation
tier (seen in training by some members) and on labelled test tiers are reported beside it.

Everything is written to the search's storage (``<experiment>/sensorium-search/promotion/``) unless
``out`` names a folder for the ensemble and the submission files: members as they finish, so a re-run
after a crash trains only the members still missing.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search import storage as store
from search.resources import Resources
from search.members import MemberRecord, train_member
from search.resources import trial_gpus
from search.results import is_completed
from search.run import SearchRecord, connect_ray, load_trials
from search.score_table import score_table, training_note
from sensorium_models.compose import RunConfig, sessions_of
from sensorium_models.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One configuration taken from the search, and what its retrained members and ensemble scored."""

    trial_id: str
    search_score: float
    run: RunConfig
    members: list[MemberRecord] = field(default_factory=list)  # in seed order
    scores: dict[str, float] = field(default_factory=dict)     # the ensemble's, "<session>/<tier>/<metric>"
    member_runs: list[RunConfig] = field(default_factory=list)  # each member's run, where not all ``run``

    @property
    def member_validation(self) -> float:
        return float(np.mean([m.validation_corr for m in self.members]))

    @property
    def runs(self) -> list[RunConfig]:
        return self.member_runs or [self.run] * len(self.members)


def combined(candidates: list[Candidate]) -> Candidate:
    """Every member of ``candidates`` as one ensemble (their data blocks must agree: one set of sessions)."""
    if any(c.run.data != candidates[0].run.data for c in candidates):
        raise UserError("--ensemble top-k: the top trials read different data (a searched data key); use "
                        "--ensemble best")
    members = [m for c in candidates for m in c.members]
    return Candidate(f"top-{len(candidates)}", candidates[0].search_score, candidates[0].run, members,
                     member_runs=[run for c in candidates for run in c.runs])


def top_candidates(record: SearchRecord, spec, k: int) -> list[Candidate]:
    """The k completed trials (finished or stopped early) with the best search metric, best first."""
    from search.results import trial_rows

    rows = [r for r in trial_rows(load_trials(record), spec) if is_completed(r)]
    if not rows:
        raise UserError(f"search {record.name!r} has no completed trial to promote")
    rows = spec.settings.objective.ranked(rows, lambda r: r.best)
    return [Candidate(r.trial_id, r.best, spec.run_config(r.config)) for r in rows[:k]]


def member_options(resources: Resources, candidate: Candidate) -> dict[str, float]:
    """A member's Ray task asks for what its trial asked for: the CPUs, and the GPUs of its configuration
    (``gpus_when``)."""
    return {"num_cpus": resources.cpus, "num_gpus": trial_gpus(resources, candidate.run.blocks())}


def train_members(candidates: list[Candidate], seeds: list[int], promotion: str, resources: Resources,
                  on_member) -> int:
    """Every (candidate, seed) member: reused from storage when an earlier run finished it, else a Ray task
    with its trial's resources. ``on_member(candidate, member)`` runs as each one is ready (reused ones
    first); returns how many were reused."""
    import ray

    found = {(c.trial_id, s): MemberRecord.find(promotion, c.trial_id, s) for c in candidates for s in seeds}
    reused = {key: member for key, member in found.items() if member is not None}
    log.info(f"  members: {len(reused)} of {len(found)} reused from {promotion}, {len(found) - len(reused)} to train")
    by_id = {c.trial_id: c for c in candidates}
    ready = dict(reused)
    for (trial_id, _), member in reused.items():
        on_member(by_id[trial_id], member)
    to_train = [(c, seed) for c in candidates for seed in seeds if (c.trial_id, seed) not in reused]
    task, threads = ray.remote(train_member), max(1, int(resources.cpus))
    epochs = MemberEpochs({c.trial_id: c.run.trainer.max_epochs for c in candidates}) if to_train else None
    pending = {task.options(max_retries=1, **member_options(resources, c)).remote(
                   c.run, c.trial_id, seed, threads, promotion, epochs.queue): (c, seed) for c, seed in to_train}
    remaining = list(pending)
    while remaining:
        done, remaining = ray.wait(remaining, num_returns=1, timeout=MemberEpochs.every_s)
        epochs.show()
        if not done:
            continue
        candidate, seed = pending[done[0]]
        member = MemberRecord(**ray.get(done[0]))
        ready[(candidate.trial_id, seed)] = member
        log.info(f"  member trial {candidate.trial_id} seed {seed}: validation corr {member.validation_corr:.4f} "
                 f"({len(ready)}/{len(found)})")
        on_member(candidate, member)
    if epochs is not None:
        epochs.queue.shutdown()
    for candidate in candidates:
        candidate.members = [ready[(candidate.trial_id, seed)] for seed in seeds]
    return len(reused)


class MemberEpochs:
    """Members' epochs as they train: each member's task puts (trial, seed, epoch, val_corr) on a Ray queue, the
    driver shows a member's first report and then at most one line per member every ``every_s`` seconds."""

    every_s = 10.0

    def __init__(self, max_epochs: dict[str, int]):
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})
        self.max_epochs = max_epochs
        self._shown: dict[tuple[str, int], float] = {}

    def show(self) -> None:
        latest = {}
        while not self.queue.empty():
            trial_id, seed, epoch, val_corr = self.queue.get_nowait()
            latest[(trial_id, seed)] = (epoch, val_corr)
        now = time.monotonic()
        for (trial_id, seed), (epoch, val_corr) in latest.items():
            if (trial_id, seed) not in self._shown or now - self._shown[(trial_id, seed)] >= self.every_s:
                self._shown[(trial_id, seed)] = now
                log.info(f"  {trial_id} seed {seed}: epoch {epoch}/{self.max_epochs[trial_id]}, "
                         f"val_corr {val_corr:.4f}")


def score(sessions, predictions, skip: int) -> dict[str, float]:
    """Scores of ``predictions(session key, tier)``, keyed ``<session>/<tier>/<metric>``, with
    ``mean/<tier>/<metric>`` the mean over the scored mice."""
    from sensorium_models.scoring import flat_scores, tier_scores

    return flat_scores(tier_scores(sessions, lambda session, tier: predictions(session.key, tier), skip))


@contextlib.contextmanager
def ensemble_predictions(members: list[MemberRecord]):
    """``read(session key, tier)``: the mean of the members' predictions of one session's tier, read from
    storage when asked (memory holds one tier of each member, never all of their predictions)."""
    from sensorium_models.ensemble import mean_predictions

    with contextlib.ExitStack() as stack:
        reads = [stack.enter_context(member.stored_predictions()) for member in members]
        yield lambda key, tier: mean_predictions([read(key, tier) for read in reads])


def publish(best: Candidate, record: SearchRecord, seed: int, folder: Path, model_name: str, alias: str,
            parent_id: str) -> tuple[str, list[Path]]:
    """Save the best ensemble into ``folder``, register it, write validated submissions; (version, files)."""
    import mlflow

    from search.registry import Member, data_fingerprint, load_ensemble_folder, register_ensemble, save_ensemble
    from search.tracking import git_commit
    from sensorium_models.submission import write_submissions

    whole = best.run.whole_trials()
    sessions = sessions_of(whole.data, seed)  # rows need whole trials
    members = [Member(run.blocks(), m.seed, m.state_dict()) for run, m in zip(best.runs, best.members)]
    provenance = {"search": record.name, "trial_id": best.trial_id, "git_commit": git_commit(),
                  "data_fingerprint": data_fingerprint(sessions)}
    ensemble_folder = save_ensemble(folder / "ensemble", members, sessions, {
        **provenance, "scores": best.scores, "member_splits": [m.split for m in best.members]})
    mlflow.set_tracking_uri(record.tracking_uri)
    scores = {f"score.{key}": f"{value:.6g}" for key, value in best.scores.items() if key.startswith("mean/")}
    version = register_ensemble(ensemble_folder, model_name, alias, parent_id, [str(p) for p in whole.data.paths],
                                {**provenance, **scores, "members_validation_corr": f"{best.member_validation:.6g}"})
    ensemble, matched = load_ensemble_folder(ensemble_folder, sessions)
    return version, write_submissions(ensemble, matched, folder / "submission", mice=whole.data.submission_mice,
                                      first_frame=whole.data.submission_first_frame)


@dataclass
class PromotionResult:
    """The registered ensemble, what it and the other candidates scored, and the submission files."""

    model_uri: str          # models:/<name>@<alias>
    version: str
    best: Candidate
    candidates: list[Candidate]
    table: str              # the score table as printed
    submission: str         # the folder of the submission files (a path, or a URI on object storage)
    files: list[str]        # validated submission files in it
    members_reused: int


def promote(name: str, runs: Path, *, top_k: int, seeds: int, alias: str, out: Path | None = None,
            address: str | None = None, registered_name: str | None = None, storage: str | None = None,
            tracking_uri: str | None = None, ensemble: str = "best") -> PromotionResult:
    """``sensorium-search promote``: see the module docstring."""
    from search import tracking

    record = SearchRecord.read(runs, name, storage, tracking_uri)
    spec = record.spec()
    candidates = top_candidates(record, spec, top_k)
    seed_list = [spec.settings.seed + 100 + i for i in range(seeds)]
    promotion = store.join(record.storage_folder, "promotion")
    log.info(f"promote {name}: top {len(candidates)} trials × {seeds} seeds {seed_list}; Ray {connect_ray(address)}")
    parent_id = tracking.promotion_run(record.tracking_uri, record.experiment_id, record.parent_run_id, name,
                                       promotion)
    member_scores = {}

    def scored(candidate: Candidate, member: MemberRecord) -> None:
        sessions = sessions_of(candidate.run.whole_trials().data, spec.settings.seed)
        with member.stored_predictions() as read:
            member_scores[(candidate.trial_id, member.seed)] = score(sessions, read, member.skip)
        tracking.log_member(record.tracking_uri, record.experiment_id, parent_id, candidate.run.blocks(), member,
                            member_scores[(candidate.trial_id, member.seed)])

    try:
        reused = train_members(candidates, seed_list, promotion, spec.settings.resources, scored)
        for candidate in candidates:
            sessions = sessions_of(candidate.run.whole_trials().data, spec.settings.seed)
            with ensemble_predictions(candidate.members) as read:
                candidate.scores = score(sessions, read, candidate.members[0].skip)
        best = max(candidates, key=lambda c: c.member_validation)
        if ensemble == "top-k":
            best = combined(candidates)
            sessions = sessions_of(best.run.whole_trials().data, spec.settings.seed)
            with ensemble_predictions(best.members) as read:
                best.scores = score(sessions, read, best.members[0].skip)
        table = score_table(candidates, member_scores, best if ensemble == "top-k" else None)
        # The tiers trained on do not depend on the frames read: the whole-trial sessions publish reads next.
        note = training_note(sessions_of(best.run.whole_trials().data, spec.settings.seed))
        table += f"\n\n{note}" if note else ""
        log.info(table)
        tracking.log_promotion(record.tracking_uri, parent_id, table, best.run.blocks(), best.scores, reused)
        model_name = registered_name or f"{name}-ensemble"
        with tempfile.TemporaryDirectory() as tmp:
            local = out.absolute() if out else Path(promotion) if not store.is_uri(promotion) else Path(tmp)
            version, written = publish(best, record, spec.settings.seed, local, model_name, alias, parent_id)
            submission = str(local / "submission")
            if out is None and store.is_uri(promotion):
                submission = store.join(promotion, "submission")
                for part in ("ensemble", "submission"):
                    store.put_folder(local / part, store.join(promotion, part))
                written = [store.join(promotion, str(p.relative_to(local))) for p in written]
        tracking.end_run(record.tracking_uri, parent_id, "FINISHED")
    except BaseException:
        tracking.end_run(record.tracking_uri, parent_id, "FAILED")
        raise
    return PromotionResult(f"models:/{model_name}@{alias}", version, best, candidates, table, submission,
                           [str(p) for p in written], reused)
