"""The organisers' on-disk layout of one session folder, as constants and one writer.

SENSORIUM 2022 (static) and 2023 (video) folders look alike::

    <name>/data/<modality>/<i>.npy         one file per trial i = 0..n-1
    <name>/meta/trials/<field>.npy         1-D, one entry per trial
    <name>/meta/neurons/<field>.npy        one entry per neuron, response order
    <name>/meta/statistics/<modality>/all/{mean,std,min,max,median}.npy

Static trials: images (1, 144, 256), responses (N,), behavior (3,), pupil_center (2,).
Video trials: videos (36, 64, T), responses (N, T), behavior (2, T), pupil_center (2, T), NaN past the
trial's end. The writer is used by the synthetic generator, so the real reader is what tests exercise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path

STIMULUS = {"static": "images", "video": "videos"}
MODALITIES = {
    "static": ("images", "responses", "behavior", "pupil_center"),
    "video": ("videos", "responses", "behavior", "pupil_center"),
}
STATISTICS = ("mean", "std", "min", "max", "median")
NAME_PREFIX = {"static": "static", "video": "dynamic"}
NAME_SUFFIX = {"static": "-GrayImageNet-", "video": "-Video-"}


def session_name(kind: str, key: str, digest: str) -> str:
    """Folder name as shipped, e.g. ``static26872-17-20-GrayImageNet-<hash>``."""
    return f"{NAME_PREFIX[kind]}{key}{NAME_SUFFIX[kind]}{digest}"


def session_key(name: str) -> str:
    """The data_key (``26872-17-20``) of a folder name; the name itself if it does not follow the pattern."""
    for kind, prefix in NAME_PREFIX.items():
        suffix = NAME_SUFFIX[kind]
        if name.startswith(prefix) and suffix in name:
            return name[len(prefix):name.index(suffix)]
    return name


def trial_statistics(trials: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Statistics over trials as the organisers store them: scalars for images/videos are computed by the
    caller; here per-feature (static) or per-feature-and-frame (video, NaN-aware) over all trials."""
    stacked = np.stack(trials).astype(np.float64)
    return {
        "mean": np.nanmean(stacked, axis=0),
        "std": np.nanstd(stacked, axis=0),
        "min": np.nanmin(stacked, axis=0),
        "max": np.nanmax(stacked, axis=0),
        "median": np.nanmedian(stacked, axis=0),
    }


def write_session(
    folder: str | Path,
    data: dict[str, list[np.ndarray]],
    trials: dict[str, np.ndarray],
    neurons: dict[str, np.ndarray],
    statistics: dict[str, dict[str, np.ndarray]],
) -> Path:
    """Write one session folder in the organisers' layout, atomically (all or nothing).

    ``data`` maps a modality to its per-trial arrays; ``trials``/``neurons`` map field names to arrays;
    ``statistics`` maps a modality to ``{mean, std, min, max, median}``.
    """
    folder = Path(folder)
    with atomic_path(folder) as tmp:
        for modality, arrays in data.items():
            out = tmp / "data" / modality
            out.mkdir(parents=True)
            for i, array in enumerate(arrays):
                np.save(out / f"{i}.npy", array)
        for group, fields in (("trials", trials), ("neurons", neurons)):
            out = tmp / "meta" / group
            out.mkdir(parents=True)
            for field, array in fields.items():
                np.save(out / f"{field}.npy", array)
        for modality, stats in statistics.items():
            out = tmp / "meta" / "statistics" / modality / "all"
            out.mkdir(parents=True)
            for stat, array in stats.items():
                np.save(out / f"{stat}.npy", array)
    return folder
