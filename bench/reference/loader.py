"""The 2022 starter kit's static loader (``sensorium.datasets.static_loaders``), rebuilt on neuralpredictors 0.3.0.

Per session: ``FileTreeDataset(path, "images", "responses", "behavior", "pupil_center")`` with the kit's
transform chain ``NeuroNormalizer -> AddBehaviorAsChannels -> ScaleInputs(scale) -> Subsample(all neurons) ->
ToTensor(cuda)``, applied per trial in ``__getitem__``; ``SubsetRandomSampler`` on tier ``train``,
``SubsetSequentialSampler`` on the others; one ``DataLoader`` per tier with ``num_workers=0`` (the default).
This is the SENSORIUM+ configuration (behaviour as channels, pupil centre for the shifter).
"""
from __future__ import annotations

import random
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from . import compat  # noqa: F401  (must precede the neuralpredictors imports)
from neuralpredictors.data.datasets import FileTreeDataset
from neuralpredictors.data.samplers import SubsetSequentialSampler
from neuralpredictors.data.transforms import (
    AddBehaviorAsChannels,
    NeuroNormalizer,
    ScaleInputs,
    Subsample,
    ToTensor,
)
from torch.utils.data import DataLoader
from torch.utils.data.sampler import SubsetRandomSampler

TIERS = ("train", "validation", "test")


def set_random_seed(seed: int) -> None:
    """nnfabrik's ``set_random_seed``: Python, NumPy and torch RNGs, deterministic cuDNN."""
    random.seed(seed)
    np.random.seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed(seed)


def data_key_of(path: str) -> str:
    """The kit's data_key: ``static<key>-GrayImageNet-<hash>`` -> ``<key>`` (from the folder name)."""
    name = Path(path).name
    return name.split("static")[-1].split("-GrayImageNet")[0]


def static_loader(path: str, batch_size: int, cuda: bool, scale: float = 0.25) -> tuple[str, dict]:
    """One session's ``{tier: DataLoader}``, as ``static_loader(..., include_behavior=True,
    include_eye_position=True, add_behavior_as_channels=True, normalize=True, scale=scale)``."""
    dat = FileTreeDataset(str(path), "images", "responses", "behavior", "pupil_center")
    neuron_idx = np.arange(len(dat.neurons.unit_ids))
    dat.transforms.extend([
        NeuroNormalizer(dat, exclude=None, inputs_mean=None, inputs_std=None),
        AddBehaviorAsChannels(),
        ScaleInputs(scale=scale),
        Subsample(neuron_idx),
        ToTensor(cuda),
    ])
    tiers = dat.trial_info.tiers
    loaders = {}
    for tier in TIERS:
        subset = np.where(tiers == tier)[0]
        sampler = SubsetRandomSampler(subset) if tier == "train" else SubsetSequentialSampler(subset)
        loaders[tier] = DataLoader(dat, sampler=sampler, batch_size=batch_size)
    return data_key_of(path), loaders


def static_loaders(paths: list[str], batch_size: int = 128, seed: int | None = None, cuda: bool = False,
                   scale: float = 0.25) -> OrderedDict:
    """``OrderedDict{tier: OrderedDict{data_key: DataLoader}}`` over several sessions, as the kit returns."""
    if seed is not None:
        set_random_seed(seed)
    loaders = OrderedDict((tier, OrderedDict()) for tier in TIERS)
    for path in paths:
        key, per_tier = static_loader(path, batch_size, cuda=cuda, scale=scale)
        for tier in TIERS:
            loaders[tier][key] = per_tier[tier]
    return loaders
