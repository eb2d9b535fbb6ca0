"""Metrics for the passing-score head: point error, likelihood, CRPS, calibration and the score itself.

Every function is pure: NumPy in, NumPy (or ``float``) out.  Functions named after a *distribution*
(``nll``, ``crps``, ``pit_values``, ``interval_coverage``, ``quantile_error``, ``passing_score``,
``cdf_on_bdb_grid``) take any ``torch.distributions.Distribution`` whose batch holds one element per
play (batch shape ``(n,)``; any other batch shape is flattened in C order and must hold as many
elements as ``y``), typically a ``training.sbp.SplicedBinnedPareto``; the ``gaussian_*`` functions are
the closed forms for the Gaussian baseline ``N(mu, sigma²)`` given as arrays.  Distributions are
evaluated under ``torch.no_grad()`` in their own dtype and on their own device; outcomes ``y`` are
cast to that dtype.  Results come back as float64 NumPy arrays (or Python floats).

Notation: ``y`` is the yards gained on a play (an integer; incompletions are 0), ``F`` the predicted
CDF, ``n`` the number of plays.  ``reduction="mean"`` (the default wherever offered) averages over
plays and returns a ``float``; ``reduction="none"`` returns the per-play values.

**Integer outcomes.**  The SBP's bins are centred on the integers (bin ``k`` is ``[k − ½, k + ½)``), so
an integer yardage stands for the cell ``[y − ½, y + ½]``: "``Y ≤ k``" for integer yards is
``F(k + ½)`` (``cdf_on_bdb_grid``), the PIT of an integer is the mid- or randomized PIT over its cell
(``pit_values``, ``passing_score``).  Likelihoods stay *densities* at the integer (see ``nll``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from scipy import special
from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "BDB_YARDS",
    "bdb2020_crps",
    "cdf_on_bdb_grid",
    "crps",
    "crps_from_cdf",
    "crps_gaussian",
    "gaussian_cdf_on_bdb_grid",
    "gaussian_interval_coverage",
    "gaussian_nll",
    "interval_coverage",
    "mae",
    "nll",
    "passing_score",
    "pit_histogram",
    "pit_ks",
    "pit_values",
    "quantile_error",
]

#: The 199 yardages k = −99 … 99 of the 2020 Big Data Bowl's CRPS.
BDB_YARDS = np.arange(-99, 100, dtype=np.float64)

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _np(x) -> np.ndarray:
    """Any array-like or tensor → float64 NumPy array (detached, on the CPU)."""
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _reduce(values: np.ndarray, reduction: str):
    if reduction == "mean":
        return float(np.mean(values))
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _dtype_device(dist: Distribution) -> tuple[torch.dtype, torch.device]:
    """The floating dtype and device a distribution computes in."""
    dtype = getattr(dist, "dtype", None)
    device = getattr(dist, "device", None)
    if isinstance(dtype, torch.dtype) and isinstance(device, torch.device):
        return dtype, device
    for v in vars(dist).values():               # e.g. Normal: loc / scale
        if isinstance(v, Tensor) and v.is_floating_point():
            return v.dtype, v.device
    return torch.get_default_dtype(), torch.device("cpu")


def _n_plays(dist: Distribution) -> int:
    return int(math.prod(dist.batch_shape))


def _y_tensor(dist: Distribution, y) -> Tensor:
    """Outcomes as a tensor in the distribution's dtype/device, shaped like its batch."""
    dtype, device = _dtype_device(dist)
    t = (y.detach() if isinstance(y, Tensor) else torch.as_tensor(np.asarray(y, dtype=np.float64)))
    t = t.to(device=device, dtype=dtype)
    n = _n_plays(dist)
    if t.numel() != n:
        raise ValueError(f"y has {t.numel()} values but the distribution's batch {tuple(dist.batch_shape)} "
                         f"holds {n} plays")
    return t.reshape(dist.batch_shape)


