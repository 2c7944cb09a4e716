"""Tiny Session objects and predictions for the submission tests, built directly (no files, no loader)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sensorium_models.data.session import Session
from session_builders import make_session

STATIC_TIERS = ["train"] * 10 + ["validation"] * 4 + ["test"] * 8 + ["final_test"] * 8


def static_session(name: str = "static26872-17-20-GrayImageNet-94c6ff995dac583098847cfecd43e7b6") -> Session:
    """30 trials, 5 neurons; test and final_test each show 4 images twice; trial ids hashed as in 2022."""
    rng = np.random.default_rng(0)
    n, n_neurons = len(STATIC_TIERS), 5
    tiers = np.array(STATIC_TIERS)
    order = rng.permutation(n)  # file order is not presentation order
    image_ids = np.concatenate([np.arange(100, 114), np.repeat(np.arange(200, 204), 2), np.repeat(np.arange(300, 304), 2)])
    stimuli, responses = rng.random((n, 1, 2, 3), dtype=np.float32), rng.random((n, n_neurons), dtype=np.float32)
    return make_session("static", name[len("static"):name.index("-GrayImageNet-")], stimuli, responses, tiers[order],
                        name=name, path=Path(name), image_ids=image_ids[order], unit_ids=np.array([11, 3, 25, 7, 19]),
                        trial_ids=np.array([f"{rng.integers(2**62):032x}" for _ in range(n)]))


def static_predictions(session: Session) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        tier: rng.gamma(2.0, 0.5, (len(session.tier_indices(tier)), session.n_neurons)).astype(np.float32)
        for tier in ("test", "final_test")
    }


MOUSE_A = "dynamic29515-10-12-Video-9b4f6a1a067fe51e15306b9628efea20"
MOUSE_B = "dynamic29623-4-9-Video-9b4f6a1a067fe51e15306b9628efea20"
VIDEO_TRIALS = {  # per mouse: (tier, valid frames) of each trial file
    MOUSE_A: [("train", 300), ("oracle", 300), ("live_test_main", 300), ("live_test_main", 320),
              ("final_test_main", 200), ("final_test_main", 300), ("live_test_bonus", 300), ("none", 300)],
    MOUSE_B: [("final_test_main", 320), ("train", 250), ("live_test_main", 200), ("live_test_main", 300),
              ("final_test_main", 300), ("final_test_bonus", 300)],
}
VIDEO_UNITS = {MOUSE_A: np.array([5, 1, 9, 2]), MOUSE_B: np.array([40, 41, 43, 42])}


def video_session(name: str) -> Session:
    """One mouse, 4 neurons, trials of 200, 300 and 320 valid frames (zero-padded to 320)."""
    tiers, lengths = zip(*VIDEO_TRIALS[name])
    n, frames, n_neurons = len(tiers), max(lengths), len(VIDEO_UNITS[name])
    return make_session("video", name, np.zeros((n, frames, 1, 1)), np.zeros((n, frames, n_neurons)), tiers,
                        name=name, path=Path(name), unit_ids=VIDEO_UNITS[name], lengths=np.array(lengths))


def video_sessions() -> list[Session]:
    return [video_session(MOUSE_A), video_session(MOUSE_B)]


OLD_MOUSE = "dynamic29156-11-10-Video-8744edeac3b4d1ce16b680916b5267ce"
VIDEO_TRIALS[OLD_MOUSE] = [("train", 300), ("oracle", 300), ("live_test_main", 300), ("final_test_main", 300),
                           ("live_test_bonus", 300)]
VIDEO_UNITS[OLD_MOUSE] = np.array([7, 8, 9])


def old_mouse_session() -> Session:
    """A 2023 old mouse: every tier ships responses (ones inside the valid frames), so none is hidden."""
    session = video_session(OLD_MOUSE)
    valid = np.arange(session.responses.shape[1])[None, :] < session.lengths[:, None]
    session.responses[:] = valid[:, :, None]
    return session


def video_prediction(session: Session, trial: int) -> np.ndarray:
    """(frames, neurons) whose value encodes where it came from: trial*1000 + frame + neuron/10."""
    frames = np.arange(int(session.lengths[trial]))[:, None]
    neurons = np.arange(session.n_neurons)[None, :]
    return (trial * 1000 + frames + neurons / 10).astype(np.float32)
