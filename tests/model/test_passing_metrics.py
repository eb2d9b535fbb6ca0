"""Metrics of the passing-score head (evaluation/passing_metrics.py).

References are closed forms (Gaussian CRPS, point-forecast CRPS, the BDB score of step CDFs),
``scipy`` (normal CDF/quantiles, the KS statistic) and, for the SBP's CRPS, the independent
energy form ``E|X − y| − ½ E|X − X'|`` estimated from draws.  Everything is seeded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import Normal

from evaluation import passing_metrics as pm
from training.sbp import SplicedBinnedPareto

F64 = torch.float64
N = 20_000
# Four parameter sets (ξ_lo, β_lo, ξ_hi, β_hi): heavy, bounded, exponential and mixed tails.
TAILS = [(0.3, 4.0, 0.2, 8.0), (-0.4, 2.0, 0.4, 5.0), (0.0, 1.0, -0.25, 3.0), (0.1, 3.0, 0.1, 6.0)]


def make_sbp(n: int = N, shift: float = 0.0, seed: int = 0) -> SplicedBinnedPareto:
    """n plays cycling through 4 SBPs on integer bins −10 … 50 (optionally shifted by ``shift`` yards)."""
    g = torch.Generator().manual_seed(seed)
    base = 1.5 * torch.randn(len(TAILS), 61, generator=g, dtype=F64)
    idx = torch.arange(n) % len(TAILS)
    xl, bl, xh, bh = (torch.tensor(c, dtype=F64)[idx] for c in zip(*TAILS))
    return SplicedBinnedPareto(base[idx], xl, bl, xh, bh, lower=-10 + shift, upper=50 + shift)


@pytest.fixture(scope="module")
def sbp() -> SplicedBinnedPareto:
    return make_sbp()


@pytest.fixture(scope="module")
def draws(sbp) -> np.ndarray:
    """One continuous draw per play."""
    return sbp.sample(generator=torch.Generator().manual_seed(1)).numpy()


# ---------------------------------------------------------------------------------------------
# Point error and likelihood
# ---------------------------------------------------------------------------------------------

def test_mae():
    assert pm.mae([1.0, 2.0, 5.0], [2, 2, 1]) == pytest.approx(5.0 / 3)
    np.testing.assert_allclose(pm.mae(torch.tensor([0.0, 3.0]), [1, 1], reduction="none"), [1.0, 2.0])


def test_nll_of_a_normal_equals_gaussian_nll():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(5, 3, 50), rng.uniform(0.5, 9, 50)
    y = np.round(rng.normal(5, 8, 50))
    ref = pm.gaussian_nll(mu, sigma, y)
    got = pm.nll(Normal(torch.tensor(mu), torch.tensor(sigma)), y)
    assert isinstance(got, float)
    assert got == pytest.approx(ref, rel=1e-12)
    by_hand = np.mean(-stats.norm.logpdf(y, mu, sigma))
    assert ref == pytest.approx(by_hand, rel=1e-12)


def test_nll_of_the_sbp_is_its_mean_negative_log_density(sbp, draws):
    y = np.round(draws[:500])
    d = make_sbp(500)
    assert pm.nll(d, y) == pytest.approx(-float(d.log_prob(torch.tensor(y)).mean()), rel=1e-12)
    assert pm.nll(d, y, reduction="none").shape == (500,)


# ---------------------------------------------------------------------------------------------
# CRPS
# ---------------------------------------------------------------------------------------------

def test_gaussian_crps_closed_form_matches_numerical_integration():
    rng = np.random.default_rng(1)
    n = 40
    mu, sigma = rng.normal(4, 5, n), rng.uniform(0.3, 10, n)
    y = np.concatenate([np.round(rng.normal(4, 10, n - 2)), [mu[-2], mu[-1] + 3.7]])
    grid = np.linspace(-100, 100, 20_001)
    closed = pm.crps_gaussian(mu, sigma, y, reduction="none")
    numeric = pm.crps_from_cdf(special.ndtr((grid[None, :] - mu[:, None]) / sigma[:, None]), grid, y,
                               reduction="none")
    np.testing.assert_allclose(numeric, closed, atol=1e-3)
    # via a torch distribution, in small chunks of the grid: the same numbers as all at once
    d = Normal(torch.tensor(mu), torch.tensor(sigma))
    coarse = grid[::10]
    chunked = pm.crps(d, y, coarse, reduction="none", chunk_elements=7 * n)
    whole = pm.crps_from_cdf(pm._cdf_at(d, coarse), coarse, y, reduction="none")
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked, closed, atol=1e-3)
    assert pm.crps(d, y, coarse) == pytest.approx(float(closed.mean()), abs=1e-3)


@pytest.mark.parametrize("y", [-30.0, -20.0, -3.2, 0.0, 2.0, 3.0, 4.0, 7.0, 20.0, 31.5])
def test_crps_of_a_point_forecast_is_the_absolute_error(y):
    # A step at x mid-segment of the integer grid is integrated exactly by the trapezoid rule
    # (as long as y is not inside the step's own segment, where F is read as linear).
    x = 3.5
    grid = np.arange(-20.0, 21.0)
    step = (grid >= x).astype(float)[None, :]
    assert pm.crps_from_cdf(step, grid, [y]) == pytest.approx(abs(x - y), abs=1e-12)
    # and the closed form as σ → 0
    assert pm.crps_gaussian(x, 1e-7, y) == pytest.approx(abs(x - y), abs=1e-6)


def test_crps_of_the_sbp_matches_the_energy_form():
    d = make_sbp(4)
    x = d.sample((100_000,), generator=torch.Generator().manual_seed(2)).numpy()     # (S, 4)
    y = np.array([0.0, 7.0, -4.0, 25.0])
    grid = np.arange(-400.5, 800.5, 0.5)      # every half-integer bin edge is a grid point
    got = pm.crps(d, y, grid, reduction="none")
    xs = np.sort(x, axis=0)
    s = xs.shape[0]
    i = np.arange(1, s + 1)[:, None]
    e_xx = 2.0 * np.sum((2 * i - s - 1) * xs, axis=0) / s ** 2                        # E|X − X'|
    energy = np.mean(np.abs(x - y), axis=0) - 0.5 * e_xx
    np.testing.assert_allclose(got, energy, rtol=0.02)


def test_crps_rejects_a_bad_grid():
    with pytest.raises(ValueError):
        pm.crps_from_cdf(np.zeros((1, 3)), [0.0, 2.0, 1.0], [0.0])


# ---------------------------------------------------------------------------------------------
# 2020 Big Data Bowl CRPS
# ---------------------------------------------------------------------------------------------

def _step(y, off=0):
    return (pm.BDB_YARDS[None, :] >= np.asarray(y, float)[:, None] + off).astype(float)


def test_bdb_crps_of_steps():
    assert pm.bdb2020_crps(_step([-99, 99, 0]), [-99, 99, 0]) == 0.0
    y = np.array([-5, 0, 0, 3, 12, 60, -90, 90])
    assert pm.bdb2020_crps(_step(y), y) == 0.0
    assert pm.bdb2020_crps(_step(y, +1), y) == pytest.approx(1 / 199, abs=1e-15)
    assert pm.bdb2020_crps(_step(y, -1), y) == pytest.approx(1 / 199, abs=1e-15)
    assert pm.bdb2020_crps(_step(y, +3), y) == pytest.approx(3 / 199, abs=1e-15)
    # half a yard of probability either side: 2 × 0.25 / 199
    half = 0.5 * (_step(y, -1) + _step(y))
    assert pm.bdb2020_crps(half, y) == pytest.approx(0.25 / 199, abs=1e-15)


def test_cdf_on_bdb_grid_reads_the_integer_cells(sbp):
    d = make_sbp(8)
    P = pm.cdf_on_bdb_grid(d)
    assert P.shape == (8, 199)
    assert np.all(np.diff(P, axis=1) >= 0) and P.min() >= 0 and P.max() <= 1
    k = torch.tensor(pm.BDB_YARDS + 0.5, dtype=F64)[:, None]
    np.testing.assert_allclose(P, d.cdf(k).T.numpy(), rtol=0, atol=1e-15)
    # inside the body, P(Y = k) = F(k + ½) − F(k − ½) is bin k's mass
    pmf = np.diff(P, axis=1)                                  # k = −98 … 99
    for b in range(8):
        lo, hi = float(d.q_lo[b]), float(d.q_hi[b])
        for kk in range(-10, 51):
            if lo < kk - 0.5 and kk + 0.5 < hi:
                assert pmf[b, kk + 98] == pytest.approx(float(d.probs[b, kk + 10]), abs=1e-12)
    np.testing.assert_allclose(pm.cdf_on_bdb_grid(d, offset=0.0), d.cdf(k - 0.5).T.numpy(), atol=1e-15)


def test_gaussian_bdb_grid_matches_the_torch_normal():
    mu, sigma = np.array([0.0, 4.5, -2.0]), np.array([1.0, 6.0, 0.5])
    ref = pm.cdf_on_bdb_grid(Normal(torch.tensor(mu), torch.tensor(sigma)))
    np.testing.assert_allclose(pm.gaussian_cdf_on_bdb_grid(mu, sigma), ref, atol=1e-12)
    np.testing.assert_allclose(pm.gaussian_cdf_on_bdb_grid(mu, sigma, offset=0.0)[:, 99],
                               stats.norm.cdf(0.0, mu, sigma), atol=1e-12)
    c = pm.bdb2020_crps(pm.gaussian_cdf_on_bdb_grid(mu, sigma), [0, 5, -2])
    assert 0.0 < c < 0.05


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------

def test_randomized_pit_of_own_rounded_draws_is_uniform(sbp, draws):
    y = np.round(draws)
    pit = pm.pit_values(sbp, y, torch.Generator().manual_seed(3))
    assert pit.shape == (N,) and pit.min() >= 0 and pit.max() <= 1
    ks = pm.pit_ks(pit)
    assert ks < 0.03
    assert ks == pytest.approx(stats.kstest(pit, "uniform").statistic, abs=1e-12)
    counts, edges = pm.pit_histogram(pit, bins=10)
    np.testing.assert_allclose(edges, np.linspace(0, 1, 11))
    assert counts.sum() == N and np.all(np.abs(counts - N / 10) < 0.1 * N / 10)
    # reproducible with the same generator
    np.testing.assert_array_equal(pit, pm.pit_values(sbp, y, torch.Generator().manual_seed(3)))


def test_pit_of_a_shifted_forecast_is_not_uniform(draws):
    shifted = make_sbp(shift=3.0)
    pit = pm.pit_values(shifted, np.round(draws), torch.Generator().manual_seed(3))
    assert pm.pit_ks(pit) > 0.1
    counts, _ = pm.pit_histogram(pit)
    assert counts[0] > 1.5 * counts[-1]           # outcomes fall low in the forecast


def test_pit_without_randomized_pit_is_the_cdf():
    mu, sigma, y = np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.array([1.0, 1.0])
    pit = pm.pit_values(Normal(torch.tensor(mu), torch.tensor(sigma)), y)
    np.testing.assert_allclose(pit, stats.norm.cdf(y, mu, sigma), atol=1e-12)


def test_pit_ks_exact_values():
    assert pm.pit_ks([0.5]) == pytest.approx(0.5)
    assert pm.pit_ks([0.25, 0.75]) == pytest.approx(0.25)
    assert pm.pit_ks(np.ones(7)) == pytest.approx(1.0)


def test_interval_coverage_of_own_draws_is_nominal(sbp, draws):
    cov = pm.interval_coverage(sbp, draws, levels=(0.5, 0.8, 0.9))
    assert set(cov) == {0.5, 0.8, 0.9}
    for level, c in cov.items():
        assert abs(c - level) < 0.02, (level, c)
    rng = np.random.default_rng(4)
    mu, sigma = rng.normal(0, 5, N), rng.uniform(1, 10, N)
    y = rng.normal(mu, sigma)
    gcov = pm.gaussian_interval_coverage(mu, sigma, y, levels=(0.5, 0.8, 0.9))
    for level, c in gcov.items():
        assert abs(c - level) < 0.02, (level, c)
    # a torch Normal (no .quantile: icdf) gives the same intervals
    tcov = pm.interval_coverage(Normal(torch.tensor(mu), torch.tensor(sigma)), y)
    assert tcov == pytest.approx(gcov, abs=1e-12)


def test_cell_coverage_of_rounded_draws_is_nominal_where_the_point_rule_overshoots():
    """Integer outcomes with a big cell at 0 (incompletions): rounded draws of the forecast itself
    are covered at the nominal rate by the cell rule; the point rule overshoots."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(N, 61, generator=g, dtype=F64)
    logits[:, 10] += 4.0 + torch.rand(N, generator=g, dtype=F64)   # bin of 0 yd: a third or more of the mass
    d = SplicedBinnedPareto(logits, *(torch.full((N,), v, dtype=F64) for v in (0.1, 2.0, 0.2, 6.0)),
                            lower=-10, upper=50)
    assert 0.3 < float(d.cdf(torch.full((N,), 0.5, dtype=F64)).mean() - d.cdf(torch.full((N,), -0.5, dtype=F64)).mean())
    y = np.round(d.sample(generator=torch.Generator().manual_seed(5)).numpy())
    cell = pm.interval_coverage(d, y, levels=(0.5, 0.8, 0.9), cell=1.0)
    point = pm.interval_coverage(d, y, levels=(0.5, 0.8, 0.9))
    for level in (0.5, 0.8, 0.9):
        assert abs(cell[level] - level) < 0.015, (level, cell[level])
    assert point[0.5] > 0.5 + 0.05  # the half-covered cell at 0 counted whole
    # the same rule for the Gaussian: rounded Gaussian draws, nominal
    rng = np.random.default_rng(6)
    mu, sigma = rng.normal(5, 3, N), rng.uniform(0.6, 3, N)
    yg = np.round(rng.normal(mu, sigma))
    gcell = pm.gaussian_interval_coverage(mu, sigma, yg, cell=1.0)
    for level, c in gcell.items():
        assert abs(c - level) < 0.015, (level, c)
    assert pm.interval_coverage(Normal(torch.tensor(mu), torch.tensor(sigma)), yg, cell=1.0) == pytest.approx(gcell)


