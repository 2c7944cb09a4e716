"""Tiny sessions in the organisers' layouts, written with ``layout.write_session``, for the data tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sensorium_models.data.layout import session_name, trial_statistics, write_session

STATIC_TIERS = ["train"] * 20 + ["validation"] * 4 + ["test"] * 4 + ["final_test"] * 2
VIDEO_TIERS = ["train"] * 6 + ["oracle"] * 2 + ["live_test_main", "final_test_main", "final_test_bonus", "none"]


def scalar_statistics(trials: list[np.ndarray]) -> dict[str, np.ndarray]:
    values = np.stack(trials).astype(np.float64)
    return {"mean": np.nanmean(values), "std": np.nanstd(values), "min": np.nanmin(values),
            "max": np.nanmax(values), "median": np.nanmedian(values)}


def static_parts(seed: int = 0, neurons: int = 7) -> dict:
    """The arguments of ``write_session`` for a 30-trial static session with real image shape."""
    rng = np.random.default_rng(seed)
    n = len(STATIC_TIERS)
    images = [rng.integers(0, 256, (1, 144, 256)).astype(np.float32) for _ in range(n)]
    responses = [rng.gamma(2.0, 1.0 + np.arange(neurons)).astype(np.float32) for _ in range(n)]
    behavior = [rng.normal([5.0, 0.0, 2.0], [1.0, 0.5, 3.0]).astype(np.float32) for _ in range(n)]
    pupil = [rng.normal([30.0, 20.0], [2.0, 1.0]).astype(np.float32) for _ in range(n)]
    image_ids = np.concatenate([np.arange(100, 124), [7, 7, 8, 8, 9, 9]])
    presented = rng.permutation(n)  # presented[i] = rank of trial i in time
    start = np.datetime64("2019-07-23T13:00:00")
    stamps = [f"Timestamp('{str(start + np.timedelta64(int(4 * r), 's')).replace('T', ' ')}')" for r in presented]
    return {
        "data": {"images": images, "responses": responses, "behavior": behavior, "pupil_center": pupil},
        "trials": {"tiers": np.array(STATIC_TIERS), "frame_image_id": image_ids,
                   "trial_idx": np.array([f"{rng.integers(16**8):08x}" * 4 for _ in range(n)]),
                   "frame_trial_ts": np.array(stamps)},
        "neurons": {"unit_ids": np.arange(1, neurons + 1), "cell_motor_coordinates": rng.normal(size=(neurons, 3))},
        "statistics": {"images": scalar_statistics(images), "responses": trial_statistics(responses),
                       "behavior": trial_statistics(behavior), "pupil_center": trial_statistics(pupil)},
        "presented": presented,
    }


def video_parts(seed: int = 0, neurons: int = 7, frames: int = 40) -> dict:
    """The arguments of ``write_session`` for a 12-trial video session, NaN-padded to ``frames``."""
    rng = np.random.default_rng(seed)
    n = len(VIDEO_TIERS)
    lengths = rng.integers(25, frames + 1, n)
    lengths[0] = frames

    def padded(shape: tuple[int, ...], length: int, values: np.ndarray) -> np.ndarray:
        array = np.full(shape + (frames,), np.nan, dtype=np.float32)
        array[..., :length] = values
        return array

    videos = [padded((36, 64), t, rng.integers(0, 256, (36, 64, t))) for t in lengths]
    responses = [padded((neurons,), t, rng.gamma(2.0, 1.0, (neurons, t)) * (1 + np.arange(neurons))[:, None])
                 for t in lengths]
    behavior = [padded((2,), t, rng.normal(3.0, 2.0, (2, t))) for t in lengths]
    pupil = [padded((2,), t, rng.normal(10.0, 1.5, (2, t))) for t in lengths]
    return {
        "data": {"videos": videos, "responses": responses, "behavior": behavior, "pupil_center": pupil},
        "trials": {"tiers": np.array(VIDEO_TIERS)},
        "neurons": {"unit_ids": np.arange(50, 50 + neurons), "cell_motor_coordinates": rng.normal(size=(neurons, 3))},
        "statistics": {"videos": scalar_statistics(videos), "responses": trial_statistics(responses),
                       "behavior": trial_statistics(behavior), "pupil_center": trial_statistics(pupil)},
        "lengths": lengths,
    }


def write(parts: dict, parent: Path, kind: str, key: str = "11111-1-1") -> Path:
    """Write ``parts`` as a session folder under ``parent``, named as shipped."""
    folder = parent / session_name(kind, key, "0123456789abcdef0123456789abcdef")
    return write_session(folder, parts["data"], parts["trials"], parts["neurons"], parts["statistics"])
