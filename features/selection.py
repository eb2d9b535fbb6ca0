"""XGBoost feature selection: rank the candidate columns of a feature table by gain, keep the best,
and hand the list to the trainers (DESIGN.md, "preseason_retraining").

    cfg = load_selection_config()["passing"]          # conf/feature_selection.yaml
    selection = select_features(frame, cfg)           # or select_features(frame, "passing")
    write_selection(selection, path)                  # JSON; trainers call read_selection(path)
    log_selection(settings, selection)                # MLflow run (nested when one is active)

**Importance is XGBoost's ``total_gain``**: the loss reduction summed over every split on the
feature. It is additive, so a feature's share of the total is its share of everything the trees
learned, and "the fewest features holding 95 % of the gain" means what it says. ``gain`` is the
*average* per split: a feature split on once, luckily, outranks one used in hundreds of useful
splits, and its shares add up to nothing. (Gain of either kind favours features with many distinct
values; the holdout score of a refit on the selected features alone shows what the cut costs.)

One model is fitted on 80 % of the rows (whole ``group`` values, e.g. games, held out together); its
importances rank the features and its holdout R²/MAE show that the trees learned something. A second
fit on the selected features alone gives the holdout score the trainers can expect to keep.
"""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.config import PROJECT_ROOT, ConfigError, Settings, read_yaml, validation_problems
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run

if TYPE_CHECKING:
    from xgboost import XGBRegressor

DEFAULT_SELECTION_CONFIG = PROJECT_ROOT / "conf" / "feature_selection.yaml"
HOLDOUT_SHARE = 0.2
PLOT_TOP = 30
ARTIFACT_DIR = "feature_selection"

log = logging.getLogger(__name__)


class SelectionError(ValueError):
    """Feature selection cannot use its input; the message names the column, parameter or file."""


# --- configuration ------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class XGBoostParams(_Strict):
    n_estimators: int = Field(ge=1)
    max_depth: int = Field(ge=1)
    learning_rate: float = Field(gt=0, le=1)
    subsample: float = Field(gt=0, le=1)
    colsample_bytree: float = Field(gt=0, le=1)
    seed: int = Field(ge=0)
    n_jobs: int = Field(0, ge=0, description="Threads; 0 = all cores.")


class SelectionRule(_Strict):
    top_k: int | None = Field(None, ge=1)
    cumulative_gain: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectionRule:
        if (self.top_k is None) == (self.cumulative_gain is None):
            raise ValueError("give exactly one of top_k or cumulative_gain")
        return self

    def __str__(self) -> str:
        return f"top_k={self.top_k}" if self.top_k is not None else f"cumulative_gain={self.cumulative_gain}"


class ModelSelectionConfig(_Strict):
    name: str = Field(description="The model's section name in the config file, e.g. 'passing'.")
    target: str
    group: str | None = Field(None, description="Column whose values are held out together (game_id).")
    id_columns: tuple[str, ...] = ("game_id", "play_id", "nfl_id", "frame_id", "season", "week")
    rule: SelectionRule
    min_features: int = Field(1, ge=1)
    min_rows: int = Field(100, ge=10)
    xgboost: XGBoostParams
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$")


def load_selection_config(path: str | Path | None = None) -> dict[str, ModelSelectionConfig]:
    """Every model's section of ``path`` (default ``conf/feature_selection.yaml``), by name."""
    path = Path(path or DEFAULT_SELECTION_CONFIG)
    raw = read_yaml(path, "feature-selection config")
    if not isinstance(raw, dict) or not raw or not all(isinstance(body, dict) for body in raw.values()):
        raise ConfigError(f"feature-selection config {path}: expected a mapping of model name to settings")
    models = {}
    for name, body in raw.items():
        try:
            models[name] = ModelSelectionConfig(**{**body, "name": name})
        except ValidationError as err:
            raise ConfigError(f"feature-selection config {path}:{validation_problems(err, f'{name}.')}") from None
    return models


def _resolve(model: str | ModelSelectionConfig) -> ModelSelectionConfig:
    if isinstance(model, ModelSelectionConfig):
        return model
    models = load_selection_config()
    if model not in models:
        raise ConfigError(f"model {model!r} is not in {DEFAULT_SELECTION_CONFIG}; known models: "
                          f"{', '.join(sorted(models))}")
    return models[model]


