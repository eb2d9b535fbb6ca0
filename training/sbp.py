"""Spliced binned-Pareto (SBP) distribution of yards gained, as a ``torch.distributions.Distribution``.

The passing-score head predicts a distribution of yards gained that is asymmetric, often bimodal,
has a spike at 0 and heavy (or goal-line bounded) tails.  The SBP models it as a histogram body
whose two ends are replaced by generalized Pareto (GPD) tails.

**Body.**  ``K`` bins on ``[lower, upper]`` with width ``w = (upper - lower) / (K - 1)`` and edges

    e_k = lower - w/2 + k·w,    k = 0 … K,

so bin ``k`` is ``[e_k, e_{k+1})`` and is *centred* on ``lower + k·w``.  With integer ``lower``,
``upper`` and ``K - 1 = upper - lower`` (``w = 1``) every integer yardage sits at a bin centre and
its bin is its rounding cell ``[y - ½, y + ½)``.  The bins span ``[lower - w/2, upper + w/2]``.
Bin masses ``p = softmax(logits)``; the body *density* is ``p_k / w`` on bin ``k`` (a proper density:
the log-likelihood is comparable with any other continuous model's, e.g. a Gaussian's), its CDF
``F_B`` is piecewise linear.

**Splicing.**  ``q_lo = F_B⁻¹(α)`` and ``q_hi = F_B⁻¹(1 − α)`` (``α = tail_alpha``; differentiable
in the logits) are the splice points.  The density is

    y < q_lo:            α · g(q_lo − y; ξ_lo, β_lo)
    q_lo ≤ y ≤ q_hi:     p_k / w                      (k = the bin of y)
    y > q_hi:            α · g(y − q_hi; ξ_hi, β_hi)

with ``g`` the GPD density.  The body mass between the splice points is exactly ``1 − 2α`` and each
tail carries mass ``α``, so it integrates to 1.  The density is in general discontinuous at the
splice points (``α/β`` vs ``p_k/w``); that is intended.  Each tail's shape ``ξ`` may be

* ``ξ > 0``: heavy (power-law) tail, the mean exists only for ``ξ < 1``;
* ``ξ = 0``: exponential tail (the limit, not a special case in the code: see below);
* ``ξ < 0``: bounded tail, ending ``β/|ξ|`` beyond the splice point (``log_prob = -inf`` beyond,
  ``cdf`` 0 / 1).  Keep ``ξ ≥ -0.5`` or so: at ``ξ ≤ -1`` the density is unbounded at the end point.

``support`` is declared as the real line (the end points of bounded tails depend on the batch
element); values outside a bounded tail get ``log_prob = -inf``.

**ξ ≈ 0.**  Every GPD formula is written with the two helpers

    log1p(u)/u  and  expm1(v)/v     (u = ξ·z/β, v = ξ·L)

which are evaluated by their Taylor series (to the 4th power) where ``|u|`` is below a threshold
(1e-3 in float64, 2e-2 in lower precision) and in closed form elsewhere, each branch fed a safe
argument (``torch.where`` on both sides), so values *and gradients* are exact to rounding at
``ξ = 0``, ``ξ = ±1e-7`` and everywhere else (no 0/0, no catastrophic cancellation in ∂/∂ξ):

    log g(z) = −log β − log1p(u) − (z/β)·[log1p(u)/u]       (→ −log β − z/β at ξ = 0)
    log S(z) = −(z/β)·[log1p(u)/u]                            (survival, S = 1 − G)
    S⁻¹(s)   = β·L·[expm1(ξL)/(ξL)],  L = −log s              (→ −β log s at ξ = 0)

**Moments.**  ``mean`` = the exact integral of ``y·p_k/w`` over ``[q_lo, q_hi]`` (bins cut at the
splice points) + ``α·(q_hi + β_hi/(1 − ξ_hi))`` + ``α·(q_lo − β_lo/(1 − ξ_lo))``; ``+inf`` where
``ξ_hi ≥ 1``, ``-inf`` where ``ξ_lo ≥ 1``, ``nan`` where both.

**Sampling** is inversion: uniforms drawn on the parameters' device and dtype, then ``icdf`` (so it is
reproducible with ``torch.manual_seed`` and works on any device; ``rsample`` is differentiable
in all parameters).

**Integer observations.**  Yards gained are integers: the observed value ``y`` stands for the cell
``[y − c/2, y + c/2]`` (``c = cell``, 1 yard by default).  ``mid_cdf(y)`` is
``(F(y − c/2) + F(y + c/2)) / 2`` (the mid-PIT) and ``randomized_pit(y)`` is
``F(y − c/2) + V·(F(y + c/2) − F(y − c/2))``, ``V ~ U(0, 1)``, which is exactly uniform when the
integers are ``round`` of draws of this distribution.

**Precision.**  Parameters are upcast to at least float32 (bf16/fp16 network outputs become float32;
float64 stays float64); every computation runs in that dtype.

**Differences from GluonTS's ``SplicedBinnedPareto``** (deliberate): the body term is the log
*density* ``log(p_k / w)``, not the log bin mass; ``mean`` is the real mean including the tails;
``ξ`` keeps its sign (no ``abs``), bounded tails are allowed.

Use ``sbp_from_raw`` to map a network's ``K + 4`` unconstrained outputs (``num_raw_params(K)``) to a
distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution, constraints

__all__ = ["SplicedBinnedPareto", "sbp_from_raw", "num_raw_params"]


# ---------------------------------------------------------------------------------------------
# Stable GPD helpers
# ---------------------------------------------------------------------------------------------

def _series_threshold(dtype: torch.dtype) -> float:
    return 1e-3 if dtype == torch.float64 else 2e-2


def _log1p_over(u: Tensor) -> Tensor:
    """log1p(u) / u, stable (value and gradient) near u = 0; requires u > -1."""
    small = u.abs() < _series_threshold(u.dtype)
    us = torch.where(small, u, torch.zeros_like(u))
    series = 1.0 + us * (-1.0 / 2 + us * (1.0 / 3 + us * (-1.0 / 4 + us * (1.0 / 5))))
    ue = torch.where(small, torch.ones_like(u), u)
    return torch.where(small, series, torch.log1p(ue) / ue)


def _expm1_over(v: Tensor) -> Tensor:
    """expm1(v) / v, stable (value and gradient) near v = 0."""
    small = v.abs() < _series_threshold(v.dtype)
    vs = torch.where(small, v, torch.zeros_like(v))
    series = 1.0 + vs * (1.0 / 2 + vs * (1.0 / 6 + vs * (1.0 / 24 + vs * (1.0 / 120))))
    ve = torch.where(small, torch.ones_like(v), v)
    return torch.where(small, series, torch.expm1(ve) / ve)


def _gpd_valid(z: Tensor, xi: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(valid, t, u) for a GPD at excess z ≥ 0: t = z/β, u = ξ t; invalid entries get t = u = 0."""
    t = z / beta
    u = xi * t
    valid = (z >= 0) & (u > -1) & torch.isfinite(z)
    zero = torch.zeros_like(u)
    return valid, torch.where(valid, t, zero), torch.where(valid, u, zero)


