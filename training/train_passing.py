"""The passing training stage: the SBP network, its Gaussian twin and the XGBoost point regressor,
trained on the same split and evaluated on the same test plays, in one MLflow run.

    result = train_passing(settings, season=2025, weeks=[1, 2, 3, 4])

The run (experiment ``trackflow/preseason-retraining``; nested when a run is active) holds the
configuration as params, every epoch's train/validation NLL per network (``sbp.*``, ``gaussian.*``),
the test metrics (``test.<model>.<metric>``), the bars, and as artifacts the evaluation table, the
PIT histogram and the trained weights with their standardizer and feature list.  Checkpoints live in
``<home>/checkpoints/`` under a key of the configuration, the data and the device: an interrupted
run resumes from them, a finished one removes them.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from evaluation.passing import bars, evaluate_passing
from features.config import load_features_config
from pipelines import lake
from pipelines.config import Settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, load_run_artifact, log_lake_input, start_run
from pipelines.schema import TRUTH_PLAYS, TRUTH_QUANTILE_LEVELS
from training.passing import (PassingTrainingConfig, fit, gaussian_distribution, gaussian_loss, load_passing_data,
                              load_training_config, predict, resolve_device, sample_games, sbp_distribution, sbp_loss,
                              training_tensors)
from training.passing_model import PassingModel

ARTIFACT_DIR = "passing"
MODEL_FILES = {"sbp": "sbp_model.pt", "gaussian": "gaussian_model.pt"}  # under ARTIFACT_DIR
# the test plays' keys, logged as ARTIFACT_DIR/evaluation_set.parquet: the registry evaluates a
# challenger and the current champion on exactly these plays
EVALUATION_KEYS = ("season", "week", "game_id", "play_id")
EVALUATION_SET_FILE = "evaluation_set.parquet"


@dataclass
class PassingRun:
    metrics: pd.DataFrame  # evaluation table, one row per model
    bars: dict[str, bool]
    split_plays: dict[str, int]
    epochs: dict[str, int]  # epochs run per network
    run_id: str


def train_passing(settings: Settings, season: lake.Seasons, weeks: list[int], config: PassingTrainingConfig | None = None,
                  device: str | None = None, max_epochs: int | None = None, progress: bool = False,
                  max_games: int | None = None) -> PassingRun:
    import mlflow

    cfg = config or load_training_config()
    if max_epochs is not None:
        cfg = cfg.model_copy(update={"max_epochs": max_epochs})
    dev = resolve_device(device or cfg.device)
    max_frames = load_features_config().max_frames
    data = load_passing_data(settings, season, weeks, config=cfg)
    data = data.take(sample_games(data.game_id, max_games, cfg.seed))
    split, scale, tensors, mirrored = training_tensors(data, cfg)
    key = _run_key(cfg, data, dev)
    weeks_label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    with start_run(settings, RETRAINING_EXPERIMENT, f"train passing {lake.seasons_label(season)} {weeks_label}",
                   tags={"stage": "train_passing", "device": str(dev), "season": ",".join(map(str, lake.season_list(season))),
                         "weeks": ",".join(map(str, weeks))},
                   nested=mlflow.active_run() is not None) as run:
        mlflow.log_params({**_flat(cfg.model_dump(), "passing"), "features": len(data.features), "max_games": max_games,
                           **{f"plays.{k}": int(v.sum()) for k, v in split.items()}, "plays.train_mirrored": mirrored})
        log_lake_input(settings.paths.lake / "features" / "passing", season, weeks)
        models, epochs = {}, {}
        for name, loss in (("sbp", sbp_loss(cfg.sbp)), ("gaussian", gaussian_loss)):
            torch.manual_seed(cfg.seed)
            models[name] = PassingModel.build(name, data.features, scale, cfg, max_frames)
            checkpoint = settings.paths.home / "checkpoints" / f"passing-{name}-{key}.pt"

            def log_epoch(epoch, row, name=name):
                mlflow.log_metrics({f"{name}.train_nll": row["train_nll"],
                                    f"{name}.validation_nll": row["validation_nll"], f"{name}.lr": row["lr"]},
                                   step=epoch)

            _, history = fit(models[name].net, loss, tensors["train"], tensors["validation"], cfg, dev,
                                      checkpoint=checkpoint, on_epoch=log_epoch, progress=progress)
            epochs[name] = len(history)
            checkpoint.unlink(missing_ok=True)
        xgb_pred = _xgboost_baseline(data, split, cfg)
        test = tensors["test"]
        sbp = sbp_distribution(predict(models["sbp"].net, test, dev), cfg.sbp)
        gaussian = gaussian_distribution(predict(models["gaussian"].net, test, dev))
        truth = _truth_quantiles(settings, season, weeks, data.context.loc[split["test"], ["game_id", "play_id"]])
        table, pit = evaluate_passing(sbp, gaussian, xgb_pred, test.y.numpy(), truth=truth, seed=cfg.seed)
        met = bars(table)
        mlflow.log_metrics({f"test.{model}.{metric}": float(v) for (model, metric), v in table.stack().items()})
        mlflow.log_metrics({f"bar.{k}": float(v) for k, v in met.items()})
        _log_artifacts(table, pit, models, data.context.loc[split["test"], list(EVALUATION_KEYS)])
        mlflow.log_figure(_sample_pdfs(sbp, gaussian, test.y.numpy(), data.context.loc[split["test"]], cfg.seed),
                          f"{ARTIFACT_DIR}/sample_play_pdfs.png")
        return PassingRun(metrics=table, bars=met, split_plays={k: int(v.sum()) for k, v in split.items()},
                          epochs=epochs, run_id=run.info.run_id)


def load_trained(settings: Settings, run_id: str | None = None, head: str = "sbp") -> tuple[PassingModel, str]:
    """``(model, run id)``: the ``head`` network of ``run_id``, or of the newest finished
    ``train passing`` run in the project's store when ``run_id`` is None."""
    return load_run_artifact(settings, "train_passing", f"{ARTIFACT_DIR}/{MODEL_FILES[head]}", PassingModel.load,
                             run_id)


