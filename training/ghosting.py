"""The defender trajectory ("ghosting") model: configuration, baselines, the network and its inputs.

    cfg = load_ghosting_config()                                # the ghosting section of conf/training.yaml
    cv = constant_velocity(frame, H)                            # baselines: [n, H, 2] positions
    net = GhostingNet(n_seq=len(SEQ_CHANNELS), n_static=len(features), horizon=H,
                      **cfg.network.model_dump(exclude={"max_acceleration"}))
    residual = limit_acceleration(raw_residual, cfg.network.max_acceleration)   # [n, H, 2], |a| ≤ a_max

**What is predicted.** The positions of the next ``H`` frames (1 s at 10 Hz) of a defensive back after
the release, as displacements from his release position, in yards, in the left→right frame.  The
network predicts the *residual* over the constant-velocity extrapolation: ``displacement = v₀·t +
net(·)``, so it starts from the physics and learns the reaction (turning to the ball, closing on
the receiver); the loss is the mean squared error of the displacement (the same as the residual's).

**Bounded acceleration** (``limit_acceleration``, applied by ``GhostingModel.predict``): players'
accelerations are bounded, so the predicted path is projected onto the paths whose acceleration
never exceeds ``a_max = network.max_acceleration``: from the release velocity on, each frame takes
the acceleration towards the network's velocity for that frame, shortened to ``a_max`` where
longer, and integrates it as the tracking does (``v_k = v_{k−1} + a_k·Δt``, ``p_k = p_{k−1} +
v_k·Δt``).  So the acceleration implied by any three consecutive predicted positions (the release
position and the reported release velocity included) is at most ``a_max`` for any input, and a path
within the bound, constant velocity included, is returned unchanged.  It acts on the residual alone
(accelerations do not depend on ``v₀``).  The network is trained without it: training through a
bound (a tanh-squashed acceleration head, or this projection) left the bounded directions without
gradient, and the network drifted to accelerations at the bound that zigzag from frame to frame
(``docs/benchmarks.md``).

**Architecture** (``GhostingNet``): a GRU over the ``K`` observed frames (positions relative to the
release position, velocity, speed, acceleration, sin/cos of orientation and direction;
``sequence_inputs``), its last state concatenated with the standardized selected context features,
an MLP, and a linear head of ``2·H`` outputs.  A GRU because the input is a short ordered sequence
(3 frames, a length the config may change) whose differences (the turn and acceleration under way
at the release) carry the signal; a transformer's attention buys nothing over three steps, and the
network has to train in seconds per epoch on two CPU cores.  ``fit`` of ``training.passing`` trains
it unchanged (``GhostingTensors.batches`` yields ``(seq, lengths, static, y)``).

**Baselines**: ``constant_velocity`` (p₀ + v₀·t, v₀ from the reported speed and direction at the
release) and ``constant_acceleration`` (p₀ + v₀·t + ½·a₀·t², a₀ = (v₀ − v₋₁)/Δt over the last two
observed frames).

**Randomized inputs** (``randomize_inputs``): for a seeded share of the defenders, the orientation
and the direction of motion at the release are replaced by uniform random angles; the observed
history is turned with them about the release position (earlier directions and orientations by the
same angles, earlier positions rotated about the release position: the turn under way is kept and
the path stays consistent with the new velocity), speeds and the release position are kept, and
every input that depends on the velocity direction is recomputed: ``vx``/``vy`` of each observed
frame and the closing speeds ``cl_target``, ``cl_qb``, ``cl_ball``, ``cl_opp`` and
``speed_to_landing`` (from the unit vectors to the receiver, the release references of
``training.ghosting_data`` and the landing spot).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pipelines.config import load_section
from pipelines.field import DT
from training.ghosting_data import frame_suffixes, velocity
from training.passing import DEFAULT_TRAINING_CONFIG, OptimizerConfig, SplitConfig, Standardizer, Tensors

SEQ_CHANNELS = ("rel_x", "rel_y", "vx", "vy", "s", "a", "sin_o", "cos_o", "sin_dir", "cos_dir")


# --- configuration ------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GhostingNetworkConfig(_Strict):
    hidden: int = Field(ge=1)  # GRU state
    layers: int = Field(ge=1)  # GRU layers
    mlp: list[int]  # widths of the MLP over [GRU state, context]
    dropout: float = Field(ge=0, lt=1)
    max_acceleration: float = Field(gt=0)  # yd/s²: the bound of limit_acceleration (not a layer's setting)


class CompositeWeights(_Strict):
    closing: float = Field(ge=0)
    effort: float = Field(ge=0)
    speed: float = Field(ge=0)


class CompositeConfig(_Strict):
    top_speed: float = Field(gt=0)  # yd/s: the most an NFL player runs; normalizes distances
    speed_limit: float = Field(gt=0)  # yd/s: faster is not a player (the penalty's threshold)
    weights: CompositeWeights


class RandomizeConfig(_Strict):
    share: float = Field(gt=0, le=1)  # of the defenders whose orientation and direction are randomized
    seed: int


class GhostingBarsConfig(_Strict):
    ade_vs_constant_velocity: float = Field(gt=0)  # model ADE ≤ this × constant-velocity ADE
    composite_model_vs_observed: float = Field(gt=0)  # |model − observed| ≤ this × |observed|


class GhostingTrainingConfig(_Strict):
    network: GhostingNetworkConfig
    optimizer: OptimizerConfig
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    patience: int = Field(ge=1)
    split: SplitConfig
    seed: int
    device: str
    cpu_threads: int = Field(ge=0)  # torch intra-op threads on the CPU; 0: torch's default
    composite: CompositeConfig
    randomize: RandomizeConfig
    bars: GhostingBarsConfig


def load_ghosting_config(path: str | Path = DEFAULT_TRAINING_CONFIG) -> GhostingTrainingConfig:
    """The ``ghosting`` section of ``conf/training.yaml``; errors name the file and the key."""
    return load_section(path, "training config", "ghosting", GhostingTrainingConfig)


# --- baselines ----------------------------------------------------------------------------------

def _release_state(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p₀ [n, 2], v₀ [n, 2], v₋₁ [n, 2])`` from the ghosting columns."""
    col = lambda c: frame[c].to_numpy(dtype=np.float64)
    p0 = np.stack([col("x_0"), col("y_0")], axis=1)
    v0 = np.stack([col("vx_0"), col("vy_0")], axis=1)
    v1 = np.stack([col("vx_m1"), col("vy_m1")], axis=1) if "vx_m1" in frame else v0
    return p0, v0, v1


