"""The SENSORIUM 2023 GRU baseline (family ``conv_gru``): a 2-D core applied frame by frame, then a
convolutional GRU over frames, then the readout on every frame (starter kit ``make_video_model`` with
``core_type='2D'`` or ``'2D_equivariant'`` (``frame_core``), ``use_gru=True``; ``configs/model/video_gru.yaml``
holds its values).

The GRU is neuralpredictors' ``ConvGRUCell``: 'same'-padded gate convolutions with biases, xavier-normal
weights and zero biases, a zero initial state (its six convolutions fused into three, the same function). The kit's encoder adds only the core's and readout's
penalties to the loss (``gamma_rec`` never reaches it), so the GRU has none. The GRU is causal in time,
so the model has no burn-in of its own; the trainer's ``burn_in`` can leave the first frames out.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveInt, model_validator
from torch import nn

from ..data.session import Session
from .build import build_core_readout
from .config import ModelConfig
from .cores import Stacked2dCore
from .encoder import Encoder
from .families import Family
from .rotation import RotationEquivariant2dCore

TEMPORAL_KEYS = ("temporal_kern", "hidden_temporal_kern", "gamma_input_temporal", "video_core")
FRAME_CORES = {"stacked2d": Stacked2dCore, "rotation_equivariant": RotationEquivariant2dCore}


class ConvGRUConfig(ModelConfig):
    """The core/readout knobs of ``ModelConfig`` (a per-frame 2-D core) and the GRU's."""

    depth_separable: bool = Field(True, description="1x1 → depthwise kxk → 1x1 hidden convs")
    stack: int | None = Field(-1, description="slice start of the layers read out; None = all")
    gamma_hidden: float = Field(0.0, ge=0, description="group sparsity of the hidden 2-D filters")
    final_nonlinearity: bool = Field(True, description="ELU after the last 2-D layer")
    gru_channels: PositiveInt = Field(64, description="recurrent channels: what the readout sees")
    gru_input_kern: PositiveInt = 7
    gru_rec_kern: PositiveInt = 7
    frame_core: Literal["stacked2d", "rotation_equivariant"] = Field(
        "stacked2d", description="the per-frame 2-D core: the kit's '2D' (Stacked2dCore) or '2D_equivariant' "
                                 "(Hermite filters at num_rotations angles)")
    num_rotations: PositiveInt = Field(8, description="rotation_equivariant: angles per filter; the core gives "
                                       "hidden_channels x num_rotations maps")
    hermite_upsampling: PositiveInt = Field(2, description="rotation_equivariant: Hermite grid oversampling")
    hermite_init_std: float = Field(0.1, gt=0, description="rotation_equivariant: std of the initial coefficients")

    @model_validator(mode="after")
    def _no_temporal_convolution(self) -> "ConvGRUConfig":
        for key in TEMPORAL_KEYS:
            if key in self.model_fields_set:
                raise ValueError(f"{key}: a conv_gru model has no temporal convolution (the GRU integrates "
                                 f"over time); remove it")
        if self.frame_core == "rotation_equivariant" and self.depth_separable:
            raise ValueError("depth_separable: the rotation-equivariant core has Hermite filters, not depth-separable "
                             "convolutions; set depth_separable: false")
        return self


class ConvGRUCell(nn.Module):
    """h' = (1 − z) h + z tanh(W x + U (r h)); z, r = sigmoid gates; every map a 'same' convolution.

    The three input maps are one convolution and the update/reset maps of the state another, each chunk
    initialised as neuralpredictors' separate gate convolution; the input maps do not depend on the state,
    so :meth:`input_gates` computes them for every frame at once and only the state's maps run per frame.
    """

    def __init__(self, in_channels: int, channels: int, input_kern: int, rec_kern: int):
        super().__init__()
        self.channels = channels
        self.input_gates = nn.Conv2d(in_channels, 3 * channels, input_kern, padding=input_kern // 2)
        self.state_gates = nn.Conv2d(channels, 2 * channels, rec_kern, padding=rec_kern // 2)
        self.state_out = nn.Conv2d(channels, channels, rec_kern, padding=rec_kern // 2)
        for conv in (self.input_gates, self.state_gates, self.state_out):  # neuralpredictors' RNNCore.init_conv
            for gate in conv.weight.data.split(channels):
                nn.init.xavier_normal_(gate)
            nn.init.zeros_(conv.bias)

    def forward(self, gates: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """One frame: its ``input_gates`` maps (B, 3C, h, w) and the state (B, C, h, w) → the next state."""
        update_in, reset_in, out_in = gates.chunk(3, dim=1)
        update_state, reset_state = self.state_gates(state).chunk(2, dim=1)
        update, reset = torch.sigmoid(update_in + update_state), torch.sigmoid(reset_in + reset_state)
        out = torch.tanh(out_in + self.state_out(state * reset))
        return state * (1 - update) + out * update


class Stacked2dGRUCore(nn.Module):
    """Videos (B, C, T, h, w) → the 2-D core on each frame → ConvGRU over frames → (B, gru, T, h', w')."""

    burn_in = 0

    def __init__(self, in_channels: int, cfg: ConvGRUConfig):
        super().__init__()
        self.frames = FRAME_CORES[cfg.frame_core](in_channels, cfg)
        self.gru = ConvGRUCell(self.frames.out_channels, cfg.gru_channels, cfg.gru_input_kern, cfg.gru_rec_kern)
        self.out_channels = cfg.gru_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, frames = x.shape[:3]
        features = self.frames(x.transpose(1, 2).flatten(0, 1))           # (B·T, C', h', w')
        gates = self.gru.input_gates(features).unflatten(0, (batch, frames))
        state = gates.new_zeros(batch, self.gru.channels, *gates.shape[-2:])
        states = []
        for t in range(frames):
            state = self.gru(gates[:, t], state)
            states.append(state)
        return torch.stack(states, dim=2)

    def regularizer(self) -> torch.Tensor:
        return self.frames.regularizer()


def build_conv_gru(sessions: list[Session], cfg: ConvGRUConfig, seed: int) -> Encoder:
    """The core/readout model with the 2-D + GRU core in place of the factorised 3-D one."""
    return build_core_readout(sessions, cfg, seed, core=Stacked2dGRUCore)


FAMILY = Family(ConvGRUConfig, build_conv_gru, kinds=("video",),
                description="SENSORIUM 2023 GRU baseline: per-frame 2-D core + ConvGRU")
