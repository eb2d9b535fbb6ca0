"""The simulator's true outcome model: proper distributions with the shape a Gaussian cannot fit."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.sources.simulator import outcomes
from pipelines.sources.simulator.outcomes import YARDS_GRID


def pmf_for(depth=5.0, room=70.0, d=2.0, c=2.0, vx=6.0, n5=1):
    pmf, p_break = outcomes.completed_yards_pmf(np.array([depth]), np.array([room]), np.array([d]), np.array([c]),
                                                np.array([vx]), np.array([n5]))
    return pmf[0], p_break[0]


@pytest.mark.parametrize("d", [0.3, 1.5, 4.0, 9.0])
def test_pmfs_are_proper(d):
    pmf, _ = pmf_for(d=d)
    assert (pmf >= 0).all() and pmf.sum() == pytest.approx(1.0, abs=1e-9)


def test_gain_is_capped_at_the_goal_line():
    pmf, _ = pmf_for(depth=8.0, room=12.0, d=6.0)
    assert pmf[YARDS_GRID > 12].sum() == 0
    assert pmf[YARDS_GRID == 12][0] > 0.05  # a point mass of touchdowns


def test_open_receivers_have_a_second_mode_from_breakaways():
    pmf, p_break = pmf_for(depth=3.0, d=6.0, c=0.5, vx=7.0, n5=0)
    assert p_break > 0.2
    peaks = [k for k in range(1, len(pmf) - 1) if pmf[k] > pmf[k - 1] and pmf[k] >= pmf[k + 1] and pmf[k] > 1e-3]
    assert len(peaks) >= 2


def test_right_tail_is_heavier_than_a_gaussians():
    pmf, _ = pmf_for(d=3.0)
    mean = (pmf * YARDS_GRID).sum()
    sd = np.sqrt((pmf * (YARDS_GRID - mean) ** 2).sum())
    tail = pmf[YARDS_GRID > mean + 3 * sd].sum()
    assert tail > 5 * 0.00135  # a Gaussian puts 0.135 % beyond three standard deviations
    skew = (pmf * (YARDS_GRID - mean) ** 3).sum() / sd**3
    assert skew > 1.0


def test_separation_and_closing_speed_move_the_yards():
    tight, _ = pmf_for(d=0.8, c=5.0)
    open_, _ = pmf_for(d=5.0, c=0.5)
    assert (open_ * YARDS_GRID).sum() > (tight * YARDS_GRID).sum() + 3


def test_completion_probability_falls_with_tighter_separation_pressure_and_distance():
    base = dict(sep=2.5, reach=0.3, air_dist=12.0, pressured=0.0, qb_skill=0.0, hands=0.0, cover_skill=0.0)
    p = outcomes.completion_probability(**base)
    assert outcomes.completion_probability(**{**base, "sep": 0.8}) < p
    assert outcomes.completion_probability(**{**base, "pressured": 1.0}) < p
    assert outcomes.completion_probability(**{**base, "air_dist": 35.0}) < p
    assert outcomes.interception_given_incomplete(0.5, 0.0) > outcomes.interception_given_incomplete(4.0, 0.0)


def test_full_distribution_has_a_point_mass_at_zero_and_quantiles_invert_the_cdf():
    pmf_c, _ = pmf_for(depth=6.0, d=2.0)
    full = outcomes.yards_distribution(np.array([0.6]), pmf_c[None, :])
    assert full.sum() == pytest.approx(1.0) and full[0, YARDS_GRID == 0][0] >= 0.4
    q = outcomes.pmf_quantiles(full, (0.1, 0.5, 0.9))[0]
    cdf = np.cumsum(full[0])
    for level, k in zip((0.1, 0.5, 0.9), q):
        i = int(np.flatnonzero(YARDS_GRID == k)[0])
        assert cdf[i] >= level - 1e-12 and (i == 0 or cdf[i - 1] < level)


def test_sampling_follows_the_pmf():
    pmf_c, _ = pmf_for(depth=4.0, d=3.0)
    rng = np.random.default_rng(0)
    draws = outcomes.sample_from_pmf(rng, np.repeat(pmf_c[None, :], 20000, axis=0))
    expected = (pmf_c * YARDS_GRID).sum()
    assert abs(draws.mean() - expected) < 0.3
