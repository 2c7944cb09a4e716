"""``ModelConfig``: every architectural and regularisation knob of the static and the video model.

Defaults are the SENSORIUM 2022 "SOTA" baseline (``configs/model/sota2022.yaml`` spells them out); the
other shipped configs override them. Every knob a search may tune is a field here, and unknown keys are
rejected, so a search space cannot silently tune nothing.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from ..kinds import STATIC_ONLY, VIDEO_ONLY


class ModelConfig(BaseModel):
    """Every architectural and regularisation knob of the static and the video model."""

    model_config = ConfigDict(extra="forbid")

    # core (static: Stacked2dCore; video: factorised 3-D core)
    hidden_channels: PositiveInt | list[PositiveInt] = Field(64, description="per layer, or one width for all layers")
    layers: int = Field(4, ge=1)
    input_kern: int = Field(9, ge=1)
    hidden_kern: int = Field(7, ge=1)
    depth_separable: Annotated[bool, STATIC_ONLY] = Field(True, description="1x1 → depthwise kxk → 1x1 hidden "
                                                                            "convs")
    stack: Annotated[int | None, STATIC_ONLY] = Field(-1, description="slice start of the layers read out; None = all")
    linear: bool = Field(False, description="no ELU inside the core (the LN baseline)")
    pad_input: bool = False
    pad_hidden: bool = Field(True, description="'same' spatial padding in hidden layers")
    momentum: float = Field(0.9, gt=0, le=1, description="batch-norm momentum (PyTorch convention)")
    gamma_input: float = Field(6.3831, ge=0, description="Laplace-L2 smoothness of the first spatial filters")
    gamma_hidden: Annotated[float, STATIC_ONLY] = Field(0.0, ge=0, description="group sparsity of the hidden filters")
    final_nonlinearity: Annotated[bool, STATIC_ONLY] = Field(True, description="ELU after the last layer too")
    temporal_kern: Annotated[int, VIDEO_ONLY] = Field(11, ge=1, description="first layer's temporal kernel")
    hidden_temporal_kern: Annotated[int, VIDEO_ONLY] = Field(5, ge=1, description="the hidden layers' temporal kernel")
    gamma_input_temporal: Annotated[float, VIDEO_ONLY] = Field(0.01, ge=0, description="temporal Laplace-L2")
    video_core: Annotated[Literal["factorised", "full"], VIDEO_ONLY] = Field(
        "factorised", description="per layer a spatial then a temporal convolution (the kit's "
        "'3D_factorised'), or one full temporal_kern x k x k convolution with a bias (the kit's '3D')")
    # readout
    readout: Literal["gaussian", "factorised"] = Field(
        "gaussian", description="gaussian: each neuron reads one (jittered) position; factorised: a unit-norm "
                                "spatial mask times a feature vector (the kit's readout_type)")
    readout_samples: PositiveInt = Field(1, description="gaussian readout: positions drawn per neuron and trial in "
                                         "training, their reads averaged (SENSORIUM+ 2022 seed 001); 1 = one")
    readout_init_noise: float = Field(1e-3, gt=0, description="factorised readout: std of its initial mask and "
                                      "features")
    gauss_type: Literal["full", "iso"] = "full"
    init_sigma: float = Field(0.1, ge=0)
    init_mu_range: float = Field(0.3, ge=0, description="free positions only (grid_predictor false)")
    gamma_readout: float = Field(0.0076, ge=0, description="L1 on the readout features")
    softplus_beta: float | None = Field(None, gt=0, description="Softplus(beta) output instead of elu + 1")
    readout_bias_from_mean: bool = Field(False, description="init the bias to the mean training response")
    grid_predictor: bool = Field(True, description="positions from cortical coordinates through an MLP")
    grid_predictor_hidden_layers: int = Field(1, ge=0)
    grid_predictor_hidden_features: int = Field(30, ge=1)
    grid_predictor_nonlinearity: Literal["elu", "relu"] = "elu"
    # eye position and behaviour
    shifter: bool = False
    shifter_hidden_channels: int = Field(5, ge=1)
    shifter_layers: int = Field(3, ge=1)
    shifter_type: Literal["mlp", "affine"] = Field("mlp", description="mlp: shifter_layers x (Linear, Tanh); "
                                                   "affine: tanh(A pupil + b), the kit's 'StaticAffine'")
    gamma_shifter: float = Field(0.0, ge=0, description="affine shifter: penalty on mean(A^2)")
    behavior_channels: bool = Field(False, description="behaviour as constant extra input channels")
    # Model 4 modulators
    history: bool = False
    history_taus: list[float] = Field([1.0, 2.0, 5.0, 10.0, 30.0],
                                      description="time constants, in trials, of moving averages of the history")
    history_lags: list[PositiveInt] = Field([], description="Model 4's history: means of the last L usable "
                                            "trials, one regressor per L (after the history_taus ones)")
    history_standardize: bool = Field(False, description="z-score each history regressor over the training "
                                      "trials, so every tau trains at the same pace (Model 4: false)")
    history_l1: float = Field(0.3, ge=0)
    state: bool = False
    state_inputs: list[Literal["behavior", "response", "network"]] = Field(
        ["behavior", "response"], min_length=1,
        description="previous trial's behaviour, last usable population mean, Model 4's NMF network state")
    state_pca_components: PositiveInt = Field(500, description="network state: PCA size (capped by the data)")
    state_var_rank: PositiveInt = Field(20, description="network state: rank of the reduced-rank VAR")
    state_components: PositiveInt = Field(10, description="network state: NMF components (its width)")
    state_l1: float = Field(0.3, ge=0)
    gain: bool = False
    gain_kernel_std: float = Field(30.0, gt=0, description="trials")
    gain_kernel_lags: PositiveInt | None = Field(None, description="longest lag of the gain kernel, in trials; "
                                                 "default ceil(3 * gain_kernel_std); Model 4: 100")
    gain_diff_reg: float = Field(100.0, ge=0)
    gain_coupling_l1: float = Field(0.3, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if isinstance(self.hidden_channels, list) and len(self.hidden_channels) != self.layers:
            raise ValueError(f"hidden_channels lists {len(self.hidden_channels)} widths for {self.layers} layers")
        if self.stack is not None and not -self.layers <= self.stack < self.layers:
            raise ValueError(f"stack must index one of the {self.layers} layers (or be null), found {self.stack}")
        if self.gamma_hidden and self.depth_separable:
            raise ValueError("gamma_hidden (group sparsity of full hidden filters) needs depth_separable: false")
        if any(tau <= 0 for tau in self.history_taus):
            raise ValueError(f"history_taus must all be > 0, found {self.history_taus}")
        if self.history and not self.history_taus and not self.history_lags:
            raise ValueError("history: true needs some regressor: history_taus or history_lags must list one")
        if self.readout == "factorised" and self.shifter:
            raise ValueError("shifter: a factorised readout has no position to shift (the kit refuses it too); "
                             "set shifter: false or readout: gaussian")
        if self.readout == "factorised" and self.readout_samples > 1:
            raise ValueError("readout_samples: positions are drawn by the gaussian readout only")
        if self.gamma_shifter and self.shifter_type != "affine":
            raise ValueError("gamma_shifter: penalises the affine shifter only; set shifter_type: affine")
        return self

    def channels(self) -> list[int]:
        """Hidden channels per layer."""
        if isinstance(self.hidden_channels, int):
            return [self.hidden_channels] * self.layers
        return list(self.hidden_channels)

