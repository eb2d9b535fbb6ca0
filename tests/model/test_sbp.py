"""Property tests of the spliced binned-Pareto distribution (training/sbp.py).

References are independent of the code under test: numerical integration of ``exp(log_prob)``
(Gauss–Legendre on segments split at every bin edge, splice point and support end, with the tail
mass beyond the grid from ``scipy.stats.genpareto``), ``scipy.stats.genpareto`` for the tail shapes
and a NumPy softmax for the body.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from training.sbp import SplicedBinnedPareto, num_raw_params, sbp_from_raw

F64 = torch.float64

# (K, lower, upper, xi_lo, beta_lo, xi_hi, beta_hi, alpha, seed)
CASES = [
    (61, -10, 50, 0.3, 4.0, 0.2, 8.0, 0.05, 0),
    (61, -10, 50, -0.4, 2.0, 1.0, 10.0, 0.05, 1),       # bounded lower tail, ξ = 1 upper tail
    (11, 0, 10, 1e-7, 0.05, 0.0, 0.05, 0.05, 2),        # ξ ≈ 0 and ξ = 0, small β
    (11, 0, 10, 0.0, 20.0, -1e-7, 20.0, 0.1, 3),        # ξ = 0 and ξ ≈ 0⁻, large β
    (11, -5, 20, -0.5, 1.0, 0.6, 0.3, 0.02, 4),         # non-integer bin width 2.5
    (61, -10, 50, 0.9, 0.5, -0.25, 3.0, 0.05, 5),
]
IDS = [f"K{c[0]}-xi{c[3]:g},{c[5]:g}" for c in CASES]


def make(case, dtype=F64, requires_grad=False):
    K, lower, upper, xl, bl, xh, bh, alpha, seed = case
    g = torch.Generator().manual_seed(seed)
    logits = (1.5 * torch.randn(K, generator=g, dtype=F64)).to(dtype)
    params = [torch.tensor(v, dtype=dtype) for v in (xl, bl, xh, bh)]
    if requires_grad:
        for t in [logits, *params]:
            t.requires_grad_(True)
    d = SplicedBinnedPareto(logits, *params, lower=lower, upper=upper, tail_alpha=alpha)
    return d, logits, params


def fl(t) -> float:
    return float(t.detach())


# ---------------------------------------------------------------------------------------------
# Independent numerical reference
# ---------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)


def _breakpoints(d, a, b):
    q_lo, q_hi = fl(d.q_lo), fl(d.q_hi)
    bl, bh = fl(d.lower_beta), fl(d.upper_beta)
    lo_end, hi_end = (fl(x) for x in d.support_bounds)
    pts = [a, b, q_lo, q_hi, lo_end, hi_end, *d.bin_edges.tolist()]
    for j in range(-6, 10):
        pts += [q_hi + bh * 10.0 ** j, q_lo - bl * 10.0 ** j,
                hi_end - bh * 10.0 ** j, lo_end + bl * 10.0 ** j]   # dense towards a bounded end
    pts = np.unique([p for p in pts if np.isfinite(p) and a <= p <= b])
    return pts


def integrate(d, a, b, moment=0):
    """∫_a^b y^moment · exp(log_prob(y)) dy for a scalar-batch float64 distribution."""
    pts = _breakpoints(d, a, b)
    lo, hi = pts[:-1, None], pts[1:, None]
    y = 0.5 * (hi + lo) + 0.5 * (hi - lo) * _GL_X[None, :]
    w = 0.5 * (hi - lo) * _GL_W[None, :]
    dens = d.log_prob(torch.as_tensor(y, dtype=F64)).exp().detach().numpy()
    return float(np.sum(w * dens * y ** moment))


def far_ends(d):
    """Integration limits A < q_lo, B > q_hi so far out that the rest is given by scipy."""
    lo_end, hi_end = (fl(x) for x in d.support_bounds)
    A = max(fl(d.q_lo) - 1e6 * fl(d.lower_beta), lo_end)
    B = min(fl(d.q_hi) + 1e6 * fl(d.upper_beta), hi_end)
    return A, B


def tail_mass_below(d, A):
    return d.tail_alpha * stats.genpareto.sf(fl(d.q_lo) - A, c=fl(d.lower_xi), scale=fl(d.lower_beta))


def tail_mass_above(d, B):
    return d.tail_alpha * stats.genpareto.sf(B - fl(d.q_hi), c=fl(d.upper_xi), scale=fl(d.upper_beta))


def region_points(d):
    """A few points in the interior of each region (lower tail, body, upper tail)."""
    q_lo, q_hi = fl(d.q_lo), fl(d.q_hi)
    bl, bh = fl(d.lower_beta), fl(d.upper_beta)
    xl, xh = fl(d.lower_xi), fl(d.upper_xi)
    def excesses(xi, beta):
        if xi >= 0 or beta / -xi > 10 * beta:
            return [beta * f for f in (0.01, 0.3, 1.0, 5.0)]
        return [f * beta / -xi for f in (0.01, 0.3, 0.7, 0.95)]  # inside a short bounded tail

    ex_lo, ex_hi = excesses(xl, bl), excesses(xh, bh)
    body = list(np.linspace(q_lo, q_hi, 7)[1:-1])
    return [q_lo - e for e in ex_lo], body, [q_hi + e for e in ex_hi]


# ---------------------------------------------------------------------------------------------
# 1–4: density, CDF, inverse, tail shapes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_density_integrates_to_one(case):
    d, _, _ = make(case)
    A, B = far_ends(d)
    total = tail_mass_below(d, A) + integrate(d, A, B) + tail_mass_above(d, B)
    assert abs(total - 1.0) < 1e-7
    # each tail carries mass α, the body between the splice points 1 − 2α
    assert integrate(d, A, fl(d.q_lo)) + tail_mass_below(d, A) == pytest.approx(d.tail_alpha, abs=1e-8)
    assert integrate(d, fl(d.q_hi), B) + tail_mass_above(d, B) == pytest.approx(d.tail_alpha, abs=1e-8)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_splice_points_are_body_quantiles(case):
    d, logits, _ = make(case)
    p = np.exp(logits.numpy() - logits.numpy().max())
    p /= p.sum()
    body_cdf = np.concatenate([[0.0], np.cumsum(p)])
    edges = d.bin_edges.numpy()
    assert np.interp(fl(d.q_lo), edges, body_cdf) == pytest.approx(d.tail_alpha, abs=1e-12)
    assert np.interp(fl(d.q_hi), edges, body_cdf) == pytest.approx(1 - d.tail_alpha, abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cdf_is_integral_of_pdf(case):
    d, _, _ = make(case)
    A, _ = far_ends(d)
    lo, body, hi = region_points(d)
    for y in lo + body + hi:
        ref = tail_mass_below(d, A) + integrate(d, A, y)
        assert fl(d.cdf(torch.tensor(y, dtype=F64))) == pytest.approx(ref, abs=1e-8), y


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_icdf_inverts_cdf(case):
    d, _, _ = make(case)
    lo, body, hi = region_points(d)
    y = torch.tensor(lo + body + hi, dtype=F64)
    torch.testing.assert_close(d.icdf(d.cdf(y)), y, rtol=1e-9, atol=1e-9)
    q = torch.cat([torch.logspace(-9, -3, 7, dtype=F64), torch.linspace(0.01, 0.99, 99, dtype=F64),
                   1 - torch.logspace(-3, -9, 7, dtype=F64)])
    torch.testing.assert_close(d.cdf(d.icdf(q)), q, rtol=1e-9, atol=1e-12)
    # the ends of the support
    low, high = d.support_bounds
    torch.testing.assert_close(d.icdf(torch.tensor([0.0, 1.0], dtype=F64)), torch.stack([low, high]))
    assert torch.all(torch.diff(d.icdf(q)) > 0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tails_are_genpareto(case):
    d, _, _ = make(case)
    a = d.tail_alpha
    lo, _, hi = region_points(d)
    q_lo, q_hi = fl(d.q_lo), fl(d.q_hi)
    yh = torch.tensor(hi, dtype=F64)
    zh = np.array(hi) - q_hi
    gh = stats.genpareto(c=fl(d.upper_xi), scale=fl(d.upper_beta))
    np.testing.assert_allclose(d.log_prob(yh).exp().numpy() / a, gh.pdf(zh), rtol=1e-9)
    np.testing.assert_allclose((1 - d.cdf(yh).numpy()) / a, gh.sf(zh), rtol=1e-7)
    yl = torch.tensor(lo, dtype=F64)
    zl = q_lo - np.array(lo)
    gl = stats.genpareto(c=fl(d.lower_xi), scale=fl(d.lower_beta))
    np.testing.assert_allclose(d.log_prob(yl).exp().numpy() / a, gl.pdf(zl), rtol=1e-9)
    np.testing.assert_allclose(d.cdf(yl).numpy() / a, gl.sf(zl), rtol=1e-9)


def test_outside_a_bounded_tail():
    d, _, _ = make(CASES[4])  # ξ_lo = -0.5, β_lo = 1: support starts 2 below q_lo
    low, high = d.support_bounds
    assert fl(low) == pytest.approx(fl(d.q_lo) - 2.0) and math.isinf(fl(high))
    y = torch.stack([low - 1e-6, low - 5, torch.tensor(-math.inf, dtype=F64)])
    assert torch.all(d.log_prob(y) == -math.inf)
    assert torch.all(d.cdf(y) == 0)
    assert fl(d.cdf(torch.tensor(math.inf, dtype=F64))) == 1.0
    assert fl(d.log_prob(torch.tensor(math.inf, dtype=F64))) == -math.inf



@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_training_log_prob_is_log_prob_inside_the_support(case):
    d, _, _ = make(case)
    low, high = (fl(x) for x in d.support_bounds)
    y = torch.linspace(max(low, -60.0), min(high, 120.0), 2001, dtype=F64)[1:-1]
    lp, tr = d.log_prob(y), d.training_log_prob(y, eps=1e-9)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(tr, lp, rtol=0, atol=1e-12)


def test_training_log_prob_beyond_a_bounded_tail_is_finite_falls_and_pulls_the_end_out():
    d, logits, params = make(CASES[4], requires_grad=True)  # ξ_lo = -0.5, β_lo = 1: support starts 2 below q_lo
    low = fl(d.support_bounds[0])
    beyond = torch.tensor([low - 0.01, low - 1.0, low - 5.0], dtype=F64)
    assert torch.all(d.log_prob(beyond) == -math.inf)
    tr = d.training_log_prob(beyond)
    assert torch.isfinite(tr).all() and tr[0] > tr[1] > tr[2]  # the further beyond, the lower
    # continuous at the switch u = ξz/β = −1 + eps (here z = 2·(1 − eps) below q_lo)
    eps = 1e-3
    edge = d.q_lo - 2.0 * (1 - eps)
    for side in (edge + 1e-9, edge - 1e-9):
        assert fl(d.training_log_prob(side.reshape(1), eps=eps)[0]) == pytest.approx(
            fl(d.log_prob((edge + 1e-9).reshape(1))[0]), abs=1e-4)
    # the gradient of the loss moves the lower tail's end out to the play: ξ up (towards 0), β up
    (-tr[1]).backward()
    xi_lo, beta_lo = params[0], params[1]
    assert xi_lo.grad < 0 and beta_lo.grad < 0  # descent raises both
    assert all(torch.isfinite(p.grad).all() for p in [logits, *params] if p.grad is not None)


# ---------------------------------------------------------------------------------------------
# 5: gradients
# ---------------------------------------------------------------------------------------------

XIS = [-0.5, -0.2, -1e-7, 0.0, 1e-7, 1e-3, 0.02, 0.5, 1.0]


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("xi", XIS)
def test_log_prob_gradients_finite(xi, dtype):
    case = (61, -10, 50, xi, 3.0, xi, 6.0, 0.05, 7)
    d, logits, params = make(case, dtype=dtype, requires_grad=True)
    lo, body, hi = region_points(d)
    y = torch.tensor(lo + body + hi, dtype=dtype)
    lp = d.log_prob(y)
    assert torch.isfinite(lp).all()
    lp.sum().backward(retain_graph=True)
    for t in [logits, *params]:
        assert t.grad is not None and torch.isfinite(t.grad).all()
    # samples and quantiles are differentiable too (rsample = icdf of uniforms)
    for t in [logits, *params]:
        t.grad = None
    q = torch.tensor([1e-4, 0.02, 0.3, 0.7, 0.98, 1 - 1e-4], dtype=dtype)
    d.icdf(q).sum().backward()
    for t in [logits, *params]:
        assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_xi_gradient_is_continuous_at_zero(dtype):
    """∂ log g / ∂ξ at ξ = 0 is −t + t²/2 (t = z/β); ξ = ±1e-7 and 0 must all give it."""
    z = torch.tensor([0.1, 1.0, 3.0, 7.0], dtype=dtype)
    beta = 2.0
    t = z / beta
    expected = -t + t ** 2 / 2
    for xi0 in (-1e-7, 0.0, 1e-7):
        xi = torch.tensor(xi0, dtype=dtype, requires_grad=True)
        d = SplicedBinnedPareto(torch.zeros(11, dtype=dtype), 0.1, 1.0, xi, beta, lower=0, upper=10)
        lp = d.log_prob(d.q_hi.detach() + z)
        grads = [torch.autograd.grad(lp[i], xi, retain_graph=True)[0] for i in range(len(z))]
        torch.testing.assert_close(torch.stack(grads), expected, rtol=1e-5, atol=1e-5)
        # and the value is the exponential limit
        torch.testing.assert_close(lp, math.log(0.05) - math.log(beta) - t, rtol=1e-6, atol=1e-6)


def test_gradcheck_float64():
    K = 11
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(K, generator=g, dtype=F64)
    d0 = SplicedBinnedPareto(logits, 0.0, 1.0, 0.0, 1.0, lower=0, upper=10)
    q_lo, q_hi = fl(d0.q_lo), fl(d0.q_hi)
    y = torch.tensor([q_lo - 0.7, q_lo - 2.5, 0.5 * (q_lo + q_hi) + 0.2, q_hi + 0.6, q_hi + 4.0], dtype=F64)
    q = torch.tensor([0.01, 0.3, 0.6, 0.97], dtype=F64)
    for xl, xh in [(-0.3, 0.4), (1e-4, -1e-4), (0.8, -0.1)]:
        inputs = (logits.clone().requires_grad_(), torch.tensor(xl, dtype=F64, requires_grad=True),
                  torch.tensor(1.3, dtype=F64, requires_grad=True), torch.tensor(xh, dtype=F64, requires_grad=True),
                  torch.tensor(2.1, dtype=F64, requires_grad=True))

        def f(*args):
            d = SplicedBinnedPareto(*args, lower=0, upper=10)
            return torch.cat([d.log_prob(y), d.cdf(y), d.icdf(q), d.mean.reshape(1)])

        assert torch.autograd.gradcheck(f, inputs)


# ---------------------------------------------------------------------------------------------
# 6–7: shapes and bins
# ---------------------------------------------------------------------------------------------

def test_batch_shapes_broadcast():
    torch.manual_seed(0)
    K = 11
    d = SplicedBinnedPareto(torch.randn(3, 1, K), torch.full((3, 1), 0.1), torch.ones(3, 1),
                            torch.full((1,), 0.2), 2.0, lower=0, upper=10)
    assert d.batch_shape == (3, 1) and d.event_shape == ()
    y = torch.arange(4.0)
    assert d.log_prob(y).shape == (3, 4)
    assert d.cdf(y).shape == (3, 4)
    assert d.icdf(torch.tensor([0.1, 0.5, 0.9, 0.99])).shape == (3, 4)
    assert d.sample((5,)).shape == (5, 3, 1)
    assert d.sample().shape == (3, 1)
    assert d.rsample((2, 7)).shape == (2, 7, 3, 1)
    assert d.mean.shape == (3, 1) and d.median.shape == (3, 1)
    assert d.quantile([0.1, 0.5, 0.9]).shape == (3, 3, 1)
    assert d.log_prob(torch.zeros(6, 3, 1)).shape == (6, 3, 1)
    # batch (B1, B2) from the logits, scalar tail params
    d2 = SplicedBinnedPareto(torch.randn(2, 5, K), 0.1, 1.0, 0.1, 1.0, lower=0, upper=10)
    assert d2.batch_shape == (2, 5)
    assert d2.log_prob(torch.zeros(2, 5)).shape == (2, 5)
    assert d2.log_prob(torch.zeros(4, 1, 1)).shape == (4, 2, 5)
    # each batch element is the distribution built from its own parameters
    d_one = SplicedBinnedPareto(d2.logits[1, 3], 0.1, 1.0, 0.1, 1.0, lower=0, upper=10)
    y = torch.linspace(-5, 15, 9)
    torch.testing.assert_close(d2.log_prob(y[:, None, None])[:, 1, 3], d_one.log_prob(y))
    # expand
    e = d_one.expand((4, 2))
    assert e.batch_shape == (4, 2)
    torch.testing.assert_close(e.log_prob(torch.tensor(3.0)), d_one.log_prob(torch.tensor(3.0)).expand(4, 2))


def test_integer_yards_sit_at_bin_centres():
    d = SplicedBinnedPareto(torch.randn(126, generator=torch.Generator().manual_seed(0)), 0.1, 2.0, 0.2, 5.0,
                            lower=-15, upper=110)
    assert d.bin_width == 1.0
    torch.testing.assert_close(d.bin_centers, torch.arange(-15.0, 111.0))
    torch.testing.assert_close(d.bin_edges, torch.arange(-15.5, 111.0))
    # the density is constant over each integer's rounding cell and the body CDF at an integer is
    # the mass below its bin plus half its bin
    ys = torch.arange(int(math.ceil(fl(d.q_lo))) + 1, int(math.floor(fl(d.q_hi))))
    lp = d.log_prob(ys.float())
    torch.testing.assert_close(d.log_prob(ys - 0.49), lp)
    torch.testing.assert_close(d.log_prob(ys + 0.49), lp)
    k = ys + 15
    cum = torch.cumsum(d.probs, 0)
    torch.testing.assert_close(d.cdf(ys.float()), cum[k] - 0.5 * d.probs[k])
    # general rule: centres lower + k·w, edges lower − w/2 + k·w
    d = SplicedBinnedPareto(torch.zeros(11), 0.1, 1.0, 0.1, 1.0, lower=-5, upper=20)
    assert d.bin_width == 2.5
    torch.testing.assert_close(d.bin_centers, -5 + 2.5 * torch.arange(11.0))
    torch.testing.assert_close(d.bin_edges, -6.25 + 2.5 * torch.arange(12.0))


# ---------------------------------------------------------------------------------------------
# 8: mean
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if max(c[3], c[5]) < 1], ids=[i for c, i in zip(CASES, IDS)
                                                                              if max(c[3], c[5]) < 1])
def test_mean_is_integral_of_y_pdf(case):
    d, _, _ = make(case)
    A, B = far_ends(d)
    inner = integrate(d, A, B, moment=1)

    def rest(xi, beta, z0, splice, sign):
        # α·E[splice ± Z; Z > z0] for Z ~ GPD: P(Z > z0)·(splice ± (z0 + mean excess (β + ξ z0)/(1 − ξ)))
        sf = stats.genpareto.sf(z0, c=xi, scale=beta)
        return d.tail_alpha * sf * (splice + sign * (z0 + (beta + xi * z0) / (1 - xi)))

    q_lo, q_hi = fl(d.q_lo), fl(d.q_hi)
    total = (inner + rest(fl(d.upper_xi), fl(d.upper_beta), B - q_hi, q_hi, +1)
             + rest(fl(d.lower_xi), fl(d.lower_beta), q_lo - A, q_lo, -1))
    assert fl(d.mean) == pytest.approx(total, rel=1e-7, abs=1e-7)


def test_sample_mean_matches_mean():
    d, _, _ = make((61, -10, 50, -0.3, 3.0, 0.3, 6.0, 0.05, 8))
    torch.manual_seed(123)
    x = d.sample((200_000,))
    se = float(x.std()) / math.sqrt(x.numel())
    assert abs(float(x.mean()) - fl(d.mean)) < 5 * se
    # and the sample follows the CDF
    ks = stats.kstest(x.numpy(), lambda v: d.cdf(torch.as_tensor(v)).numpy())
    assert ks.pvalue > 1e-3


def test_mean_infinite_for_xi_ge_one():
    logits = torch.zeros(11)
    kw = dict(lower=0, upper=10)
    assert SplicedBinnedPareto(logits, 0.2, 1.0, 1.0, 1.0, **kw).mean == math.inf
    assert SplicedBinnedPareto(logits, 1.5, 1.0, 0.2, 1.0, **kw).mean == -math.inf
    assert torch.isnan(SplicedBinnedPareto(logits, 1.0, 1.0, 1.2, 1.0, **kw).mean)
    assert math.isfinite(SplicedBinnedPareto(logits, 0.99, 1.0, -0.5, 1.0, **kw).mean)
    # a symmetric distribution has mean = median = the centre
    d = SplicedBinnedPareto(torch.zeros(11, dtype=F64), 0.3, 2.0, 0.3, 2.0, lower=0, upper=10)
    assert fl(d.mean) == pytest.approx(5.0, abs=1e-12) and fl(d.median) == pytest.approx(5.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# 9: density, not mass (the GluonTS bug)
# ---------------------------------------------------------------------------------------------

def test_body_log_prob_is_log_density():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(21, generator=g, dtype=F64)
    d = SplicedBinnedPareto(logits, 0.1, 1.0, 0.1, 1.0, lower=0, upper=10)   # w = 0.5
    assert d.bin_width == 0.5
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum()
    centres = d.bin_centers
    body = (centres > d.q_lo) & (centres < d.q_hi)
    np.testing.assert_allclose(d.log_prob(centres[body]).numpy(), np.log(p[body.numpy()] / 0.5), rtol=1e-12)


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
def test_scaling_the_bins_shifts_log_prob_by_log_scale(case):
    """Scale every length by s (bins, β): log_prob(s·y) = log_prob(y) − log s, cdf unchanged."""
    s = 2.5
    d, logits, (xl, bl, xh, bh) = make(case)
    K, lower, upper = case[:3]
    ds = SplicedBinnedPareto(logits, xl, s * bl, xh, s * bh, lower=s * lower, upper=s * upper,
                             tail_alpha=case[7])
    assert ds.bin_width == pytest.approx(s * d.bin_width)
    lo, body, hi = region_points(d)
    y = torch.tensor(lo + body + hi, dtype=F64)
    torch.testing.assert_close(ds.log_prob(s * y), d.log_prob(y) - math.log(s))
    torch.testing.assert_close(ds.cdf(s * y), d.cdf(y))


# ---------------------------------------------------------------------------------------------
# 10: sampling, devices, dtypes
# ---------------------------------------------------------------------------------------------

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_sample_on_device_and_reproducible(device):
    torch.manual_seed(0)
    raw = torch.randn(4, num_raw_params(61), device=device)
    d = sbp_from_raw(raw, lower=-10, upper=50)
    torch.manual_seed(42)
    a = d.sample((3,))
    torch.manual_seed(42)
    b = d.sample((3,))
    assert a.device == raw.device and a.dtype == torch.float32 and a.shape == (3, 4)
    assert torch.equal(a, b)
    # inversion: the same uniforms through icdf
    torch.manual_seed(42)
    u = torch.rand((3, 4), device=device)
    torch.testing.assert_close(a, d.icdf(u))
    gen = torch.Generator(device=device).manual_seed(5)
    c = d.sample((3,), generator=gen)
    gen.manual_seed(5)
    torch.testing.assert_close(c, d.sample((3,), generator=gen))
    pit = d.randomized_pit(torch.zeros(4, device=device))
    assert pit.device == raw.device


def test_float32_agrees_with_float64():
    for case in CASES:
        d64, _, _ = make(case)
        d32, _, _ = make(case, dtype=torch.float32)
        assert d32.dtype == torch.float32
        lo, body, hi = region_points(d64)
        y = torch.tensor(lo + body + hi, dtype=F64)
        torch.testing.assert_close(d32.log_prob(y.float()).double(), d64.log_prob(y), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(d32.cdf(y.float()).double(), d64.cdf(y), rtol=1e-4, atol=1e-6)
        q = torch.tensor([1e-3, 0.04, 0.3, 0.5, 0.8, 0.97, 0.999])
        torch.testing.assert_close(d32.icdf(q).double(), d64.icdf(q.double()), rtol=1e-4, atol=1e-3)
        assert torch.isfinite(d32.sample((1000,))).all()


def test_half_precision_parameters_are_upcast():
    raw = torch.randn(2, 3, num_raw_params(11), generator=torch.Generator().manual_seed(0)).bfloat16()
    d = sbp_from_raw(raw, lower=0, upper=10)
    assert d.dtype == torch.float32 and d.batch_shape == (2, 3)
    assert d.log_prob(torch.full((2, 3), 4.0, dtype=torch.bfloat16)).dtype == torch.float32
    d2 = SplicedBinnedPareto(raw[..., :11], 0.1, 1.0, 0.1, 1.0, lower=0, upper=10)
    assert d2.dtype == torch.float32


def test_sbp_from_raw():
    assert num_raw_params(61) == 65
    raw = (5 * torch.randn(8, 65, generator=torch.Generator().manual_seed(1))).requires_grad_()
    raw_ext = torch.cat([raw[:, :61], torch.tensor([[-50.0, -50.0, 50.0, 50.0]]).expand(8, 4)], dim=1)
    for r in (raw, raw_ext):
        d = sbp_from_raw(r, lower=-10, upper=50, tail_alpha=0.05, xi_range=(-0.5, 1.0), beta_floor=1e-3)
        assert d.batch_shape == (8,) and d.num_bins == 61
        assert torch.all((d.lower_xi >= -0.5) & (d.lower_xi <= 1.0) & (d.upper_xi >= -0.5) & (d.upper_xi <= 1.0))
        assert torch.all((d.lower_beta >= 1e-3) & (d.upper_beta >= 1e-3))
    d = sbp_from_raw(raw, lower=-10, upper=50)
    torch.testing.assert_close(d.probs, torch.softmax(raw[:, :61], -1))
    y = torch.tensor([-30.0, -3, 0, 4, 12, 45, 80, 200]).clamp(max=float(d.support_bounds[1].detach().min()) - 1)
    loss = -d.log_prob(y).mean()
    loss.backward()
    assert torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0



def test_the_lower_tail_may_have_its_own_xi_range_and_then_never_ends():
    raw = 5 * torch.randn(64, 65, generator=torch.Generator().manual_seed(2))
    raw[:, -4] = -50.0  # the lower ξ as low as the range allows
    both = sbp_from_raw(raw, lower=-10, upper=50, xi_range=(-0.5, 1.0))
    own = sbp_from_raw(raw, lower=-10, upper=50, xi_range=(-0.5, 1.0), lower_xi_range=(0.0, 1.0))
    assert (both.lower_xi < 0).all() and (own.lower_xi > 0).all()
    torch.testing.assert_close(own.upper_xi, both.upper_xi)  # the upper tail keeps xi_range
    far_below = torch.full((64,), -60.0)
    assert torch.isinf(both.log_prob(far_below)).any()  # beyond some bounded lower tails: density 0
    assert torch.isfinite(own.log_prob(far_below)).all()
    with pytest.raises(ValueError, match="lower_xi_range"):
        sbp_from_raw(raw, lower=-10, upper=50, lower_xi_range=(0.5, 0.5))


# ---------------------------------------------------------------------------------------------
# Integer observations: mid-CDF and randomized PIT
# ---------------------------------------------------------------------------------------------

def test_mid_cdf_and_randomized_pit():
    d, _, _ = make((61, -10, 50, 0.1, 2.0, 0.3, 6.0, 0.05, 9))
    y = torch.tensor([-20.0, -3.0, 0.0, 7.0, 60.0], dtype=F64)
    torch.testing.assert_close(d.mid_cdf(y), 0.5 * (d.cdf(y - 0.5) + d.cdf(y + 0.5)))
    g = torch.Generator().manual_seed(0)
    pit = d.randomized_pit(y.expand(100, 5), generator=g)
    assert torch.all((pit >= d.cdf(y - 0.5)) & (pit <= d.cdf(y + 0.5)))
    # integers drawn as round(Y), Y ~ SBP, have exactly uniform randomized PITs
    torch.manual_seed(1)
    yi = torch.floor(d.sample((50_000,)) + 0.5)
    pit = d.randomized_pit(yi, generator=torch.Generator().manual_seed(2))
    assert stats.kstest(pit.numpy(), "uniform").pvalue > 1e-3
    # the mid-PIT of the same integers is not (it is discrete), but averages 1/2
    assert float(d.mid_cdf(yi).mean()) == pytest.approx(0.5, abs=0.01)
