"""What happens when the ball arrives: completion, interception and the yards distribution.

These are the simulator's *true* conditional distributions.  Given the state at the catch point
(which the post-release dynamics make a deterministic function of the state at the release), the
offense's yards gained on a pass attempt are

    Y = 0                          with probability 1 - p_complete   (incomplete or intercepted)
    Y = round(depth + YAC) ∧ room  with probability p_complete

with ``depth`` the catch point's yards past the line of scrimmage, ``room`` the yards to the goal
line (a longer gain is a touchdown) and YAC a two-part mixture:

* contained (tackled near the catch): ``0.6 m + Gamma(k, θ(d)) - 0.5 - 0.1 c``, right-skewed;
* breakaway, with probability ``p_break(d, c, v, n5)``: ``6 + m + GPD(ξ, σ(d))``, heavy-tailed.

``d`` is the nearest defender's distance to the receiver at the catch, ``c`` that defender's closing
speed, ``m`` the receiver's momentum carry (vx² / 16) and ``n5`` the number of defenders within 5
yards.  The result is asymmetric, often bimodal (short tackle vs breakaway), heavy-tailed, bounded
by the goal line, with a point mass at 0: a Gaussian cannot fit it, a spliced binned-Pareto can.
"""

from __future__ import annotations

import numpy as np
from scipy import special

YARDS_GRID = np.arange(-15, 111)  # every integer gain the simulator can produce

CONTAINED_SHAPE = 1.5
BREAKAWAY_XI = 0.2


def completion_probability(sep, reach, air_dist, pressured, qb_skill, hands, cover_skill):
    """True completion probability from the circumstances at the catch point."""
    logit = (
        1.0
        + 0.9 * np.log(np.clip(sep, 0.3, 8.0) / 1.5)
        - 0.03 * np.clip(air_dist - 10.0, 0.0, None)
        - 0.55 * np.clip(reach - 0.5, 0.0, None)
        - 0.6 * pressured
        + 0.5 * qb_skill
        + 0.4 * hands
        - 0.35 * cover_skill
    )
    return special.expit(logit)


def interception_given_incomplete(sep, cover_skill):
    """P(intercepted | not caught): only close defenders pick passes off."""
    return special.expit(-1.75 - 1.5 * (np.clip(sep, 0.0, 6.0) - 0.6) + 0.5 * cover_skill)


def yac_parameters(d, c, vx, n5):
    """Parameters of the YAC mixture (see the module docstring)."""
    m = np.clip(vx, 0.0, None) ** 2 / 16.0
    p_break = special.expit(-3.8 + 0.4 * np.clip(d, 0, 10) - 0.12 * c + 0.15 * np.clip(vx - 5.0, 0, None)
                            - 0.3 * np.clip(n5 - 1, 0, None))
    theta = 0.6 + 0.4 * np.clip(d, 0, 10)
    c_shift = 0.35 * m - 0.9 - 0.1 * np.clip(c, 0, None)
    b_shift = 6.0 + m
    sigma = 7.0 + 0.8 * np.clip(d, 0, 10)
    return p_break, theta, c_shift, b_shift, sigma


def _gpd_cdf(z, xi, sigma):
    z = np.clip(z, 0.0, None)
    return 1.0 - (1.0 + xi * z / sigma) ** (-1.0 / xi)


def completed_yards_pmf(depth, room, d, c, vx, n5):
    """P(yards gained = k | completion) on ``YARDS_GRID`` for each play: shape (P, len(grid))."""
    p_break, theta, c_shift, b_shift, sigma = (np.asarray(v, float)[:, None] for v in yac_parameters(d, c, vx, n5))
    depth = np.asarray(depth, float)[:, None]
    room = np.asarray(room, float)[:, None]
    edges = YARDS_GRID[None, :] + 0.5  # P(Y_int <= k) = P(depth + YAC < k + 0.5)
    yac = edges - depth
    cdf_c = special.gammainc(CONTAINED_SHAPE, np.clip((yac - c_shift) / theta, 0.0, None))
    cdf_b = _gpd_cdf(yac - b_shift, BREAKAWAY_XI, sigma)
    cdf = (1 - p_break) * cdf_c + p_break * cdf_b
    cdf = np.where(YARDS_GRID[None, :] >= room, 1.0, cdf)  # a gain past the goal line is a touchdown
    pmf = np.diff(cdf, axis=1, prepend=0.0)
    return np.clip(pmf, 0.0, None), p_break[:, 0]


def yards_distribution(p_complete, completed_pmf):
    """The full yards pmf of a pass attempt: the completed part plus the point mass at 0."""
    pmf = p_complete[:, None] * completed_pmf
    zero = np.flatnonzero(YARDS_GRID == 0)[0]
    pmf[:, zero] += 1.0 - p_complete
    return pmf


def pmf_quantiles(pmf, levels):
    """Quantiles (the smallest k with CDF(k) >= q) of pmfs on ``YARDS_GRID``: shape (P, len(levels))."""
    cdf = np.cumsum(pmf, axis=1)
    cdf /= cdf[:, -1:]
    out = np.empty((pmf.shape[0], len(levels)), dtype=np.int64)
    for j, q in enumerate(levels):
        out[:, j] = YARDS_GRID[np.argmax(cdf >= q - 1e-12, axis=1)]
    return out


def sample_from_pmf(rng, pmf):
    """One draw per row of a pmf on ``YARDS_GRID``."""
    cdf = np.cumsum(pmf, axis=1)
    u = rng.random(pmf.shape[0]) * cdf[:, -1]
    return YARDS_GRID[np.minimum((cdf < u[:, None]).sum(axis=1), len(YARDS_GRID) - 1)]
