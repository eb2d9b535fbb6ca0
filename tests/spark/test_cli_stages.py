"""The stage commands as a user runs them: ingest → prepare (filter + features) → select, and a
missing week refused with the path it looked for.  Real Spark, XGBoost and MLflow, in-process."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from features.selection import selection_path
from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, use_store

WEEK = ["--season", "2025", "--weeks", "1"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    # four games: enough released passes for the selection's min_rows (200)
    env = {"TRACKFLOW_PROFILE": "test", "TRACKFLOW__PATHS__HOME": str(tmp_path_factory.mktemp("cli_stages")),
           "TRACKFLOW__SIMULATOR__GAMES_PER_WEEK": "4"}
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args), env=env)

    ingested = run("ingest", "--source", "synthetic:", *WEEK)
    assert ingested.exit_code == 0, ingested.output
    prepared = run("prepare", *WEEK)
    return {"run": run, "prepared": prepared, "settings": load_settings("test", environ=env)}


def test_prepare_turns_an_ingested_week_into_clean_tracking_report_and_feature_tables(project):
    out, lake_root = project["prepared"], project["settings"].paths.lake
    assert out.exit_code == 0, out.output
    assert "anomaly filter season 2025 week 1" in out.output and "passing" in out.output
    for table in ("clean/tracking", "clean/anomalies", "features/passing", "features/ghosting"):
        assert (lake_root / table / "season=2025" / "week=1" / "part-0.parquet").is_file(), table
    report = json.loads((lake_root / "reports" / "anomalies" / "season=2025" / "week=1.json").read_text())
    assert report["plays_in"] > 0 and report["plays_out"] <= report["plays_in"]


def test_select_writes_both_lists_and_logs_mlflow_runs(project):
    out = project["run"]("select", *WEEK)
    assert out.exit_code == 0, out.output
    settings = project["settings"]
    for model in ("passing", "ghosting"):
        record = json.loads(selection_path(settings, model).read_text())
        assert record["model"] == model and len(record["selected"]) >= 8, record
        assert f"{model}: {len(record['selected'])} of" in out.output
    use_store(settings)
    runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], filter_string="tags.stage = 'feature_selection'")
    assert sorted(runs["tags.model"]) == ["ghosting", "passing"]


def test_train_passing_trains_three_models_in_one_mlflow_run(project):
    out = project["run"]("train", "passing", *WEEK, "--epochs", "2")
    assert out.exit_code == 0, out.output
    assert "| sbp" in out.output and "| gaussian" in out.output and "| xgboost" in out.output
    use_store(project["settings"])
    runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], filter_string="tags.stage = 'train_passing'")
    assert len(runs) == 1
    run = runs.iloc[0]
    for metric in ("test.sbp.nll", "test.gaussian.nll", "test.xgboost.mae_median", "test.sbp.pit_ks",
                   "test.sbp.quantile_error_mean", "sbp.validation_nll"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(run["run_id"], "sbp.validation_nll")) == 2  # one per epoch
    assert {a.path for a in client.list_artifacts(run["run_id"], "passing")} >= {
        "passing/passing_evaluation.csv", "passing/pit_histogram.png", "passing/sbp_model.pt", "passing/gaussian_model.pt"}
    assert not list((project["settings"].paths.home / "checkpoints").glob("*.pt"))  # removed once finished


def test_a_week_not_ingested_is_refused_with_the_path(project):
    out = project["run"]("prepare", "--season", "2025", "--weeks", "7")
    assert out.exit_code == 1
    assert "trackflow filter:" in out.output and "week=7" in out.output and "ingest the week first" in out.output
