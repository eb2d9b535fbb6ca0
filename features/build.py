"""Spark feature engineering: one week of tracking → the passing and the ghosting feature tables.

    lake/features/passing/season=S/week=W/part-0.parquet    one row per pass play with a release
    lake/features/ghosting/season=S/week=W/part-0.parquet   one row per (released play, defensive back)

Spark DataFrame API and window functions only: no Python UDFs, nothing row-level on the driver.

**Frame.** Every play is first turned to move left→right (``to_left_to_right``), so the offense
always moves towards +x, the line of scrimmage is ``los_x`` and the goal line is x = 110.

**Per frame, per player** (``frames``): ``vx, vy`` from ``s`` and ``dir`` (NGS, ``ngs_velocity``),
``ax, ay`` their change per second; the ball, which has no ``dir``, gets its velocity from its
displacement.  Distance ``d_R`` and closing speed ``cl_R`` (the rate at which the gap shrinks, yd/s)
to R = ``qb``, ``target`` (plays.target_nfl_id), ``ball`` and ``opp`` (the nearest opponent in the
same frame: all offense × defense pairs of a frame, compared within a window over the frame rather
than by a self-join, which would need a second shuffle of every row).

**Sequence tensor** of the passing table: frames snap … release (both included) × 22 player slots
× 8 features (x, y, vx, vy, ax, ay, dir, o), float32, flattened into ``tensor`` (a list of constant
length ``max_frames·22·8``) with ``seq_len`` valid frames first and zeros after them (right-padding:
a causal TCN reads step ``seq_len − 1``).  A play with more than ``max_frames`` frames between snap
and release keeps the last ``max_frames`` (those nearest the release).

**Player slots** (the order of the 22 players in the tensor; it never depends on ``nfl_id``):
offense first (slots 0–10), defense second (11–21); the offense's QB(s) first, then the other
offensive players by ascending y at the snap (left→right frame, x breaks exact ties); the defense by
ascending y at the snap (x breaks ties).  Slot 0 is the QB.  A player without a row at the snap has
no slot (zeros in the tensor); a side short of 11 at the snap leaves its last slots empty, so the
defense always starts at slot 11 (``pipelines.schema.N_OFFENSE``).

**Ghosting samples** need every observed and future frame of the defender; a defender missing one
of them (a cleaned-away frame) gives no sample.

**Higher-order functions** (``transform``, ``aggregate``, ``forall``) are written as SQL text
(``F.expr``), not as Python lambdas: PySpark names a lambda's variable afresh on every call (``x_12``,
``x_25``…) and the name lands in the generated Java code, so every week compiled eight large classes
again (Janino, then HotSpot's C2: seconds of CPU a week); SQL text keeps the names it is written with.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from features.config import FeaturesConfig, load_features_config
from pipelines import lake
from pipelines.config import Settings
from pipelines.field import END_ZONE, FIELD_LENGTH, FIELD_WIDTH, FPS
from pipelines.ingest import raw_root
from pipelines.schema import N_OFFENSE, N_PLAYERS, SEQ_FEATURES
from pipelines.spark import get_spark

PLAY_KEYS = ["game_id", "play_id"]
FRAME_KEYS = PLAY_KEYS + ["frame_id"]
GOAL_LINE_X = FIELD_LENGTH - END_ZONE  # the goal line the offense attacks in the left→right frame


# --- the conventions of pipelines.field, as Spark expressions ---------------------------------------

def to_left_to_right(df: DataFrame, xs=("x",), ys=("y",), angles=("o", "dir")) -> DataFrame:
    """Turn the rows of "left" plays (column ``play_direction``) to move right: the one place this happens.

    Spark form of ``pipelines.field.rotate_to_left`` (a 180° rotation about the field's centre, its
    own inverse): x' = FIELD_LENGTH − x, y' = FIELD_WIDTH − y, angle' = (angle + 180) mod 360.
    """
    left = F.col("play_direction") == "left"
    turned = {c: F.when(left, F.lit(FIELD_LENGTH) - F.col(c)).otherwise(F.col(c)) for c in xs}
    turned |= {c: F.when(left, F.lit(FIELD_WIDTH) - F.col(c)).otherwise(F.col(c)) for c in ys}
    turned |= {c: F.when(left, F.pmod(F.col(c) + 180.0, F.lit(360.0))).otherwise(F.col(c)) for c in angles}
    return df.withColumns(turned)


def ngs_velocity(speed: str | Column, angle: str | Column) -> tuple[Column, Column]:
    """(vx, vy) = s·(sin dir, cos dir): ``pipelines.field.unit_from_ngs_angle`` (clockwise from +y)."""
    speed, rad = F.col(speed) if isinstance(speed, str) else speed, F.radians(angle)
    return speed * F.sin(rad), speed * F.cos(rad)


# --- inputs -------------------------------------------------------------------------------------------

def _read(spark, root: Path, season: int, week: int) -> DataFrame:
    part = lake.partition_dir(root, season, week)
    if not part.is_dir():
        raise FileNotFoundError(f"no partition {part}: ingest (and clean) season {season} week {week} first")
    return spark.read.parquet(str(part))


def play_context(plays: DataFrame, tracking: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """One row per play: situation, outcome, the key frames and the line of scrimmage left→right."""
    # play_direction as 1 (left) / 0: a string aggregate (first, max) would make this a sort-based
    # aggregate, sorting every row of the week by play
    left = F.max(F.when(F.col("play_direction") == "left", 1).when(F.col("play_direction").isNotNull(), 0))
    events = tracking.groupBy(*PLAY_KEYS).agg(
        F.when(left == 1, "left").when(left == 0, "right").alias("play_direction"),
        F.min(F.when(F.col("event") == "ball_snap", F.col("frame_id"))).alias("snap_frame"),
        F.min(F.when(F.col("event") == "pass_forward", F.col("frame_id"))).alias("release_frame"),
        F.min(F.when(F.col("event") == "pass_arrived", F.col("frame_id"))).alias("arrival_frame"),
        F.max("frame_id").alias("last_frame"),
    )
    ctx = to_left_to_right(plays.join(events, PLAY_KEYS), xs=("absolute_yardline",), ys=(), angles=())
    return ctx.select(
        *PLAY_KEYS, "snap_frame", "release_frame", "arrival_frame", "last_frame", "target_nfl_id",
        "possession_team", "defensive_team", "pass_result", "yards_gained",
        F.col("absolute_yardline").alias("los_x"),
        "down", "yards_to_go", "quarter", "game_clock_s", "pass_rushers", "defenders_in_box",
        (F.lit(GOAL_LINE_X) - F.col("absolute_yardline")).alias("goal_distance"),
        (F.col("game_clock_s") + F.when(F.col("quarter").isin(1, 3), 900).otherwise(0)).alias("half_clock_s"),
        (F.col("offense_score") - F.col("defense_score")).alias("score_diff"),
        F.col("pass_result").isin(*cfg.released_results).alias("released"),
    )


# --- per frame, per player ----------------------------------------------------------------------------

def _relation(ref: str) -> dict[str, Column]:
    """Distance to the reference point and the speed at which the gap closes (positive: approaching)."""
    dx, dy = F.col(f"{ref}_x") - F.col("x"), F.col(f"{ref}_y") - F.col("y")
    d = F.hypot(dx, dy)
    closing = (F.col("vx") - F.col(f"{ref}_vx")) * dx + (F.col("vy") - F.col(f"{ref}_vy")) * dy
    return {f"d_{ref}": d, f"cl_{ref}": F.try_divide(closing, d)}


def _side() -> Column:
    """"O" for the offense, "D" for the defense, "B" for the ball (rows joined with the play context)."""
    return (F.when(F.col("club") == F.col("possession_team"), "O")
            .when(F.col("club") == F.col("defensive_team"), "D").otherwise("B"))


def slots(tracking: DataFrame, ctx: DataFrame, positions: DataFrame) -> DataFrame:
    """``(game_id, play_id, nfl_id, slot, is_qb)`` of the players on the field at the snap.

    The ordering rule is the module docstring's.  Only the snap rows (22 a play) are ranked, and the
    result is joined back by broadcast: the full tracking is never sorted for it.
    """
    snap = (tracking.filter(F.col("nfl_id").isNotNull())
            .join(F.broadcast(ctx.select(*PLAY_KEYS, "possession_team", "defensive_team", "snap_frame")), PLAY_KEYS)
            .filter(F.col("frame_id") == F.col("snap_frame")))
    snap = (to_left_to_right(snap, angles=()).join(F.broadcast(positions), "nfl_id", "left")
            .withColumn("side", _side()))
    qb_first = F.when((F.col("side") == "O") & (F.col("position") == "QB"), 0).otherwise(1)
    # ranked within each side, so that the defense starts at slot N_OFFENSE even when the offense is
    # short-handed at the snap (an extra offensive player gets no slot; an extra defender's lies past
    # the tensor): the passing encoder pools the players by these slot ranges
    within = F.row_number().over(Window.partitionBy(*PLAY_KEYS, "side").orderBy(qb_first, "y", "x")) - 1
    slot = F.when(F.col("side") == "O", F.when(within < N_OFFENSE, within)).when(F.col("side") == "D",
                                                                                 within + N_OFFENSE)
    return snap.select(*PLAY_KEYS, "nfl_id", slot.alias("slot"), "position").select(
        *PLAY_KEYS, "nfl_id", "slot", ((F.col("slot") == 0) & (F.col("position") == "QB")).alias("is_qb"))


def frames(tracking: DataFrame, ctx: DataFrame, players: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Tracking left→right with kinematics, side, position, slot and relations to the QB, target, ball,
    opponent, for the frames the feature tables read (``_read_by_tables``).

    One shuffle (rows hash-partitioned by play, which satisfies every window below) and two sorts:
    by track and frame for the kinematics (on every row, so that a frame's velocity and acceleration
    never depend on which frames are kept), by frame for the references and the nearest opponent.
    Windows over a frame compute their aggregate once per frame; the per-play lookups (context,
    positions, slots) are broadcast joins.
    """
    positions = players.select("nfl_id", "position").dropDuplicates(["nfl_id"])
    fr = (to_left_to_right(tracking)
          .join(F.broadcast(ctx.select(*PLAY_KEYS, "possession_team", "defensive_team", "target_nfl_id",
                                       "snap_frame", "release_frame", "arrival_frame", "released")), PLAY_KEYS)
          .join(F.broadcast(positions), "nfl_id", "left")
          .join(F.broadcast(slots(tracking, ctx, positions)), [*PLAY_KEYS, "nfl_id"], "left")
          .withColumn("side", _side())
          .repartition(*PLAY_KEYS))

    # One window pass: the previous frame's velocity is computed from the values one and two rows back
    # (the same expressions as this frame's, so the same bits as a lag of vx and vy).
    w = Window.partitionBy(*PLAY_KEYS, "nfl_id").orderBy("frame_id")
    ball = F.col("nfl_id").isNull()

    def back(c: str, n: int) -> Column:
        return F.col(c) if n == 0 else F.lag(c, n).over(w)

    def velocity(n: int) -> tuple[Column, Column]:
        """(vx, vy) of the row n rows back (n = 0: this one); 0 where it has none."""
        dt = (back("frame_id", n) - back("frame_id", n + 1)) / FPS  # frames may be missing after cleaning
        vx, vy = ngs_velocity(back("s", n), back("dir", n))
        return tuple(F.coalesce(F.when(ball, (back(c, n) - back(c, n + 1)) / dt).otherwise(v), F.lit(0.0))
                     for c, v in (("x", vx), ("y", vy)))

    (vx, vy), (pvx, pvy) = velocity(0), velocity(1)
    dt = (F.col("frame_id") - back("frame_id", 1)) / FPS
    fr = (fr.select("*", vx.alias("vx"), vy.alias("vy"), F.coalesce((vx - pvx) / dt, F.lit(0.0)).alias("ax"),
                    F.coalesce((vy - pvy) / dt, F.lit(0.0)).alias("ay"))
          .filter(_read_by_tables(cfg)).drop("release_frame", "arrival_frame", "released"))

    # The references: the one row of the frame that is the QB, the target, the ball (max of a struct
    # that is null on every other row).  The nearest opponent: distances to the other side's list.
    # (ordered by nfl_id so that the lists, and the first of equally near opponents, never depend on
    # how Spark read the rows)
    in_frame = (Window.partitionBy(*FRAME_KEYS).orderBy("nfl_id")
                .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    point = F.struct("x", "y", "vx", "vy")
    refs = {"qb": F.col("is_qb"), "target": F.col("nfl_id") == F.col("target_nfl_id"), "ball": ball}
    fr = fr.withColumns({**{f"_{r}": F.max(F.when(cond, point)).over(in_frame) for r, cond in refs.items()},
                         **{f"_{s}": F.collect_list(F.when(F.col("side") == s, point)).over(in_frame) for s in "OD"}})
    others = F.when(F.col("side") == "O", F.col("_D")).when(F.col("side") == "D", F.col("_O"))
    fr = fr.withColumn("_others", others)
    dist = F.expr("transform(_others, o -> hypot(o.x - x, o.y - y))")
    fr = fr.withColumn("_opp", F.element_at("_others", F.array_position(dist, F.array_min(dist)).cast("int")))
    fr = fr.select("*", *[F.col(f"_{r}.{c}").alias(f"{r}_{c}") for r in ("qb", "target", "ball", "opp")
                          for c in ("x", "y", "vx", "vy")])
    fr = fr.drop("_qb", "_target", "_ball", "_opp", "_O", "_D", "_others")
    rel = {}
    for r in ("qb", "target", "ball", "opp"):
        rel |= _relation(r)
    return fr.withColumns(rel)


def _read_by_tables(cfg: FeaturesConfig) -> Column:
    """The rows some feature table reads: released plays only, from the first frame the ghosting
    samples observe (or the snap, if earlier) to the later of the last future frame and the pass's
    arrival, plus the QB's rows up to the release (his drop depth and top speed before the throw).
    About 60 % of a play's rows: the frames before the snap and after the pass go.  A QB row outside
    the span has no frame neighbours kept, so its relations (``d_*``, ``cl_*``) are null.
    """
    frame, release = F.col("frame_id"), F.col("release_frame")
    first = F.least(F.col("snap_frame"), release - (cfg.observed_frames - 1))
    last = F.greatest(release + cfg.future_frames, F.col("arrival_frame"))  # greatest skips a null arrival
    return (F.col("released") & release.isNotNull()
            & (frame.between(first, last) | (F.coalesce(F.col("is_qb"), F.lit(False)) & (frame <= release))))


# --- per play -----------------------------------------------------------------------------------------

def _at(cond: Column, col: str | Column) -> Column:
    """The value of ``col`` on the (one) row of the group matching ``cond``."""
    return F.max(F.when(cond, col))


def _count(cond: Column) -> Column:
    return F.sum(F.when(cond, 1).otherwise(0)).cast("int")


def _sorted_values(cond: Column, col: str) -> Column:
    """The values of ``col`` on the rows matching ``cond``, sorted: ``_sorted_mean`` averages them."""
    return F.sort_array(F.collect_list(F.when(cond, F.col(col))))


def _sorted_mean(values: str) -> Column:
    """The mean of the array column ``values``, summed in sorted order so that reruns give the same bits."""
    return F.expr(f"try_divide(aggregate({values}, 0D, (acc, v) -> acc + v), size({values}))")


_MEANS = ("receivers_separation_mean", "defense_speed_mean", "offense_speed_mean", "defense_ball_distance_mean")


def play_features(fr: DataFrame, ctx: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """≥ 30 candidate features per released play (state at the snap, snap→release, at release, the pass)."""
    rel = ctx.filter(F.col("released") & F.col("release_frame").isNotNull())
    f = fr.join(rel.select(*PLAY_KEYS, "los_x", "yards_to_go", "release_frame", "arrival_frame"), PLAY_KEYS)
    O, D = F.col("side") == "O", F.col("side") == "D"
    qb, tgt = F.col("is_qb"), F.col("nfl_id") == F.col("target_nfl_id")
    elig = O & F.col("position").isin(*cfg.eligible_receivers)
    frame = F.col("frame_id")
    at_snap, at_rel = frame == F.col("snap_frame"), frame == F.col("release_frame")
    depth = F.col("x") - F.col("los_x")
    at_arrival = frame == F.col("arrival_frame")
    # Every feature reads the snap, release or arrival frame, or the QB's rows up to the release: the
    # aggregate reads those rows only (its collect_lists make it a sort-based, interpreted one)
    f = f.filter(at_snap | at_rel | at_arrival | (qb & (frame <= F.col("release_frame"))))
    agg = f.groupBy(*PLAY_KEYS).agg(
        F.max(F.when(at_snap & qb, F.col("nfl_id"))).alias("passer_nfl_id"),  # who threw: an id, not a feature
        # at the snap
        _at(at_snap & qb, -depth).alias("qb_depth_snap"),
        # the box: within 4 yd of the ball across the field and 5 yd past the line
        _count(at_snap & D & (F.abs(F.col("y") - F.col("ball_y")) <= 4.0) & (depth <= 5.0)).alias("box_count_snap"),
        _count(at_snap & D & (depth > cfg.deep_depth)).alias("deep_defenders_snap"),
        (F.max(F.when(at_snap & elig, F.col("y"))) - F.min(F.when(at_snap & elig, F.col("y")))).alias("formation_width"),
        # snap → release
        F.max(F.when(qb & (frame <= F.col("release_frame")), -depth)).alias("qb_drop_depth"),
        F.max(F.when(qb & (frame <= F.col("release_frame")), F.col("s"))).alias("qb_max_speed"),
        # at the release
        _at(at_rel & qb, F.col("s")).alias("qb_speed_release"),
        _at(at_rel & qb, -depth).alias("qb_depth_release"),
        _at(at_rel & qb, F.col("d_opp")).alias("qb_pressure"),
        _at(at_rel & qb, F.col("cl_opp")).alias("qb_pressure_closing"),
        _count(at_rel & D & (F.col("d_qb") <= cfg.pressure_radius)).alias("defenders_near_qb"),
        _at(at_rel & tgt, F.col("d_opp")).alias("target_separation"),
        _at(at_rel & tgt, F.col("cl_opp")).alias("target_separation_closing"),
        _count(at_rel & D & (F.col("d_target") <= cfg.target_radius)).alias("defenders_near_target"),
        _at(at_rel & tgt, F.col("s")).alias("target_speed"),
        _at(at_rel & tgt, depth).alias("target_depth"),
        _at(at_rel & tgt, F.least(F.col("y"), F.lit(FIELD_WIDTH) - F.col("y"))).alias("target_sideline_distance"),
        _at(at_rel & tgt, F.col("d_qb")).alias("target_qb_distance"),
        _at(at_rel & tgt, F.col("vx")).alias("target_vx"),
        _sorted_values(at_rel & elig, "d_opp").alias("receivers_separation_mean"),  # its mean below
        F.min(F.when(at_rel & elig, F.col("d_opp"))).alias("receivers_separation_min"),
        F.max(F.when(at_rel & elig, F.col("d_opp"))).alias("receivers_separation_max"),
        _count(at_rel & elig & (depth > F.col("yards_to_go"))).alias("receivers_beyond_sticks"),
        _count(at_rel & elig & (depth > cfg.deep_depth)).alias("receivers_deep"),
        _sorted_values(at_rel & D, "s").alias("defense_speed_mean"),  # its mean below
        _sorted_values(at_rel & O, "s").alias("offense_speed_mean"),  # its mean below
        _sorted_values(at_rel & D, "d_ball").alias("defense_ball_distance_mean"),  # its mean below
        # the pass: the ball where it arrives
        _at(at_arrival & F.col("nfl_id").isNull(), depth).alias("pass_depth"),
        _at(at_arrival & F.col("nfl_id").isNull(), F.col("x")).alias("landing_x"),
        _at(at_arrival & F.col("nfl_id").isNull(), F.col("y")).alias("landing_y"),
        _at(at_rel & qb, F.col("x")).alias("qb_x_release"),
        _at(at_rel & qb, F.col("y")).alias("qb_y_release"),
    )
    return (rel.join(agg, PLAY_KEYS)
            .withColumns({name: _sorted_mean(name) for name in _MEANS})
            .withColumns({
                "time_to_throw": (F.col("release_frame") - F.col("snap_frame")) / FPS,
                "flight_time": (F.col("arrival_frame") - F.col("release_frame")) / FPS,
                "air_distance": F.hypot(F.col("landing_x") - F.col("qb_x_release"),
                                        F.col("landing_y") - F.col("qb_y_release")),
            })
            .drop("qb_x_release", "qb_y_release", "released", "possession_team", "defensive_team"))


def passing_table(fr: DataFrame, feats: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """The play features plus the snap→release tensor (see the module docstring).

    The tensor is assembled right after each play's cells are collected, and joined to the features
    afterwards: built in the join's stage, its expression and the 50 feature columns made one
    generated method of 6 KB of bytecode that HotSpot's C2 worked on for up to 20 CPU s and then gave
    up on ("out of nodes"), in every week of a run.
    """
    T_ = cfg.max_frames
    start = F.greatest(F.col("snap_frame"), F.col("release_frame") - (T_ - 1))
    seq_len = F.col("release_frame") - start + 1
    width = T_ * N_PLAYERS  # cells in the tensor
    zero = F.lit(0.0).cast("float")
    cells, n = F.col("cells"), F.col("n")  # the play's (cell, values) pairs sorted by cell; its valid cells
    # The common case, every valid cell present once: the sorted cells are the tensor, then padding.
    complete = ((F.size(cells) == n) & (cells[0]["cell"] == 0) & (F.element_at(cells, -1)["cell"] == n - 1)
                & (F.size(F.array_distinct(cells["cell"])) == n))
    dense = F.concat(F.flatten(cells["v"]), F.array_repeat(zero, ((width - n) * len(SEQ_FEATURES)).cast("int")))
    # Otherwise (a player without a slot, a frame missing a player) a lookup per cell, zeros where absent.
    sparse = F.expr(f"flatten(transform(sequence(0, {width - 1}), "
                    f"i -> coalesce(element_at(map_from_entries(cells), i), array_repeat(CAST(0 AS FLOAT), "
                    f"{len(SEQ_FEATURES)}))))")
    seq = (fr.filter(F.col("slot").isNotNull())
           .join(feats.select(*PLAY_KEYS, "release_frame"), PLAY_KEYS)
           .withColumn("t", F.col("frame_id") - start)
           .filter((F.col("t") >= 0) & (F.col("frame_id") <= F.col("release_frame")) & (F.col("slot") < N_PLAYERS))
           .select(*PLAY_KEYS, (F.col("t") * N_PLAYERS + F.col("slot")).alias("cell"),
                   F.array(*[F.coalesce(F.col(c), F.lit(0.0)).cast("float") for c in SEQ_FEATURES]).alias("v"),
                   (seq_len * N_PLAYERS).alias("n"))
           .groupBy(*PLAY_KEYS).agg(F.sort_array(F.collect_list(F.struct("cell", "v"))).alias("cells"),
                                    F.max("n").alias("n"))  # one value per play
           .select(*PLAY_KEYS, F.when(complete, dense).otherwise(sparse).alias("_tensor")))
    no_cells = F.array_repeat(zero, width * len(SEQ_FEATURES))  # a play without a slotted player's row
    return (feats.join(seq, PLAY_KEYS, "left")
            .withColumns({"seq_len": seq_len.cast("int"), "tensor": F.coalesce(F.col("_tensor"), no_cells)})
            .drop("_tensor", "arrival_frame", "last_frame"))


def ghosting_table(fr: DataFrame, feats: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """One row per (released play with ≥ future_frames after the release, defensive back).

    A defender's frames from K−1 before the release to H after it are collected into one array
    sorted by frame (one aggregate), and a sample needs all K + H of them: the observed frames, the
    future path and the release-frame features are then fixed positions of that array.  (The same
    table as one conditional aggregate per value (~65) compiled into a generated method that
    HotSpot's C2 took 30-40 CPU s to compile, about every other week of a run.)
    """
    K, H = cfg.observed_frames, cfg.future_frames
    plays = feats.filter(F.col("last_frame") >= F.col("release_frame") + H)
    db = (fr.filter((F.col("side") == "D") & F.col("position").isin(*cfg.defensive_backs))
          .join(plays.select(*PLAY_KEYS, "release_frame", "los_x", "landing_x", "landing_y", "flight_time"), PLAY_KEYS)
          .withColumn("k", F.col("frame_id") - F.col("release_frame"))
          .filter((F.col("k") <= H) & ((F.col("k") > -K) | (F.col("frame_id") >= F.col("snap_frame")))))
    k = F.col("k")
    pre = (k <= 0) & (F.col("frame_id") >= F.col("snap_frame"))
    dxl, dyl = F.col("landing_x") - F.col("x"), F.col("landing_y") - F.col("y")
    d_land = F.hypot(dxl, dyl)
    observed = ("x", "y", "vx", "vy", "s", "a", "o", "dir")
    # what the release frame contributes, computed on every row and read from the release's one
    at_release = {
        "depth": F.col("x") - F.col("los_x"),
        "sideline_distance": F.least(F.col("y"), F.lit(FIELD_WIDTH) - F.col("y")),
        **{c: F.col(c) for c in ("d_target", "cl_target", "d_qb", "cl_qb", "d_ball", "cl_ball", "d_opp", "cl_opp")},
        "dx_target": F.col("target_x") - F.col("x"), "dy_target": F.col("target_y") - F.col("y"),
        "d_landing": d_land, "dx_landing": dxl, "dy_landing": dyl,
        "speed_to_landing": F.try_divide(F.col("vx") * dxl + F.col("vy") * dyl, d_land),
        "speed_needed_to_landing": F.try_divide(d_land, F.col("flight_time")),
        "is_cb": (F.col("position") == "CB").cast("int"),
    }
    frame = F.struct(k.alias("k"), *observed, *[v.alias(name) for name, v in at_release.items()])
    g = db.groupBy(*PLAY_KEYS, "nfl_id").agg(
        # k first: the structs sort by frame
        F.sort_array(F.collect_list(F.when(k > -K, frame))).alias("_frames"),
        F.max(F.when(pre, F.col("s"))).alias("max_speed_before"))
    track = F.col("_frames")

    def at(j: int) -> Column:
        """The frame j after the release (j < 0: before it) of a complete track."""
        return track[j + K - 1]

    ks = track["k"]
    complete = ((F.size(track) == K + H) & (F.size(F.array_distinct(ks)) == K + H)
                & (track[0]["k"] == -(K - 1)) & (F.element_at(track, -1)["k"] == H)
                & F.expr("forall(_frames, f -> f.x IS NOT NULL AND (f.k <= 0 OR f.y IS NOT NULL))"))
    g = g.filter(complete).select(
        *PLAY_KEYS, "nfl_id",
        *[at(-j)[c].alias(f"{c}_m{j}" if j else f"{c}_0") for c in observed for j in range(K - 1, -1, -1)],
        F.expr(f"flatten(transform(slice(_frames, {K + 1}, {H}), f -> array(f.x, f.y)))")
        .cast(T.ArrayType(T.FloatType())).alias("future_xy"),
        "max_speed_before",
        *[at(0)[name].alias(name) for name in at_release],
        (at(H)["x"] - at(0)["x"]).alias("dx_1s"), (at(H)["y"] - at(0)["y"]).alias("dy_1s"))
    g = g.withColumn("displacement_1s", F.hypot("dx_1s", "dy_1s"))
    # the play's context, without its outcome (it happens after the second the model predicts)
    context = feats.drop("target_nfl_id", "passer_nfl_id", "snap_frame", "arrival_frame", "last_frame", "pass_result", "yards_gained")
    return g.join(context, PLAY_KEYS)


# --- writing ------------------------------------------------------------------------------------------

def _write_partition(df: DataFrame, table_root: Path, season: int, week: int, keys: list[str]) -> Path:
    """Replace one partition atomically with ``df`` as one file sorted by ``keys`` (``pipelines.lake``).

    The feature tables have no canonical schema in ``pipelines.schema``: the DataFrame's own schema is it.
    """
    with lake.staged_partition(table_root, season, week) as tmp:
        lake.write_spark_files(df, tmp, to_arrow_schema(df.schema), sort_by=keys)
    return lake.partition_dir(table_root, season, week)


# frames() columns no table reads: dropped before the frames are cached (the cache is the big cost)
_UNUSED_FRAME_COLUMNS = ("time", "club", "jersey_number", "play_direction", "dis", "event", "possession_team",
                         "defensive_team", "qb_x", "qb_y", "qb_vx", "qb_vy", "target_vx", "target_vy", "ball_x",
                         "ball_vx", "ball_vy", "opp_x", "opp_y", "opp_vx", "opp_vy")


def build_features(settings: Settings, season: int, week: int, tracking_root: Path | None = None,
                   config: FeaturesConfig | None = None) -> dict:
    """Build and write the passing and ghosting partitions of one week; returns row counts and paths.

    ``tracking_root`` defaults to the clean tracking (``lake/clean/tracking``); plays and players
    come from the raw lake.
    """
    cfg = config or load_features_config()
    spark = get_spark(settings, "trackflow-features")
    raw = raw_root(settings)
    tracking = _read(spark, Path(tracking_root or settings.paths.lake / "clean" / "tracking"), season, week)
    plays = _read(spark, raw / "plays", season, week)
    players = _read(spark, raw / "players", season, week)

    ctx = play_context(plays, tracking, cfg).cache()
    fr = frames(tracking, ctx, players, cfg).drop(*_UNUSED_FRAME_COLUMNS).persist()
    feats = None
    try:
        # Computed before the tables are planned: a cached plan reports its partitioning (by play) and
        # order only once it has run, so a table planned earlier shuffles and sorts the frames again
        fr.count()
        feats = play_features(fr, ctx, cfg).cache()
        feats.count()
        out_root = settings.paths.lake / "features"
        result = {}
        for name, table, keys in (("passing", passing_table(fr, feats, cfg), PLAY_KEYS),
                                  ("ghosting", ghosting_table(fr, feats, cfg), PLAY_KEYS + ["nfl_id"])):
            path = _write_partition(table, out_root / name, season, week, keys)
            result[name] = {"rows": spark.read.parquet(str(path)).count(), "path": str(path)}
        return result
    finally:
        for df in (ctx, fr, feats):
            if df is not None:
                df.unpersist()
