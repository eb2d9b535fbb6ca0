"""The stage commands as a user runs them: ingest → prepare (filter + features) → select → train
passing → score passing → train ghosting → ghost, and a missing week refused with the path it looked for.  Real Spark,
XGBoost, PyTorch and MLflow, in-process."""

from __future__ import annotations

import json
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.selection import selection_path
from pipelines import lake
from pipelines.cli import app
from pipelines.config import load_settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, use_store
from pipelines.schema import (PASSING_SCORE_BY_PASSER_GAME, PASSING_SCORE_BY_PASSER_SEASON,
                              PASSING_SCORE_BY_PASSER_SPLIT, PASSING_SCORE_PLAYS)

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
        "passing/passing_evaluation.csv", "passing/pit_histogram.png", "passing/sbp_model.pt", "passing/gaussian_model.pt",
        "passing/evaluation_set.parquet", "passing/sample_play_pdfs.png"}
    # the test plays' keys, which the registry evaluates a challenger and the champion on
    keys = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run["run_id"],
                                                               artifact_path="passing/evaluation_set.parquet"))
    assert list(keys.columns) == ["season", "week", "game_id", "play_id"]
    assert len(keys) == int(run["params.plays.test"]) > 0 and not keys.duplicated().any()
    assert not list((project["settings"].paths.home / "checkpoints").glob("*.pt"))  # removed once finished


def test_score_passing_scores_every_play_and_writes_the_aggregates(project):
    # runs after the training test above: the model is its run's
    out = project["run"]("score", "passing", *WEEK)
    assert out.exit_code == 0, out.output
    assert re.search(r"top \d+ passers by mean score, of the \d+ with scored plays \(at least 20 plays", out.output)
    settings = project["settings"]
    root = settings.paths.lake / "scores" / "passing"
    features = lake.read_weeks(settings.paths.lake / "features" / "passing", 2025, [1], columns=["game_id", "play_id"])
    plays = lake.read_table(root / "plays", PASSING_SCORE_PLAYS).to_pandas()
    assert len(plays) == features.num_rows > 0
    assert sorted(zip(plays["game_id"], plays["play_id"])) == sorted(zip(features["game_id"].to_pylist(),
                                                                         features["play_id"].to_pylist()))
    assert plays["passing_score"].between(0, 100).all() and plays["passing_score"].nunique() > 1
    assert (plays["predicted_q10"] <= plays["predicted_median"]).all()
    assert (plays["predicted_median"] <= plays["predicted_q90"]).all()
    tables = {}
    for name, schema in (("by_passer_game", PASSING_SCORE_BY_PASSER_GAME),
                         ("by_passer_season", PASSING_SCORE_BY_PASSER_SEASON),
                         ("by_passer_split", PASSING_SCORE_BY_PASSER_SPLIT)):
        assert (root / name / "season=2025" / "part-0.parquet").is_file(), name
        tables[name] = lake.read_table(root / name, schema).to_pandas()
    season = tables["by_passer_season"]
    assert season["plays"].sum() == len(plays) == tables["by_passer_game"]["plays"].sum()
    assert season["passer_name"].notna().all()  # the raw players table names every simulated QB
    assert set(tables["by_passer_split"]["split"]) <= {"under_pressure", "long_time_to_throw", "deep_pass"}

    use_store(settings)
    trained = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], filter_string="tags.stage = 'train_passing'")
    runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], filter_string="tags.stage = 'score_passing'")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["params.model_run_id"] == trained.iloc[0]["run_id"] and run["params.weeks"] == "1"
    assert run["metrics.season_plays"] == len(plays) and 0 <= run["metrics.score_mean"] <= 100
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "passing_score")}
    assert "passing_score/by_passer_season.json" in artifacts
    logged = mlflow.MlflowClient().load_table(run["experiment_id"], "passing_score/by_passer_season.json",
                                              run_ids=[run["run_id"]])
    assert len(logged) == len(season) and logged["plays"].sum() == len(plays)
    assert f"MLflow run {run['run_id']}" in out.output


def test_score_passing_refuses_a_week_without_features_and_a_bad_run_id(project):
    out = project["run"]("score", "passing", "--season", "2025", "--weeks", "7")
    assert out.exit_code == 1
    assert "trackflow score passing:" in out.output and "week(s) [7]" in out.output and "week=7" in out.output
    out = project["run"]("score", "passing", *WEEK, "--run-id", "0123456789abcdef")
    assert out.exit_code == 1
    assert "trackflow score passing: run '0123456789abcdef'" in out.output
    assert "Traceback" not in out.output


