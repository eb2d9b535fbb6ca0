"""Metrics of the ghosting (defender trajectory) model: displacement errors and the composite metric
of defensive quality.  Pure functions: NumPy in, NumPy or ``float`` out; positions in yards.

Shapes: ``pred`` and ``true`` are ``[n, H, 2]`` positions of the ``H`` predicted frames (frame 1 … H
after the release, never the release itself).  ``reduction="mean"`` averages over samples and
returns a ``float``; ``"none"`` gives the per-sample values.

* **ADE** — average displacement error: the mean over the H frames of the Euclidean distance
  between predicted and true position.
* **FDE** — final displacement error: that distance at frame H.
* **RMSE (Big Data Bowl 2026)** — ``sqrt(0.5 · (MSE_x + MSE_y))`` over every sample and frame, i.e.
  the root of the mean squared coordinate error (no per-sample form).

**The composite metric** (``composite``; lower = better defence).  For defender ``i`` with path
``P_0 … P_H`` (``P_0`` his position at the release, then the observed or predicted frames) and the
targeted receiver's observed path ``R_0 … R_H``, ``T = H·Δt`` (1 s) and ``v* = top_speed``
(10.5 yd/s by default: ``v*·T`` is the most ground a player covers in the horizon):

    closing_i  = (|P_H − R_H| − |P_0 − R_H|) / (v*·T)          the core: how much the defender's own
                                                               movement shrank his distance to the
                                                               targeted receiver over the horizon, per
                                                               second, in units of top speed (< 0: closing)
    effort_i   = Σ_t |P_t − P_{t−1}| / (v*·T)                  ground covered / the most top speed allows
    speed_i    = Σ_t max(0, |P_t − P_{t−1}| − v_lim·Δt) / (v*·T)   ground covered beyond the speed
                                                               limit v_lim = 12.5 yd/s (0 for a player)
    score_i    = w_c·closing_i − w_e·effort_i·[closing_i < 0] + w_s·speed_i
    composite  = mean_i score_i

**Why the core compares with standing still.** The raw change of the gap, ``|P_H − R_H| − |P_0 −
R_0|`` (``gap_i``, also returned), is dominated by the receiver's own run, which the defender does
not control: over the first second after the release most gaps grow while defenders react (on the
simulated demo weeks its observed mean is slightly positive although defenders close hard by the end
of the second).  Measuring against the receiver's position at the end of the horizon from where the
defender stood at the release credits the defender with exactly what his movement did: 0 for a
defender who stands still, −1 for one who runs straight at the receiver's final position at top speed
for the whole second, +1 for one who runs straight away.

The effort term rewards ground covered only while it closes on the receiver (a defender running
the wrong way gets no credit for running), so the score cannot be lowered by speed alone.  A yard
covered beyond the speed limit gains at most ``(w_c + w_e)/(v*·T)`` in closing and effort and costs
``w_s/(v*·T)``: with ``w_s > w_c + w_e`` a superhuman path (a predicted jump) always scores worse
than the same path at the limit.  The weights (``w_c = 1``, ``w_e = 0.1``, ``w_s = 2``), ``v*`` and
``v_lim`` live in the ``ghosting.composite``
section of ``conf/training.yaml``.  Samples without a target path (no targeted receiver, a missing
frame) are left out (NaN per sample, ignored by the mean).
"""

from __future__ import annotations

import numpy as np

from pipelines.field import DT

__all__ = ["ade", "composite", "composite_terms", "fde", "rmse_bdb", "with_release"]


def _check(pred, true) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"trajectories must both be [n, H, 2]; got {list(pred.shape)} and {list(true.shape)}")
    return pred, true


def _reduce(values: np.ndarray, reduction: str):
    if reduction == "none":
        return values
    if reduction == "mean":
        return float(np.nanmean(values)) if values.size else float("nan")
    raise ValueError(f"reduction {reduction!r}: expected 'mean' or 'none'")


def ade(pred, true, reduction: str = "mean"):
    """Average displacement error (yards) over the H frames."""
    pred, true = _check(pred, true)
    return _reduce(np.hypot(*(pred - true).transpose(2, 0, 1)).mean(axis=1), reduction)


def fde(pred, true, reduction: str = "mean"):
    """Final displacement error (yards) at frame H."""
    pred, true = _check(pred, true)
    d = pred[:, -1] - true[:, -1]
    return _reduce(np.hypot(d[:, 0], d[:, 1]), reduction)


def rmse_bdb(pred, true) -> float:
    """The 2026 Big Data Bowl's RMSE: ``sqrt(0.5 · (MSE_x + MSE_y))`` over all samples and frames."""
    pred, true = _check(pred, true)
    err = (pred - true) ** 2
    return float(np.sqrt(0.5 * (err[..., 0].mean() + err[..., 1].mean())))


def composite_terms(path, receiver, top_speed: float, speed_limit: float, dt: float = DT) -> dict[str, np.ndarray]:
    """Per-sample ``closing``, ``effort`` and ``speed`` terms of the composite, and the raw ``gap``
    change (a diagnostic, not in the score; see the module docstring).  ``path`` and ``receiver``: ``[n, H+1, 2]``, frame 0 = the release."""
    path, receiver = np.asarray(path, dtype=np.float64), np.asarray(receiver, dtype=np.float64)
    if path.shape != receiver.shape or path.ndim != 3 or path.shape[1] < 2 or path.shape[-1] != 2:
        raise ValueError(f"composite: defender and receiver paths must both be [n, H+1 ≥ 2, 2]; got "
                         f"{list(path.shape)} and {list(receiver.shape)}")
    horizon = path.shape[1] - 1
    reach = top_speed * horizon * dt
    end = receiver[:, -1]
    stood = np.hypot(*(path[:, 0] - end).T)  # from where he stood at the release
    final = np.hypot(*(path[:, -1] - end).T)
    step = np.hypot(*np.diff(path, axis=1).transpose(2, 0, 1))
    return {"closing": (final - stood) / reach,
            "gap": (final - np.hypot(*(path[:, 0] - receiver[:, 0]).T)) / reach,
            "effort": step.sum(axis=1) / reach,
            "speed": np.maximum(step - speed_limit * dt, 0.0).sum(axis=1) / reach}


def composite(path, receiver, top_speed: float, speed_limit: float, weights: dict[str, float],
              dt: float = DT, reduction: str = "mean"):
    """The composite score (lower = better defence); ``weights`` has ``closing``, ``effort``, ``speed``."""
    t = composite_terms(path, receiver, top_speed, speed_limit, dt)
    score = (weights["closing"] * t["closing"] - weights["effort"] * t["effort"] * (t["closing"] < 0)
             + weights["speed"] * t["speed"])
    return _reduce(score, reduction)


def with_release(position0, future) -> np.ndarray:
    """``[n, H+1, 2]``: the release positions ``[n, 2]`` followed by the ``[n, H, 2]`` frames."""
    return np.concatenate([np.asarray(position0, dtype=np.float64)[:, None, :],
                           np.asarray(future, dtype=np.float64)], axis=1)
