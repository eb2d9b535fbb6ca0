"""The ghosting training stage: the GRU trajectory network and the constant-velocity and
constant-acceleration baselines, evaluated on the same held-out games, in one MLflow run.

    result = train_ghosting(settings, season=2025, weeks=[1, 2, 3, 4])

The run (experiment ``trackflow/preseason-retraining``, tag ``stage=train_ghosting``; nested when a
run is active) holds the configuration as params, every epoch's train/validation MSE
(``ghosting.train_mse``, ``ghosting.validation_mse``), the test errors (``test.<model>.{ade,fde,rmse}``
for ``model``, ``constant_velocity``, ``constant_acceleration``), the composite scores
(``composite.{observed,model,randomized}`` and their terms ``composite.<scenario>.<term>``), the bars
(``bar.*``), and as artifacts the two tables, a figure of sample trajectories and the model bundle
(``ghosting/ghosting_model.pt``, read back by ``load_trained``).  Checkpoints live in
``<home>/checkpoints/`` keyed by configuration, data and device; a finished run removes its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from evaluation.ghosting import bars, composite_table, error_table
from pipelines import lake
from pipelines.config import Settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, load_run_artifact, log_lake_input, start_run
from training.ghosting import (GhostingTrainingConfig, constant_acceleration, constant_velocity, load_ghosting_config,
                               mse_loss, randomize_inputs)
from training.ghosting_data import GhostingData, load_ghosting_data, load_release_context
from training.ghosting_model import GhostingModel
from training.passing import fit, resolve_device, sample_games, split_by_game

ARTIFACT_DIR = "ghosting"
MODEL_FILE = "ghosting_model.pt"  # under ARTIFACT_DIR
STAGE = "train_ghosting"
# the test samples' keys, logged as ARTIFACT_DIR/evaluation_set.parquet: the registry evaluates a
# challenger and the current champion on exactly these samples
EVALUATION_KEYS = ("season", "week", "game_id", "play_id", "nfl_id")
EVALUATION_SET_FILE = "evaluation_set.parquet"


@dataclass
class GhostingRun:
    errors: pd.DataFrame  # one row per model: ade, fde, rmse
    composites: pd.DataFrame  # one row per scenario: composite and its terms
    bars: dict[str, bool]
    split_samples: dict[str, int]
    epochs: int
    run_id: str


def train_ghosting(settings: Settings, season: lake.Seasons, weeks: list[int], config: GhostingTrainingConfig | None = None,
                   device: str | None = None, max_epochs: int | None = None, progress: bool = False,
                   max_games: int | None = None) -> GhostingRun:
    import mlflow

    cfg = config or load_ghosting_config()
    if max_epochs is not None:
        cfg = cfg.model_copy(update={"max_epochs": max_epochs})
    dev = resolve_device(device or cfg.device)
    data = load_ghosting_data(settings, season, weeks)
    keep = sample_games(data.game_id, max_games, cfg.seed)
    if not keep.all():
        data = GhostingData(frame=data.frame[keep].reset_index(drop=True), future=data.future[keep],
                            features=data.features, observed_frames=data.observed_frames)
    split = split_by_game(data.game_id, cfg.split, cfg.seed)
    frame, H = data.frame, data.horizon
    torch.manual_seed(cfg.seed)
    model = GhostingModel.fitted(frame[split["train"]], data.features, cfg, data.observed_frames, H)
    train = model.tensors(frame[split["train"]], data.future[split["train"]])
    validation = model.tensors(frame[split["validation"]], data.future[split["validation"]])
    test_rows = split["test"]
    test = frame[test_rows].reset_index(drop=True)
    release = load_release_context(settings, season, weeks, test)
    key = _run_key(cfg, data, dev)
    weeks_label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    with start_run(settings, RETRAINING_EXPERIMENT, f"train ghosting {lake.seasons_label(season)} {weeks_label}",
                   tags={"stage": STAGE, "device": str(dev), "season": ",".join(map(str, lake.season_list(season))),
                         "weeks": ",".join(map(str, weeks))},
                   nested=mlflow.active_run() is not None) as run:
        mlflow.log_params({**_flat(cfg.model_dump(), "ghosting"), "features": len(data.features), "max_games": max_games,
                           "observed_frames": data.observed_frames, "horizon": H,
                           **{f"samples.{k}": int(v.sum()) for k, v in split.items()}})
        log_lake_input(settings.paths.lake / "features" / "ghosting", season, weeks)
        checkpoint = settings.paths.home / "checkpoints" / f"ghosting-{key}.pt"

        def log_epoch(epoch, row):
            mlflow.log_metrics({"ghosting.train_mse": row["train_nll"], "ghosting.validation_mse": row["validation_nll"]},
                               step=epoch)

        with _cpu_threads(cfg.cpu_threads if dev.type == "cpu" else 0):
            _, history = fit(model.net, mse_loss, train, validation, cfg, dev, checkpoint=checkpoint,
                             on_epoch=log_epoch, progress=progress)
        checkpoint.unlink(missing_ok=True)
        true = data.future[test_rows]
        preds = {"model": model.predict(test, dev), "constant_velocity": constant_velocity(test, H),
                 "constant_acceleration": constant_acceleration(test, H)}
        randomized, mask = randomize_inputs(test, release.refs, cfg.randomize.share, cfg.randomize.seed,
                                            data.observed_frames)
        paths = {"observed": true, "model": preds["model"], "randomized": model.predict(randomized, dev)}
        errors = error_table(preds, true)
        composites = composite_table(paths, test[["x_0", "y_0"]].to_numpy(), release.target_path, cfg.composite, mask)
        met = bars(errors, composites, cfg.bars)
        mlflow.log_metrics({f"test.{m}.{k}": float(v) for (m, k), v in errors.stack().items()})
        mlflow.log_metrics({f"composite.{s}": float(composites.loc[s, "composite"]) for s in composites.index})
        mlflow.log_metrics({f"composite.{s}.{k}": float(v) for (s, k), v in composites.stack().items()
                            if k != "composite" and np.isfinite(v)})
        mlflow.log_metrics({f"bar.{k}": float(v) for k, v in met.items()})
        _log_artifacts(errors, composites, model, test, true, preds)
        return GhostingRun(errors=errors, composites=composites, bars=met,
                           split_samples={k: int(v.sum()) for k, v in split.items()}, epochs=len(history),
                           run_id=run.info.run_id)


def load_trained(settings: Settings, run_id: str | None = None) -> tuple[GhostingModel, str]:
    """``(model, run id)``: the ghosting network of ``run_id``, or of the newest finished
    ``train ghosting`` run in the project's store when ``run_id`` is None."""
    return load_run_artifact(settings, STAGE, f"{ARTIFACT_DIR}/{MODEL_FILE}", GhostingModel.load, run_id)