def _gpd_log_pdf(z: Tensor, xi: Tensor, beta: Tensor) -> Tensor:
    """log of the GPD density at excess z (−inf outside the support)."""
    valid, t, u = _gpd_valid(z, xi, beta)
    lp = -torch.log(beta) - torch.log1p(u) - t * _log1p_over(u)
    return torch.where(valid, lp, torch.full_like(lp, -math.inf))


def _gpd_log_pdf_continued(z: Tensor, xi: Tensor, beta: Tensor, eps: float) -> Tensor:
    """``_gpd_log_pdf`` continued past a bounded tail's end, for training losses.

    With ξ < 0 the density is 0 from ``u = ξz/β = −1`` on: ``log_prob`` is −inf there and its
    gradient 0, so a play beyond its predicted end would add inf to the loss and nothing to the
    gradient (the fit could never pull the end out to it).  Where ``u < −1 + eps``, the value is
    instead the log density at the shape ``ξ* = −(1 − eps)·β/z`` that puts the play just inside
    the support (``u = −1 + eps``), continued linearly in ξ below it with the slope ∂log g/∂ξ at ξ*:

        −log β − (1 + 1/ξ*)·log(eps) + λ·(ξ − ξ*),   λ = log(eps)/ξ*² − (1 + 1/ξ*)·(z/β)/eps  (> 0)

    equal in value and ξ-slope at the switch.  Its gradient raises ξ (λ > 0) and β (through ξ*,
    for every play beyond the end), i.e. moves the end out to the play; it falls the further
    beyond the play lies.  Identical to ``_gpd_log_pdf`` where ``u ≥ −1 + eps``.  (A continuation
    linear in ``u`` instead has a ξ-slope that vanishes as ξ → −1 and pushed ξ down.)"""
    u = xi * (z / beta)
    edge = -1.0 + eps
    past = (z >= 0) & (u < edge) & torch.isfinite(z)
    lp = _gpd_log_pdf(torch.where(past, torch.zeros_like(z), z), xi, beta)
    # the continued branch, fed only values where it is taken: there ξ < 0, z > β/|ξ| > 0 and
    # ξ* ∈ (ξ, 0), as |ξ*| < β/z < |ξ|
    z_past = torch.where(past, z, beta / (1.0 - eps) * 2.0)  # elsewhere any z that gives ξ* = −0.5
    xi_star = -(1.0 - eps) * beta / z_past
    log_eps = math.log(eps)
    slope = (log_eps / xi_star ** 2 - (1.0 + 1.0 / xi_star) * (z_past / beta) / eps).detach()
    cont = -torch.log(beta) - (1.0 + 1.0 / xi_star) * log_eps + slope * (xi - xi_star)
    return torch.where(past, cont, lp)


