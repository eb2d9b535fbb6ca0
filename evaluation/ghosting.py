"""The ghosting model's evaluation: the network and both baselines on the same held-out samples, and
the composite metric on the observed future, the model's predictions and the predictions from
randomized inputs (metrics: ``evaluation.ghosting_metrics``).

    table = error_table({"model": pred, "constant_velocity": cv, "constant_acceleration": ca}, true)
    comp = composite_table({"observed": true, "model": pred, "randomized": rnd}, p0, receiver, cfg, mask)
    met = bars(table, comp, cfg.bars)

``error_table``: one row per model, columns ``ade``, ``fde``, ``rmse`` (yards).  ``composite_table``:
one row per scenario, columns ``composite`` and the mean of each term (``closing``, ``effort``,
``speed``, and the raw ``gap`` change as a diagnostic), plus ``composite_randomized_rows`` (the
randomized scenario on the randomized defenders only) and ``samples`` (those with a target path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation import ghosting_metrics as m

SCENARIOS = ("observed", "model", "randomized")


def error_table(preds: dict[str, np.ndarray], true: np.ndarray) -> pd.DataFrame:
    rows = {name: {"ade": m.ade(p, true), "fde": m.fde(p, true), "rmse": m.rmse_bdb(p, true)}
            for name, p in preds.items()}
    return pd.DataFrame(rows).T.rename_axis("model")


def composite_table(paths: dict[str, np.ndarray], position0: np.ndarray, receiver: np.ndarray, composite_cfg,
                    randomized_mask: np.ndarray | None = None) -> pd.DataFrame:
    """``paths``: scenario → ``[n, H, 2]`` future positions; ``receiver``: ``[n, H+1, 2]`` target paths."""
    c = composite_cfg
    weights = c.weights.model_dump() if hasattr(c.weights, "model_dump") else dict(c.weights)
    rows = {}
    for name, future in paths.items():
        path = m.with_release(position0, future)
        score = m.composite(path, receiver, c.top_speed, c.speed_limit, weights, reduction="none")
        terms = m.composite_terms(path, receiver, c.top_speed, c.speed_limit)
        row = {"composite": float(np.nanmean(score)), **{k: float(np.nanmean(v)) for k, v in terms.items()},
               "samples": int(np.isfinite(score).sum())}
        if name == "randomized" and randomized_mask is not None:
            row["composite_randomized_rows"] = float(np.nanmean(score[randomized_mask]))
        rows[name] = row
    return pd.DataFrame(rows).T.rename_axis("scenario")


def bars(errors: pd.DataFrame, composites: pd.DataFrame, bars_cfg) -> dict[str, bool]:
    """The issue's bars, each True when met."""
    ade_ratio = bars_cfg.ade_vs_constant_velocity
    tol = bars_cfg.composite_model_vs_observed
    obs, model, rnd = (float(composites.loc[s, "composite"]) for s in SCENARIOS)
    return {
        f"ade_at_most_{ade_ratio:g}x_constant_velocity":
            bool(errors.loc["model", "ade"] <= ade_ratio * errors.loc["constant_velocity", "ade"]),
        "composite_observed_below_0": bool(obs < 0),
        "composite_model_below_randomized": bool(model < rnd),
        "composite_randomized_above_0": bool(rnd > 0),
        f"composite_model_within_{round(tol * 100)}pct_of_observed": bool(abs(model - obs) <= tol * abs(obs)),
    }