def test_quantile_error(sbp):
    d = make_sbp(200)
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    own = {lv: d.quantile(torch.tensor([lv], dtype=F64))[0].numpy() for lv in levels}
    err = pm.quantile_error(d, own)
    assert list(err) == levels and all(e < 1e-12 for e in err.values())
    off = {lv: q + (1.0 if i % 2 else -2.0) for i, (lv, q) in enumerate(own.items())}
    err = pm.quantile_error(d, off)
    for i, lv in enumerate(levels):
        assert err[lv] == pytest.approx(1.0 if i % 2 else 2.0, abs=1e-9)
    n = Normal(torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64) * 2)
    assert pm.quantile_error(n, {0.9: np.full(3, 2 * stats.norm.ppf(0.9))})[0.9] < 1e-12


# ---------------------------------------------------------------------------------------------
# The passing score
# ---------------------------------------------------------------------------------------------

def test_passing_score_range_monotone_and_median(sbp, draws):
    ys = np.arange(-150.0, 301.0)
    one = make_sbp(len(TAILS))
    for b in range(len(TAILS)):
        single = SplicedBinnedPareto(one.logits[b:b + 1], one.lower_xi[b:b + 1], one.lower_beta[b:b + 1],
                                     one.upper_xi[b:b + 1], one.upper_beta[b:b + 1], lower=-10, upper=50)
        d = single.expand((ys.size,))
        s = pm.passing_score(d, ys)
        assert s.min() >= 0 and s.max() <= 100
        assert np.all(np.diff(s) >= 0)
        assert s[0] < 1 and s[-1] > 99
        # 50-ish at the median
        med = float(single.median[0])
        assert abs(pm.passing_score(single, [med])[0] - 50) < 5
    s = pm.passing_score(sbp, np.round(draws))
    assert s.shape == (N,) and 0 <= s.min() and s.max() <= 100
    assert abs(np.median(s) - 50) < 3