def _log_artifacts(errors, composites, model: GhostingModel, test: pd.DataFrame, true: np.ndarray,
                   preds: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        errors.to_csv(out / "ghosting_errors.csv")
        composites.to_csv(out / "ghosting_composite.csv")
        (out / "ghosting_evaluation.md").write_text(errors.to_markdown(floatfmt=".4f") + "\n\n"
                                                    + composites.to_markdown(floatfmt=".4f") + "\n")
        fig, axes = plt.subplots(2, 3, figsize=(10, 6))
        rows = np.random.default_rng(0).choice(len(test), size=min(6, len(test)), replace=False)
        for ax, i in zip(axes.ravel(), rows):
            p0 = test.loc[i, ["x_0", "y_0"]].to_numpy(dtype=float)
            for name, p, style in (("observed", true, "k-"), ("model", preds["model"], "b-"),
                                   ("const. velocity", preds["constant_velocity"], "r--")):
                track = np.vstack([p0, p[i]])
                ax.plot(track[:, 0], track[:, 1], style, lw=1.5, label=name)
            ax.plot(*p0, "ko", ms=4)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"{int(test.loc[i, 'game_id'])}/{int(test.loc[i, 'play_id'])} #{int(test.loc[i, 'nfl_id'])}",
                         fontsize=8)
        axes.ravel()[0].legend(fontsize=7)
        fig.suptitle("defensive backs, 1 s after the release (test games; yards, offense → +x)")
        fig.tight_layout()
        fig.savefig(out / "trajectories.png", dpi=100)
        plt.close(fig)
        model.save(out / MODEL_FILE)
        test[list(EVALUATION_KEYS)].to_parquet(out / EVALUATION_SET_FILE, index=False)
        mlflow.log_artifacts(str(out), artifact_path=ARTIFACT_DIR)


@contextlib.contextmanager
def _cpu_threads(n: int):
    """torch's intra-op threads set to ``n`` (> 0) for the block, restored after."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_key(cfg: GhostingTrainingConfig, data: GhostingData, device: torch.device) -> str:
    h = hashlib.sha256(json.dumps(cfg.model_dump(), sort_keys=True).encode())
    h.update(json.dumps(data.features).encode())
    h.update(np.ascontiguousarray(data.future).tobytes())
    h.update(np.ascontiguousarray(data.frame[data.features].to_numpy(dtype=np.float64)).tobytes())
    h.update(str(device).encode())
    return h.hexdigest()[:12]


def _flat(body: dict, prefix: str) -> dict[str, object]:
    out = {}
    for k, v in body.items():
        out |= _flat(v, f"{prefix}.{k}") if isinstance(v, dict) else {f"{prefix}.{k}": v}
    return out
