"""The passing evaluation table and its bars on forecasts whose quality is known."""

from __future__ import annotations

import numpy as np
import torch

from evaluation.passing import bars, evaluate_passing
from training.sbp import sbp_from_raw


def _world(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, 61 + 4, generator=g)
    raw[:, :61] += -0.02 * (torch.arange(61) - 15).float() ** 2 / 10  # a hump around 5 yards
    sbp = sbp_from_raw(raw, -10, 50, 0.05)
    torch.manual_seed(seed)
    y = torch.round(sbp.sample()).numpy()  # integer yards drawn from the forecast itself
    return sbp, y


def test_a_calibrated_sbp_meets_the_bars_against_weaker_baselines():
    sbp, y = _world()
    median = sbp.median.numpy()
    gaussian = torch.distributions.Normal(torch.full((len(y),), float(y.mean())), torch.full((len(y),), float(y.std())))
    table, pit = evaluate_passing(sbp, gaussian, np.full(len(y), np.mean(y)), y, seed=1)
    assert list(table.index) == ["sbp", "gaussian", "xgboost"]
    assert np.isnan(table.loc["xgboost", "nll"])  # a point regressor has no likelihood
    assert np.isclose(table.loc["sbp", "mae_median"], np.abs(median.astype(np.float64) - y).mean())
    assert len(pit) == len(y) and 0 <= pit.min() and pit.max() <= 1
    assert all(bars(table).values()), table.T


def test_a_shifted_sbp_fails_calibration_and_truth_quantiles_are_scored():
    sbp, y = _world()
    gaussian = torch.distributions.Normal(torch.tensor(y, dtype=torch.float32) - 1, torch.ones(len(y)))
    shifted = y + 4
    truth = {0.5: sbp.median.numpy(), 0.9: sbp.quantile([0.9])[0].numpy()}
    table, _ = evaluate_passing(sbp, gaussian, y, shifted, truth=truth)
    met = bars(table)
    assert not met["pit_ks_at_most_0.05"] and not met["sbp_mae_at_most_best_baseline"]
    assert table.loc["sbp", "quantile_error_q50"] == 0 and table.loc["sbp", "quantile_error_mean"] < 1e-5
