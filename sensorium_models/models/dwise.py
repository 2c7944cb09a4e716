"""DwiseNeuro (family ``dwiseneuro``), the SENSORIUM 2023 winner (lRomul/sensorium, src/models/dwiseneuro.py):

    video (+ behaviour, pupil centre as constant channels), zero-padded → 1×1×1 stem
    → stages of inverted-residual 3-D blocks: 1×1 expand → depthwise (1,k,k) spatial (stride at each
      stage's first block) → depthwise (kt,1,1) temporal → squeeze-excite → 1×1 project, + a parameter-free
      shortcut, each block after a sinusoidal (t, y, x) position encoding and under drop-path
    → average over space → "cortex": grouped 1×1 Conv1d layers with channel shuffle, over time
    → per mouse: Dropout1d → grouped 1×1 Conv1d → Softplus(β) → rates (B, T, N)

SiLU everywhere, weights initialised as DwiseNeuro's ``init_weights``. The temporal convolutions are
'same'-padded (not causal) and the position encoding is absolute, so the model predicts windows of the
length it was trained on: ``predict_window``/``predict_stride`` slide such windows over a whole trial and
average the overlaps, as DwiseNeuro's ``Predictor`` does; ``frame_step`` is the frame step of its clips
(16 frames, step 2) in training and prediction alike (the trainer and ``prediction`` read these attributes).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator
from torch import nn

from ..data.batches import Batch
from ..data.session import Session
from ..errors import UserError
from .encoder import behavior_as_channels
from .families import Family
from .trials import mean_response


class DwiseConfig(BaseModel):
    """Every knob of DwiseNeuro; the defaults are the winner's stage-1 model (``configs/model/video_dwise.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    behavior_channels: bool = Field(True, description="behaviour (pupil, running) as constant input channels")
    pupil_channels: bool = Field(True, description="pupil centre (x, y) as two more constant input channels")
    pad_to: tuple[PositiveInt, PositiveInt] | None = Field((64, 64), description="zero-pad frames, centred, to "
                                                           "(height, width); None: as they are")
    stage_channels: list[PositiveInt] = Field([64, 128, 256], min_length=1, description="block width per stage")
    stage_depths: list[PositiveInt] = Field([4, 3, 2], min_length=1, description="blocks per stage")
    stage_strides: list[PositiveInt] = Field([2, 2, 2], min_length=1, description="spatial stride of each "
                                             "stage's first block")
    spatial_kernel: PositiveInt = 3
    temporal_kernel: PositiveInt = 5
    expansion_ratio: PositiveInt = Field(7, description="inner width / input width of a block (final model: 6)")
    se_ratio: PositiveInt = Field(32, description="squeeze-excite reduction of a block's inner width")
    drop_path_rate: float = Field(0.1, ge=0, lt=1, description="the cortex's and, rising linearly from 0, the "
                                  "blocks' drop-path probability")
    cortex_channels: list[PositiveInt] = Field([1024, 2048, 4096], description="widths of the 1×1 cortex layers")
    groups: PositiveInt = Field(2, description="groups of the cortex and readout convolutions")
    readout_dropout: float = Field(0.4, ge=0, lt=1, description="Dropout1d before each mouse's readout")
    softplus_beta: float = Field(0.07, gt=0, description="output Softplus(beta)")
    readout_bias_from_mean: bool = Field(False, description="init each readout bias so the output starts at the "
                                         "neuron's mean training response (DwiseNeuro: zero)")
    frame_step: PositiveInt = Field(2, description="the model sees every frame_step-th frame, in training clips "
                                    "and prediction windows")
    predict_window: PositiveInt | None = Field(16, description="frames per prediction window (None: whole "
                                               "trials at once); make it the training clip_frames")
    predict_stride: PositiveInt = Field(1, description="(stepped) frames between prediction windows")

    @model_validator(mode="after")
    def _check(self) -> "DwiseConfig":
        stages = {len(self.stage_channels), len(self.stage_depths), len(self.stage_strides)}
        if len(stages) > 1:
            raise ValueError(f"stage_channels, stage_depths and stage_strides must list one value per stage, found "
                             f"{len(self.stage_channels)}, {len(self.stage_depths)} and {len(self.stage_strides)}")
        for key in ("spatial_kernel", "temporal_kernel"):
            if getattr(self, key) % 2 == 0:
                raise ValueError(f"{key} must be odd ('same' padding), found {getattr(self, key)}")
        narrowest = min(self.stage_channels) * self.expansion_ratio
        if narrowest < self.se_ratio:
            raise ValueError(f"se_ratio {self.se_ratio} leaves no squeeze-excite channel in a block of inner "
                             f"width {narrowest} (stage_channels × expansion_ratio)")
        widths = [self.stage_channels[-1], *self.cortex_channels]
        if any(width % self.groups for width in widths):
            raise ValueError(f"groups {self.groups} must divide the last stage's and every cortex width, "
                             f"found {widths}")
        return self