# --- selection ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    model: str
    target: str
    rule: str
    selected: list[str]          # ranked, best first
    importances: pd.DataFrame    # every candidate: feature, gain, share, cumulative_share, rank, selected
    holdout: dict[str, float]
    n_rows: int                  # rows with a target value, the ones used
    created_at: str
    config: ModelSelectionConfig


def select_features(frame: pd.DataFrame, model: str | ModelSelectionConfig,
                    candidates: list[str] | None = None) -> Selection:
    """Rank ``candidates`` (default: every numeric column but the target, group and id columns) by
    total gain and keep the best by the model's rule. NaN features are fine (XGBoost routes missing
    values); rows without a target are dropped. The same input and seed give the same selection.
    """
    cfg = _resolve(model)
    columns = _candidates(frame, cfg, candidates)
    x, y, groups = _matrix(frame, cfg, columns)
    test = _holdout_mask(groups, len(y), cfg.xgboost.seed)

    fitted = _fit(cfg, x[~test], y[~test])
    # Features are passed as numpy and named f0, f1, … by position: XGBoost rejects some
    # column names (with '[', ']' or '<'), and get_score leaves out features with no split.
    scores = fitted.get_booster().get_score(importance_type="total_gain")
    table = pd.DataFrame({"feature": columns, "gain": [scores.get(f"f{i}", 0.0) for i in range(len(columns))]})
    table = table.sort_values(["gain", "feature"], ascending=[False, True], kind="stable", ignore_index=True)
    total = table["gain"].sum()
    if total <= 0:
        raise SelectionError(f"{cfg.name}: the trees found no useful split on any of the {len(columns)} "
                             f"candidates (is {cfg.target!r} constant?)")
    table["share"] = table["gain"] / total
    table["cumulative_share"] = table["share"].cumsum()
    table["rank"] = np.arange(1, len(table) + 1)
    n_useful = int((table["gain"] > 0).sum())
    if cfg.rule.top_k is not None:
        n = cfg.rule.top_k
    else:  # the shortest prefix reaching the share; the tolerance absorbs float error in the cumsum
        n = int(np.searchsorted(table["cumulative_share"].to_numpy(), cfg.rule.cumulative_gain - 1e-9)) + 1
    n = min(max(n, cfg.min_features), n_useful)
    table["selected"] = table["rank"] <= n
    selected = table["feature"][:n].tolist()

    keep = [columns.index(f) for f in selected]
    refit = _fit(cfg, x[~test][:, keep], y[~test])
    r2_all, mae_all = _scores(y[test], fitted.predict(x[test]))
    r2_sel, mae_sel = _scores(y[test], refit.predict(x[test][:, keep]))
    holdout = {"r2_all": r2_all, "mae_all": mae_all, "r2_selected": r2_sel, "mae_selected": mae_sel,
               "mae_train_mean": float(np.abs(y[test] - y[~test].mean()).mean()),
               "n_train_rows": int((~test).sum()), "n_holdout_rows": int(test.sum())}
    log.info("%s: kept %d of %d candidates (%s); holdout R² %.3f all, %.3f selected",
             cfg.name, n, len(columns), cfg.rule, r2_all, r2_sel)
    return Selection(model=cfg.name, target=cfg.target, rule=str(cfg.rule), selected=selected,
                     importances=table, holdout=holdout, n_rows=len(y),
                     created_at=datetime.now(UTC).isoformat(timespec="seconds"), config=cfg)


def _candidates(frame: pd.DataFrame, cfg: ModelSelectionConfig, candidates: list[str] | None) -> list[str]:
    for role, name in (("target", cfg.target), ("group", cfg.group)):
        if name is not None and name not in frame.columns:
            raise SelectionError(f"{cfg.name}: {role} column {name!r} is not in the table; "
                                 f"columns: {', '.join(map(str, frame.columns))}")
    if not pd.api.types.is_numeric_dtype(frame[cfg.target]):
        raise SelectionError(f"{cfg.name}: target column {cfg.target!r} is {frame[cfg.target].dtype}, "
                             "expected a numeric type")
    if candidates is None:
        excluded = {cfg.target, cfg.group, *cfg.id_columns}
        columns = [c for c in frame.columns if c not in excluded and pd.api.types.is_numeric_dtype(frame[c])]
        if not columns:
            raise SelectionError(f"{cfg.name}: the table has no numeric candidate columns besides the target "
                                 f"{cfg.target!r}, the group and the id columns")
        return columns
    if not candidates:
        raise SelectionError(f"{cfg.name}: the candidates list is empty")
    for c in candidates:
        if c not in frame.columns:
            raise SelectionError(f"{cfg.name}: candidate column {c!r} is not in the table")
        if c in (cfg.target, cfg.group):
            raise SelectionError(f"{cfg.name}: candidate column {c!r} is the {'target' if c == cfg.target else 'group'}")
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise SelectionError(f"{cfg.name}: candidate column {c!r} is {frame[c].dtype}, expected a numeric type")
    if len(set(candidates)) != len(candidates):
        raise SelectionError(f"{cfg.name}: the candidates list repeats a column")
    return list(candidates)