def steps(horizon: int) -> np.ndarray:
    """Seconds after the release of the predicted frames: ``[Δt, 2Δt, …, H·Δt]``."""
    return np.arange(1, horizon + 1, dtype=np.float64) * DT


def constant_velocity(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """``[n, H, 2]``: p₀ + v₀·t."""
    p0, v0, _ = _release_state(frame)
    return p0[:, None, :] + v0[:, None, :] * steps(horizon)[None, :, None]


def constant_acceleration(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """``[n, H, 2]``: p₀ + v₀·t + ½·a₀·t² with a₀ = (v₀ − v₋₁)/Δt."""
    p0, v0, v1 = _release_state(frame)
    a0 = (v0 - v1) / DT
    t = steps(horizon)[None, :, None]
    return p0[:, None, :] + v0[:, None, :] * t + 0.5 * a0[:, None, :] * t ** 2


# --- inputs -------------------------------------------------------------------------------------

def sequence_inputs(frame: pd.DataFrame, observed_frames: int) -> np.ndarray:
    """``[n, K, len(SEQ_CHANNELS)]`` float64, oldest frame first; positions relative to the release."""
    out = []
    x0, y0 = frame["x_0"].to_numpy(dtype=np.float64), frame["y_0"].to_numpy(dtype=np.float64)
    for sfx in frame_suffixes(observed_frames):
        c = lambda name: frame[f"{name}_{sfx}"].to_numpy(dtype=np.float64)
        o, d = np.radians(c("o")), np.radians(c("dir"))
        out.append(np.stack([c("x") - x0, c("y") - y0, c("vx"), c("vy"), c("s"), c("a"),
                             np.sin(o), np.cos(o), np.sin(d), np.cos(d)], axis=1))
    return np.nan_to_num(np.stack(out, axis=1))


class GhostingTensors(Tensors):
    """Model-ready tensors of a set of samples: ``training.passing.Tensors`` (what ``fit`` reads) with
    every sample's length the number of observed frames."""

    def __init__(self, seq: np.ndarray, static: np.ndarray, y: np.ndarray | None, horizon: int):
        n = len(seq)
        super().__init__(
            seq=torch.from_numpy(np.ascontiguousarray(seq, dtype=np.float32)),
            lengths=torch.full((n,), seq.shape[1], dtype=torch.int64),
            static=torch.from_numpy(np.ascontiguousarray(static, dtype=np.float32)),
            y=torch.from_numpy(np.ascontiguousarray(y if y is not None else np.zeros((n, horizon, 2)),
                                                    dtype=np.float32)))


# --- the network --------------------------------------------------------------------------------

class GhostingNet(nn.Module):
    """GRU over the observed frames + MLP with the context → ``2·H`` residual displacements."""

    def __init__(self, n_seq: int, n_static: int, horizon: int, hidden: int, layers: int, mlp: list[int],
                 dropout: float):
        super().__init__()
        self.horizon = horizon
        self.gru = nn.GRU(n_seq, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        blocks, width = [], hidden + n_static
        for w in mlp:
            blocks += [nn.Linear(width, w), nn.GELU(), nn.Dropout(dropout)]
            width = w
        self.mlp = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 2 * horizon)
        nn.init.zeros_(self.head.weight)  # start at the constant-velocity extrapolation
        nn.init.zeros_(self.head.bias)

    def forward(self, seq: Tensor, lengths: Tensor, static: Tensor) -> Tensor:
        """``[b, 2·H]``: residual displacements (x₁, y₁, …, x_H, y_H) in yards.  ``lengths`` is
        accepted for ``fit``'s calling convention; every sample has all K observed frames."""
        _, h = self.gru(seq)
        return self.head(self.mlp(torch.cat([h[-1], static.to(h.dtype)], dim=1)))


def limit_acceleration(residual: np.ndarray, max_acceleration: float, dt: float = DT) -> np.ndarray:
    """``[n, H, 2]`` residual displacements over constant velocity whose every frame's acceleration
    is at most ``max_acceleration`` (yd/s²), closest frame by frame to ``residual``'s velocities (see the
    module docstring); float64."""
    r = np.asarray(residual, dtype=np.float64)
    wanted = np.diff(r, axis=1, prepend=np.zeros_like(r[:, :1])) / dt  # the network's v_k − v₀
    dv, dp = np.zeros_like(r[:, 0]), np.zeros_like(r[:, 0])  # v − v₀ and the residual so far
    out = np.empty_like(r)
    for k in range(r.shape[1]):
        a = (wanted[:, k] - dv) / dt
        norm = np.hypot(a[:, 0], a[:, 1])
        a *= (max_acceleration / np.maximum(norm, max_acceleration))[:, None]  # 1 within the bound
        dv = dv + a * dt
        dp = dp + dv * dt
        out[:, k] = dp
    return out


def mse_loss(raw: Tensor, y: Tensor) -> Tensor:
    """Mean squared error of the displacement (yards²) over samples, frames and both axes."""
    return ((raw.float().reshape(y.shape) - y.float()) ** 2).mean()


# --- randomized inputs --------------------------------------------------------------------------

def randomize_inputs(frame: pd.DataFrame, refs: pd.DataFrame, share: float, seed: int,
                     observed_frames: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """``(a copy of frame with a seeded share of the defenders' orientation and direction randomized,
    the boolean mask of those rows)``; ``refs``: ``ref_{qb,ball,opp}_{x,y}`` per row (see the module
    docstring for what is recomputed)."""
    n = len(frame)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=int(round(share * n)), replace=False)] = True
    new_dir, new_o = rng.uniform(0.0, 360.0, n), rng.uniform(0.0, 360.0, n)
    out = frame.copy()
    col = lambda c: frame[c].to_numpy(dtype=np.float64)
    turn_dir = np.where(chosen, new_dir - col("dir_0"), 0.0)
    turn_o = np.where(chosen, new_o - np.nan_to_num(col("o_0")), 0.0)
    v_old = np.stack([col("vx_0"), col("vy_0")], axis=1)
    x0, y0 = col("x_0"), col("y_0")
    # NGS angles run clockwise: turning a direction by +δ turns vectors by −δ in the x-y plane
    cos, sin = np.cos(np.radians(-turn_dir)), np.sin(np.radians(-turn_dir))
    for sfx in frame_suffixes(observed_frames):
        d = np.mod(col(f"dir_{sfx}") + turn_dir, 360.0)
        vx, vy = velocity(col(f"s_{sfx}"), d)
        rx, ry = col(f"x_{sfx}") - x0, col(f"y_{sfx}") - y0
        out[f"x_{sfx}"] = x0 + cos * rx - sin * ry
        out[f"y_{sfx}"] = y0 + sin * rx + cos * ry
        out[f"dir_{sfx}"] = np.where(chosen, d, col(f"dir_{sfx}"))
        out[f"o_{sfx}"] = np.where(chosen, np.mod(col(f"o_{sfx}") + turn_o, 360.0), col(f"o_{sfx}"))
        out[f"vx_{sfx}"] = np.where(chosen, vx, col(f"vx_{sfx}"))
        out[f"vy_{sfx}"] = np.where(chosen, vy, col(f"vy_{sfx}"))
    dv = np.stack([out["vx_0"].to_numpy(), out["vy_0"].to_numpy()], axis=1) - v_old
    p0 = np.stack([col("x_0"), col("y_0")], axis=1)
    to = {"target": np.stack([col("dx_target"), col("dy_target")], axis=1)}
    for r in ("qb", "ball", "opp"):
        to[r] = refs[[f"ref_{r}_x", f"ref_{r}_y"]].to_numpy(dtype=np.float64) - p0
    for r, vec in to.items():
        out[f"cl_{r}"] = col(f"cl_{r}") + _along(dv, vec)
    out["speed_to_landing"] = col("speed_to_landing") + _along(
        dv, np.stack([col("dx_landing"), col("dy_landing")], axis=1))
    return out, chosen


def _along(v: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Component of ``v`` along ``towards`` (0 where ``towards`` is zero or unknown)."""
    norm = np.hypot(towards[:, 0], towards[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (v * towards).sum(axis=1) / norm
    return np.where(norm > 0, np.nan_to_num(out), 0.0)


__all__ = ["SEQ_CHANNELS", "GhostingNet", "GhostingTensors", "GhostingTrainingConfig", "Standardizer",
           "constant_acceleration", "constant_velocity", "limit_acceleration", "load_ghosting_config", "mse_loss",
           "randomize_inputs", "sequence_inputs", "steps"]