def _gpd_sf(z: Tensor, xi: Tensor, beta: Tensor) -> Tensor:
    """GPD survival function 1 − G(z) for z ≥ 0 (0 beyond a bounded tail's end)."""
    valid, t, u = _gpd_valid(z, xi, beta)
    sf = torch.exp(-t * _log1p_over(u))
    return torch.where(valid, sf, torch.zeros_like(sf))


def _gpd_isf(s: Tensor, xi: Tensor, beta: Tensor) -> Tensor:
    """Inverse survival: the excess z with S(z) = s, s ∈ [0, 1] (s = 0 → end of the support)."""
    L = -torch.log(s)
    finite = torch.isfinite(L)
    Ls = torch.where(finite, L, torch.zeros_like(L))
    z = beta * Ls * _expm1_over(xi * Ls)
    neg = xi < 0
    xi_safe = torch.where(neg, xi, -torch.ones_like(xi))
    end = torch.where(neg, -beta / xi_safe, torch.full_like(z, math.inf))
    return torch.where(finite, z, end)


# ---------------------------------------------------------------------------------------------
# The distribution
# ---------------------------------------------------------------------------------------------

class SplicedBinnedPareto(Distribution):
    """Histogram body on ``K`` bins spliced with two weighted generalized Pareto tails.

    Args:
        logits: ``(..., K)`` unnormalised log bin masses (``K ≥ 2``).
        lower_xi, lower_beta: shape ξ and scale β > 0 of the lower tail, batch-shaped (broadcast).
        upper_xi, upper_beta: the same for the upper tail.
        lower, upper: centres of the first and the last bin (keyword-only).
        tail_alpha: mass α of each tail, 0 < α < 0.5 (the body keeps its [α, 1 − α] quantile range).

    See the module docstring for the definition, the bin edges and the numerics.
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "lower_xi": constraints.real,
        "lower_beta": constraints.positive,
        "upper_xi": constraints.real,
        "upper_beta": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(self, logits: Tensor, lower_xi, lower_beta, upper_xi, upper_beta, *,
                 lower: float, upper: float, tail_alpha: float = 0.05, validate_args=None):
        logits = torch.as_tensor(logits)
        if logits.dim() < 1 or logits.shape[-1] < 2:
            raise ValueError(f"logits must have shape (..., K) with K >= 2, got {tuple(logits.shape)}")
        if not float(upper) > float(lower):
            raise ValueError(f"need lower < upper, got lower={lower}, upper={upper}")
        if not 0.0 < float(tail_alpha) < 0.5:
            raise ValueError(f"tail_alpha must be in (0, 0.5), got {tail_alpha}")
        params = [torch.as_tensor(x, device=logits.device)
                  for x in (lower_xi, lower_beta, upper_xi, upper_beta)]
        dtype = logits.dtype if logits.is_floating_point() else torch.get_default_dtype()
        for x in params:
            if x.is_floating_point():
                dtype = torch.promote_types(dtype, x.dtype)
        dtype = torch.promote_types(dtype, torch.float32)  # at least float32
        K = logits.shape[-1]
        batch_shape = torch.broadcast_shapes(logits.shape[:-1], *(x.shape for x in params))
        self.logits = logits.to(dtype).expand(batch_shape + (K,))
        self.lower_xi, self.lower_beta, self.upper_xi, self.upper_beta = (
            x.to(dtype).expand(batch_shape) for x in params)
        self.lower = float(lower)
        self.upper = float(upper)
        self.tail_alpha = float(tail_alpha)
        self.num_bins = K
        self.bin_width = (self.upper - self.lower) / (K - 1)
        super().__init__(batch_shape, validate_args=validate_args)

        # Derived body quantities, shape (*batch, K).
        self._log_p = torch.log_softmax(self.logits, dim=-1)
        self._p = self._log_p.exp()
        self._cum = torch.cumsum(self._p, dim=-1)                       # C_{k+1}
        self._cprev = torch.cat([torch.zeros_like(self._cum[..., :1]), self._cum[..., :-1]], dim=-1)
        self._edge0 = self.lower - 0.5 * self.bin_width
        # both splice points in one pass (a sample dimension of 2): scoring one play builds this object
        # for a handful of queries, so its fixed cost in operators matters
        levels = torch.tensor([self.tail_alpha, 1.0 - self.tail_alpha], dtype=dtype, device=self.logits.device)
        self.q_lo, self.q_hi = self._body_icdf(levels.reshape((2,) + (1,) * len(batch_shape))).unbind(0)

    # -- bookkeeping -----------------------------------------------------------------------------

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SplicedBinnedPareto, _instance)
        batch_shape = torch.Size(batch_shape)
        SplicedBinnedPareto.__init__(
            new, self.logits.expand(batch_shape + (self.num_bins,)),
            self.lower_xi.expand(batch_shape), self.lower_beta.expand(batch_shape),
            self.upper_xi.expand(batch_shape), self.upper_beta.expand(batch_shape),
            lower=self.lower, upper=self.upper, tail_alpha=self.tail_alpha, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def dtype(self) -> torch.dtype:
        return self.logits.dtype

    @property
    def device(self) -> torch.device:
        return self.logits.device

    @property
    def probs(self) -> Tensor:
        """Bin masses softmax(logits), shape (*batch, K)."""
        return self._p

    @property
    def bin_edges(self) -> Tensor:
        """The K + 1 bin edges ``lower − w/2 + k·w``."""
        k = torch.arange(self.num_bins + 1, dtype=self.dtype, device=self.device)
        return self._edge0 + k * self.bin_width

    @property
    def bin_centers(self) -> Tensor:
        """The K bin centres ``lower + k·w`` (integers for the default integer binning)."""
        k = torch.arange(self.num_bins, dtype=self.dtype, device=self.device)
        return self.lower + k * self.bin_width

    @property
    def support_bounds(self) -> tuple[Tensor, Tensor]:
        """(low, high) of the support per batch element: ±inf, or the end of a bounded (ξ < 0) tail."""
        def end(xi, beta):
            neg = xi < 0
            xi_safe = torch.where(neg, xi, -torch.ones_like(xi))
            return torch.where(neg, -beta / xi_safe, torch.full_like(beta, math.inf))
        return self.q_lo - end(self.lower_xi, self.lower_beta), self.q_hi + end(self.upper_xi, self.upper_beta)

    def _as_value(self, value) -> Tensor:
        return torch.as_tensor(value, device=self.device).to(self.dtype)

    def _gather(self, table: Tensor, k: Tensor) -> Tensor:
        """table (*batch, K) indexed by k (shape broadcastable with batch) → k's broadcast shape."""
        shape = torch.broadcast_shapes(k.shape, self.batch_shape)
        k = k.expand(shape)
        return torch.gather(table.expand(shape + (self.num_bins,)), -1, k.unsqueeze(-1)).squeeze(-1)

    def _bin_index(self, y: Tensor) -> Tensor:
        k = torch.floor((y - self._edge0) / self.bin_width).clamp(0, self.num_bins - 1)
        return torch.nan_to_num(k, nan=0.0).long()

    # -- body ------------------------------------------------------------------------------------

    def _body_icdf(self, q: Tensor) -> Tensor:
        """Inverse of the piecewise-linear body CDF (q broadcast against the batch shape)."""
        shape = torch.broadcast_shapes(q.shape, self.batch_shape)
        qe = q.expand(shape)
        # searchsorted wants the cumulative masses and the queries to share their leading dims:
        # fold the sample dims (those left of the batch dims) into the queries' last dim rather
        # than copying the (*batch, K) table once per sample.
        n_b = len(self.batch_shape)
        n_s = len(shape) - n_b
        b_shape = shape[n_s:]
        cum = self._cum.expand(b_shape + (self.num_bins,)).contiguous()
        flat = qe.reshape((-1,) + b_shape).movedim(0, -1).contiguous()        # (*b_shape, N)
        k = torch.searchsorted(cum, flat, right=True).movedim(-1, 0).reshape(shape)
        k = k.clamp(max=self.num_bins - 1)
        c_k = self._gather(self._cprev, k)
        p_k = self._gather(self._p, k)
        frac = ((qe - c_k) / p_k.clamp_min(torch.finfo(self.dtype).tiny)).clamp(0.0, 1.0)
        return self._edge0 + self.bin_width * (k.to(self.dtype) + frac)

    def _body_cdf(self, y: Tensor) -> Tensor:
        k = self._bin_index(y)
        frac = ((y - self._edge0) / self.bin_width - k.to(self.dtype)).clamp(0.0, 1.0)
        return self._gather(self._cprev, k) + self._gather(self._p, k) * frac

    # -- Distribution API ------------------------------------------------------------------------

    def log_prob(self, value) -> Tensor:
        return self._log_prob(value, _gpd_log_pdf)

    def training_log_prob(self, value, eps: float = 1e-3) -> Tensor:
        """``log_prob`` for a training loss: equal to it, except beyond the end of a bounded (ξ < 0)
        tail (and within ``eps`` of it in ``u = ξz/β``), where it stays finite and falls with the
        distance instead of being −inf, and its gradient pulls the tail's end out to the play
        (``_gpd_log_pdf_continued``).  Not a log density there: evaluation uses ``log_prob``."""
        return self._log_prob(value, lambda z, xi, beta: _gpd_log_pdf_continued(z, xi, beta, eps))

    def _log_prob(self, value, tail_log_pdf) -> Tensor:
        y = self._as_value(value)
        if self._validate_args:
            self._validate_sample(y)
        y, q_lo, q_hi = torch.broadcast_tensors(y, self.q_lo, self.q_hi)
        log_alpha = math.log(self.tail_alpha)
        body = self._gather(self._log_p, self._bin_index(y)) - math.log(self.bin_width)
        in_hi = y > q_hi
        in_lo = y < q_lo
        zero = torch.zeros_like(y)
        hi = log_alpha + tail_log_pdf(torch.where(in_hi, y - q_hi, zero), self.upper_xi, self.upper_beta)
        lo = log_alpha + tail_log_pdf(torch.where(in_lo, q_lo - y, zero), self.lower_xi, self.lower_beta)
        out = torch.where(in_hi, hi, torch.where(in_lo, lo, body))
        return torch.where(torch.isnan(y), y, out)

    def cdf(self, value) -> Tensor:
        y = self._as_value(value)
        if self._validate_args:
            self._validate_sample(y)
        y, q_lo, q_hi = torch.broadcast_tensors(y, self.q_lo, self.q_hi)
        a = self.tail_alpha
        body = self._body_cdf(y)
        in_hi = y > q_hi
        in_lo = y < q_lo
        zero = torch.zeros_like(y)
        hi = 1.0 - a * _gpd_sf(torch.where(in_hi, y - q_hi, zero), self.upper_xi, self.upper_beta)
        lo = a * _gpd_sf(torch.where(in_lo, q_lo - y, zero), self.lower_xi, self.lower_beta)
        out = torch.where(in_hi, hi, torch.where(in_lo, lo, body))
        return torch.where(torch.isnan(y), y, out)

    def icdf(self, value) -> Tensor:
        q = self._as_value(value)
        if self._validate_args and not bool(((q >= 0) & (q <= 1)).all()):
            raise ValueError("icdf expects probabilities in [0, 1]")
        q, q_lo, q_hi = torch.broadcast_tensors(q, self.q_lo, self.q_hi)
        a = self.tail_alpha
        in_lo = q < a
        in_hi = q > 1.0 - a
        one = torch.ones_like(q)
        body = self._body_icdf(torch.where(in_lo | in_hi, torch.full_like(q, 0.5), q))
        lo = q_lo - _gpd_isf(torch.where(in_lo, q / a, one), self.lower_xi, self.lower_beta)
        hi = q_hi + _gpd_isf(torch.where(in_hi, (1.0 - q) / a, one), self.upper_xi, self.upper_beta)
        return torch.where(in_hi, hi, torch.where(in_lo, lo, body))

    def rsample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None) -> Tensor:
        """Inversion sampling: uniforms on the parameters' device/dtype, then ``icdf``."""
        shape = self._extended_shape(torch.Size(sample_shape))
        u = torch.rand(shape, dtype=self.dtype, device=self.device, generator=generator)
        return self.icdf(u.clamp_min(torch.finfo(self.dtype).tiny))

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape, generator=generator)

    def quantile(self, levels) -> Tensor:
        """Quantiles at ``levels`` (shape (n,)): shape (n, *batch_shape)."""
        levels = self._as_value(levels)
        if levels.dim() != 1:
            raise ValueError("levels must be one-dimensional")
        return self.icdf(levels.reshape(levels.shape + (1,) * len(self.batch_shape)))

    @property
    def median(self) -> Tensor:
        return self.icdf(torch.full(self.batch_shape, 0.5, dtype=self.dtype, device=self.device))

    @property
    def mean(self) -> Tensor:
        edges = self.bin_edges
        lo = self.q_lo.unsqueeze(-1)
        hi = self.q_hi.unsqueeze(-1)
        a = torch.maximum(edges[:-1], lo)
        b = torch.maximum(torch.minimum(edges[1:], hi), a)
        body = (self._p / self.bin_width * (b - a) * (b + a) * 0.5).sum(-1)

        def gpd_mean(xi, beta):
            finite = xi < 1
            xi_safe = torch.where(finite, xi, torch.zeros_like(xi))
            return torch.where(finite, beta / (1.0 - xi_safe), torch.full_like(beta, math.inf))

        al = self.tail_alpha
        return (body + al * (self.q_hi + gpd_mean(self.upper_xi, self.upper_beta))
                + al * (self.q_lo - gpd_mean(self.lower_xi, self.lower_beta)))

    # -- integer observations ----------------------------------------------------------------------

    def mid_cdf(self, value, cell: float = 1.0) -> Tensor:
        """Mid-PIT of an integer observation: (F(y − cell/2) + F(y + cell/2)) / 2."""
        y = self._as_value(value)
        both = self.cdf(torch.stack([y - 0.5 * cell, y + 0.5 * cell]))  # one pass for the two cell ends
        return 0.5 * (both[0] + both[1])

    def randomized_pit(self, value, generator: torch.Generator | None = None, cell: float = 1.0) -> Tensor:
        """Randomized PIT F(y − c/2) + V·(F(y + c/2) − F(y − c/2)), V ~ U(0, 1) on the parameters' device."""
        y = self._as_value(value)
        f_lo = self.cdf(y - 0.5 * cell)
        f_hi = self.cdf(y + 0.5 * cell)
        v = torch.rand(f_lo.shape, dtype=self.dtype, device=self.device, generator=generator)
        return f_lo + v * (f_hi - f_lo)