def _matrix(frame: pd.DataFrame, cfg: ModelSelectionConfig,
            columns: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Features (float32, NaN for missing), target and group values of the rows that have a target."""
    y = frame[cfg.target].to_numpy(dtype=np.float64, na_value=np.nan)
    has_target = ~np.isnan(y)
    if not has_target.any():
        raise SelectionError(f"{cfg.name}: target column {cfg.target!r} has no values (all {len(y)} rows are NaN)")
    if has_target.sum() < cfg.min_rows:
        raise SelectionError(f"{cfg.name}: feature selection needs at least {cfg.min_rows} rows with a "
                             f"{cfg.target!r} value, got {int(has_target.sum())} (min_rows)")
    if not has_target.all():
        log.warning("%s: dropping %d rows without a %s value", cfg.name, int((~has_target).sum()), cfg.target)
    x = frame.loc[has_target, columns].to_numpy(dtype=np.float32, na_value=np.nan)
    infinite = [c for c, bad in zip(columns, np.isinf(x).any(axis=0)) if bad]
    if infinite:  # XGBoost would fail on them without saying which column
        raise SelectionError(f"{cfg.name}: candidate columns {infinite} hold infinite values (or values "
                             "beyond float32); expected finite numbers or NaN")
    groups = None
    if cfg.group is not None:
        groups = frame.loc[has_target, cfg.group].to_numpy()
        if pd.isna(groups).any():
            raise SelectionError(f"{cfg.name}: group column {cfg.group!r} has {int(pd.isna(groups).sum())} null values")
        if len(np.unique(groups)) < 2:
            raise SelectionError(f"{cfg.name}: a grouped holdout needs at least 2 distinct {cfg.group!r} "
                                 f"values, got {len(np.unique(groups))}")
    return x, y[has_target], groups


def _holdout_mask(groups: np.ndarray | None, n_rows: int, seed: int) -> np.ndarray:
    """True for held-out rows: 20 % of the groups (all their rows), or 20 % of the rows."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.permutation(n_rows) < math.ceil(HOLDOUT_SHARE * n_rows)
    unique = np.unique(groups)  # sorted, so the draw does not depend on the row order
    held = unique[rng.permutation(len(unique))[:math.ceil(HOLDOUT_SHARE * len(unique))]]
    return np.isin(groups, held)


def _fit(cfg: ModelSelectionConfig, x: np.ndarray, y: np.ndarray) -> XGBRegressor:
    # imported here: the trainers read the selection file (read_selection) on training machines
    # that need not have XGBoost (bench/training_gpu.py runs the CUDA training path on such a one)
    from xgboost import XGBRegressor

    params = cfg.xgboost.model_dump(exclude={"seed", "n_jobs"})
    return XGBRegressor(**params, random_state=cfg.xgboost.seed, n_jobs=cfg.xgboost.n_jobs or None,
                        tree_method="hist", device=cfg.device, objective="reg:squarederror").fit(x, y)


def _scores(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(R², MAE); R² is NaN when the held-out target is constant."""
    spread = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / spread if spread > 0 else float("nan")
    return r2, float(np.abs(y - pred).mean())


# --- output -------------------------------------------------------------------------------------
def selection_path(settings: Settings, model: str) -> Path:
    """Where the trainers find a model's selected features: ``lake/features/selection/<model>.json``."""
    return settings.paths.lake / "features" / "selection" / f"{model}.json"


def selection_record(selection: Selection) -> dict:
    """The JSON document the trainers read (see write_selection)."""
    return {
        "model": selection.model,
        "target": selection.target,
        "selected": selection.selected,
        "rule": selection.rule,
        "importances": [{"feature": f, "gain": float(g), "share": float(s)} for f, g, s in
                        selection.importances[["feature", "gain", "share"]].itertuples(index=False)],
        "created_at": selection.created_at,
        "n_rows": selection.n_rows,
        "holdout": selection.holdout,
    }


def write_selection(selection: Selection, path: Path) -> Path:
    """Write the selection JSON to ``path`` atomically: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(selection_record(selection), indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_selection(path: Path) -> list[str]:
    """The selected columns, best first, from a file written by write_selection."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"feature selection {path} does not exist; run the feature-selection "
                                "stage first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SelectionError(f"feature selection {path} is not valid JSON: {err}") from None
    selected = record.get("selected") if isinstance(record, dict) else None
    if not (isinstance(selected, list) and selected and all(isinstance(s, str) for s in selected)):
        raise SelectionError(f"feature selection {path}: expected a non-empty list of column names "
                             "under 'selected'")
    return selected


@dataclass
class SelectionRun:
    selection: Selection
    path: Path  # the JSON the trainers read
    run_id: str  # its MLflow run


def run_selection(settings: Settings, model: str, season: int | list[int], weeks: list[int]) -> SelectionRun:
    """The selection stage: read ``model``'s feature table for ``weeks``, select, write the JSON the
    trainers read and log the run.  Raises SelectionError (too few rows, no usable candidate) or
    FileNotFoundError (a week without features) with the reason."""
    import pyarrow as pa

    from pipelines import lake

    table = lake.read_weeks(settings.paths.lake / "features" / model, season, weeks)
    flat = table.select([f.name for f in table.schema
                         if not pa.types.is_list(f.type) and not pa.types.is_fixed_size_list(f.type)])
    selection = select_features(flat.to_pandas(), model)
    path = write_selection(selection, selection_path(settings, model))
    label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    run_id = log_selection(settings, selection, run_name=f"select {model} {lake.seasons_label(season)} {label}")
    return SelectionRun(selection, path, run_id)


def log_selection(settings: Settings, selection: Selection, run_name: str | None = None) -> str:
    """Log the selection to MLflow (experiment trackflow/preseason-retraining, nested under the
    active run if there is one); returns the run id."""
    import mlflow

    cfg, table = selection.config, selection.importances
    with start_run(settings, RETRAINING_EXPERIMENT, run_name or f"feature-selection-{selection.model}",
                   tags={"stage": "feature_selection", "model": selection.model, "device": cfg.device},
                   nested=mlflow.active_run() is not None) as run:
        mlflow.log_params({
            "model": selection.model, "target": selection.target, "group": cfg.group, "rule": selection.rule,
            "min_features": cfg.min_features, "n_candidates": len(table), "n_selected": len(selection.selected),
            "n_rows": selection.n_rows, "importance_type": "total_gain", "device": cfg.device,
            **{f"xgb_{k}": v for k, v in cfg.xgboost.model_dump().items()},
        })
        mlflow.log_metrics({**{f"holdout_{k}": v for k, v in selection.holdout.items()},
                            "selected_gain_share": float(table.loc[table["selected"], "share"].sum())})
        mlflow.log_table(table, f"{ARTIFACT_DIR}/importances.json")
        mlflow.log_text(table.to_csv(index=False), f"{ARTIFACT_DIR}/importances.csv")
        mlflow.log_figure(_importance_figure(selection), f"{ARTIFACT_DIR}/importances_top{PLOT_TOP}.png")
        mlflow.log_dict(selection_record(selection), f"{ARTIFACT_DIR}/{selection.model}.json")
    return run.info.run_id


def _importance_figure(selection: Selection):
    # A bare Figure, not pyplot: it renders PNG with Agg whatever backend the process has, and
    # leaves no global figure behind in a long-lived worker.
    from matplotlib.figure import Figure

    top = selection.importances.head(PLOT_TOP).iloc[::-1]  # barh draws bottom-up: best on top
    fig = Figure(figsize=(7, 1.2 + 0.25 * len(top)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(top["feature"], top["share"], color=np.where(top["selected"], "tab:blue", "tab:gray"))
    ax.set_xlabel("share of total gain (blue: selected)")
    ax.set_title(f"{selection.model}: {len(selection.selected)} of {len(selection.importances)} features "
                 f"for {selection.target} ({selection.rule})", fontsize=10)
    return fig
