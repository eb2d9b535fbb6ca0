"""The sequence encoder of the passing model: a temporal convolutional network (TCN).

Input: the passing table's snap→release tensor ``[B, T, 22, 8]`` (features ``x, y, vx, vy, ax, ay,
dir, o`` per player slot, see ``features.build``), right-padded with zeros after ``lengths[b]``
valid frames.  ``frame_inputs`` turns each frame into one vector: positions and kinematics scaled
to O(1), the two angles as (sin, cos) so that 359° and 1° are neighbours, and — when the network
takes landing inputs — each player's place relative to where the pass comes down
(``landing_inputs``).  With a ``PlayerSetEncoder`` (``player_set`` > 0) a small MLP shared by all
players turns each player's inputs into a vector, pooled over each side (mean and max) with the
QB's own, and the TCN reads that; otherwise it reads the 22 slots' inputs side by side.

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
from pipelines.schema import N_OFFENSE, N_PLAYERS

PLAYER_INPUTS = 10  # x, y, vx, vy, ax, ay, sin/cos dir, sin/cos o
SPEED_SCALE = 10.0  # yd/s: top speeds are ~10
ACCEL_SCALE = 10.0  # yd/s²
LANDING_INPUTS = 4  # per player with the landing point: dx, dy, distance, distance at arrival
LANDING_SCALE = 10.0  # yd
LANDING_COLUMNS = ("landing_x", "landing_y", "flight_time")  # of the passing table, in frame_inputs' order


def frame_inputs(seq: Tensor, landing: Tensor | None = None, present: Tensor | None = None) -> Tensor:
    """``[B, T, 22, 8]`` tracking tensor → ``[B, T, 22·10]`` scaled inputs (padding stays finite): per
    player x, y, vx, vy, ax, ay scaled, then sin/cos of ``dir``, sin/cos of ``o``.  With ``landing``
    (``[B, 3]``: the pass's ``landing_x``, ``landing_y`` and ``flight_time``), four more per player
    (``[B, T, 22·14]``, see ``landing_inputs``).  Whole-tensor operations (not one per channel): this
    runs on every frame of every play.  ``present``: ``players_present(seq)`` when the caller has it."""
    scale = seq.new_tensor([FIELD_LENGTH, FIELD_WIDTH, SPEED_SCALE, SPEED_SCALE, ACCEL_SCALE, ACCEL_SCALE])
    angles = torch.deg2rad(seq[..., 6:8])                                   # dir, o
    turns = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)   # [..., 2 angles, sin/cos]
    parts = [seq[..., :6] / scale, turns.flatten(-2)]
    if landing is not None:
        parts.append(landing_inputs(seq, landing, present))
    return torch.cat(parts, dim=-1).flatten(-2)


def players_present(seq: Tensor) -> Tensor:
    """``[B, T, 22]``: whether each slot holds a player in each frame (an absent one, and padding, is
    an all-zero row)."""
    return (seq != 0).any(dim=-1)


def landing_inputs(seq: Tensor, landing: Tensor, present: Tensor | None = None) -> Tensor:
    """Each player's place relative to where the pass comes down, ``[B, T, 22, 4]``, in units of
    ``LANDING_SCALE``: the offset (x − landing_x, y − landing_y), its length, and the distance to the
    landing point of the place he would reach by the ball's arrival at his current velocity
    (|p + v·flight_time − landing|).  Zero for an absent player (an all-zero row) and on padding.

    Why: the yards of a pass turn on the receiver's and the defenders' separation where the ball
    arrives (pipelines/sources/simulator/outcomes.py; real coverage alike), and the slots are ordered
    by place at the snap (features.build), not by role in the pass: from absolute coordinates alone
    the encoder would have to find the target and the nearest defender itself.  On 8 demo weeks this
    lowered the SBP's validation NLL by ~0.1 (docs/benchmarks.md)."""
    lx, ly, flight = (landing[:, i].view(-1, 1, 1) for i in range(3))
    dx, dy = seq[..., 0] - lx, seq[..., 1] - ly
    ahead_x, ahead_y = dx + seq[..., 2] * flight, dy + seq[..., 3] * flight
    out = torch.stack([dx, dy, torch.hypot(dx, dy), torch.hypot(ahead_x, ahead_y)], dim=-1) / LANDING_SCALE
    present = players_present(seq) if present is None else present
    return torch.where(present.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype, device=out.device))


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