# ---------------------------------------------------------------------------------------------
# Network outputs → distribution
# ---------------------------------------------------------------------------------------------

def num_raw_params(num_bins: int) -> int:
    """Number of unconstrained outputs a head needs for ``num_bins`` bins: K logits + 2 × (ξ, β)."""
    return num_bins + 4


def sbp_from_raw(raw: Tensor, lower: float, upper: float, tail_alpha: float = 0.05,
                 xi_range: Sequence[float] = (-0.5, 1.0), beta_floor: float = 1e-3,
                 validate_args=None, lower_xi_range: Sequence[float] | None = None) -> SplicedBinnedPareto:
    """Map unconstrained ``raw`` of shape (..., K + 4) to a ``SplicedBinnedPareto``.

    Layout of the last dimension: ``[logits (K), lower ξ, lower β, upper ξ, upper β]``.
    ξ = lo + (hi − lo)·sigmoid(r) ∈ (lo, hi) = ``xi_range`` (the open interval: with the default
    (−0.5, 1) the mean always exists); β = softplus(r) + ``beta_floor`` (yards, when the bins are).
    ``lower_xi_range``: the lower tail's own (lo, hi), e.g. (0, 1) for a lower tail that never ends;
    None: ``xi_range`` for both tails.
    ``raw`` is upcast to float32 (bf16/fp16 autocast outputs) before anything is computed.
    """
    raw = torch.as_tensor(raw)
    raw = raw.to(torch.promote_types(raw.dtype, torch.float32))
    if raw.shape[-1] < 6:
        raise ValueError(f"raw must have at least 6 = num_raw_params(2) entries, got {raw.shape[-1]}")
    ranges = {"xi_range": xi_range, "lower_xi_range": xi_range if lower_xi_range is None else lower_xi_range}
    for name, (lo, hi) in ranges.items():
        if not float(hi) > float(lo):
            raise ValueError(f"{name} must be increasing, got {ranges[name]}")
    logits = raw[..., :-4]

    def xi(r, which="xi_range"):
        lo, hi = (float(x) for x in ranges[which])
        return lo + (hi - lo) * torch.sigmoid(r)

    def beta(r):
        return F.softplus(r) + beta_floor

    return SplicedBinnedPareto(logits, xi(raw[..., -4], "lower_xi_range"), beta(raw[..., -3]), xi(raw[..., -2]),
                               beta(raw[..., -1]), lower=lower, upper=upper, tail_alpha=tail_alpha,
                               validate_args=validate_args)
