"""The sequence encoder of the passing model: a temporal convolutional network (TCN).

Input: the passing table's snap→release tensor ``[B, T, 22, 8]`` (features ``x, y, vx, vy, ax, ay,
dir, o`` per player slot, see ``features.build``), right-padded with zeros after ``lengths[b]``
valid frames.  ``frame_inputs`` turns each frame into one vector: positions and kinematics scaled
to O(1), the two angles as (sin, cos) so that 359° and 1° are neighbours.

**Causality.**  Every convolution is left-padded by ``(kernel − 1)·dilation`` and sees only the
current and earlier steps, so the output at step ``t`` depends on steps ``≤ t`` only.  With
right-padding, the state read at each play's last valid step (``lengths − 1``) is therefore exactly
the state of the unpadded sequence: padding changes nothing (tested).  Left-padding would not have
this property.

**Blocks.**  Residual blocks of two dilated causal convolutions with weight normalization, ReLU and
dropout; a 1×1 convolution on the skip path where the width changes.  Dilations double per block
(1, 2, 4, …); the receptive field ``1 + 2·(kernel − 1)·Σ dilations`` must cover the longest sequence
(``PassingEncoder`` refuses a configuration that does not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from pipelines.field import FIELD_LENGTH, FIELD_WIDTH
from pipelines.schema import N_PLAYERS

PLAYER_INPUTS = 10  # x, y, vx, vy, ax, ay, sin/cos dir, sin/cos o
SPEED_SCALE = 10.0  # yd/s: top speeds are ~10
ACCEL_SCALE = 10.0  # yd/s²


def frame_inputs(seq: Tensor) -> Tensor:
    """``[B, T, 22, 8]`` tracking tensor → ``[B, T, 22·10]`` scaled inputs (padding stays finite): per
    player x, y, vx, vy, ax, ay scaled, then sin/cos of ``dir``, sin/cos of ``o``.  Whole-tensor
    operations (not one per channel): this runs on every frame of every play."""
    scale = seq.new_tensor([FIELD_LENGTH, FIELD_WIDTH, SPEED_SCALE, SPEED_SCALE, ACCEL_SCALE, ACCEL_SCALE])
    angles = torch.deg2rad(seq[..., 6:8])                                   # dir, o
    turns = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)   # [..., 2 angles, sin/cos]
    return torch.cat([seq[..., :6] / scale, turns.flatten(-2)], dim=-1).flatten(-2)


def receptive_field(kernel_size: int, n_blocks: int) -> int:
    """Steps seen by the last output of ``n_blocks`` blocks (two convolutions each, dilations 1, 2, 4 …)."""
    return 1 + 2 * (kernel_size - 1) * (2 ** n_blocks - 1)


def blocks_for(max_len: int, kernel_size: int) -> int:
    """The fewest blocks whose receptive field covers ``max_len`` steps."""
    return max(1, math.ceil(math.log2((max_len - 1) / (2 * (kernel_size - 1)) + 1)))


class CausalConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv = weight_norm(nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation))

    def forward(self, x: Tensor) -> Tensor:  # [B, C, T]
        return self.conv(nn.functional.pad(x, (self.pad, 0)))


class TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            CausalConv(c_in, c_out, kernel_size, dilation), nn.ReLU(), nn.Dropout(dropout),
            CausalConv(c_out, c_out, kernel_size, dilation), nn.ReLU(), nn.Dropout(dropout))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.net(x) + self.skip(x))


class TCN(nn.Module):
    """Residual blocks of dilated causal convolutions: ``[B, T, C_in]`` → ``[B, T, channels]``."""

    def __init__(self, c_in: int, channels: int, n_blocks: int, kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        self.kernel_size, self.n_blocks = kernel_size, n_blocks
        self.blocks = nn.Sequential(*[TemporalBlock(c_in if i == 0 else channels, channels, kernel_size, 2 ** i,
                                                    dropout) for i in range(n_blocks)])

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.n_blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)


def last_valid(h: Tensor, lengths: Tensor) -> Tensor:
    """``h[b, lengths[b] − 1]`` for every b: ``[B, T, C]`` → ``[B, C]``."""
    index = (lengths.to(h.device).long().clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
    return h.gather(1, index).squeeze(1)


class PassingNet(nn.Module):
    """TCN state at the release + the selected static features → ``n_out`` unconstrained outputs
    (the SBP's ``K + 4`` raw parameters, or a Gaussian's 2)."""

    def __init__(self, n_static: int, n_out: int, max_len: int, channels: int = 64, kernel_size: int = 3,
                 hidden: Sequence[int] = (128, 64), dropout: float = 0.1):
        super().__init__()
        n_blocks = blocks_for(max_len, kernel_size)
        self.tcn = TCN(N_PLAYERS * PLAYER_INPUTS, channels, n_blocks, kernel_size, dropout)
        if self.tcn.receptive_field < max_len:  # pragma: no cover - blocks_for guarantees it
            raise ValueError(f"receptive field {self.tcn.receptive_field} < max_len {max_len}")
        layers, width = [], channels + n_static
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, n_out))

    def forward(self, seq: Tensor, lengths: Tensor, static: Tensor) -> Tensor:
        state = last_valid(self.tcn(frame_inputs(seq)), lengths)
        return self.head(torch.cat([state, static], dim=-1))
