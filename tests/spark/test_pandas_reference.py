"""The pandas reference of the anomaly filter (``bench/etl/pandas_filter.py``) against the Spark job.

The reference must give exactly the rows ``filter_week`` writes: on a simulated test week in which
half the plays carry an injected anomaly (every kind occurs), and on a crafted week (the same week
plus one hand-made edge case per clean play: nulls beside NaN, copies of copies, infinities, a
clock that stalls ...) filtered with the documented rules and again with other policies and
thresholds.  A small hand-made frame with a known answer pins the reference itself.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines import lake, schema
from pipelines.anomaly_filter import RULES, filter_week, load_rules
from pipelines.config import PROJECT_ROOT
from pipelines.field import FIELD_WIDTH
from pipelines.ingest import raw_root
from pipelines.schema import ANOMALIES, ANOMALY_KINDS
from tests.spark.lakes import ingested


def _load_reference():
    """bench/ is not a package: load the module from its file."""
    path = PROJECT_ROOT / "bench" / "etl" / "pandas_filter.py"
    spec = importlib.util.spec_from_file_location("bench_etl_pandas_filter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()

SEASON, SIMULATED, CRAFTED, OTHER_POLICIES = 2025, 1, 2, 3
PLAY = ["game_id", "play_id"]
KEYS = ["game_id", "play_id", "nfl_id", "frame_id"]
FLOATS = [f.name for f in schema.file_schema(schema.TRACKING) if pa.types.is_floating(f.type)]
F = 10  # the frame the crafted edits touch: players are moving, neighbours exist
NAN = -1.0e300  # written as NaN: assigning NaN to a pandas Float64 column makes a null


def _other_rules():
    """Every policy the documented rules do not use, and tighter thresholds that genuine motion hits."""
    rules = load_rules()

    def edit(name, **changes):
        return getattr(rules, name).model_copy(update=changes)

    return rules.model_copy(update={
        "duplicate_key": edit("duplicate_key", policy="drop_track"),
        "nan_coordinates": edit("nan_coordinates", policy="drop_play"),
        "off_field": edit("off_field", policy="drop_track", tolerance_yd=0.0),
        "speed": edit("speed", policy="drop_track", max_speed=10.5),
        "jump": edit("jump", max_speed=10.0),
        "time_order": edit("time_order", policy="drop_track"),
    })


# case -> (week, rules, whether float columns are read nullable); the crafted week holds nulls
# apart from NaN, which only nullable float columns can tell
CASES = {
    "simulated": (SIMULATED, load_rules, False),
    "simulated_nullable": (SIMULATED, load_rules, True),
    "crafted": (CRAFTED, load_rules, True),
    "other_policies": (OTHER_POLICIES, _other_rules, True),
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return ingested(tmp_path_factory, "pandas_reference", "0.5", [SIMULATED])


@pytest.fixture(scope="module")
def movers(settings) -> dict[str, tuple[int, int, int]]:
    """Write the crafted week (twice: for the documented rules and the other policies); edit -> its
    (game_id, play_id, mover)."""
    week = reference.read_raw_week(settings, SEASON, SIMULATED, nullable_floats=True)
    truth = _read(settings, settings.paths.lake / "truth" / "anomalies", schema.TRUTH_ANOMALIES, SIMULATED)
    injected = pd.MultiIndex.from_frame(week[PLAY]).isin(pd.MultiIndex.from_frame(truth[PLAY]))
    clean_plays = week.loc[~injected, PLAY].drop_duplicates().head(len(EDITS)).itertuples(index=False)
    edited, movers, done = [], {}, set()
    for (name, (edit, _, _)), (game_id, play_id) in zip(EDITS.items(), clean_plays, strict=True):
        play = week[(week["game_id"] == game_id) & (week["play_id"] == play_id)].copy()
        movers[name] = (game_id, play_id, _mover(play))
        edited.append(edit(play, movers[name][2]))
        done.add((game_id, play_id))
    rest = week[~pd.MultiIndex.from_frame(week[PLAY]).isin(list(done))]
    table = pa.Table.from_pandas(pd.concat([rest, *edited]), schema=schema.file_schema(schema.TRACKING),
                                 preserve_index=False)
    for name in FLOATS:
        column = table[name]
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.if_else(pc.equal(column, NAN), pa.scalar(float("nan")), column))
    for week_number in (CRAFTED, OTHER_POLICIES):
        lake.write_partition(table, raw_root(settings) / "tracking", schema.TRACKING, SEASON, week_number)
    return movers


@pytest.fixture(scope="module")
def filtered(settings, spark, movers):
    """filter_week on a case's week, once per week."""
    done = {}

    def run(case):
        week, rules, _ = CASES[case]
        if week not in done:
            done[week] = filter_week(settings, SEASON, week, rules())
        return done[week]

    return run


