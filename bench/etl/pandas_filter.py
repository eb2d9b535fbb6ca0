"""The reference implementation of the anomaly filter for the ETL benchmark (``bench/etl``): plain
pandas/NumPy on one process, to compare CPU cost with the Spark job.

It mirrors ``pipelines/anomaly_filter.py`` rule by rule (the comments name the Spark function each
step copies) and gives exactly the same rows: the clean tracking rows that job writes to
``lake/clean/tracking`` and the (key, rule, action) rows it writes to ``lake/clean/anomalies``.
Everything is vectorized: the rows are sorted once, as Spark's track window orders them (game,
play, nfl_id with the ball first, frame_id, then every other column), and every window value is a
shifted array masked where the neighbour belongs to another track, or a count per track, play or
frame (``np.bincount``).  No Python loop touches a row, a track or a play.

Spark's value semantics are kept: a comparison with null is false (``_true``); NaN equals NaN and
orders above every number, so a NaN speed ``s`` fires the speed rule; in the window order nulls
come first and NaN last.  A plain float64 column cannot tell a null from a NaN: its NaN is taken as
NaN (what the simulator writes into x and y), except in the integer columns (nfl_id,
jersey_number) where pandas' NaN stands for null.  Nullable float dtypes (``Float64``,
``ArrowDtype``) keep the two apart; ``read_raw_week(..., nullable_floats=True)`` reads them so.
Position-derived speeds use ``np.hypot``; Java's ``Math.hypot`` may differ from it in the last bit,
which moves a recomputed ``dis`` by ~1e-16 yd and could flip a rule only for a speed within that
of its threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines import lake
from pipelines.anomaly_filter import KEYS, POSITION_RULES, ROW_RULES, RULES, Rules
from pipelines.config import Settings
from pipelines.field import FIELD_LENGTH, FIELD_WIDTH, FPS
from pipelines.ingest import raw_root
from pipelines.schema import TRACKING, file_schema

STORED = file_schema(TRACKING)  # the raw tracking files' columns
ANOMALY_COLUMNS = [*KEYS, "rule", "action"]  # pipelines.anomaly_filter.ANOMALIES less season, week
ACTION_NAMES = np.array([None, "repair", "drop_track", "drop_play"], dtype=object)  # rising severity
NONE, REPAIR, DROP_TRACK, DROP_PLAY = range(4)
NULL, VALUE, NAN = 0, 1, 2  # the classes of a value in Spark's ascending order


def read_raw_week(settings: Settings, season: int, week: int, nullable_floats: bool = False) -> pd.DataFrame:
    """The raw tracking partition of one week as the Spark job reads it (no season or week column).

    ``nullable_floats``: read the float columns as ``Float64`` so that a null stays apart from a NaN.
    """
    folder = lake.partition_dir(raw_root(settings) / "tracking", season, week)
    if not folder.is_dir():
        raise FileNotFoundError(f"no raw tracking for season {season} week {week}: {folder} does not exist")
    table = lake.read_table(folder, file_schema(TRACKING))
    return table.to_pandas(types_mapper={pa.float64(): pd.Float64Dtype()}.get if nullable_floats else None)


# --- columns as arrays ---------------------------------------------------------------------------

def _floats(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A float column: (values, NaN wherever null or NaN; null mask)."""
    values = col.to_numpy(dtype="float64", na_value=np.nan)
    if isinstance(col.dtype, np.dtype):  # plain NumPy: its NaN is taken as NaN
        null = np.zeros(len(values), bool)
    else:  # a nullable dtype: NA is null, NaN is a value
        null = col.isna().to_numpy(dtype=bool)
    return values, null


