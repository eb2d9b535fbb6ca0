"""XGBoost feature selection: ranking, rules, determinism, the JSON hand-off, MLflow logging and
errors that name the column or parameter. Real XGBoost and a real (temporary) MLflow store."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from features.selection import (DEFAULT_SELECTION_CONFIG, ModelSelectionConfig, SelectionError,
                                load_selection_config, log_selection, read_selection, select_features,
                                write_selection)
from pipelines.config import ConfigError, load_settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run

SIGNAL = ["strong", "medium", "weak"]


def config(**changes) -> ModelSelectionConfig:
    """A small, fast configuration for the synthetic table below."""
    body = {"name": "passing", "target": "yards_gained", "group": "game_id", "rule": {"top_k": 3},
            "min_features": 1, "min_rows": 100,
            "xgboost": {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.3, "subsample": 0.8,
                        "colsample_bytree": 0.8, "seed": 7,
                        "n_jobs": 1}}  # tiny data: threads only add overhead on a busy machine
    return ModelSelectionConfig(**{**body, **changes})


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """40 games x 50 plays; the target depends on three columns (one 10 % missing) plus noise, and
    20 noise columns and a text column sit among them."""
    rng = np.random.default_rng(0)
    n_games, per_game = 40, 50
    n = n_games * per_game
    frame = pd.DataFrame({"game_id": np.repeat(2025090700 + np.arange(n_games), per_game),
                          "play_id": np.tile(np.arange(per_game), n_games),
                          "possession_team": rng.choice(["KC", "BUF"], n)})
    for i in range(20):
        frame[f"noise_{i:02d}"] = rng.normal(size=n)
        if i == 10:  # the signal columns are not simply the first or last ones
            frame["strong"], frame["medium"], frame["weak"] = rng.normal(size=(3, n))
    frame.loc[rng.random(n) < 0.1, "medium"] = np.nan
    frame["yards_gained"] = (4 * frame["strong"] + 2 * frame["medium"].fillna(0) + frame["weak"]
                             + rng.normal(scale=0.5, size=n))
    return frame


@pytest.fixture(scope="module")
def top3(table):
    return select_features(table, config())


def test_the_three_signal_columns_rank_first_and_are_kept_by_both_rules(table, top3):
    assert top3.selected == SIGNAL
    imp = top3.importances
    assert list(imp.columns) == ["feature", "gain", "share", "cumulative_share", "rank", "selected"]
    assert len(imp) == 23 and "possession_team" not in set(imp["feature"])  # text and id columns skipped
    assert imp["rank"].tolist() == list(range(1, 24)) and imp["share"].sum() == pytest.approx(1.0)
    assert imp["selected"].tolist() == [True] * 3 + [False] * 20
    by_share = select_features(table, config(rule={"cumulative_gain": 0.95}))
    assert by_share.selected[:3] == SIGNAL
    assert top3.holdout["r2_all"] > 0.9 and top3.holdout["r2_selected"] > 0.9
    assert top3.holdout["mae_selected"] < top3.holdout["mae_train_mean"] / 3
    assert top3.holdout["n_holdout_rows"] == 8 * 50  # 20 % of the 40 games, whole games


def test_same_input_same_selection(table, top3):
    again = select_features(table, config())
    assert again.selected == top3.selected and again.holdout == top3.holdout
    pd.testing.assert_frame_equal(again.importances, top3.importances)


def test_cumulative_gain_keeps_the_shortest_prefix_reaching_the_share(table):
    for share in (0.5, 0.9, 0.999):
        sel = select_features(table, config(rule={"cumulative_gain": share}))
        cum = sel.importances["cumulative_share"].to_numpy()
        n = len(sel.selected)
        assert cum[n - 1] >= share and (n == 1 or cum[n - 2] < share)
    assert select_features(table, config(rule={"cumulative_gain": 0.5})).selected == ["strong"]


def test_top_k_and_min_features(table, top3):
    assert select_features(table, config(rule={"top_k": 5})).selected[:3] == SIGNAL
    assert len(select_features(table, config(rule={"top_k": 5})).selected) == 5
    assert select_features(table, config(rule={"top_k": 1}, min_features=4)).selected == top3.importances[
        "feature"][:4].tolist()


def test_zero_gain_columns_are_never_selected(table):
    frame = table.assign(constant=1.5, empty=np.nan)
    sel = select_features(frame, config(rule={"top_k": 1}, min_features=100))
    imp = sel.importances.set_index("feature")
    assert imp.loc[["constant", "empty"], "gain"].tolist() == [0.0, 0.0]
    assert not imp.loc[["constant", "empty"], "selected"].any()
    assert set(sel.selected) == set(imp.index[imp["gain"] > 0])


def test_explicit_candidates(table):
    sel = select_features(table, config(rule={"top_k": 2}), candidates=["weak", "noise_00", "strong"])
    assert sel.selected == ["strong", "weak"] and len(sel.importances) == 3


def test_the_committed_passing_config_finds_the_signal(table):
    models = load_selection_config()
    assert set(models) == {"passing", "ghosting"} and models["ghosting"].rule.top_k is not None
    passing = models["passing"]
    sel = select_features(table, passing.model_copy(update={"xgboost": passing.xgboost.model_copy(
        update={"n_jobs": 1})}))
    assert sel.selected[:3] == SIGNAL and len(sel.selected) >= passing.min_features


def test_json_round_trip(tmp_path, top3):
    path = write_selection(top3, tmp_path / "selection" / "passing.json")
    assert read_selection(path) == SIGNAL
    record = json.loads(path.read_text())
    assert {"model", "target", "selected", "rule", "importances", "created_at", "n_rows", "holdout"} <= set(record)
    assert record["rule"] == "top_k=3" and record["n_rows"] == 2000 and len(record["importances"]) == 23
    assert [p.name for p in path.parent.iterdir()] == ["passing.json"]  # no temporary file left


def test_read_selection_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_selection(tmp_path / "nope.json")
    for body in ("{not json", '{"selected": []}', '["a"]'):
        bad = tmp_path / "bad.json"
        bad.write_text(body)
        with pytest.raises(SelectionError, match="bad.json"):
            read_selection(bad)


def test_log_selection_records_params_metrics_and_artifacts(tmp_path, top3):
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path)})
    run_id = log_selection(settings, top3)
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == RETRAINING_EXPERIMENT
    assert run.data.params["rule"] == "top_k=3" and run.data.params["n_selected"] == "3"
    assert run.data.params["n_candidates"] == "23" and run.data.params["xgb_max_depth"] == "3"
    assert run.data.metrics["holdout_r2_selected"] == pytest.approx(top3.holdout["r2_selected"])
    assert run.data.tags["model"] == "passing" and "git_sha" in run.data.tags
    assert {a.path for a in client.list_artifacts(run_id, "feature_selection")} == {
        f"feature_selection/{name}" for name in
        ("importances.json", "importances.csv", "importances_top30.png", "passing.json")}
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="feature_selection/passing.json",
                                                dst_path=str(tmp_path / "download"))
    assert read_selection(local) == SIGNAL

    with start_run(settings, RETRAINING_EXPERIMENT, "preseason") as parent:
        child = log_selection(settings, top3)
    assert client.get_run(child).data.tags["mlflow.parentRunId"] == parent.info.run_id


@pytest.mark.parametrize(("change", "needle"), [
    (lambda t: (t.drop(columns="yards_gained"), {}), "target column 'yards_gained' is not in the table"),
    (lambda t: (t.drop(columns="game_id"), {}), "group column 'game_id' is not in the table"),
    (lambda t: (t[["game_id", "play_id", "possession_team", "yards_gained"]], {}), "no numeric candidate"),
    (lambda t: (t, {"candidates": ["strong", "possession_team"]}), "'possession_team' is object"),
    (lambda t: (t, {"candidates": ["strong", "speed"]}), "'speed' is not in the table"),
    (lambda t: (t, {"candidates": ["strong", "yards_gained"]}), "'yards_gained' is the target"),
    (lambda t: (t.head(60), {}), "at least 100 rows with a 'yards_gained' value, got 60"),
    (lambda t: (t.assign(yards_gained=np.nan), {}), "'yards_gained' has no values (all 2000 rows are NaN)"),
    (lambda t: (t.assign(weak=t["weak"].where(t.index != 5, np.inf)), {}), "['weak'] hold infinite values"),
    (lambda t: (t.assign(game_id=1), {}), "at least 2 distinct 'game_id' values"),
    (lambda t: (t.assign(yards_gained=3.0), {}), "no useful split"),
])
def test_bad_input_names_the_column_or_parameter(table, change, needle):
    frame, kwargs = change(table)
    with pytest.raises(SelectionError) as err:
        select_features(frame, config(), **kwargs)
    assert needle in str(err.value)


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda m: m["passing"].update(top_k=5), "passing.top_k: Extra inputs are not permitted"),
    (lambda m: m["passing"]["rule"].update(top_k=5), "passing.rule: Value error, give exactly one"),
    (lambda m: m["ghosting"].update(rule={}), "ghosting.rule: Value error, give exactly one"),
    (lambda m: m["ghosting"]["xgboost"].update(subsample=1.5), "ghosting.xgboost.subsample"),
    (lambda m: m["passing"].update(device="gpu"), "passing.device"),
])
def test_a_wrong_config_names_the_key_and_the_file(tmp_path, edit, needle):
    raw = yaml.safe_load(DEFAULT_SELECTION_CONFIG.read_text())
    edit(raw)
    path = tmp_path / "feature_selection.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_selection_config(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_an_unknown_model_name_lists_the_known_ones(table):
    with pytest.raises(ConfigError, match="'tackling' is not in .*known models: ghosting, passing"):
        select_features(table, "tackling")
