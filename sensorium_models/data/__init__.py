"""Sessions for training: ``load_sessions(data_cfg, seed)``, the data contract of the project.

``DataConfig`` is the ``data`` block of a config; every field may be searched over.
"""
from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import UserError, validated
from ..kinds import STATIC_ONLY, VIDEO_ONLY
from .cache import cache_root, open_session
from .placement import Placement
from .session import Session
from .sources import open_files, session_paths
from .splits import resplit, train_on_test_tiers
from .video_trials import VideoQuirks

__all__ = ["DataConfig", "Session", "as_data_config", "load_sessions"]


class DataConfig(BaseModel):
    """Which sessions to read and how to shape them."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(min_length=1, description="session folders, their .zip files, or folders holding sessions")
    scale: Annotated[float, STATIC_ONLY] = Field(
        0.25, gt=0, le=1, description="image down-scale, done once at load (144x256 -> 36x64)")
    max_frames: Annotated[int, VIDEO_ONLY] = Field(
        300, ge=1, description="trials are cropped to this many frames for training and the search's validation "
                               "score (the competition scores frames 51..min(T, 300)-1; promotion scores and "
                               "submission files always read whole trials)")
    behavior_normalization: Annotated[Literal["std", "model4"], STATIC_ONLY] = Field(
        "std", description="'std' divides behaviour by its std (the reference loader); 'model4' is "
                           "Model 4's: pupil (x - min) / (max - min), d-pupil x / std, running |x| / max(-min, max)")
    resplit: bool = Field(False, description="redraw train/validation with the seed (test tiers untouched)")
    validation_fraction: float | None = Field(None, gt=0, lt=1, description="of train+validation; default: as shipped")
    cache_dir: str | None = Field(None, description="default $XDG_CACHE_HOME/sensorium-search")
    train_on_test_tiers: bool = Field(False, description="train on the test tiers shipped with responses (the "
                                      "2023 old mice's), as both 2023 winners did; they then leave the test scores")
    submission_mice: Annotated[list[str] | None, VIDEO_ONLY] = Field(
        None, description="the mice (folder names or keys) the 2023 main and bonus files hold; default: those "
                          "whose test responses of that track are hidden, the mice the server scores")
    submission_first_frame: Annotated[Literal[51, 50], VIDEO_ONLY] = Field(
        51, description="2023 rows hold min(T, 300) - 51 frames from this one: 51 (51..299, ViV1T and the starter "
                        "kit's 'last frames') or 50 (50..298, DwiseNeuro); which the server holds is unverified")
    placement: Placement = Field("auto", description="device: sessions copied to the training device; host: "
                                 "kept memory-mapped in host memory, batches copied over; auto: device when "
                                 "they fit half the trial's device memory, else host (printed)")

    @model_validator(mode="after")
    def _fraction_needs_resplit(self) -> "DataConfig":
        if self.validation_fraction is not None and not self.resplit:
            raise ValueError("validation_fraction only applies with resplit: true")
        return self


def as_data_config(data_cfg: DataConfig | dict[str, Any]) -> DataConfig:
    """Validate a plain dict; a schema error becomes a UserError naming the key."""
    return validated(DataConfig, data_cfg, "data")


def load_sessions(data_cfg: DataConfig | dict[str, Any], seed: int = 0) -> list[Session]:
    """Every session the config's paths name, normalised, cached, with roles (re-split if asked)."""
    cfg = as_data_config(data_cfg)
    root = cache_root(cfg.cache_dir)
    sessions: list[Session] = []
    for entry in cfg.paths:
        for path in session_paths(os.fspath(entry)):
            files = open_files(path)
            try:
                sessions.append(open_session(files, root, cfg.scale, cfg.max_frames, cfg.behavior_normalization))
            finally:
                files.close()
    for session in sessions:
        for line in VideoQuirks(**session.quirks).warnings(session.name, session.n_trials) if session.quirks else ():
            print(f"sensorium-search: warning: {line}", file=sys.stderr)
    seen: dict[str, Session] = {}
    for session in sessions:
        if session.key in seen:
            raise UserError(f"{session.path}: expected each session once, found key {session.key} also at "
                            f"{seen[session.key].path}")
        seen[session.key] = session
    if cfg.train_on_test_tiers:
        sessions = [train_on_test_tiers(session) for session in sessions]
    if cfg.resplit:
        sessions = [resplit(session, seed, cfg.validation_fraction) for session in sessions]
    return sessions