def _cdf_at(dist: Distribution, points: np.ndarray) -> np.ndarray:
    """``dist.cdf`` at the same ``points`` (G,) for every play → array (n, G)."""
    dtype, device = _dtype_device(dist)
    n = _n_plays(dist)
    pts = torch.as_tensor(np.asarray(points, dtype=np.float64)).to(device=device, dtype=dtype)
    pts = pts.reshape((-1,) + (1,) * len(dist.batch_shape))
    with torch.no_grad():
        out = dist.cdf(pts)                     # (G, *batch)
    return _np(out).reshape(len(points), n).T


def _quantiles(dist: Distribution, levels: Sequence[float]) -> np.ndarray:
    """Quantiles at ``levels`` (L,) for every play → array (L, n); ``dist.quantile`` if it has one."""
    dtype, device = _dtype_device(dist)
    n = _n_plays(dist)
    lv = torch.as_tensor(np.asarray(levels, dtype=np.float64)).to(device=device, dtype=dtype).reshape(-1)
    with torch.no_grad():
        if hasattr(dist, "quantile"):
            q = dist.quantile(lv)               # (L, *batch)
        else:
            q = dist.icdf(lv.reshape((-1,) + (1,) * len(dist.batch_shape)).expand(
                (lv.numel(),) + tuple(dist.batch_shape)))
    return _np(q).reshape(lv.numel(), n)


# ---------------------------------------------------------------------------------------------
# Point error and likelihood
# ---------------------------------------------------------------------------------------------

def mae(pred, y, reduction: str = "mean"):
    """Mean absolute error ``MAE = 1/n Σ |pred_n − y_n|`` (e.g. of the predicted median or mean)."""
    err = np.abs(_np(pred) - _np(y))
    return _reduce(err.reshape(-1), reduction)


def gaussian_nll(mu, sigma, y, reduction: str = "mean"):
    """Negative log-likelihood of the Gaussian baseline, averaged over plays:

        NLL = 1/n Σ [ ½ log(2π σ_n²) + (y_n − μ_n)² / (2 σ_n²) ].

    This is the negative log *density* at ``y`` (nats); see ``nll`` for why it is comparable with
    the SBP's.
    """
    mu, sigma, y = np.broadcast_arrays(_np(mu), _np(sigma), _np(y))
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    z = (y - mu) / sigma
    vals = 0.5 * _LOG_2PI + np.log(sigma) + 0.5 * z * z
    return _reduce(vals.reshape(-1), reduction)


def nll(dist: Distribution, y, reduction: str = "mean"):
    """Negative log-likelihood ``NLL = −1/n Σ log p_n(y_n)`` with ``p_n = exp(dist.log_prob)``.

    ``y`` is passed to ``log_prob`` as a float tensor.  For continuous models (the SBP, a Normal)
    ``log_prob`` is a log *density*, also at integer yards: the SBP's body density is ``p_k / w``
    (bin mass over bin width), not the bin mass, so with unit-width integer-centred bins it equals
    the probability of the integer's rounding cell, and a Gaussian's density at the integer is
    (to first order) the probability of the same cell.  Both are densities of the same variable in
    the same unit, so their NLLs are compared on the same footing (lower is better); neither is a
    discrete probability mass.  Values outside a bounded tail give ``+inf``.
    """
    yt = _y_tensor(dist, y)
    with torch.no_grad():
        lp = dist.log_prob(yt)
    return _reduce(-_np(lp).reshape(-1), reduction)


# ---------------------------------------------------------------------------------------------
# CRPS
# ---------------------------------------------------------------------------------------------

