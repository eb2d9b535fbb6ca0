"""The passing score's pure functions on small hand-made frames: per-play scores (0–100, monotone in
the yards for one prediction, the columns the lake stores), split flags at their bounds, and the
aggregates against numbers worked out by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from evaluation.passing_score import (PassingScoreConfig, aggregate, leaders, load_scoring_config, score_plays,
                                      split_flags)
from pipelines import lake
from pipelines.config import ConfigError
from pipelines.schema import (PASSING_SCORE_BY_PASSER_GAME, PASSING_SCORE_BY_PASSER_SEASON,
                              PASSING_SCORE_BY_PASSER_SPLIT, PASSING_SCORE_PLAYS)
from training.passing import PassingData, Standardizer, load_training_config
from training.passing_model import PassingModel

T, FEATURES = 6, ["pass_depth", "qb_pressure", "target_separation"]


@pytest.fixture(scope="module")
def config() -> PassingScoreConfig:
    return load_scoring_config()


@pytest.fixture(scope="module")
def model() -> PassingModel:
    base = load_training_config()
    # about scoring and registering, not the encoder: three features, no landing point
    cfg = base.model_copy(update={"network": base.network.model_copy(update={"channels": 8, "hidden": [16],
                                                                      "landing_inputs": False})})
    torch.manual_seed(0)  # an untrained network: any fixed prediction will do
    return PassingModel.build("sbp", FEATURES, Standardizer(np.array([10.0, 3.0, 2.0]), np.ones(3)), cfg, max_frames=T)


def _context(n: int, **columns) -> pd.DataFrame:
    base = {"game_id": np.full(n, 2025090700, dtype=np.int64), "play_id": np.arange(1, n + 1, dtype=np.int64),
            "season": np.full(n, 2025, dtype=np.int32), "week": np.full(n, 1, dtype=np.int32),
            "passer_nfl_id": np.full(n, 41, dtype=np.float64), "target_nfl_id": np.full(n, 77, dtype=np.float64),
            "pass_result": ["C"] * n, "yards_gained": np.zeros(n, dtype=np.int64),
            "qb_pressure": np.full(n, 5.0), "time_to_throw": np.full(n, 2.0), "pass_depth": np.full(n, 8.0),
            "target_separation": np.full(n, 1.5)}
    return pd.DataFrame(base | columns)


def _data(context: pd.DataFrame, same_prediction: bool = True, seed: int = 0) -> PassingData:
    n = len(context)
    rng = np.random.default_rng(seed)
    seq = rng.normal(size=(1 if same_prediction else n, T, 22, 8)).astype(np.float32)
    seq = np.repeat(seq, n, axis=0) if same_prediction else seq
    lengths = np.full(n, T) if same_prediction else rng.integers(1, T + 1, n)
    return PassingData(seq=seq, lengths=lengths, static_raw=context[FEATURES].to_numpy(dtype=np.float64),
                       y=context["yards_gained"].to_numpy(dtype=np.float32), game_id=context["game_id"].to_numpy(),
                       context=context, features=list(FEATURES))


# --- per play -----------------------------------------------------------------------------------

def test_scores_lie_in_0_100_and_rise_with_the_yards_for_one_prediction(model, config):
    yards = np.arange(-15, 81)
    plays = score_plays(model, _data(_context(len(yards), yards_gained=yards)), "run-a", config)
    score = plays["passing_score"].to_numpy()
    assert ((score >= 0) & (score <= 100)).all()
    assert (np.diff(score) >= 0).all() and np.diff(score).sum() > 0
    assert score[0] < 10 and score[-1] > 90  # −15 and 80 yards lie in the predicted tails
    # one prediction: the same quantiles on every row, in order
    for column in ("predicted_q10", "predicted_median", "predicted_q90", "expected_yards"):
        assert plays[column].nunique() == 1, column
    row = plays.iloc[0]
    assert row["predicted_q10"] <= row["predicted_median"] <= row["predicted_q90"]
    # the score is the mid-PIT of the yards' cell, ×100
    dist = model.distribution(*(lambda d: (d.seq[:1], d.lengths[:1], d.static_raw[:1]))(_data(_context(1))))
    y = 7.0
    mid = 50 * float(dist.cdf(torch.tensor([y - 0.5])) + dist.cdf(torch.tensor([y + 0.5])))
    assert plays.loc[plays["yards_gained"] == 7, "passing_score"].item() == pytest.approx(mid, abs=1e-4)


def test_score_plays_gives_the_lake_columns_and_round_trips_through_the_lake(model, config, tmp_path):
    ctx = _context(4, passer_nfl_id=[41.0, 41.0, np.nan, 52.0], target_nfl_id=[77.0, np.nan, 78.0, 79.0],
                   pass_result=["C", "I", "IN", "C"], yards_gained=[12, 0, 0, 31], pass_depth=[10.0, 21.0, 30.0, 25.0])
    plays = score_plays(model, _data(ctx, same_prediction=False), "run-a", config)
    assert list(plays.columns) == PASSING_SCORE_PLAYS.names
    assert plays["play_id"].tolist() == [1, 2, 3, 4] and (plays["model_run_id"] == "run-a").all()
    assert plays["passer_nfl_id"].isna().tolist() == [False, False, True, False]
    assert plays["deep_pass"].tolist() == [False, True, True, True]
    assert plays["passing_score"].between(0, 100).all() and np.isfinite(plays["expected_yards"]).all()
    import pyarrow as pa

    root = tmp_path / "plays"
    lake.write_partition(pa.Table.from_pandas(plays, preserve_index=False), root, PASSING_SCORE_PLAYS, 2025, 1)
    back = lake.read_table(root, PASSING_SCORE_PLAYS).to_pandas()
    assert back["passer_nfl_id"].isna().tolist() == [False, False, True, False]
    np.testing.assert_allclose(back["passing_score"], plays["passing_score"])


def test_score_plays_refuses_another_head_or_other_features(model, config):
    data = _data(_context(2))
    gaussian = PassingModel.build("gaussian", FEATURES, model.scale, model.config, max_frames=T)
    with pytest.raises(ValueError, match="needs the SBP model, got head 'gaussian'"):
        score_plays(gaussian, data, "run-a", config)
    data.features = ["pass_depth", "qb_pressure", "air_distance"]
    with pytest.raises(ValueError, match="the model expects"):
        score_plays(model, data, "run-a", config)


def test_split_flags_include_their_bounds_and_leave_out_null_measures(config):
    ctx = pd.DataFrame({
        "qb_pressure": [1.5, 2.0, 2.0000004, 2.01, np.nan, 9.0],
        "time_to_throw": [2.49, 2.5, 4.0, 4.01, np.nan, 3.2],
        "pass_depth": [19.99, 20.0, 45.37 - 25.37, 40.0, np.nan, -2.0],  # 45.37 − 25.37 < 20 in floating point
    })
    flags = split_flags(ctx, config.splits)
    assert flags["under_pressure"].tolist() == [True, True, True, False, False, False]
    assert flags["long_time_to_throw"].tolist() == [False, True, True, False, False, True]
    assert flags["deep_pass"].tolist() == [False, True, True, True, False, False]
    with pytest.raises(ValueError, match="split 'under_pressure': the passing feature table has no column 'qb_pressure'"):
        split_flags(ctx.drop(columns="qb_pressure"), config.splits)


# --- configuration ------------------------------------------------------------------------------

def test_the_scoring_config_names_a_wrong_key(tmp_path):
    good = load_scoring_config()
    assert good.splits.under_pressure.max == 2.0 and good.splits.deep_pass.min == 20.0
    assert (good.splits.long_time_to_throw.min, good.splits.long_time_to_throw.max) == (2.5, 4.0)
    cases = {
        "passing:\n  splits:\n    under_pressure: {column: qb_pressure, max: 2.0, maxx: 3}\n": "maxx",
        "passing:\n  splits: {}\n  extra: 1\n": "passing.extra",
        "passing:\n  splits:\n    under_pressure: {column: qb_pressure, min: 3, max: 2}\n": "min 3.0 is above max 2.0",
        "passing: {splits: {}}\nscoring: 1\n": "unknown key(s) ['scoring']",
        "passing:\n  splits:\n    under_pressure: {column: qb_pressure}\n": "give min, max or both",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"scoring{i}.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_scoring_config(path)


# --- aggregates ---------------------------------------------------------------------------------

def _plays() -> pd.DataFrame:
    """Passer 10 (named): game 100 (week 1) two plays, game 200 (week 2) one; passer 20 (no name):
    game 100, two plays (an interception with an infinite expectation); one play without a passer."""
    rows = [  # passer, game, week, score, yards, result, expected, median, depth, pressured, deep
        (10, 100, 1, 80.0, 12, "C", 6.0, 5.0, 15.0, True, False),
        (10, 100, 1, 40.0, 0, "I", 5.0, 4.0, 22.0, False, True),
        (10, 200, 2, 60.0, 7, "C", 4.0, 3.0, 5.0, False, False),
        (20, 100, 1, 10.0, 0, "IN", np.nan, 2.0, 30.0, True, True),
        (20, 100, 1, 90.0, 25, "C", 8.0, 6.0, 25.0, False, True),
        (None, 200, 2, 50.0, 3, "C", 3.0, 3.0, np.nan, False, False),
    ]
    frame = pd.DataFrame(rows, columns=["passer_nfl_id", "game_id", "week", "passing_score", "yards_gained",
                                        "pass_result", "expected_yards", "predicted_median", "pass_depth",
                                        "under_pressure", "deep_pass"])
    return frame.assign(season=2025, play_id=range(1, 7), passer_nfl_id=frame["passer_nfl_id"].astype("Int64"),
                        long_time_to_throw=False, target_nfl_id=pd.array([None] * 6, dtype="Int64"),
                        predicted_q10=-1.0, predicted_q90=20.0, qb_pressure=1.0, time_to_throw=2.0,
                        model_run_id="run-a")[PASSING_SCORE_PLAYS.names]


PLAYERS = pd.DataFrame({"nfl_id": [10, 10, 99], "display_name": ["A. Passer", "A. Passer", "Somebody Else"]})


def test_aggregates_per_passer_season_equal_the_hand_computed_numbers():
    season = aggregate(_plays(), PLAYERS)["by_passer_season"]
    assert list(season.columns) == PASSING_SCORE_BY_PASSER_SEASON.names
    assert season["passer_nfl_id"].tolist()[:2] == [10, 20] and pd.isna(season["passer_nfl_id"].iloc[2])
    assert season["passer_name"].tolist() == ["A. Passer", None, None]  # 20 is not in the players table
    assert season["plays"].sum() == 6 and season["plays"].tolist() == [3, 2, 1]
    assert season["games"].tolist() == [2, 1, 1]
    a, b = season.iloc[0], season.iloc[1]
    expected_a = {"score_mean": 60.0, "score_median": 60.0, "score_sd": 20.0, "score_se": 20.0 / math.sqrt(3),
                  "share_above_50": 2 / 3, "share_above_80": 0.0, "share_below_20": 0.0, "completion_rate": 2 / 3,
                  "interception_rate": 0.0, "yards_mean": 19 / 3, "predicted_median_mean": 4.0,
                  "expected_yards_mean": 5.0, "yards_over_expected": 4 / 3, "pass_depth_mean": 14.0}
    expected_b = {"score_mean": 50.0, "score_median": 50.0, "score_sd": math.sqrt(3200), "share_above_50": 0.5,
                  "share_above_80": 0.5, "share_below_20": 0.5, "completion_rate": 0.5, "interception_rate": 0.5,
                  "yards_mean": 12.5, "predicted_median_mean": 4.0,
                  "expected_yards_mean": 8.0, "yards_over_expected": 17.0,  # the infinite expectation left out
                  "pass_depth_mean": 27.5}
    for row, expected in ((a, expected_a), (b, expected_b)):
        for key, value in expected.items():
            assert row[key] == pytest.approx(value), key
    assert math.isnan(season.iloc[2]["score_sd"]) and math.isnan(season.iloc[2]["pass_depth_mean"])  # one play


def test_aggregates_per_game_and_per_split():
    tables = aggregate(_plays(), PLAYERS)
    game = tables["by_passer_game"]
    assert list(game.columns) == PASSING_SCORE_BY_PASSER_GAME.names
    keyed = {(int(r.passer_nfl_id), r.game_id): r for r in game.dropna(subset=["passer_nfl_id"]).itertuples()}
    assert set(keyed) == {(10, 100), (10, 200), (20, 100)}
    assert (keyed[10, 100].plays, keyed[10, 100].score_mean, keyed[10, 100].game_week) == (2, 60.0, 1)
    assert (keyed[10, 200].plays, keyed[10, 200].score_mean, keyed[10, 200].game_week) == (1, 60.0, 2)
    assert keyed[10, 100].passer_name == "A. Passer" and keyed[20, 100].passer_name is None
    assert game["plays"].sum() == 6

    split = tables["by_passer_split"]
    assert list(split.columns) == PASSING_SCORE_BY_PASSER_SPLIT.names
    got = {(int(r.passer_nfl_id), r.split): (r.plays, r.score_mean, r.share_of_passer_plays, r.score_mean_vs_season)
           for r in split.itertuples()}
    assert got.keys() == {(10, "under_pressure"), (10, "deep_pass"), (20, "under_pressure"), (20, "deep_pass")}
    assert got[10, "under_pressure"] == pytest.approx((1, 80.0, 1 / 3, 20.0))
    assert got[10, "deep_pass"] == pytest.approx((1, 40.0, 1 / 3, -20.0))
    assert got[20, "under_pressure"] == pytest.approx((1, 10.0, 0.5, -40.0))
    assert got[20, "deep_pass"] == pytest.approx((2, 50.0, 1.0, 0.0))
    assert split["split"].tolist() == ["under_pressure", "deep_pass", "under_pressure", "deep_pass"]  # config order


def test_aggregates_without_a_players_table_have_null_names():
    tables = aggregate(_plays())
    for name, table in tables.items():
        assert table["passer_name"].isna().all(), name
    assert len(tables["by_passer_season"]) == 3  # names or not, the same rows


def test_aggregates_of_no_plays_are_empty_tables_with_their_columns():
    tables = aggregate(_plays().iloc[:0])
    for name, schema in (("by_passer_game", PASSING_SCORE_BY_PASSER_GAME),
                         ("by_passer_season", PASSING_SCORE_BY_PASSER_SEASON),
                         ("by_passer_split", PASSING_SCORE_BY_PASSER_SPLIT)):
        assert tables[name].empty and list(tables[name].columns) == schema.names


def test_leaders_rank_by_mean_score_among_passers_with_enough_plays():
    season = pd.DataFrame({"passer_nfl_id": pd.array([1, 2, 3, 4, None], dtype="Int64"),
                           "plays": [1, 30, 25, 35, 40], "score_mean": [99.0, 60.0, 70.0, 60.0, 90.0]})
    # the one-play passer and the plays without a passer are left out; a tie goes to more plays
    assert leaders(season, top=10, min_plays=20)["passer_nfl_id"].tolist() == [3, 4, 2]
    assert leaders(season, top=1, min_plays=1)["passer_nfl_id"].tolist() == [1]
    assert leaders(season, top=10, min_plays=50).empty
    with pytest.raises(ValueError, match="min_plays must be ≥ 1"):
        leaders(season, top=10, min_plays=0)
