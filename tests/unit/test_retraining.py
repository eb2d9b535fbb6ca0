"""The retraining request (params over config defaults, errors naming the param), the season a
preseason run learns from, nested runs under a parent across processes, and the metric tables."""

from __future__ import annotations

import datetime as dt

import mlflow
import pytest

from evaluation.summary import evaluation_tables
from pipelines.config import load_settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, experiment_id, start_run, under_parent
from pipelines.nfl_calendar import last_complete_season
from pipelines.retraining import resolve_request, week_items


@pytest.mark.parametrize("day, season", [
    (dt.date(2026, 8, 1), 2025),   # the scheduled preseason run
    (dt.date(2026, 11, 22), 2025),  # mid-season: 2026 is not over
    (dt.date(2027, 2, 1), 2025),   # the 2026 postseason is still on
    (dt.date(2027, 3, 1), 2026),   # after the Super Bowl
])
def test_the_last_complete_season(day, season):
    assert last_complete_season(day) == season


def test_params_override_the_config_and_fall_back_on_it():
    settings = load_settings("demo", environ={})
    assert resolve_request(settings, {}) == {
        "seasons": [2025], "weeks": [1, 2], "epochs": None, "max_games": None, "device": "auto", "device_type": "cpu",
        "source": "synthetic:"}
    request = resolve_request(settings, {"seasons": "2023-2024", "weeks": "3,5-6", "epochs": 3, "max_games": 10,
                                         "device": "cpu", "source": "bdb:/data/x"})
    assert request["seasons"] == [2023, 2024] and request["weeks"] == [3, 5, 6] and request["epochs"] == 3
    assert request["max_games"] == 10 and request["source"] == "bdb:/data/x"
    assert week_items(request) == [{"season": s, "week": w} for s in (2023, 2024) for w in (3, 5, 6)]
    unset = load_settings("demo", environ={"TRACKFLOW__RETRAINING__SEASONS": ""})  # null: from the date
    assert unset.retraining.seasons is None
    assert resolve_request(unset, {}, dt.datetime(2026, 8, 1, 6, tzinfo=dt.UTC))["seasons"] == [2025]
    assert load_settings("demo", environ={"TRACKFLOW__RETRAINING__SEASONS": "2025, 2023"}).retraining.seasons == \
        "2023,2025"


@pytest.mark.parametrize("params, message", [
    ({"weeks": "1-x"}, "param 'weeks'"),
    ({"seasons": "2025-2023"}, "param 'seasons': .*'2025-2023' is not a season or range"),
    ({"seasons": "25"}, "param 'seasons': .*1920..2100"),
    ({"weeks": "30"}, "param 'weeks': .*outside 1..22"),
    ({"max_games": 2}, "param 'max_games': expected an integer ≥ 3, got 2"),
    ({"epochs": 0}, "param 'epochs': expected an integer ≥ 1, got 0"),
    ({"epochs": None}, None),  # None is "not given": the config's value
    ({"device": "cuda"}, "param 'device'"),  # no GPU on the CI machines
])
def test_bad_params_are_refused_naming_the_param(params, message):
    settings = load_settings("demo", environ={})
    if message is None:
        assert resolve_request(settings, params)["epochs"] is None
        return
    with pytest.raises(ValueError, match=message):
        resolve_request(settings, params)


def test_without_a_season_or_a_date_the_request_is_refused():
    settings = load_settings("demo", environ={"TRACKFLOW__RETRAINING__SEASONS": ""})
    with pytest.raises(ValueError, match="param 'seasons': not given"):
        resolve_request(settings, {})


def test_runs_started_under_a_parent_nest_and_inherit_its_tags(tmp_path):
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path)})
    with start_run(settings, RETRAINING_EXPERIMENT, "parent", tags={"seasons": "2025", "device": "cpu",
                                                                     "airflow.run_id": "r1", "other": "x"}) as parent:
        pass
    with under_parent(settings, parent.info.run_id) as inherited:
        assert inherited == {"seasons": "2025", "device": "cpu", "airflow.run_id": "r1"}  # INHERITED_TAGS only
        with start_run(settings, RETRAINING_EXPERIMENT, "child", tags={"device": "cuda", "stage": "s"}) as child:
            with start_run(settings, RETRAINING_EXPERIMENT, "grandchild", nested=True) as grandchild:
                pass
    with start_run(settings, RETRAINING_EXPERIMENT, "alone") as alone:
        pass
    client = mlflow.MlflowClient()
    tags = client.get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert tags["seasons"] == "2025" and tags["airflow.run_id"] == "r1" and tags["device"] == "cuda"  # its own wins
    assert "other" not in tags and tags["git_sha"] and tags["config_hash"] == settings.config_hash()
    assert client.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == child.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(alone.info.run_id).data.tags
    assert experiment_id(settings, RETRAINING_EXPERIMENT) == parent.info.experiment_id
    with pytest.raises(ValueError, match="retraining run 'nope' is not in"):
        with under_parent(settings, "nope"):
            pass


def test_evaluation_tables_read_the_trainers_metric_names():
    passing = {"test.sbp.nll": 2.5, "test.gaussian.nll": 3.0, "test.xgboost.mae_median": 5.0,
               "test.sbp.mae_median": 5.5, "sbp.validation_nll": 1.0, "bar.pit_ks_at_most_0.05": 1.0}
    ghosting = {"test.model.ade": 0.4, "test.constant_velocity.ade": 1.0, "test.constant_acceleration.ade": 1.2,
                "composite.observed": -0.2, "composite.observed.closing": -0.3, "composite.randomized": -0.1,
                "composite.model": -0.18, "ghosting.validation_mse": 0.1}
    tables = evaluation_tables(passing, ghosting)
    p = tables["passing_metrics"]
    assert list(p.index) == ["sbp", "gaussian", "xgboost"] and list(p.columns) == ["mae_median", "nll"]
    assert p.loc["xgboost", "mae_median"] == 5.0 and p.isna().loc["xgboost", "nll"]
    assert list(tables["ghosting_errors"].index) == ["model", "constant_velocity", "constant_acceleration"]
    c = tables["composite"]
    assert list(c.index) == ["observed", "model", "randomized"] and list(c.columns) == ["composite", "closing"]
    assert c.loc["observed", "closing"] == -0.3 and c.loc["model", "composite"] == -0.18