def test_passing_score_modes(sbp, draws):
    y = np.round(draws[:300])
    d = make_sbp(300)
    yt = torch.tensor(y)
    lo, hi = 100 * d.cdf(yt - 0.5).numpy(), 100 * d.cdf(yt + 0.5).numpy()
    mid = pm.passing_score(d, y)
    np.testing.assert_allclose(mid, (lo + hi) / 2, atol=1e-12)
    r1 = pm.passing_score(d, y, mode="randomized", generator=torch.Generator().manual_seed(5))
    r2 = pm.passing_score(d, y, mode="randomized", generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(r1, r2)
    assert np.all((r1 >= lo - 1e-9) & (r1 <= hi + 1e-9))
    with pytest.raises(ValueError):
        pm.passing_score(d, y, mode="randomized")
    with pytest.raises(ValueError):
        pm.passing_score(d, y, mode="nope")
    # a continuous baseline: 100 · Φ
    g = pm.passing_score(Normal(torch.tensor([0.0]), torch.tensor([2.0])), [0.0])
    assert g[0] == pytest.approx(50.0)
    assert math.isclose(pm.passing_score(Normal(torch.tensor([0.0]), torch.tensor([1.0])), [1.0])[0],
                        100 * stats.norm.cdf(1.0), abs_tol=1e-4)   # float32