def _sort_key(col: pd.Series, kind: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """(class, value) such that Spark's ascending order is the lexicographic order of the pair and
    Spark's null-safe equality (NaN <=> NaN, null <=> null, 0.0 <=> -0.0) is equality of both."""
    if pa.types.is_floating(kind):
        values, null = _floats(col)
        nan = np.isnan(values) & ~null
        cls = np.where(null, NULL, np.where(nan, NAN, VALUE)).astype(np.int8)
        return cls, np.where(cls == VALUE, values, 0.0) + 0.0  # + 0.0: -0.0 becomes 0.0
    if pa.types.is_integer(kind):
        if pd.api.types.is_float_dtype(col.dtype) and isinstance(col.dtype, np.dtype):
            values = col.to_numpy()
            null = np.isnan(values)
            values = np.where(null, 0, values).astype(np.int64)
        else:
            null = col.isna().to_numpy(dtype=bool)
            values = col.to_numpy(dtype="int64", na_value=0) if null.any() else col.to_numpy(dtype="int64")
        return np.where(null, NULL, VALUE).astype(np.int8), np.where(null, 0, values)
    if pa.types.is_timestamp(kind):
        null = col.isna().to_numpy(dtype=bool)
        values = pd.to_datetime(col, utc=True).array.asi8
        return np.where(null, NULL, VALUE).astype(np.int8), np.where(null, 0, values)
    # strings: codes in sorted order (code point order = UTF-8 byte order, Spark's), null = -1
    codes, _ = pd.factorize(col, sort=True, use_na_sentinel=True)
    return np.where(codes < 0, NULL, VALUE).astype(np.int8), codes.astype(np.int64)


class _Track:
    """Neighbours within a track (Spark's lag/lead over the track window) on rows sorted by track
    and frame: ``lag(a, n)`` is a[i - n] where row i - n is in row i's track (``has(n)``)."""

    def __init__(self, track: np.ndarray):
        self.track = track

    def shift(self, a: np.ndarray, n: int) -> np.ndarray:
        out = np.empty_like(a)
        if n > 0:
            out[n:], out[:n] = a[:-n], a[0] if len(a) else 0
        else:
            out[:n], out[n:] = a[-n:], a[-1] if len(a) else 0
        return out

    def has(self, n: int) -> np.ndarray:
        ok = self.shift(self.track, n) == self.track
        if n > 0:
            ok[:n] = False
        else:
            ok[n:] = False
        return ok

    def lag(self, a: np.ndarray, n: int = 1) -> np.ndarray:
        return self.shift(a, n)

    def lead(self, a: np.ndarray, n: int = 1) -> np.ndarray:
        return self.shift(a, -n)


def _any_per(group: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """bool_or of ``flag`` over the rows' group (null-free), back on every row."""
    return (np.bincount(group, weights=flag) > 0)[group] if len(group) else flag


def _speed(located_a, xa, ya, fa, located_b, xb, yb, fb) -> tuple[np.ndarray, np.ndarray]:
    """``_speed``: (defined, yd/s) from point a to b; undefined (null) where a point is missing or
    not located, or the frame repeats (try_divide by 0)."""
    frames = (fb - fa).astype(np.float64)
    defined = located_a & located_b & (frames != 0)
    with np.errstate(all="ignore"):
        return defined, np.hypot(xb - xa, yb - ya) * FPS / frames


# --- the filter ----------------------------------------------------------------------------------

def filter_tracking(raw: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One week of raw tracking (``read_raw_week``) → (clean, anomalies), as ``filter_week`` writes them.

    clean: the kept rows with raw's columns, x, y and dis repaired, sorted by KEYS (ball first).
    anomalies: game_id, play_id, nfl_id, frame_id, rule, action; one row per (key, rule fired),
    nfl_id null for incomplete_frame, sorted by KEYS and rule.
    """
    missing = [name for name in STORED.names if name not in raw.columns]
    if missing:
        raise ValueError(f"raw tracking lacks the columns {missing}")
    values = [c for c in raw.columns if c in STORED.names and c not in KEYS]  # Spark: raw.columns order
    keys = {c: _sort_key(raw[c], STORED.field(c).type) for c in (*KEYS, *values)}

    # _plan: the track window's order, partitionBy(game, play, nfl_id).orderBy(frame_id, *values)
    order = np.lexsort([k for c in reversed((*KEYS, *values)) for k in reversed(keys[c])])
    keys = {c: (cls[order], val[order]) for c, (cls, val) in keys.items()}
    play_start = np.ones(len(order), bool)
    play_start[1:] = (np.diff(keys["game_id"][1]) != 0) | (np.diff(keys["play_id"][1]) != 0)
    track_start = play_start.copy()
    track_start[1:] |= (np.diff(keys["nfl_id"][0]) != 0) | (np.diff(keys["nfl_id"][1]) != 0)
    play, track = np.cumsum(play_start) - 1, np.cumsum(track_start) - 1

    # _row_rules, before copies are collapsed: duplicate_key and _copy
    t = _Track(track)
    frame = keys["frame_id"][1]
    same_frame_before = t.has(1) & (frame == t.lag(frame))
    shared_key = same_frame_before | (t.has(-1) & (frame == t.lead(frame)))
    copy = same_frame_before.copy()
    for c in values:  # eqNullSafe on every value column
        cls, val = keys[c]
        copy &= (cls == t.lag(cls)) & (val == t.lag(val))
    fired = {"duplicate_key": shared_key}
    rows = np.arange(len(order))  # positions in the sorted order
    if rules.duplicate_key.policy == "repair":
        rows = np.flatnonzero(~copy)
        fired["duplicate_key"] = shared_key[rows]
        play, track, frame = play[rows], track[rows], frame[rows]
        t = _Track(track)
    source = order[rows]  # the raw row of every remaining row

    # _row_rules on the remaining rows
    x, _ = _floats(raw["x"])
    y, _ = _floats(raw["y"])
    x, y = x[source], y[source]
    player = keys["nfl_id"][0][rows] == VALUE
    located = ~np.isnan(x) & ~np.isnan(y)  # _located: neither null nor NaN
    has_prev, has_next, has_prev2 = t.has(1), t.has(-1), t.has(2)
    conflict = (has_prev & (frame == t.lag(frame))) | (has_next & (frame == t.lead(frame)))
    px, py, pf, nx, ny, nf = t.lag(x), t.lag(y), t.lag(frame), t.lead(x), t.lead(y), t.lead(frame)
    here = (located, x, y, frame)
    before = (has_prev & t.lag(located), px, py, pf)
    after = (has_next & t.lead(located), nx, ny, nf)
    before2 = (has_prev2 & t.lag(located, 2), t.lag(x, 2), t.lag(y, 2), t.lag(frame, 2))

    def over(defined_speed):
        defined, speed = defined_speed
        return defined & (speed > rules.jump.max_speed)

    v_in, v_out, prev_in = over(_speed(*before, *here)), over(_speed(*here, *after)), over(_speed(*before2, *before))
    tol = rules.off_field.tolerance_yd
    s, s_null = _floats(raw["s"])
    s, s_null = s[source], s_null[source]
    time_cls, time_val = keys["time"][0][rows], keys["time"][1][rows]
    fired["nan_coordinates"] = ~located
    fired["off_field"] = player & located & ((x < -tol) | (x > FIELD_LENGTH + tol)
                                             | (y < -tol) | (y > FIELD_WIDTH + tol))
    fired["speed"] = player & ((s > rules.speed.max_speed) | (np.isnan(s) & ~s_null))  # NaN > every number
    fired["jump"] = player & v_in & (v_out | ~prev_in)
    fired["time_order"] = (has_prev & (frame > pf) & (time_cls == VALUE) & (t.lag(time_cls) == VALUE)
                       & (time_val <= t.lag(time_val)))
    gap = has_prev & (frame - pf > 1)

    # _row_actions
    any_ = np.logical_or.reduce([fired[name] for name in ROW_RULES])
    position = np.logical_or.reduce([fired[name] for name in POSITION_RULES])
    with np.errstate(invalid="ignore"):
        bridge = np.hypot(nx - px, ny - py) * FPS / 2
        isolated = (player & has_prev & has_next & (frame - pf == 1) & (nf - frame == 1)
                    & ~t.lag(any_) & ~t.lead(any_) & (bridge <= rules.jump.max_speed))
    spike = v_in & v_out  # a jump is repaired only as a spike: out and back on one frame
    repairable = (~fired["duplicate_key"] | ~conflict) & (~position | isolated) & (~fired["jump"] | spike)

    def fired_with(policy):
        return np.logical_or.reduce([fired[name] for name in ROW_RULES if getattr(rules, name).policy == policy]
                                    + [np.zeros(len(rows), bool)])

    action = np.where(~any_, NONE,
                      np.where(fired_with("drop_play") | (fired_with("repair") & ~repairable), DROP_PLAY,
                               np.where(fired_with("drop_track"), DROP_TRACK, REPAIR)))
    fix = (action == REPAIR) & position
    new_x = np.where(fix, (px + nx) / 2, x)
    new_y = np.where(fix, (py + ny) / 2, y)
    moved = fix | (has_prev & t.lag(fix))  # dis of the repaired frame and of the next
    with np.errstate(invalid="ignore"):
        step = np.hypot(new_x - t.lag(new_x), new_y - t.lag(new_y))
    track_gone = _any_per(track, action == DROP_TRACK)

    # _outcomes
    play_drop = _any_per(play, action == DROP_PLAY)
    counted = ~play_drop & ~track_gone
    frames, _ = pd.factorize((play.astype(np.int64) << 32) + (frame.astype(np.int64) - np.iinfo(np.int32).min))
    rule = rules.incomplete_frame
    players = np.bincount(frames, weights=counted & player)[frames]
    balls = np.bincount(frames, weights=counted & ~player)[frames]
    all_gap = (np.bincount(frames, weights=gap) == np.bincount(frames))[frames]
    fired["incomplete_frame"] = ~play_drop & ((players != rule.players) | (balls != rule.balls) | all_gap)
    play_gone = play_drop | _any_per(play, fired["incomplete_frame"])
    kept = ~play_gone & ~track_gone

    # the clean rows: sorted by KEYS already (a kept key has one row)
    clean = raw.iloc[source[kept]].reset_index(drop=True)
    for column, where, new in (("x", fix, new_x), ("y", fix, new_y), ("dis", moved, step)):
        positions = np.flatnonzero(where[kept])
        if len(positions):
            replaced = clean[column].copy()
            replaced.iloc[positions] = new[kept][positions]
            clean[column] = replaced

    # _anomaly_rows
    final = np.where(play_gone, DROP_PLAY, np.where(track_gone, DROP_TRACK, REPAIR))
    parts = []
    for name in RULES:
        at = np.flatnonzero(fired[name])
        part = raw[list(KEYS)].iloc[source[at]].reset_index(drop=True)
        if name == "incomplete_frame":
            part["nfl_id"] = part["nfl_id"].where(np.zeros(len(part), bool))
        part["rule"] = name
        part["action"] = ACTION_NAMES[final[at]]
        parts.append(part)
    anomalies = (pd.concat(parts, ignore_index=True).drop_duplicates()
                 .sort_values([*KEYS, "rule"], na_position="first", kind="stable").reset_index(drop=True))
    return clean, anomalies[ANOMALY_COLUMNS]
