"""The passing model's evaluation table: the SBP network, its Gaussian twin and the XGBoost point
regressor on the same test plays (metrics: ``evaluation.passing_metrics``).

    table = evaluate_passing(sbp, gaussian, xgb_pred, y, truth=truth_quantiles, seed=…)

One row per model, one column per metric (NaN where a metric does not apply: a point regressor
has no likelihood).  CRPS is integrated on a 0.25-yard grid over −99…120 (yards gained cannot leave
the field); ``crps_bdb2020`` is the 2020 Big Data Bowl's normalised form on −99…99.  The PIT is
randomized for the SBP (integer yards and the point mass at 0) and read at the integer for the
Gaussian.  Interval coverage counts each play's whole-yard cell ``[y − ½, y + ½]`` by the share of
its predicted probability inside the interval (``interval_coverage(cell=1)``): the point rule would
count the many 0-yard plays as covered whenever the interval reaches into their cell.  ``bars``
checks the issue's bars on the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from evaluation import passing_metrics as m

CRPS_GRID = np.arange(-99.0, 120.0 + 1e-9, 0.25)
LEVELS = (0.5, 0.8, 0.9)


def evaluate_passing(sbp: torch.distributions.Distribution, gaussian: torch.distributions.Normal,
                     xgb_pred: np.ndarray, y: np.ndarray, truth: dict[float, np.ndarray] | None = None,
                     seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``(metrics table indexed by model, the SBP's randomized PIT values)``."""
    y = np.asarray(y, dtype=np.float64)
    gen = torch.Generator().manual_seed(seed)
    mu, sigma = gaussian.loc.numpy(), gaussian.scale.numpy()
    pit_sbp = m.pit_values(sbp, y, generator=gen)
    pit_gauss = m.pit_values(gaussian, y)
    rows = {
        "sbp": {"nll": m.nll(sbp, y), "mae_median": m.mae(sbp.median.numpy(), y),
                "crps": m.crps(sbp, y, CRPS_GRID), "crps_bdb2020": m.bdb2020_crps(m.cdf_on_bdb_grid(sbp), y),
                "pit_ks": m.pit_ks(pit_sbp),
                **{f"coverage_{int(k * 100)}": v for k, v in m.interval_coverage(sbp, y, LEVELS, cell=1.0).items()}},
        "gaussian": {"nll": m.gaussian_nll(mu, sigma, y), "mae_median": m.mae(mu, y),
                     "crps": m.crps_gaussian(mu, sigma, y),
                     "crps_bdb2020": m.bdb2020_crps(m.gaussian_cdf_on_bdb_grid(mu, sigma), y),
                     "pit_ks": m.pit_ks(pit_gauss),
                     **{f"coverage_{int(k * 100)}": v
                        for k, v in m.gaussian_interval_coverage(mu, sigma, y, LEVELS, cell=1.0).items()}},
        "xgboost": {"mae_median": m.mae(np.asarray(xgb_pred, dtype=np.float64), y)},
    }
    if truth:
        errors = m.quantile_error(sbp, truth)
        rows["sbp"] |= {f"quantile_error_q{int(round(k * 100)):02d}": v for k, v in errors.items()}
        rows["sbp"]["quantile_error_mean"] = float(np.mean(list(errors.values())))
    return pd.DataFrame(rows).T.rename_axis("model"), pit_sbp


def bars(table: pd.DataFrame) -> dict[str, bool]:
    """The issue's bars for the passing model, each True when met."""
    sbp, gauss, xgb = table.loc["sbp"], table.loc["gaussian"], table.loc["xgboost"]
    return {
        "sbp_nll_below_gaussian": bool(sbp["nll"] < gauss["nll"]),
        "sbp_mae_at_most_best_baseline": bool(sbp["mae_median"] <= min(gauss["mae_median"], xgb["mae_median"])),
        "pit_ks_at_most_0.05": bool(sbp["pit_ks"] <= 0.05),
        "coverage_90_within_0.85_0.95": bool(0.85 <= sbp["coverage_90"] <= 0.95),
    }