def _crps_segments(cdf_grid: np.ndarray, grid: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Σ over the grid's segments of the trapezoid rule for (F − 1{z ≥ y})², y split out (n,)."""
    h = np.diff(grid)                                            # (G-1,)
    heav = (grid[None, :] >= y[:, None]).astype(np.float64)      # (n, G)
    integrand = (cdf_grid - heav) ** 2
    seg = 0.5 * (integrand[:, :-1] + integrand[:, 1:]) * h       # (n, G-1)
    # The segment g_j < y ≤ g_{j+1} holds the step of the indicator: split it at y, with F(y)
    # linearly interpolated, and apply the trapezoid rule to each side.
    idx = np.searchsorted(grid, y, side="left")                  # first grid point ≥ y
    rows = np.nonzero((idx >= 1) & (idx <= grid.size - 1))[0]
    if rows.size:
        j = idx[rows] - 1
        g0, g1 = grid[j], grid[j + 1]
        f0, f1 = cdf_grid[rows, j], cdf_grid[rows, j + 1]
        yr = y[rows]
        fy = f0 + (f1 - f0) * (yr - g0) / (g1 - g0)
        left = 0.5 * (yr - g0) * (f0 ** 2 + fy ** 2)
        right = 0.5 * (g1 - yr) * ((1.0 - fy) ** 2 + (1.0 - f1) ** 2)
        seg[rows, j] = left + right
    return seg.sum(axis=1)


def _check_grid(grid) -> np.ndarray:
    g = _np(grid).reshape(-1)
    if g.size < 2 or not np.all(np.diff(g) > 0):
        raise ValueError("grid must hold at least 2 strictly increasing points")
    return g


def _crps_outside(grid: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Contribution outside the grid, with F = 0 below it and F = 1 above it."""
    return np.maximum(grid[0] - y, 0.0) + np.maximum(y - grid[-1], 0.0)


def crps_from_cdf(cdf_grid, grid, y, reduction: str = "mean"):
    """CRPS from CDF values on a grid, by the trapezoid rule:

        CRPS_n = ∫ (F_n(z) − 1{z ≥ y_n})² dz,

    ``cdf_grid`` [n, G] holds ``F_n`` at the strictly increasing points ``grid`` [G].  The integrand is
    integrated by the trapezoid rule on the grid, except that the segment holding ``y_n`` is split at
    ``y_n`` (``F_n(y_n)`` linearly interpolated) so the indicator's jump is integrated exactly.
    Outside the grid ``F`` is taken as 0 below ``grid[0]`` and 1 above ``grid[-1]`` (so the grid should
    cover the predicted mass; an outcome beyond the grid then adds its distance to the grid end).
    Lower is better; the unit is yards.  For a point forecast at ``x`` the CRPS is ``|x − y|``.
    """
    g = _check_grid(grid)
    F = _np(cdf_grid)
    F = F.reshape(-1, g.size) if F.ndim != 2 else F
    yv = _np(y).reshape(-1)
    if F.shape != (yv.size, g.size):
        raise ValueError(f"cdf_grid must have shape (n, G) = ({yv.size}, {g.size}), got {F.shape}")
    vals = _crps_segments(F, g, yv) + _crps_outside(g, yv)
    return _reduce(vals, reduction)


def crps(dist: Distribution, y, grid, reduction: str = "mean", chunk_elements: int = 1 << 20):
    """CRPS of a torch distribution: ``dist.cdf`` on ``grid`` [G], then ``crps_from_cdf``'s rule.

    The CDF is evaluated batched over all plays, a chunk of grid points at a time (about
    ``chunk_elements`` CDF values per chunk, neighbouring chunks sharing an end point), and the
    per-segment integrals are accumulated, so memory stays ~ ``n × chunk`` rather than ``n × G``.
    The result equals ``crps_from_cdf(F(grid), grid, y)``.  Choose a grid that covers the mass
    (e.g. ``np.arange(-120, 120.25, 0.25)`` for yards); for the SBP with integer bins, putting the
    half-integer bin edges on the grid makes the body's piecewise-linear CDF exact on each segment.
    """
    g = _check_grid(grid)
    yt = _y_tensor(dist, y)
    yv = _np(yt).reshape(-1)
    n = yv.size
    step = max(1, int(chunk_elements) // max(n, 1))              # segments per chunk
    total = np.zeros(n, dtype=np.float64)
    for start in range(0, g.size - 1, step):
        stop = min(start + step, g.size - 1)                     # chunk = points start … stop
        sub = g[start: stop + 1]
        total += _crps_segments(_cdf_at(dist, sub), sub, yv)
    total += _crps_outside(g, yv)
    return _reduce(total, reduction)


def crps_gaussian(mu, sigma, y, reduction: str = "mean"):
    """Closed-form CRPS of ``N(μ, σ²)`` (Gneiting & Raftery 2007), with ``z = (y − μ)/σ``:

        CRPS = σ · [ z (2Φ(z) − 1) + 2 φ(z) − 1/√π ].
    """
    mu, sigma, y = np.broadcast_arrays(_np(mu), _np(sigma), _np(y))
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    z = (y - mu) / sigma
    cdf = special.ndtr(z)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    vals = sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))
    return _reduce(vals.reshape(-1), reduction)


# ---------------------------------------------------------------------------------------------
# 2020 Big Data Bowl CRPS
# ---------------------------------------------------------------------------------------------

def bdb2020_crps(cdf_at_integers, y) -> float:
    """The 2020 Big Data Bowl's normalised (discrete) CRPS:

        C = 1/(199·N) Σ_n Σ_{k=−99}^{99} (P_n(Y ≤ k) − H(k − y_n))²,   H(x) = 1 if x ≥ 0 else 0,

    ``cdf_at_integers`` [N, 199] holds ``P_n(Y ≤ k)`` for k = −99 … 99 (``cdf_on_bdb_grid``); ``y`` [N]
    the integer yards gained (not clipped: a ``y`` beyond ±99 just makes every ``H`` 0 or 1).
    A perfect step at the true yardage scores 0; a step one yard off scores 1/199.
    """
    P = _np(cdf_at_integers)
    yv = _np(y).reshape(-1)
    if P.shape != (yv.size, BDB_YARDS.size):
        raise ValueError(f"cdf_at_integers must have shape (N, 199) = ({yv.size}, 199), got {P.shape}")
    heav = (BDB_YARDS[None, :] - yv[:, None] >= 0).astype(np.float64)
    return float(np.mean((P - heav) ** 2))


def cdf_on_bdb_grid(dist: Distribution, offset: float = 0.5) -> np.ndarray:
    """``dist.cdf(k + offset)`` for k = −99 … 99 → [n, 199], the input of ``bdb2020_crps``.

    With the SBP's integer-centred bins (bin ``k`` = ``[k − ½, k + ½)``, the rounding cell of yardage
    ``k``) the event "``Y ≤ k``" for integer yards is "the continuous variable is below ``k + ½``",
    so ``P(Y ≤ k) = F(k + 0.5)``: the default ``offset``.  Use ``offset=0`` to read the continuous CDF
    at the integers themselves (e.g. for a model of an unrounded variable).
    """
    return _cdf_at(dist, BDB_YARDS + float(offset))


def gaussian_cdf_on_bdb_grid(mu, sigma, offset: float = 0.5) -> np.ndarray:
    """``Φ((k + offset − μ)/σ)`` for k = −99 … 99 → [n, 199]: the Gaussian baseline's ``cdf_on_bdb_grid``."""
    mu = _np(mu).reshape(-1, 1)
    sigma = _np(sigma).reshape(-1, 1)
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    mu, sigma = np.broadcast_arrays(mu, sigma)
    return special.ndtr((BDB_YARDS[None, :] + float(offset) - mu) / sigma)


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------

def pit_values(dist: Distribution, y, generator: torch.Generator | None = None) -> np.ndarray:
    """Probability integral transform of the outcomes, [n].

    With ``dist.randomized_pit`` (the SBP): ``F(y − ½) + V·(F(y + ½) − F(y − ½))``, ``V ~ U(0, 1)`` drawn
    from ``generator`` (the global RNG if ``None``); exactly Uniform(0, 1) when the integer outcomes
    are the rounded draws of ``dist``.  Otherwise the plain PIT ``dist.cdf(y)`` (a continuous model of
    the outcome, e.g. the Gaussian baseline at the integer itself).
    """
    yt = _y_tensor(dist, y)
    with torch.no_grad():
        if hasattr(dist, "randomized_pit"):
            u = dist.randomized_pit(yt, generator=generator)
        else:
            u = dist.cdf(yt)
    return _np(u).reshape(-1)


def pit_histogram(pit, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of PIT values on [0, 1] in ``bins`` equal bins → (counts [bins], edges [bins + 1]).

    Calibrated forecasts give flat counts (n/bins each); a U shape means too narrow, a hump too wide,
    a slope a biased location.
    """
    counts, edges = np.histogram(np.clip(_np(pit).reshape(-1), 0.0, 1.0), bins=int(bins), range=(0.0, 1.0))
    return counts, edges


def pit_ks(pit) -> float:
    """Kolmogorov–Smirnov distance of the PIT values to Uniform(0, 1), computed exactly:

        D = sup_u |F̂(u) − u| = max_i max(i/n − u_(i), u_(i) − (i − 1)/n)

    over the sorted values ``u_(1) ≤ … ≤ u_(n)`` (= ``scipy.stats.kstest(pit, "uniform").statistic``).
    """
    u = np.sort(np.clip(_np(pit).reshape(-1), 0.0, 1.0))
    n = u.size
    if n == 0:
        raise ValueError("pit is empty")
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def _check_levels(levels: Iterable[float]) -> list[float]:
    lv = [float(x) for x in levels]
    if not lv or any(not 0.0 < x < 1.0 for x in lv):
        raise ValueError(f"levels must lie in (0, 1), got {lv}")
    return lv


def _coverage(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((y >= lo) & (y <= hi)))


def _cell_coverage(f_lo: np.ndarray, f_hi: np.ndarray, f_y: np.ndarray, level: float) -> float:
    """Mean share of each outcome cell's predicted probability ``[F(y − c/2), F(y + c/2)]`` that lies
    inside the central probability band ``[(1 − l)/2, (1 + l)/2]``; a cell with no mass (far out in
    a tail) counts as the point ``F(y)``."""
    a, b = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    mass = f_hi - f_lo
    inside = np.clip(np.minimum(f_hi, b) - np.maximum(f_lo, a), 0.0, None)
    share = np.where(mass > 1e-12, inside / np.where(mass > 1e-12, mass, 1.0), (f_y >= a) & (f_y <= b))
    return float(np.mean(share))


def interval_coverage(dist: Distribution, y, levels: Sequence[float] = (0.5, 0.8, 0.9),
                      cell: float = 0.0) -> dict[float, float]:
    """Empirical coverage of the central prediction intervals, for each level l:

        cov(l) = 1/n Σ 1{ q_n((1 − l)/2) ≤ y_n ≤ q_n((1 + l)/2) }                       (cell = 0)

    with the quantiles ``q_n`` from ``dist.quantile`` (or ``dist.icdf``); well-calibrated forecasts
    of a continuous outcome give ``cov(l) ≈ l``.

    **Integer outcomes** (``cell = 1``): yards are whole numbers and a sixth or more of the plays
    are exactly 0 (incompletions), so the point rule counts a play as covered when any part of its
    cell ``[y − ½, y + ½]`` lies inside the interval: with a big cell at an interval's end the
    coverage overshoots ``l`` even for a perfect forecast.  With ``cell > 0`` each play contributes
    the share of its cell's predicted probability inside the interval,

        cov(l) = 1/n Σ |[F(y − c/2), F(y + c/2)] ∩ [(1 − l)/2, (1 + l)/2]| / (F(y + c/2) − F(y − c/2)),

    which is the expectation of 1{randomized PIT ∈ [(1 − l)/2, (1 + l)/2]}: the coverage the PIT
    histogram implies, ≈ l for a calibrated forecast of rounded outcomes (tested).
    """
    lv = _check_levels(levels)
    yv = _np(_y_tensor(dist, y)).reshape(-1)
    if cell > 0:
        f_lo, f_y, f_hi = (_cdf_pointwise(dist, y, d) for d in (-0.5 * cell, 0.0, 0.5 * cell))
        return {l: _cell_coverage(f_lo, f_hi, f_y, l) for l in lv}
    probs = [p for l in lv for p in ((1.0 - l) / 2.0, (1.0 + l) / 2.0)]
    q = _quantiles(dist, probs)                                   # (2L, n)
    return {l: _coverage(q[2 * i], q[2 * i + 1], yv) for i, l in enumerate(lv)}


def _cdf_pointwise(dist: Distribution, y, offset: float) -> np.ndarray:
    """``dist.cdf(y_n + offset)`` per play, [n]."""
    with torch.no_grad():
        return _np(dist.cdf(_y_tensor(dist, y) + offset)).reshape(-1)


def gaussian_interval_coverage(mu, sigma, y, levels: Sequence[float] = (0.5, 0.8, 0.9),
                               cell: float = 0.0) -> dict[float, float]:
    """``interval_coverage`` for the Gaussian baseline: the interval is ``μ ± σ·Φ⁻¹((1 + l)/2)``
    (``cell`` as there)."""
    lv = _check_levels(levels)
    mu, sigma, yv = (a.reshape(-1) for a in np.broadcast_arrays(_np(mu), _np(sigma), _np(y)))
    if cell > 0:
        f_lo, f_y, f_hi = (special.ndtr((yv + d - mu) / sigma) for d in (-0.5 * cell, 0.0, 0.5 * cell))
        return {l: _cell_coverage(f_lo, f_hi, f_y, l) for l in lv}
    out = {}
    for l in lv:
        half = sigma * special.ndtri((1.0 + l) / 2.0)
        out[l] = _coverage(mu - half, mu + half, yv)
    return out


def quantile_error(dist: Distribution, true_quantiles: Mapping[float, object]) -> dict[float, float]:
    """Mean absolute error of the predicted quantiles against known true ones, per level:

        err(l) = 1/n Σ |q̂_n(l) − q_n(l)|,

    ``true_quantiles`` maps each level ``l`` (e.g. the simulator's 0.1, 0.25, 0.5, 0.75, 0.9) to the
    per-play true quantiles [n]; exactly the levels given are evaluated, keys kept as given.
    """
    keys = list(true_quantiles.keys())
    _check_levels(keys)
    n = _n_plays(dist)
    pred = _quantiles(dist, [float(k) for k in keys])            # (L, n)
    out = {}
    for i, k in enumerate(keys):
        t = _np(true_quantiles[k]).reshape(-1)
        if t.size != n:
            raise ValueError(f"true quantiles at level {k} hold {t.size} values, expected {n}")
        out[k] = float(np.mean(np.abs(pred[i] - t)))
    return out


# ---------------------------------------------------------------------------------------------
# The passing score
# ---------------------------------------------------------------------------------------------

def passing_score(dist: Distribution, y, mode: str = "mid",
                  generator: torch.Generator | None = None) -> np.ndarray:
    """Per-play passing score on 0–100: ``100 · PIT(y)`` of the actual yards under the prediction.

    50 = a median outcome for that situation; the CDF is already the standardization: it maps the
    actual yards to its percentile under the predicted distribution.  An integer yardage ``y`` is
    the cell ``[y − ½, y + ½]``, so the PIT is

    * ``mode="mid"`` (deterministic): the mid-PIT ``(F(y − ½) + F(y + ½)) / 2`` (``dist.mid_cdf``);
    * ``mode="randomized"``: ``F(y − ½) + V·(F(y + ½) − F(y − ½))``, ``V ~ U(0, 1)`` from ``generator``
      (required, for reproducible scores; ``dist.randomized_pit``), uniform on 0–100 when calibrated.

    Distributions without ``mid_cdf`` / ``randomized_pit`` (a continuous baseline) use ``dist.cdf(y)``
    in both modes.  Non-decreasing in ``y`` for a fixed prediction.  Returns float64 [n].
    """
    if mode not in ("mid", "randomized"):
        raise ValueError(f"mode must be 'mid' or 'randomized', got {mode!r}")
    if mode == "randomized" and generator is None:
        raise ValueError("mode='randomized' needs a torch.Generator")
    yt = _y_tensor(dist, y)
    with torch.no_grad():
        if mode == "mid" and hasattr(dist, "mid_cdf"):
            u = dist.mid_cdf(yt)
        elif mode == "randomized" and hasattr(dist, "randomized_pit"):
            u = dist.randomized_pit(yt, generator=generator)
        else:
            u = dist.cdf(yt)
    return np.clip(100.0 * _np(u).reshape(-1), 0.0, 100.0)