def test_the_release_context_agrees_with_the_ghosting_table(project):
    # the NumPy left→right turn of the clean tracking meets the Spark features on a real week
    from training.ghosting_data import load_ghosting_data, load_release_context

    settings = project["settings"]
    data = load_ghosting_data(settings, 2025, [1])
    ctx = load_release_context(settings, 2025, [1], data.frame)
    f = data.frame
    assert len(f) > 0 and ctx.target_path.shape == (len(f), data.horizon + 1, 2)
    has_target = ~np.isnan(ctx.target_path[:, 0, 0])
    assert has_target.mean() > 0.9
    np.testing.assert_allclose(ctx.target_path[has_target, 0, 0], (f["x_0"] + f["dx_target"])[has_target], atol=1e-9)
    np.testing.assert_allclose(ctx.target_path[has_target, 0, 1], (f["y_0"] + f["dy_target"])[has_target], atol=1e-9)
    for ref in ("qb", "ball", "opp"):
        d = np.hypot(ctx.refs[f"ref_{ref}_x"] - f["x_0"], ctx.refs[f"ref_{ref}_y"] - f["y_0"])
        np.testing.assert_allclose(d, f[f"d_{ref}"], atol=1e-9, err_msg=ref)
    assert ctx.receivers.groupby(["game_id", "play_id"])["is_target"].sum().max() == 1


def test_train_ghosting_trains_the_model_and_both_baselines_in_one_mlflow_run(project):
    out = project["run"]("train", "ghosting", *WEEK, "--epochs", "2")
    assert out.exit_code == 0, out.output
    for row in ("| model ", "| constant_velocity", "| constant_acceleration", "| observed", "| randomized"):
        assert row in out.output, row
    assert "bars: ade_at_most_0.7x_constant_velocity" in out.output
    use_store(project["settings"])
    runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], filter_string="tags.stage = 'train_ghosting'")
    assert len(runs) == 1
    run = runs.iloc[0]
    for metric in ("test.model.ade", "test.model.fde", "test.model.rmse", "test.constant_velocity.ade",
                   "test.constant_acceleration.fde", "composite.observed", "composite.model", "composite.randomized",
                   "composite.observed.closing", "ghosting.validation_mse"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(run["run_id"], "ghosting.validation_mse")) == 2  # one per epoch
    assert {a.path for a in client.list_artifacts(run["run_id"], "ghosting")} >= {
        "ghosting/ghosting_errors.csv", "ghosting/ghosting_composite.csv", "ghosting/trajectories.png",
        "ghosting/ghosting_model.pt", "ghosting/evaluation_set.parquet"}
    keys = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run["run_id"],
                                                               artifact_path="ghosting/evaluation_set.parquet"))
    assert list(keys.columns) == ["season", "week", "game_id", "play_id", "nfl_id"]
    assert len(keys) == int(run["params.samples.test"]) > 0 and not keys.duplicated().any()
    assert not list((project["settings"].paths.home / "checkpoints").glob("ghosting-*.pt"))


def test_ghost_draws_a_counterfactual_play_and_refuses_bad_requests(project, tmp_path):
    # runs after the training test above: the model is its run's
    settings = project["settings"]
    table = lake.read_weeks(settings.paths.lake / "features" / "ghosting", 2025, [1],
                            columns=["game_id", "play_id"]).to_pandas()
    game, play = (int(v) for v in table[["game_id", "play_id"]].value_counts().index[0])
    png = tmp_path / "play.png"
    out = project["run"]("ghost", "--game", str(game), "--play", str(play), "--out", str(png))
    assert out.exit_code == 0, out.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [line for line in out.output.splitlines() if line.startswith("|") and "receiver_nfl_id" not in line
             and not line.startswith("|--") and not line.startswith("|:")]
    assert len(lines) >= 2 and sum("True" in line for line in lines) == 1  # one row per receiver, one actual target
    receiver = int(lines[0].split("|")[1])
    out = project["run"]("ghost", "--game", str(game), "--play", str(play), "--target", str(receiver),
                         "--out", str(tmp_path / "one.png"))
    assert out.exit_code == 0, out.output
    out = project["run"]("ghost", "--game", str(game), "--play", str(play), "--target", "1", "--out", str(png))
    assert out.exit_code == 1 and "trackflow ghost: receiver 1 is not an eligible receiver" in out.output
    out = project["run"]("ghost", "--game", "1", "--play", "2", "--out", str(png))
    assert out.exit_code == 1 and "trackflow ghost: game 1 play 2: no ghosting samples" in out.output
    assert "Traceback" not in out.output


def test_a_week_not_ingested_is_refused_with_the_path(project):
    out = project["run"]("prepare", "--season", "2025", "--weeks", "7")
    assert out.exit_code == 1
    assert "trackflow filter:" in out.output and "week=7" in out.output and "ingest the week first" in out.output