def sinusoidal_encoding(channels: int, frames: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, channels, T, h, w): sin/cos of each axis's position at geometric frequencies, one third of the
    channels per axis (t, y, x), as DwiseNeuro's ``PositionalEncoding3d``."""
    per_axis = math.ceil(channels / 6) * 2
    inv_freq = 1.0 / (10000 ** (torch.arange(0, per_axis, 2, device=like.device).float() / per_axis))
    parts = []
    for axis, size in enumerate((frames, height, width)):
        angles = inv_freq[:, None] * torch.arange(size, device=like.device).float()[None, :]
        wave = torch.cat([angles.sin(), angles.cos()])                      # (per_axis, size)
        shape = [per_axis, 1, 1, 1]
        shape[1 + axis] = size
        parts.append(wave.view(shape).expand(per_axis, frames, height, width))
    return torch.cat(parts)[None, :channels].to(like.dtype)


class DropPath(nn.Module):
    """In training, zero a sample's residual branch with probability ``rate`` (scaling the rest by 1/keep)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.rate)
        return x * keep / (1 - self.rate)


def conv_bn(conv: nn.Module, channels: int, norm: type = nn.BatchNorm3d, act: bool = True) -> nn.Sequential:
    """conv → BatchNorm (→ SiLU)."""
    return nn.Sequential(conv, norm(channels), *([nn.SiLU(inplace=True)] if act else []))


def tiled(x: torch.Tensor, channels: int) -> torch.Tensor:
    """``x`` with its channels repeated (or cut) to ``channels``: a shortcut that changes width without weights."""
    if x.shape[1] == channels:
        return x
    reps = [1] * x.ndim
    reps[1] = math.ceil(channels / x.shape[1])
    return x.repeat(reps)[:, :channels]


class SqueezeExcite(nn.Module):
    """Channel gates from the clip's global mean: 1×1 reduce → SiLU → 1×1 expand → sigmoid."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.reduce = nn.Conv3d(channels, channels // ratio, 1)
        self.expand = nn.Conv3d(channels // ratio, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(F.silu(self.reduce(x.mean((2, 3, 4), keepdim=True))))
        return x * torch.sigmoid(gate)


class InvertedResidual3d(nn.Module):
    """(B, C, T, h, w) → (B, C', T, h/s, w/s): depthwise-separable 3-D block with a parameter-free shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, cfg: DwiseConfig, drop_path: float):
        super().__init__()
        mid, k, kt = in_channels * cfg.expansion_ratio, cfg.spatial_kernel, cfg.temporal_kernel
        self.stride, self.out_channels = stride, out_channels
        self.expand = conv_bn(nn.Conv3d(in_channels, mid, 1, bias=False), mid)
        self.spatial = conv_bn(nn.Conv3d(mid, mid, (1, k, k), stride=(1, stride, stride), padding=(0, k // 2, k // 2),
                                         groups=mid, bias=False), mid)
        self.temporal = conv_bn(nn.Conv3d(mid, mid, (kt, 1, 1), padding=(kt // 2, 0, 0), groups=mid, bias=False), mid)
        self.excite = SqueezeExcite(mid, cfg.se_ratio)
        self.project = conv_bn(nn.Conv3d(mid, out_channels, 1, bias=False), out_channels, act=False)
        self.drop_path = DropPath(drop_path)
        self.shortcut_norm = nn.BatchNorm3d(out_channels)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            frames, height, width = x.shape[2:]
            x = F.interpolate(x, size=(frames, math.ceil(height / self.stride), math.ceil(width / self.stride)),
                              mode="nearest")
        return self.shortcut_norm(tiled(x, self.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.project(self.excite(self.temporal(self.spatial(self.expand(x)))))
        return self.drop_path(branch) + self.shortcut(x)


class CortexLayer(nn.Module):
    """(B, C, T) → (B, C', T): grouped 1×1 conv → BN → SiLU → channel shuffle, + a tiled shortcut."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, drop_path: float):
        super().__init__()
        self.groups, self.out_channels = groups, out_channels
        self.mix = conv_bn(nn.Conv1d(in_channels, out_channels, 1, groups=groups, bias=False), out_channels,
                           nn.BatchNorm1d)
        self.drop_path = DropPath(drop_path)
        self.shortcut_norm = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mix(x)
        batch, channels, frames = y.shape
        y = y.view(batch, self.groups, channels // self.groups, frames).transpose(1, 2).reshape(batch, channels, frames)
        return self.drop_path(y) + self.shortcut_norm(tiled(x, self.out_channels))


class DwiseCore(nn.Module):
    """Clips (B, C, T, h, w) → features (B, C', T, h', w'): stem, then (position encoding, block) per block."""

    def __init__(self, in_channels: int, cfg: DwiseConfig):
        super().__init__()
        widths, strides = [], []
        for channels, depth, stride in zip(cfg.stage_channels, cfg.stage_depths, cfg.stage_strides):
            widths += [channels] * depth
            strides += [stride] + [1] * (depth - 1)
        self.stem = conv_bn(nn.Conv3d(in_channels, widths[0], 1, bias=False), widths[0], act=False)
        # block i maps widths[i] → widths[i + 1] (the last keeps its width); drop-path rises from 0
        outputs = widths[1:] + widths[-1:]
        self.blocks = nn.ModuleList(
            InvertedResidual3d(widths[i], outputs[i], strides[i], cfg, cfg.drop_path_rate * i / len(widths))
            for i in range(len(widths)))
        self.out_channels = outputs[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x + sinusoidal_encoding(x.shape[1], *x.shape[2:], like=x))
        return x


class Readout(nn.Module):
    """(B, C, T) → rates (B, N, T) of one mouse: Dropout1d → grouped 1×1 conv → Softplus(β)."""

    def __init__(self, in_channels: int, n_neurons: int, cfg: DwiseConfig):
        super().__init__()
        self.n_neurons, self.beta = n_neurons, cfg.softplus_beta
        self.dropout = nn.Dropout1d(cfg.readout_dropout)
        self.conv = nn.Conv1d(in_channels, math.ceil(n_neurons / cfg.groups) * cfg.groups, 1, groups=cfg.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.conv(self.dropout(x))[:, :self.n_neurons], beta=self.beta)


def inverse_softplus(rate: np.ndarray, beta: float) -> np.ndarray:
    """x with Softplus_β(x) = rate (rate > 0), in a form that neither overflows nor loses small rates."""
    rate = np.maximum(np.asarray(rate, dtype=np.float64), 1e-6)
    return rate + np.log(-np.expm1(-beta * rate)) / beta


def init_weights(module: nn.Module) -> None:
    """DwiseNeuro's ``init_weights``: conv weights N(0, 2 / fan_out), zero biases, BatchNorm 1 and 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv3d)):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (math.prod(m.kernel_size) * m.out_channels // m.groups)))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DwiseNeuro(nn.Module):
    """Video batches (B, T, h, w) → rates (B, T, N) for the batch's mouse."""

    per_frame = True
    burn_in = 0   # 'same' temporal padding: every frame has an output, edges included

    def __init__(self, sessions: list[Session], cfg: DwiseConfig):
        super().__init__()
        self.behavior_channels, self.pupil_channels, self.pad_to = (cfg.behavior_channels, cfg.pupil_channels,
                                                                    cfg.pad_to)
        self.frame_step, self.predict_window, self.predict_stride = (cfg.frame_step, cfg.predict_window,
                                                                     cfg.predict_stride)
        in_channels = 1 + 2 * cfg.pupil_channels + (sessions[0].behavior.shape[-1] if cfg.behavior_channels else 0)
        self.core = DwiseCore(in_channels, cfg)
        layers, width = [], self.core.out_channels
        for channels in cfg.cortex_channels:
            layers.append(CortexLayer(width, channels, cfg.groups, cfg.drop_path_rate))
            width = channels
        self.cortex = nn.Sequential(*layers)
        self.readouts = nn.ModuleDict({s.key: Readout(width, s.n_neurons, cfg) for s in sessions})
        init_weights(self)
        if cfg.readout_bias_from_mean:
            with torch.no_grad():
                for s in sessions:
                    bias = inverse_softplus(mean_response(s), cfg.softplus_beta)
                    self.readouts[s.key].conv.bias[:s.n_neurons] = torch.as_tensor(bias, dtype=torch.float32)

    def inputs(self, batch: Batch) -> torch.Tensor:
        """(B, C, T, H, W): the frames, then behaviour and pupil centre as constant images, zero-padded."""
        x = batch.stimuli[:, None]
        extra = [v for v, used in ((batch.behavior, self.behavior_channels), (batch.pupil_center, self.pupil_channels))
                 if used]
        x = torch.cat([x] + [behavior_as_channels(v, *x.shape[-2:]) for v in extra], dim=1)
        if self.pad_to is None:
            return x
        (height, width), (h, w) = self.pad_to, x.shape[-2:]
        top, left = (height - h) // 2, (width - w) // 2
        return F.pad(x, (left, width - w - left, top, height - h - top))

    def forward(self, batch: Batch) -> torch.Tensor:
        features = self.core(self.inputs(batch)).mean((3, 4))          # (B, C, T)
        rates = self.readouts[batch.key](self.cortex(features))        # (B, N, T)
        return rates.transpose(1, 2)

    def regularizer(self, key: str) -> torch.Tensor:
        """No penalty beyond the optimiser's weight decay (DwiseNeuro trains with AdamW, decay 0.05)."""
        return self.readouts[key].conv.bias.new_zeros(())


def build_dwise(sessions: list[Session], cfg: DwiseConfig, seed: int) -> DwiseNeuro:
    if cfg.pad_to is not None:
        frame = tuple(sessions[0].stimuli.shape[-2:])
        if cfg.pad_to[0] < frame[0] or cfg.pad_to[1] < frame[1]:
            raise UserError(f"model.pad_to: {list(cfg.pad_to)} is smaller than the frames ({frame[0]}x{frame[1]}); "
                            f"expected at least {list(frame)}, or null")
    return DwiseNeuro(sessions, cfg)


FAMILY = Family(DwiseConfig, build_dwise, kinds=("video",),
                description="SENSORIUM 2023 winner DwiseNeuro: depthwise 3-D inverted residuals, cortex, Softplus")
