"""``build_model(sessions, model_cfg, seed)``: the model contract, for any family (see ``families``), and
the built-in ``core_readout`` family: a shared core (2-D for images; factorised or full 3-D for videos) with
per-session Gaussian or factorised readouts, shifters and Model 4's modulators."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from ..data.session import Session
from ..errors import UserError
from .config import ModelConfig
from .cores import Stacked2dCore
from .encoder import Encoder
from .factorised_readout import FactorisedReadout
from .families import Family, parse_model
from .full3d import Full3dCore
from .modulators import HistoryFilter, PreviousTrialState, SmoothGain, history_features, state_features
from .network_state import NetworkState
from .readouts import GaussianReadout, GridPredictor
from .shifters import AffineShifter, MLPShifter
from .trials import mean_response, presentation_ranks
from .video import Factorised3dCore, VideoEncoder


def _session_kind(sessions: list[Session]) -> str:
    """"static" or "video", after checking the sessions can share one core."""
    if not sessions:
        raise UserError("build_model: no sessions given")
    keys = [session.key for session in sessions]
    if len(set(keys)) < len(keys):
        raise UserError(f"build_model: session keys must be unique, found {keys}")
    kinds = {session.kind for session in sessions}
    if len(kinds) > 1:
        found = ", ".join(f"{s.key}={s.kind}" for s in sessions)
        raise UserError(f"build_model: all sessions must be of one kind (static or video), found {found}")
    widths = {session.behavior.shape[-1] for session in sessions}
    if len(widths) > 1:
        raise UserError(f"build_model: sessions disagree on the number of behaviour variables: {sorted(widths)}")
    return kinds.pop()


VIDEO_CORES = {"factorised": Factorised3dCore, "full": Full3dCore}


def feature_size(core: torch.nn.Module, in_channels: int, session: Session) -> tuple[int, int]:
    """(h', w') of the core's feature maps for this session's stimuli: one zero frame through it in eval mode."""
    height, width = session.stimuli.shape[-2:]
    frames = (1,) if session.kind == "video" else ()
    training = core.training
    with torch.no_grad():
        size = core.eval()(torch.zeros(1, in_channels, *frames, height, width)).shape[-2:]
    core.train(training)
    return tuple(size)


def _readout(cfg: ModelConfig, session: Session, core: torch.nn.Module, in_channels: int) -> torch.nn.Module:
    bias = mean_response(session) if cfg.readout_bias_from_mean else np.zeros(session.n_neurons)
    if cfg.readout == "factorised":
        return FactorisedReadout(core.out_channels, feature_size(core, in_channels, session), bias,
                                 cfg.readout_init_noise, cfg.gamma_readout)
    predictor = (GridPredictor(cfg.grid_predictor_hidden_layers, cfg.grid_predictor_hidden_features,
                               cfg.grid_predictor_nonlinearity) if cfg.grid_predictor else None)
    return GaussianReadout(core.out_channels, session.coords, bias, cfg.gauss_type, cfg.init_sigma,
                           cfg.init_mu_range, predictor, cfg.gamma_readout, cfg.readout_samples)


def _shifter(cfg: ModelConfig) -> torch.nn.Module:
    if cfg.shifter_type == "affine":
        return AffineShifter(cfg.gamma_shifter)
    return MLPShifter(cfg.shifter_hidden_channels, cfg.shifter_layers)


def build_model(sessions: list[Session], model_cfg: BaseModel | dict[str, Any], seed: int) -> torch.nn.Module:
    """The model of ``model_cfg``'s family for these sessions.

    The same sessions, config and seed give the same initial weights; the global RNG is left untouched.
    """
    family, cfg = parse_model(model_cfg)
    kind = _session_kind(sessions)
    if kind not in family.kinds:
        raise UserError(f"model.family: {cfg.family!r} models {' and '.join(family.kinds)} sessions, "
                        f"and these are {kind}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return family.build(sessions, cfg, seed)


def build_core_readout(sessions: list[Session], cfg: ModelConfig, seed: int, core: type | None = None) -> Encoder:
    """One shared core (``core``, else the kind's baseline core), per-session readout/shifter/modulators."""
    kind = sessions[0].kind
    in_channels = 1 + (sessions[0].behavior.shape[-1] if cfg.behavior_channels else 0)
    core = (core or (VIDEO_CORES[cfg.video_core] if kind == "video" else Stacked2dCore))(in_channels, cfg)
    readouts, shifters, history, state, gain = {}, {}, {}, {}, {}
    network = NetworkState(cfg.state_pca_components, cfg.state_var_rank, cfg.state_components)
    for session in sessions:
        key = session.key
        readouts[key] = _readout(cfg, session, core, in_channels)
        if cfg.shifter:
            shifters[key] = _shifter(cfg)
        if cfg.history:
            features = history_features(session, cfg.history_taus, cfg.history_lags, cfg.history_standardize)
            history[key] = HistoryFilter(features, cfg.history_l1)
        if cfg.state:
            state[key] = PreviousTrialState(state_features(session, cfg.state_inputs, network), session.n_neurons,
                                            cfg.state_l1)
        if cfg.gain:
            gain[key] = SmoothGain(presentation_ranks(session, "smooth gain"), session.n_neurons, cfg.gain_kernel_std,
                                   cfg.gain_diff_reg, cfg.gain_coupling_l1, cfg.gain_kernel_lags)
    encoder = VideoEncoder if kind == "video" else Encoder
    return encoder(core, readouts, shifters, history, state, gain, cfg.behavior_channels, cfg.softplus_beta)


FAMILY = Family(ModelConfig, build_core_readout, description="SENSORIUM 2022/2023 baselines and Model 4")