class PlayerSetEncoder(nn.Module):
    """Per frame, the 22 players' inputs ``[B, T, 22, P]`` → ``[B, T, 5·width]``: one small MLP shared
    by every player (its inputs plus two flags, defense and QB), then the mean and the maximum of its
    outputs over each side's present players, and the QB's own output.

    Why: the slot order (features.build) is a rule of convenience; a dense layer over the 22 slots must
    learn each slot's weights separately, from plays where that slot holds a receiver in one play and
    a lineman in the next.  The shared MLP sees every player as an instance of the same thing, and
    pooling makes the frame's vector the same whatever the order within a side (tested): the approach
    of the 2020 Big Data Bowl's winning model.  Absent players (all-zero rows) are left out of the
    pools; a side without any gives zeros, as padding frames do."""

    def __init__(self, per_player: int, width: int):
        super().__init__()
        if N_PLAYERS != 2 * N_OFFENSE:  # pragma: no cover - the schema's constants; forward pools equal sides
            raise ValueError(f"the set encoder pools two sides of {N_OFFENSE}; {N_PLAYERS} slots in all")
        self.out_features = 5 * width  # mean and max over each side, and the QB
        self.per_player = per_player
        self.first = nn.Linear(per_player + 2, width)  # over [inputs, flags]; applied split in forward
        self.second = nn.Linear(width, width)
        flags = torch.zeros(N_PLAYERS, 2)
        flags[N_OFFENSE:, 0] = 1.0  # defense
        flags[0, 1] = 1.0  # slot 0: the QB
        self.register_buffer("flags", flags, persistent=False)

    def forward(self, players: Tensor, present: Tensor) -> Tensor:
        """``players`` ``[B, T, 22, P]``, ``present`` ``[B, T, 22]`` (bool) → ``[B, T, 5·width]``."""
        # the first layer on [inputs, flags] as inputs·W_x + a per-slot bias (flags·W_f + b): the same
        # sum without copying the flags beside the inputs of every player of every frame
        w = self.first.weight
        slot_bias = nn.functional.linear(self.flags, w[:, self.per_player:], self.first.bias)
        h = nn.functional.linear(players, w[:, :self.per_player]).add_(slot_bias).relu_()
        h = self.second(h).relu_()
        # absent players' outputs zeroed; outputs are ≥ 0 (ReLU), so the max over a side with its
        # absentees at zero is the max over its present players
        mask = present.unsqueeze(-1).to(h.dtype)
        h = h * mask  # not in place: the ReLU's backward reads its output
        # both sides pooled by one reduction each over a [side, player] view (the sides are equal, 11 + 11):
        # half the time of reducing the two slices apart, the same sums
        sides = h.unflatten(2, (2, N_OFFENSE))                                 # [B, T, side, player, W]
        count = mask.unflatten(2, (2, N_OFFENSE)).sum(dim=3).clamp_(min=1)    # [B, T, side, 1]
        pooled = torch.stack([sides.sum(dim=3) / count, sides.amax(dim=3)], dim=3)  # [B, T, side, mean/max, W]
        return torch.cat([pooled.flatten(2), h[:, :, 0]], dim=-1)


class PassingNet(nn.Module):
    """TCN state at the release + the selected static features → ``n_out`` unconstrained outputs
    (the SBP's ``K + 4`` raw parameters, or a Gaussian's 2)."""

    def __init__(self, n_static: int, n_out: int, max_len: int, channels: int = 64, kernel_size: int = 3,
                 hidden: Sequence[int] = (128, 64), dropout: float = 0.1,
                 landing: tuple[Sequence[int], Sequence[float], Sequence[float]] | None = None,
                 player_set: int = 0):
        """``landing``: where ``LANDING_COLUMNS`` sit in the static vector, and their training mean and
        standard deviation (the network gets them standardized and needs them in yards and seconds
        for ``landing_inputs``); None: no landing inputs.  ``player_set``: the width of a
        ``PlayerSetEncoder`` between the players' inputs and the TCN; 0: the TCN reads the 22 slots'
        inputs side by side."""
        super().__init__()
        n_blocks = blocks_for(max_len, kernel_size)
        per_player = PLAYER_INPUTS + (LANDING_INPUTS if landing is not None else 0)
        self.landing_index: list[int] | None = None
        if landing is not None:
            index, mean, std = landing
            if len(index) != len(LANDING_COLUMNS) or not all(0 <= i < n_static for i in index):
                raise ValueError(f"landing inputs: {len(LANDING_COLUMNS)} positions in 0…{n_static - 1} expected, "
                                 f"got {list(index)}")
            self.landing_index = [int(i) for i in index]
            self.register_buffer("landing_mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
            self.register_buffer("landing_std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))
        self.players = PlayerSetEncoder(per_player, player_set) if player_set else None
        c_in = self.players.out_features if self.players is not None else N_PLAYERS * per_player
        self.tcn = TCN(c_in, channels, n_blocks, kernel_size, dropout)
        if self.tcn.receptive_field < max_len:  # pragma: no cover - blocks_for guarantees it
            raise ValueError(f"receptive field {self.tcn.receptive_field} < max_len {max_len}")
        layers, width = [], channels + n_static
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, n_out))

    def forward(self, seq: Tensor, lengths: Tensor, static: Tensor) -> Tensor:
        landing = None
        if self.landing_index is not None:  # back from the standardized static features (float32)
            landing = static[:, self.landing_index].float() * self.landing_std + self.landing_mean
        present = players_present(seq) if self.players is not None else None
        inputs = frame_inputs(seq, landing, present)
        if self.players is not None:
            inputs = self.players(inputs.unflatten(-1, (N_PLAYERS, -1)), present)
        state = last_valid(self.tcn(inputs), lengths)
        return self.head(torch.cat([state, static], dim=-1))
