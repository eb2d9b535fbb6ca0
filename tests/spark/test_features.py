"""Spark feature engineering on one simulated test week without anomalies, checked against pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.build import build_features, passing_table, slots
from features.config import load_features_config
from features.sequences import load_ghosting, load_passing
from pipelines import field, lake, schema
from pipelines.config import ConfigError, load_settings
from pipelines.ingest import ingest, raw_root
from pipelines.spark import get_spark

SEASON, WEEK = 2025, 1
KEYS = ["game_id", "play_id"]


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    home = tmp_path_factory.mktemp("features")
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home),
                                              "TRACKFLOW__SIMULATOR__ANOMALIES__PLAY_RATE": "0"})
    ingest(settings, "synthetic:", SEASON, [WEEK])
    spark = get_spark(settings)
    try:
        result = build_features(settings, SEASON, WEEK, tracking_root=raw_root(settings) / "tracking")
        raw = {name: lake.read_table(raw_root(settings) / name, schema.TABLES[name]).to_pandas()
               for name in ("tracking", "plays", "players")}
        yield {"settings": settings, "result": result, **raw}
    finally:
        spark.stop()


@pytest.fixture(scope="module")
def passing(week):
    tensor, lengths, ctx = load_passing(week["result"]["passing"]["path"])
    return tensor, lengths, ctx


@pytest.fixture(scope="module")
def normalized(week):
    """Raw tracking turned left→right with pipelines.field (independently of the Spark expressions)."""
    trk = week["tracking"].copy()
    left = trk["play_direction"] == "left"
    trk.loc[left, "x"], trk.loc[left, "y"], trk.loc[left, "dir"] = field.rotate_to_left(
        trk.loc[left, "x"], trk.loc[left, "y"], trk.loc[left, "dir"])
    trk = trk.merge(week["plays"], on=KEYS, suffixes=("", "_play"))
    trk["side"] = np.select([trk["club"] == trk["possession_team"], trk["club"] == trk["defensive_team"]],
                            ["O", "D"], "B")
    trk = trk.merge(week["players"][["nfl_id", "position"]], on="nfl_id", how="left")
    frames = trk.dropna(subset=["event"]).groupby(KEYS + ["event"])["frame_id"].min().unstack()
    return trk.merge(frames[["ball_snap", "pass_forward", "pass_arrived"]], left_on=KEYS, right_index=True)


def _play(normalized, ctx, direction):
    """Index in ``ctx`` of the first play going ``direction``."""
    ids = normalized.loc[normalized["play_direction"] == direction, KEYS].drop_duplicates()
    hits = ctx.reset_index().merge(ids, on=KEYS)
    assert len(hits), f"no {direction} play in the week"
    return hits.iloc[0]["index"]


def test_one_passing_row_per_released_play(week, passing):
    _, _, ctx = passing
    plays = week["plays"]
    released = plays[plays["pass_result"].isin(["C", "I", "IN"])]
    assert sorted(map(tuple, ctx[KEYS].to_numpy())) == sorted(map(tuple, released[KEYS].to_numpy()))
    assert week["result"]["passing"]["rows"] == len(released)
    assert not (ctx["pass_result"] == "S").any()


def test_tensor_shape_and_right_padding(passing):
    tensor, lengths, ctx = passing
    cfg = load_features_config()
    assert tensor.shape == (len(ctx), cfg.max_frames, 22, 8) and tensor.dtype == np.float32
    np.testing.assert_array_equal(lengths, np.minimum(ctx["release_frame"] - ctx["snap_frame"] + 1, cfg.max_frames))
    t = np.arange(cfg.max_frames)
    pad = t[None, :] >= lengths[:, None]
    assert not tensor[pad].any()
    assert (tensor[~pad][..., 0] > 0).all()  # every slot of every valid frame holds a player (x > 0)


def test_slot_order_matches_the_rule(normalized, passing):
    tensor, _, ctx = passing
    for direction in ("left", "right"):
        i = _play(normalized, ctx, direction)
        play = normalized[(normalized["game_id"] == ctx.at[i, "game_id"]) & (normalized["play_id"] == ctx.at[i, "play_id"])]
        snap = play[(play["frame_id"] == play["ball_snap"]) & (play["side"] != "B")].copy()
        snap["qb_first"] = np.where((snap["side"] == "O") & (snap["position"] == "QB"), 0, 1)
        snap["side_first"] = np.where(snap["side"] == "O", 0, 1)
        order = snap.sort_values(["side_first", "qb_first", "y", "x"])
        assert order.iloc[0]["position"] == "QB"
        assert (order["side"].to_numpy()[:11] == "O").all()
        np.testing.assert_allclose(tensor[i, 0, :, 0], order["x"], atol=1e-4)
        np.testing.assert_allclose(tensor[i, 0, :, 1], order["y"], atol=1e-4)


def test_left_plays_are_mirrored(week, passing):
    tensor, lengths, ctx = passing
    plays = week["plays"].merge(ctx[KEYS + ["los_x"]], on=KEYS)
    direction = week["tracking"].groupby(KEYS)["play_direction"].first().rename("direction").reset_index()
    plays = plays.merge(direction, on=KEYS)
    left = plays["direction"] == "left"
    assert left.any() and (~left).any()
    np.testing.assert_allclose(plays.loc[left, "los_x"], field.FIELD_LENGTH - plays.loc[left, "absolute_yardline"])
    np.testing.assert_allclose(plays.loc[~left, "los_x"], plays.loc[~left, "absolute_yardline"])
    qb_x_release = tensor[np.arange(len(ctx)), lengths - 1, 0, 0]
    assert (qb_x_release < ctx["los_x"]).all()  # the QB stands behind the line, whichever way the play went
    assert (tensor[:, 0, 0, 0] < ctx["los_x"]).all()
    assert (ctx["target_depth"] > -10).all() and ctx["pass_depth"].median() > 0


def test_velocity_agrees_with_displacement(passing):
    tensor, lengths, _ = passing
    steps = np.arange(1, tensor.shape[1])[None, :] < lengths[:, None]  # frame t and t-1 both valid
    disp = (tensor[:, 1:, :, 0:2] - tensor[:, :-1, :, 0:2]) * field.FPS
    err = np.abs(disp - tensor[:, 1:, :, 2:4])[steps]
    assert np.median(err) < 0.1 and np.quantile(err, 0.99) < 0.5
    # acceleration is the frame-to-frame change of the velocity
    acc = (tensor[:, 1:, :, 2:4] - tensor[:, :-1, :, 2:4]) * field.FPS
    np.testing.assert_allclose(acc[steps], tensor[:, 1:, :, 4:6][steps], atol=1e-3)


def test_play_features_match_pandas(normalized, passing):
    _, _, ctx = passing
    for direction in ("left", "right"):
        i = _play(normalized, ctx, direction)
        play = normalized[(normalized["game_id"] == ctx.at[i, "game_id"]) & (normalized["play_id"] == ctx.at[i, "play_id"])]
        first = play.iloc[0]
        los = first["absolute_yardline"] if direction == "right" else field.FIELD_LENGTH - first["absolute_yardline"]
        assert ctx.at[i, "time_to_throw"] == pytest.approx((first["pass_forward"] - first["ball_snap"]) / field.FPS)
        ball = play[(play["frame_id"] == first["pass_arrived"]) & play["nfl_id"].isna()]
        assert ctx.at[i, "pass_depth"] == pytest.approx(ball["x"].iloc[0] - los)
        rel = play[play["frame_id"] == first["pass_forward"]]
        target = rel[rel["nfl_id"] == first["target_nfl_id"]].iloc[0]
        defense = rel[rel["side"] == "D"]
        gaps = np.hypot(defense["x"] - target["x"], defense["y"] - target["y"])
        assert ctx.at[i, "target_separation"] == pytest.approx(gaps.min())
        assert ctx.at[i, "defenders_near_target"] == (gaps <= 2.0).sum()
        qb = rel[(rel["side"] == "O") & (rel["position"] == "QB")]
        assert ctx.at[i, "passer_nfl_id"] == qb["nfl_id"].iloc[0]


def test_ghosting_rows(week, normalized):
    future, g = load_ghosting(week["result"]["ghosting"]["path"])
    last = normalized.groupby(KEYS)["frame_id"].max().rename("last")
    dbs = normalized[(normalized["side"] == "D") & normalized["position"].isin(["CB", "FS", "SS", "S", "DB"])
                     & normalized["pass_result"].isin(["C", "I", "IN"])]
    dbs = dbs.merge(last, left_on=KEYS, right_index=True)
    expected = dbs[dbs["last"] >= dbs["pass_forward"] + 10][KEYS + ["nfl_id"]].drop_duplicates()
    assert len(g) == len(expected) > 0
    assert sorted(map(tuple, g[KEYS + ["nfl_id"]].to_numpy())) == sorted(map(tuple, expected.to_numpy()))
    assert future.shape == (len(g), 10, 2) and np.isfinite(future).all()
    np.testing.assert_allclose(future[:, -1, 0] - g["x_0"], g["dx_1s"], atol=1e-4)
    np.testing.assert_allclose(np.hypot(g["dx_1s"], g["dy_1s"]), g["displacement_1s"])
    # one row checked against the raw positions
    row = g.iloc[0]
    mine = dbs[(dbs["game_id"] == row["game_id"]) & (dbs["play_id"] == row["play_id"]) & (dbs["nfl_id"] == row["nfl_id"])]
    rel = mine["pass_forward"].iloc[0]
    after = mine[(mine["frame_id"] > rel) & (mine["frame_id"] <= rel + 10)].sort_values("frame_id")
    np.testing.assert_allclose(future[0], after[["x", "y"]].to_numpy(), atol=1e-4)
    assert row["x_m2"] == pytest.approx(mine.loc[mine["frame_id"] == rel - 2, "x"].iloc[0])


def test_enough_numeric_candidates(week, passing):
    _, _, ctx = passing
    _, g = load_ghosting(week["result"]["ghosting"]["path"])
    not_candidates = {"game_id", "play_id", "nfl_id", "season", "week", "target_nfl_id", "passer_nfl_id", "yards_gained", "seq_len",
                      "snap_frame", "release_frame", "dx_1s", "dy_1s", "displacement_1s"}
    for table in (ctx, g):
        numeric = [c for c in table.select_dtypes("number").columns if c not in not_candidates]
        assert len(numeric) >= 30, numeric


def test_long_play_keeps_the_frames_nearest_the_release(week):
    from pyspark.sql import functions as F

    spark = get_spark(week["settings"])
    cfg = load_features_config().model_copy(update={"max_frames": 5})
    fr = (spark.range(1, 31).withColumnRenamed("id", "frame_id")
          .crossJoin(spark.range(22).withColumnRenamed("id", "slot"))
          .select(F.lit(1).cast("long").alias("game_id"), F.lit(1).cast("long").alias("play_id"),
                  F.col("slot").cast("int"), F.col("frame_id").cast("int"), F.lit(3).alias("snap_frame"),
                  F.col("frame_id").cast("double").alias("x"), F.col("slot").cast("double").alias("y"),
                  *[F.lit(0.0).alias(c) for c in ("vx", "vy", "ax", "ay", "dir", "o")]))
    feats = spark.createDataFrame([(1, 1, 3, 20, 25, 30)], "game_id long, play_id long, snap_frame int, "
                                  "release_frame int, arrival_frame int, last_frame int")
    tensor, lengths, _ = load_passing(passing_table(fr, feats, cfg).toArrow())
    assert tensor.shape == (1, 5, 22, 8) and list(lengths) == [5]
    np.testing.assert_array_equal(tensor[0, :, 0, 0], [16, 17, 18, 19, 20])  # frames release-4 … release
    np.testing.assert_array_equal(tensor[0, 2, :, 1], np.arange(22))


def test_a_short_handed_offense_leaves_its_last_slot_empty_and_the_defense_in_place(week):
    spark = get_spark(week["settings"])
    # at the snap: the QB (id 1) and 9 more offensive players (ids 2–10), 11 defenders (ids 11–21),
    # y descending with the id so that the rule's order is not the ids'
    rows = [(1, 1, i, 1, "OFF" if i <= 10 else "DEF", 40.0 + i % 3, 50.0 - 2 * i, "right") for i in range(1, 22)]
    tracking = spark.createDataFrame(rows, "game_id long, play_id long, nfl_id long, frame_id int, club string, "
                                           "x double, y double, play_direction string")
    ctx = spark.createDataFrame([(1, 1, "OFF", "DEF", 1)], "game_id long, play_id long, possession_team string, "
                                                          "defensive_team string, snap_frame int")
    positions = spark.createDataFrame([(i, "QB" if i == 1 else "WR" if i <= 10 else "CB") for i in range(1, 22)],
                                      "nfl_id long, position string")
    got = slots(tracking, ctx, positions).toPandas().set_index("nfl_id")["slot"].to_dict()
    assert got[1] == 0  # the QB first
    assert [got[i] for i in range(10, 1, -1)] == list(range(1, 10))  # the others by ascending y: slots 1–9
    assert [got[i] for i in range(21, 10, -1)] == list(range(11, 22))  # the defense still 11–21
    assert 10 not in got.values()


def test_missing_cells_are_zeros_and_do_not_shift_the_others(week):
    """Play 1 is complete; play 2 lacks slot 21 and, at frame 18, slot 5; play 3 has no rows at all."""
    from pyspark.sql import functions as F

    spark = get_spark(week["settings"])
    cfg = load_features_config().model_copy(update={"max_frames": 5})
    fr = (spark.range(1, 3).withColumnRenamed("id", "play_id")
          .crossJoin(spark.range(1, 31).withColumnRenamed("id", "frame_id"))
          .crossJoin(spark.range(22).withColumnRenamed("id", "slot"))
          .filter(~((F.col("play_id") == 2) & ((F.col("slot") == 21) | ((F.col("slot") == 5) & (F.col("frame_id") == 18)))))
          .select(F.lit(1).cast("long").alias("game_id"), "play_id",
                  F.col("slot").cast("int"), F.col("frame_id").cast("int"), F.lit(3).alias("snap_frame"),
                  F.col("frame_id").cast("double").alias("x"), (F.col("slot") + 1).cast("double").alias("y"),
                  *[F.lit(0.0).alias(c) for c in ("vx", "vy", "ax", "ay", "dir", "o")]))
    feats = spark.createDataFrame([(1, p, 3, 20, 25, 30) for p in (1, 2, 3)],
                                  "game_id long, play_id long, snap_frame int, release_frame int, arrival_frame int, "
                                  "last_frame int")
    table = passing_table(fr, feats, cfg).toArrow().sort_by("play_id")
    tensor, lengths, _ = load_passing(table)
    assert tensor.shape == (3, 5, 22, 8) and list(lengths) == [5, 5, 5]
    expected_x = np.broadcast_to(np.arange(16, 21, dtype=np.float32)[:, None], (5, 22)).copy()
    np.testing.assert_array_equal(tensor[0, :, :, 0], expected_x)
    expected_x[:, 21] = 0
    expected_x[2, 5] = 0  # frame 18 is step 2 of 16…20
    np.testing.assert_array_equal(tensor[1, :, :, 0], expected_x)
    np.testing.assert_array_equal(tensor[1, 1, :21, 1], np.arange(1, 22))  # the other slots keep their place
    assert not tensor[2].any()


def test_features_config_errors_name_key_and_file(tmp_path):
    bad = tmp_path / "features.yaml"
    bad.write_text(Path(load_features_config.__defaults__[0]).read_text() + "max_frame: 3\n")
    with pytest.raises(ConfigError, match=r"features\.yaml[\s\S]*max_frame"):
        load_features_config(bad)


def test_rerun_gives_identical_files(week):
    before = {name: {p.name: p.read_bytes() for p in Path(r["path"]).iterdir()} for name, r in week["result"].items()}
    again = build_features(week["settings"], SEASON, WEEK, tracking_root=raw_root(week["settings"]) / "tracking")
    after = {name: {p.name: p.read_bytes() for p in Path(r["path"]).iterdir()} for name, r in again.items()}
    assert list(before["passing"]) == [lake.PART_FILE]
    assert before == after
    assert not [p for p in Path(again["passing"]["path"]).parent.iterdir() if p.name.startswith(".")]
