"""The 2023 competition score, recomputed here from its definition with plain numpy on the submission file
the project writes, against the score the project reports for the same labelled tier.

Definition (the organisers' scorer): per mouse, rows sorted by trial index, each row's (neurons, frames)
prediction transposed and concatenated over trials, likewise the solution (responses at frames
51..min(T, 300)-1); per-neuron Pearson correlation with the population std and eps 1e-8, NaN -> 0, mean over
neurons; then the mean over mice. Correlation to average: per video (trials with identical frames) the mean
over its repeats, videos concatenated, the same correlation.
"""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from sensorium_models.scoring import flat_scores, tier_scores
from sensorium_models.submission import VIDEO_FILES, write_submissions
from session_builders import make_session

MICE = ["dynamic29156-11-10-Video-8744edeac3b4d1ce16b680916b5267ce",
        "dynamic29228-2-10-Video-8744edeac3b4d1ce16b680916b5267ce"]
TIER = "live_test_main"


def labelled_mouse(name: str, seed: int):
    """A mouse whose live main tier shows 3 videos × 3 repeats (lengths 290, 310, 330 frames) and is
    labelled, one trial cut at a dropout; returns it with whole-trial predictions correlated to its responses."""
    rng = np.random.default_rng(seed)
    lengths_by_video = [290, 310, 330]
    videos = [rng.normal(size=(length, 2, 3)).astype(np.float32) for length in lengths_by_video]
    video_of = [0, 1, 2, 0, 1, 2, 2, 0, 1]
    tiers = ["train", "oracle"] + [TIER] * len(video_of)
    lengths = np.array([100, 100] + [lengths_by_video[v] for v in video_of])
    n, frames, neurons = len(tiers), int(lengths.max()), 6 + seed
    stimuli = np.zeros((n, frames, 2, 3), np.float32)
    responses = np.zeros((n, frames, neurons), np.float32)
    for i, length in enumerate(lengths):
        stimuli[i, :length] = videos[video_of[i - 2]][:length] if i >= 2 else rng.normal(size=(length, 2, 3))
        responses[i, :length] = rng.gamma(2.0, 1.0, (length, neurons))
    predictions = {i: (responses[i, :lengths[i]] + rng.normal(0, 2.0, (lengths[i], neurons))).astype(np.float32)
                   for i in range(n)}
    session = make_session("video", name, stimuli, responses, tiers, name=name,
                           unit_ids=np.arange(neurons) + 100 * seed, lengths=lengths.copy(), trial_lengths=lengths)
    session.lengths[4] = 120  # cut at a dropout: it trains on 120 frames, but the server scores it whole
    return session, predictions


def corr(y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """The organisers' per-column correlation (population std, eps 1e-8), NaN -> 0."""
    z1 = (y1 - y1.mean(axis=0)) / (y1.std(axis=0) + 1e-8)
    z2 = (y2 - y2.mean(axis=0)) / (y2.std(axis=0) + 1e-8)
    return np.nan_to_num((z1 * z2).mean(axis=0))


def organiser_scores(rows: list[dict], sessions: dict) -> tuple[float, float]:
    """(single-trial correlation, correlation to average) of submission rows, from the definition."""
    single, average = [], []
    for mouse, session in sessions.items():
        mine = sorted((r for r in rows if r["mouse"] == mouse), key=lambda r: r["trial_indices"])
        predicted = [np.array(r["prediction"], dtype=np.float64).T for r in mine]
        solution = [session.responses[r["trial_indices"], 51:min(int(session.trial_lengths[r["trial_indices"]]), 300)]
                    .astype(np.float64) for r in mine]
        single.append(corr(np.concatenate(solution), np.concatenate(predicted)).mean())
        by_video: dict[bytes, list[int]] = {}
        for k, r in enumerate(mine):
            t = r["trial_indices"]
            by_video.setdefault(session.stimuli[t, :session.trial_lengths[t]].tobytes(), []).append(k)
        mean_p = [np.mean([predicted[k] for k in ks], axis=0) for ks in by_video.values()]
        mean_s = [np.mean([solution[k] for k in ks], axis=0) for ks in by_video.values()]
        average.append(corr(np.concatenate(mean_s), np.concatenate(mean_p)).mean())
    return float(np.mean(single)), float(np.mean(average))


class Predictor:
    def __init__(self, predictions: dict[str, dict[int, np.ndarray]]):
        self.predictions = predictions

    def predict(self, session, trials):
        return [self.predictions[session.name][int(t)] for t in trials]


def test_project_score_matches_the_competition_formula_on_the_written_file(tmp_path):
    built = [labelled_mouse(name, seed) for seed, name in enumerate(MICE, start=1)]
    sessions = [session for session, _ in built]
    predictor = Predictor({session.name: predictions for session, predictions in built})
    written = write_submissions(predictor, sessions, tmp_path, mice=MICE)
    rows = pq.read_table(tmp_path / VIDEO_FILES[TIER]).to_pylist()
    assert tmp_path / VIDEO_FILES[TIER] in written and {len(r["prediction"][0]) for r in rows} == {239, 249}
    expected_single, expected_average = organiser_scores(rows, {s.name: s for s in sessions})

    scores = flat_scores(tier_scores(sessions, lambda s, tier: predictor.predict(s, s.tier_indices(tier))))
    assert scores[f"mean/{TIER}/challenge_corr"] == pytest.approx(expected_single, abs=1e-6)
    assert scores[f"mean/{TIER}/corr_to_average"] == pytest.approx(expected_average, abs=1e-6)
    assert 0.2 < expected_single < expected_average  # the predictions carry signal; averaging removes noise
    per_mouse = [scores[f"{name}/{TIER}/challenge_corr"] for name in MICE]
    assert scores[f"mean/{TIER}/challenge_corr"] == pytest.approx(np.mean(per_mouse))