def _xgboost_baseline(data, split, cfg: PassingTrainingConfig) -> np.ndarray:
    """XGBoost point regression of the yards on the same static features (NaN kept); test predictions."""
    from xgboost import XGBRegressor

    x = cfg.xgboost
    model = XGBRegressor(n_estimators=x.n_estimators, max_depth=x.max_depth, learning_rate=x.learning_rate,
                         subsample=x.subsample, early_stopping_rounds=x.early_stopping_rounds,
                         objective="reg:absoluteerror", tree_method="hist", random_state=cfg.seed, n_jobs=0)
    model.fit(data.static_raw[split["train"]], data.y[split["train"]],
              eval_set=[(data.static_raw[split["validation"]], data.y[split["validation"]])], verbose=False)
    return model.predict(data.static_raw[split["test"]])


def _truth_quantiles(settings: Settings, season: lake.Seasons, weeks: list[int], keys: pd.DataFrame
                     ) -> dict[float, np.ndarray] | None:
    """The simulator's true yards quantiles of the given plays, in their order (None for real data)."""
    root = settings.paths.lake / "truth" / "plays"
    if not all(lake.partition_dir(root, s, w).is_dir() for s in lake.season_list(season) for w in weeks):
        return None
    truth = lake.read_table(root, TRUTH_PLAYS).to_pandas()
    columns = {q: f"yards_q{int(round(q * 100)):02d}" for q in TRUTH_QUANTILE_LEVELS}
    joined = keys.merge(truth[["game_id", "play_id", *columns.values()]], on=["game_id", "play_id"], how="left")
    if joined[list(columns.values())].isna().any().any():
        return None
    return {q: joined[c].to_numpy(dtype=np.float64) for q, c in columns.items()}


def _log_artifacts(table, pit, models: dict[str, PassingModel], evaluation_set: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        table.to_csv(out / "passing_evaluation.csv")
        (out / "passing_evaluation.md").write_text(table.to_markdown(floatfmt=".4f") + "\n")
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(pit, bins=20, range=(0, 1), color="tab:blue")
        ax.axhline(len(pit) / 20, color="k", lw=1, ls="--")
        ax.set(xlabel="randomized PIT", ylabel="plays", title="SBP calibration (test plays)")
        fig.tight_layout()
        fig.savefig(out / "pit_histogram.png", dpi=100)
        plt.close(fig)
        for name, model in models.items():
            model.save(out / MODEL_FILES[name])
        evaluation_set.reset_index(drop=True).to_parquet(out / EVALUATION_SET_FILE, index=False)
        mlflow.log_artifacts(str(out), artifact_path=ARTIFACT_DIR)


def _sample_pdfs(sbp, gaussian, y: np.ndarray, context: pd.DataFrame, seed: int, plays: int = 6):
    """A figure of the predicted densities of a few test plays (SBP and its Gaussian twin) with the
    actual yards: what a scientist looks at before trusting the calibration numbers."""
    from matplotlib.figure import Figure

    rows = np.sort(np.random.default_rng(seed).choice(len(y), size=min(plays, len(y)), replace=False))
    grid = torch.arange(-15.0, 60.5, 0.5)
    with torch.no_grad():
        expanded = grid[:, None].expand(len(grid), len(y))
        sbp_pdf = sbp.log_prob(expanded.to(sbp.median.dtype)).exp().numpy()
        gauss_pdf = gaussian.log_prob(expanded.to(gaussian.loc.dtype)).exp().numpy()
    fig = Figure(figsize=(10, 5.5))
    axes = fig.subplots(2, 3, squeeze=False).ravel()
    keys = context[["game_id", "play_id"]].to_numpy()
    for ax, i in zip(axes, rows):
        ax.plot(grid, sbp_pdf[:, i], "b-", lw=1.5, label="SBP")
        ax.plot(grid, gauss_pdf[:, i], "r--", lw=1, label="Gaussian")
        ax.axvline(float(y[i]), color="k", lw=1, label="actual")
        ax.set_title(f"game {keys[i, 0]} play {keys[i, 1]}", fontsize=8)
        ax.set_xlabel("yards gained", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle("predicted yards-gained densities, sample test plays")
    fig.tight_layout()
    return fig


def _run_key(cfg: PassingTrainingConfig, data, device: torch.device) -> str:
    h = hashlib.sha256(json.dumps(cfg.model_dump(), sort_keys=True).encode())
    for array in (data.y, data.lengths, data.static_raw):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(str(device).encode())
    return h.hexdigest()[:12]


def _flat(body: dict, prefix: str) -> dict[str, object]:
    out = {}
    for k, v in body.items():
        out |= _flat(v, f"{prefix}.{k}") if isinstance(v, dict) else {f"{prefix}.{k}": v}
    return out