def _read(settings, root, table_schema, week, nullable=False) -> pd.DataFrame:
    table = lake.read_table(lake.partition_dir(root, SEASON, week), schema.file_schema(table_schema))
    return table.to_pandas(types_mapper={pa.float64(): pd.Float64Dtype()}.get if nullable else None)


def _spark_output(settings, week, nullable):
    lake_root = settings.paths.lake
    return (_read(settings, lake_root / "clean" / "tracking", schema.TRACKING, week, nullable),
            _read(settings, lake_root / "clean" / "anomalies", ANOMALIES, week))


def _reference_output(settings, case):
    week, rules, nullable = CASES[case]
    return reference.filter_tracking(reference.read_raw_week(settings, SEASON, week, nullable_floats=nullable), rules())


def _plays(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(map(tuple, df[PLAY].drop_duplicates().to_numpy()))


def _triples(anomalies: pd.DataFrame) -> set[tuple]:
    """(key, rule, action), nfl_id None where null."""
    nfl_id = [None if pd.isna(v) else int(v) for v in anomalies["nfl_id"]]
    return set(zip(anomalies["game_id"], anomalies["play_id"], nfl_id, anomalies["frame_id"], anomalies["rule"],
                   anomalies["action"], strict=True))


def _assert_same_rows(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Same columns, rows and order; every value exact (NaN equal NaN, null equal null) except dis,
    which is recomputed with np.hypot here and Java's Math.hypot there (a last-bit difference)."""
    assert list(ours.columns) == list(theirs.columns) == schema.file_schema(schema.TRACKING).names
    assert len(ours) == len(theirs)
    for name in ours.columns:
        if name == "dis":
            np.testing.assert_array_equal(ours[name].isna().to_numpy(), theirs[name].isna().to_numpy())
            np.testing.assert_allclose(ours[name].to_numpy("float64", na_value=np.nan),
                                       theirs[name].to_numpy("float64", na_value=np.nan), rtol=0, atol=1e-9)
        else:
            pd.testing.assert_series_equal(ours[name], theirs[name], check_exact=True, obj=f"clean column {name}")


# --- the reference against Spark -----------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_reference_gives_the_rows_spark_writes(settings, filtered, case):
    filtered(case)
    week, _, nullable = CASES[case]
    spark_clean, spark_anomalies = _spark_output(settings, week, nullable)
    clean, anomalies = _reference_output(settings, case)
    _assert_same_rows(clean, spark_clean)
    assert _triples(anomalies) == _triples(spark_anomalies)
    assert len(anomalies) == len(spark_anomalies) == len(_triples(anomalies))  # distinct
    pd.testing.assert_frame_equal(anomalies, spark_anomalies.drop(columns=["season", "week"], errors="ignore"),
                                  check_exact=True)  # same order too
    assert _plays(clean) < _plays(reference.read_raw_week(settings, SEASON, week))  # some plays dropped


def test_simulated_week_exercises_every_kind_and_most_rules(settings, filtered):
    report = filtered("simulated")
    truth = _read(settings, settings.paths.lake / "truth" / "anomalies", schema.TRUTH_ANOMALIES, SIMULATED)
    assert set(truth["kind"]) == set(ANOMALY_KINDS)
    _, anomalies = _reference_output(settings, "simulated")
    # the simulator never disorders the clock: time_order fires in the crafted week only
    assert set(anomalies["rule"]) == set(RULES) - {"time_order"}
    assert set(anomalies["action"]) == {"repair", "drop_play"}
    assert report.plays_repaired > 0 and report.plays_dropped > 0


def test_other_policies_drop_tracks(settings, filtered):
    filtered("other_policies")
    _, anomalies = _reference_output(settings, "other_policies")
    assert set(anomalies["action"]) == {"repair", "drop_track", "drop_play"}
    assert set(anomalies["rule"]) == set(RULES)


# --- the crafted week: one hand-made edge case per clean play -----------------------------------

def _mover(play: pd.DataFrame) -> int:
    """A player well inside the field at frame F, so that a 3-yd jump stays on it."""
    at = play[(play["frame_id"] == F) & play["nfl_id"].notna()]
    inside = at[at["x"].between(20, 100) & at["y"].between(10, FIELD_WIDTH - 10)]
    return int(inside["nfl_id"].min())


def _rows(play, nfl_id, frames):
    who = play["nfl_id"].isna() if nfl_id is None else play["nfl_id"] == nfl_id
    return who & play["frame_id"].isin(frames)


def _set(play, nfl_id, frames, **values):
    """Set (or map) ``values`` on the rows of ``nfl_id`` (None: the ball) in ``frames``."""
    rows = _rows(play, nfl_id, frames)
    for column, value in values.items():
        play.loc[rows, column] = value(play.loc[rows, column]) if callable(value) else value
    return play


def _copies(play, nfl_id, frame, *changes):
    """The row of ``nfl_id`` at ``frame`` delivered again, once per dict of changes."""
    row = play[_rows(play, nfl_id, [frame])]
    return pd.concat([play, *[_set(row.copy(), nfl_id, [frame], **c) for c in changes]])


def _surplus_track(play, nfl_id):
    track = play[play["nfl_id"] == nfl_id].assign(nfl_id=9_999_999.0)
    return _set(pd.concat([play, track]), 9_999_999, [F], s=13.0)


def _last(play, nfl_id):
    return int(play.loc[play["nfl_id"] == nfl_id, "frame_id"].max())


# edit -> (what it does to the play and its mover, play kept with the documented rules?, rules fired)
EDITS = {
    "untouched": (lambda p, n: p, True, set()),
    "clock_stalls": (lambda p, n: _set(p, n, [F], time=lambda t: t - pd.Timedelta(milliseconds=100)),
                     False, {"time_order"}),
    "clock_null": (lambda p, n: _set(p, n, [F], time=pd.NaT), True, set()),  # a null compares as false
    "triple_copy": (lambda p, n: _copies(p, n, F, {}, {}), True, {"duplicate_key"}),
    "copy_and_conflict": (lambda p, n: _copies(p, n, F, {}, {"o": lambda o: o + 1.0}), False, {"duplicate_key"}),
    # a conflicting copy 5 yd behind, delivered after the original: Spark orders it first (by x),
    # so the jump out of frame F - 1 lands on it and the next frame follows the original
    "conflict_behind": (lambda p, n: _copies(p, n, F, {"x": lambda x: x - 5.0}), False, {"duplicate_key", "jump"}),
    "copy_at_end": (lambda p, n: _copies(p, n, _last(p, n), {}), True, {"duplicate_key"}),
    "ball_copy": (lambda p, n: _copies(p, None, F, {}), True, {"duplicate_key"}),
    "nan_copy": (lambda p, n: _copies(_set(p, n, [F], x=NAN, y=NAN), n, F, {}),  # NaN <=> NaN: a copy
                 True, {"duplicate_key", "nan_coordinates"}),
    "null_nan_copy": (lambda p, n: _copies(_set(p, n, [F], x=NAN, y=NAN), n, F, {"x": pd.NA, "y": pd.NA}),
                      False, {"duplicate_key", "nan_coordinates"}),  # null <=> NaN is false: a conflict
    "nan_speed": (lambda p, n: _set(p, n, [F], s=NAN), False, {"speed"}),  # NaN orders above 12.5
    "null_speed": (lambda p, n: _set(p, n, [F], s=pd.NA), True, set()),  # null > 12.5 is null: false
    "null_x": (lambda p, n: _set(p, n, [F], x=pd.NA), True, {"nan_coordinates"}),
    "infinite_x": (lambda p, n: _set(p, n, [F], x=np.inf), True, {"off_field", "jump"}),
    "teleport_y": (lambda p, n: _set(p, n, [F], y=lambda y: y + 3.0), True, {"jump"}),
    # two displaced frames: the jumps out (F) and back (F + 2) fire, too far apart to bridge
    "spike_twice": (lambda p, n: _set(p, n, [F, F + 1], x=lambda x: x + 6.0), False, {"jump"}),
    "nan_then_teleport": (lambda p, n: _set(_set(p, n, [F], x=NAN, y=NAN), n, [F + 2], x=lambda x: x + 3.0),
                          True, {"nan_coordinates", "jump"}),
    "first_frame_nan": (lambda p, n: _set(p, n, [1], x=NAN, y=NAN), False, {"nan_coordinates"}),
    "ball_nan": (lambda p, n: _set(p, None, [F], x=NAN, y=NAN), False, {"nan_coordinates"}),  # never repaired
    "ball_off_field": (lambda p, n: _set(p, None, range(1, 999), y=-5.0), True, set()),
    "frame_missing": (lambda p, n: p[p["frame_id"] != F], False, {"incomplete_frame"}),
    "surplus_track": (_surplus_track, False, {"speed"}),
}


@pytest.fixture(scope="module")
def crafted(settings, movers):
    return _reference_output(settings, "crafted")


@pytest.mark.parametrize("name", EDITS)
def test_crafted_edit_outcome(movers, crafted, name):
    """What each edge case comes to with the documented rules (the reference; Spark agrees above)."""
    _, expect_kept, expect_rules = EDITS[name]
    game_id, play_id, _ = movers[name]
    clean, anomalies = crafted
    play = clean[(clean["game_id"] == game_id) & (clean["play_id"] == play_id)]
    fired = anomalies[(anomalies["game_id"] == game_id) & (anomalies["play_id"] == play_id)]
    assert (len(play) > 0) == expect_kept
    assert set(fired["rule"]) == expect_rules
    assert set(fired["action"]) <= ({"repair"} if expect_kept else {"drop_play"})
    if expect_kept:
        assert play.groupby("frame_id").size().eq(23).all()
        assert not play.duplicated(KEYS).any() and play[["x", "y"]].notna().all().all()


# --- a hand-made frame with a known answer -------------------------------------------------------

def _hand_made() -> pd.DataFrame:
    """Four plays of six frames: the ball and two players (1 and 2) running at 5 yd/s along x."""
    rows = []
    for play_id in (1, 2, 3, 4):
        for nfl_id in (np.nan, 1.0, 2.0):
            for frame in range(1, 7):
                ball = np.isnan(nfl_id)
                rows.append({
                    "game_id": 7, "play_id": play_id, "nfl_id": nfl_id, "frame_id": np.int32(frame),
                    "time": pd.Timestamp("2025-09-07 18:00", tz="UTC") + pd.Timedelta(milliseconds=100 * frame),
                    "club": "football" if ball else "KC", "jersey_number": np.nan if ball else nfl_id,
                    "play_direction": "right", "x": 30.0 + 0.5 * frame, "y": 20.0 + (0 if ball else 5 * nfl_id),
                    "s": 5.0, "a": 0.0, "dis": 0.5, "o": np.nan if ball else 90.0, "dir": np.nan if ball else 90.0,
                    "event": "ball_snap" if frame == 1 else None})
    raw = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # any input order
    raw["frame_id"] = raw["frame_id"].astype(np.int32)
    raw["time"] = raw["time"].astype("datetime64[ms, UTC]")

    def at(play_id, nfl_id, frame):
        who = raw["nfl_id"].isna() if nfl_id is None else raw["nfl_id"] == nfl_id
        return (raw["play_id"] == play_id) & who & (raw["frame_id"] == frame)

    raw.loc[at(1, 1, 3), ["x", "y"]] = np.nan  # an isolated NaN frame: repaired to the midpoint
    raw.loc[at(1, 1, 3) | at(1, 1, 4), "dis"] = 99.0  # … and its dis and the next frame's recomputed
    raw.loc[at(2, 2, 4), "s"] = 13.0  # a player above 12.5 yd/s: the play goes
    raw.loc[at(3, None, 5), "s"] = 30.0  # the ball may fly
    raw = pd.concat([raw, raw[at(3, None, 2)]])  # an exact copy of a ball row: collapsed
    raw.loc[at(4, 1, 2), "s"] = np.nan  # a NaN speed counts as above the limit
    return raw[schema.file_schema(schema.TRACKING).names]


def test_reference_on_a_hand_made_frame():
    rules = load_rules()
    rules = rules.model_copy(update={"incomplete_frame": rules.incomplete_frame.model_copy(update={"players": 2})})
    clean, anomalies = reference.filter_tracking(_hand_made(), rules)

    assert _plays(clean) == {(7, 1), (7, 3)} and len(clean) == 2 * 3 * 6
    expected_order = clean.sort_values(KEYS, na_position="first").reset_index(drop=True)
    pd.testing.assert_frame_equal(clean, expected_order)
    assert clean["nfl_id"].iloc[:6].isna().all()  # the ball first
    track = clean[(clean["play_id"] == 1) & (clean["nfl_id"] == 1)].set_index("frame_id")
    assert track.loc[3, "x"] == (track.loc[2, "x"] + track.loc[4, "x"]) / 2 == 31.5 and track.loc[3, "y"] == 25.0
    assert track["dis"].tolist() == pytest.approx([0.5] * 6)
    assert clean.loc[clean["play_id"] == 3, "s"].max() == 30.0
    assert not clean.duplicated(KEYS).any()

    expected = pd.DataFrame({"game_id": [7, 7, 7, 7], "play_id": [1, 2, 3, 4], "nfl_id": [1.0, 2.0, np.nan, 1.0],
                             "frame_id": np.array([3, 4, 2, 2], np.int32),
                             "rule": ["nan_coordinates", "speed", "duplicate_key", "speed"],
                             "action": ["repair", "drop_play", "repair", "drop_play"]})
    pd.testing.assert_frame_equal(anomalies, expected)
