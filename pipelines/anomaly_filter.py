"""The anomaly filter: one week of raw tracking in, clean tracking and what was removed out (Spark).

    lake/raw/tracking/season=S/week=W  →  lake/clean/tracking/season=S/week=W    the clean rows
                                          lake/clean/anomalies/season=S/week=W   (key, rule, action)
                                          lake/reports/anomalies/season=S/week=W.json

The rules and their policies are configured, with their reasons, in ``conf/anomaly_rules.yaml``.
The job uses the DataFrame API and window functions only: no Python UDF touches a row, and only
aggregates (counts per rule, per kind) reach the driver.

1. The rows are shuffled once, by play: every window below stays within a play.  Over each track
   (game, play, entity; the ball is one entity) in frame order, window functions find exact copies
   (collapsed when ``duplicate_key`` is repaired), evaluate the row rules (``ROW_RULES``) on every
   row and give each flagged row an action; repaired rows take their neighbours' midpoint.
2. Window aggregates over plays and tracks remove the plays holding a ``drop_play`` row and the
   tracks holding a ``drop_track`` row; ``incomplete_frame`` then checks the rows left frame by
   frame and removes the plays that fail it.
3. Both partitions are written with Spark into hidden staged folders; the clean one must pass the
   Great Expectations suite ``conf/expectations/clean_tracking.json`` before both are renamed
   into place, so a failed check leaves the old partitions.
4. The counts are aggregates of the same (cached) rows; where the simulator's truth exists the
   written partitions are scored against it.  The report is written as JSON and logged to MLflow
   (experiment ``trackflow/ingest``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from pipelines import lake, validate
from pipelines.config import PROJECT_ROOT, ConfigError, Settings, read_yaml, validation_problems
from pipelines.field import FIELD_LENGTH, FIELD_WIDTH, FPS
from pipelines.ingest import raw_root
from pipelines.mlflow_runs import INGEST_EXPERIMENT, start_run
from pipelines.schema import ANOMALIES, TRACKING, file_schema
from pipelines.spark import get_spark

RULES_PATH = PROJECT_ROOT / "conf" / "anomaly_rules.yaml"
CLEAN_SUITE_PATH = PROJECT_ROOT / "conf" / "expectations" / "clean_tracking.json"
KEYS = ("game_id", "play_id", "nfl_id", "frame_id")
PLAY = ["game_id", "play_id"]
ROW_RULES = ("duplicate_key", "nan_coordinates", "off_field", "speed", "jump", "time_order")
RULES = (*ROW_RULES, "incomplete_frame")
POSITION_RULES = ("nan_coordinates", "off_field", "jump")  # what a repair fixes: x and y
ACTIONS = ("repair", "drop_track", "drop_play")  # in rising severity
REPAIRED = ("x", "y", "dis")  # the values a repair rewrites

# --- rules ---------------------------------------------------------------------------------------

class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    why: str = Field(min_length=1)


# Which policies a rule accepts is part of its type: a loader error names the rule's key.
class RepairableRule(_Rule):
    policy: Literal["repair", "drop_track", "drop_play"]


class OffFieldRule(RepairableRule):
    tolerance_yd: float = Field(ge=0)


class JumpRule(RepairableRule):
    max_speed: float = Field(gt=0)


class DropRule(_Rule):
    policy: Literal["drop_track", "drop_play"]


class SpeedRule(DropRule):
    max_speed: float = Field(gt=0)


class FrameRule(_Rule):
    policy: Literal["drop_play"]
    players: int = Field(ge=1)
    balls: int = Field(ge=0)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    duplicate_key: RepairableRule
    nan_coordinates: RepairableRule
    off_field: OffFieldRule
    speed: SpeedRule
    jump: JumpRule
    time_order: DropRule
    incomplete_frame: FrameRule

    def params(self) -> dict[str, str | float | int]:
        """The settings of every rule as flat ``rule.setting`` pairs (reasons left out)."""
        return {f"{rule}.{key}": value for rule, body in self.model_dump(exclude={r: {"why"} for r in RULES}).items()
                for key, value in body.items()}


def load_rules(path: Path | None = None) -> Rules:
    """Read ``conf/anomaly_rules.yaml`` (or ``path``); errors name the file and the key."""
    path = Path(path or RULES_PATH)
    body = read_yaml(path, "anomaly rules file")
    if not isinstance(body, dict) or set(body) != {"rules"}:
        raise ConfigError(f"anomaly rules file {path}: expected a mapping with the one key 'rules'")
    try:
        return Rules.model_validate(body["rules"])
    except ValidationError as err:
        raise ConfigError(f"anomaly rules file {path}:{validation_problems(err, 'rules.')}") from None


# --- reports -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    """The filter against the simulator's truth, by play: caught = flagged by any rule."""
    anomalous_plays: int  # plays with an injected anomaly
    caught: int
    recall: float  # caught / anomalous_plays (1.0 without anomalies)
    clean_plays: int  # plays without one
    clean_plays_flagged: int  # a rule fired (the play may have been repaired and kept)
    clean_plays_removed: int
    false_positive_rate: float  # clean_plays_removed / clean_plays
    by_kind: dict[str, dict[str, int]]  # kind -> {"plays": n, "caught": n}


@dataclass(frozen=True)
class FilterReport:
    season: int
    week: int
    rows_in: int
    rows_out: int
    plays_in: int
    plays_out: int
    plays_dropped: int
    plays_repaired: int  # kept plays in which rows were repaired
    rows_repaired: int  # rows of kept plays that were interpolated or had copies collapsed
    rules: dict[str, dict[str, int]]  # rule -> {"rows", "plays", "plays_dropped"}
    score: Score | None  # None without truth (real data)
    settings: dict[str, str | float | int]  # Rules.params()
    paths: dict[str, str]  # clean, anomalies, validation (the clean suite's report), report
    seconds: float  # Spark job and validation, MLflow logging excluded
    mlflow_run_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def metrics(self) -> dict[str, float]:
        out = {k: getattr(self, k) for k in ("rows_in", "rows_out", "plays_in", "plays_out", "plays_dropped",
                                             "plays_repaired", "rows_repaired", "seconds")}
        out |= {f"{rule}.{k}": v for rule, counts in self.rules.items() for k, v in counts.items()}
        if self.score:
            s = self.score
            out |= {f"truth.{k}": getattr(s, k) for k in ("recall", "false_positive_rate", "anomalous_plays", "caught",
                                                          "clean_plays_flagged", "clean_plays_removed")}
            out |= {f"truth.recall.{kind}": c["caught"] / c["plays"] for kind, c in s.by_kind.items()}
        return out


def format_report(report: FilterReport) -> str:
    """A short summary for stdout (``trackflow filter``)."""
    r = report
    lines = [f"anomaly filter season {r.season} week {r.week}: {r.plays_in:,} plays in, {r.plays_out:,} kept "
             f"({r.plays_dropped:,} dropped, {r.plays_repaired:,} repaired); {r.rows_in:,} rows in, "
             f"{r.rows_out:,} out; {r.seconds:.1f} s",
             f"  {'rule':<17}{'rows':>8}{'plays':>8}{'dropped':>9}"]
    lines += [f"  {rule:<17}{c['rows']:>8,}{c['plays']:>8,}{c['plays_dropped']:>9,}" for rule, c in r.rules.items()]
    if r.score:
        s = r.score
        lines.append(f"  truth: {s.caught:,} of {s.anomalous_plays:,} plays with injected anomalies caught "
                     f"(recall {s.recall:.1%}); {s.clean_plays_removed:,} of {s.clean_plays:,} clean plays removed "
                     f"({s.false_positive_rate:.2%}), {s.clean_plays_flagged:,} flagged")
    lines += [f"  clean suite passed: {r.paths['validation']}", f"  report: {r.paths['report']}"]
    return "\n".join(lines)


# --- the job -------------------------------------------------------------------------------------

def filter_week(settings: Settings, season: int, week: int, rules: Rules | None = None) -> FilterReport:
    """Filter one week of raw tracking into the clean lake; returns (and writes, and logs) the report."""
    started = time.perf_counter()
    rules = rules or load_rules()
    paths = _paths(settings, season, week)
    if not paths["raw"].is_dir():
        raise FileNotFoundError(f"no raw tracking for season {season} week {week}: {paths['raw']} does not exist; "
                                "ingest the week first")
    spark = get_spark(settings)
    raw = spark.read.parquet(str(paths["raw"]))
    rows = _plan(raw, rules).persist()
    anomalies = _anomaly_rows(rows).persist()
    per_play = _per_play(rows).persist()
    try:
        with lake.staged_partition(paths["clean_root"], season, week) as clean_dir, \
                lake.staged_partition(paths["anomalies_root"], season, week) as anomalies_dir:
            lake.write_spark_files(rows.filter("_kept"), clean_dir, TRACKING, KEYS)
            lake.write_spark_files(anomalies, anomalies_dir, ANOMALIES, (*KEYS, "rule"))
            validation = validate_clean(settings, clean_dir, season, week, rules)
        counts = _counts(raw, per_play, anomalies)
        # the same figures as score_against_truth, from the rows in memory instead of the written files
        score = _score(spark, paths["truth"], per_play, anomalies)
    finally:
        for df in (per_play, anomalies, rows):
            df.unpersist()
    seconds = round(time.perf_counter() - started, 2)
    with start_run(settings, INGEST_EXPERIMENT, f"filter {season} w{week}",
                   tags={"stage": "anomaly_filter", "season": str(season), "week": str(week)}) as run:
        import mlflow

        report = FilterReport(
            season=season, week=week, **counts, score=score, settings=rules.params(), seconds=seconds,
            paths={"clean": str(paths["clean"]), "anomalies": str(paths["anomalies"]),
                   "validation": str(validation.md_path), "report": str(paths["report"])},
            mlflow_run_id=run.info.run_id)
        lake.write_text_atomic(paths["report"], report.to_json())
        mlflow.log_params(report.settings)
        mlflow.log_metrics(report.metrics())
        mlflow.log_artifact(str(paths["report"]))
    return report


def validate_clean(settings: Settings, folder: Path, season: int, week: int, rules: Rules) -> validate.ValidationResult:
    """Run the clean suite on the clean tracking files in ``folder``; raises when a rule still fires."""
    tol = rules.off_field.tolerance_yd
    parameters = {"x_min": -tol, "x_max": FIELD_LENGTH + tol, "y_min": -tol, "y_max": FIELD_WIDTH + tol,
                  "max_speed": rules.speed.max_speed, "max_step_speed": rules.jump.max_speed,
                  "players": rules.incomplete_frame.players, "balls": rules.incomplete_frame.balls}
    result = validate.validate_tracking(lake.read_table(folder, file_schema(TRACKING)), season, week,
                                        settings.paths.lake / "reports", CLEAN_SUITE_PATH, parameters)
    validate.raise_for_hard_failures(result)
    return result


def score_against_truth(settings: Settings, season: int, week: int) -> Score | None:
    """Score the week's written clean and anomalies partitions against the simulator's truth
    (``lake/truth/anomalies``); None when the week has no truth (real data)."""
    paths = _paths(settings, season, week)
    if not paths["truth"].is_dir():
        return None
    spark = get_spark(settings)

    def plays(path: Path) -> DataFrame:
        return spark.read.parquet(str(path)).select(*PLAY).distinct()

    per_play = (plays(paths["raw"]).join(plays(paths["clean"]).withColumn("kept", F.lit(True)), PLAY, "left")
                .na.fill(False, ["kept"]))
    return _score(spark, paths["truth"], per_play, spark.read.parquet(str(paths["anomalies"])))


def _score(spark, truth_dir: Path, per_play: DataFrame, anomalies: DataFrame) -> Score | None:
    """The score from ``per_play`` (every play in, with ``kept``: a row of it is in the clean table) and
    the anomaly rows (a play in them was caught); None without truth."""
    if not truth_dir.is_dir():
        return None
    truth = spark.read.parquet(str(truth_dir)).select(*PLAY, "kind").distinct()
    caught = anomalies.select(*PLAY).distinct().withColumn("caught", F.lit(True))
    per_play = (per_play.select(*PLAY, "kept")
                .join(truth.select(*PLAY).distinct().withColumn("anomalous", F.lit(True)), PLAY, "left")
                .join(caught, PLAY, "left")
                .na.fill(False, ["anomalous", "caught"]))
    totals = {r["anomalous"]: r.asDict() for r in per_play.groupBy("anomalous").agg(
        F.count("*").alias("plays"), F.sum(F.col("caught").cast("int")).alias("caught"),
        F.sum((~F.col("kept")).cast("int")).alias("removed")).collect()}
    by_kind = truth.join(caught, PLAY, "left").groupBy("kind").agg(
        F.count("*").alias("plays"), F.count("caught").alias("caught")).collect()
    bad, good = ({"plays": 0, "caught": 0, "removed": 0, **totals.get(k, {})} for k in (True, False))
    return Score(
        anomalous_plays=bad["plays"], caught=bad["caught"],
        recall=bad["caught"] / bad["plays"] if bad["plays"] else 1.0, clean_plays=good["plays"],
        clean_plays_flagged=good["caught"], clean_plays_removed=good["removed"],
        false_positive_rate=good["removed"] / good["plays"] if good["plays"] else 0.0,
        by_kind={r["kind"]: {"plays": r["plays"], "caught": r["caught"]} for r in sorted(by_kind)})


# --- the Spark plan ------------------------------------------------------------------------------

def _plan(raw: DataFrame, rules: Rules) -> DataFrame:
    """Every row (exact copies collapsed when duplicate_key is repaired; x, y, dis repaired) with a
    boolean ``r_<rule>`` per rule, whether its play or track is removed and whether it is ``_kept``.

    Every window stays within a play, so the plan shuffles once (by play) and sorts twice: by track
    and frame for the row rules, by frame for the frame rule.  Each pass computes all the window
    values it needs at once; the rules are plain column expressions over them.
    """
    # The values (all but the keys) travel packed in one struct, ``_v``: each of the six window
    # operators copies a row's struct in one piece instead of writing 14 fields (3 of them strings)
    # one by one (the stage of a demo week: 9.8 -> 8.3 executor CPU s).  Ordering by the struct after
    # frame_id orders by every value in column order (nulls first, as for the columns): identical
    # copies lie side by side and conflicting ones in a fixed order, so the result never depends on
    # how Spark read the rows.
    values = [c for c in raw.columns if c not in KEYS]
    packed = raw.select(*KEYS, F.struct(*values).alias("_v"))
    track = _track().orderBy("frame_id", "_v")
    rows = _row_rules(packed.repartition(*PLAY), rules, track)
    rows = _outcomes(_row_actions(rows, rules, track), rules.incomplete_frame)
    columns = [F.col(c) if c in KEYS or c in REPAIRED else F.col(f"_v.{c}").alias(c) for c in raw.columns]
    return rows.select(*columns, *[f"r_{r}" for r in RULES], "_play_gone", "_track_gone", "_kept")


def _track() -> WindowSpec:
    return Window.partitionBy(*PLAY, "nfl_id")  # the ball (null nfl_id) is one track


def _true(condition: Column) -> Column:
    """Null (no neighbour, a NaN compared) counts as false."""
    return F.coalesce(condition, F.lit(False))


def _located(x: Column, y: Column) -> Column:
    return x.isNotNull() & y.isNotNull() & ~F.isnan(x) & ~F.isnan(y)


def _speed(a: tuple[Column, Column, Column], b: tuple[Column, Column, Column]) -> Column:
    """Position-derived speed (yd/s) from point a to point b, each (x, y, frame_id); null where a
    point is not located or the frame repeats."""
    (xa, ya, fa), (xb, yb, fb) = a, b
    return F.when(_located(xa, ya) & _located(xb, yb), F.try_divide(F.hypot(xb - xa, yb - ya) * FPS, fb - fa))


def _row_rules(df: DataFrame, rules: Rules, track: WindowSpec) -> DataFrame:
    """``r_<rule>`` for every row rule, evaluated over the ``track`` window, plus the neighbours'
    positions (``_px`` … ``_nf``) and ``_gap`` (frames are missing before this row).  The values
    are read from the struct ``_v``; an exact copy is a row whose frame and struct equal the previous row's."""
    frame, x, y = F.col("frame_id"), F.col("_v.x"), F.col("_v.y")

    def lag(c, n=1):
        return F.lag(c, n).over(track)

    player = F.col("nfl_id").isNotNull()
    shared_key = _true((frame == lag("frame_id")) | (frame == F.lead("frame_id").over(track)))
    copy = (frame == lag("frame_id")) & F.col("_v").eqNullSafe(lag("_v"))
    df = df.withColumns({"r_duplicate_key": shared_key, "_copy": _true(copy)})
    if rules.duplicate_key.policy == "repair":
        df = df.filter(~F.col("_copy"))

    df = df.withColumns({"_conflict": shared_key, "_px": lag(x), "_py": lag(y), "_pf": lag("frame_id"),
                         "_nx": F.lead(x).over(track), "_ny": F.lead(y).over(track),
                         "_nf": F.lead("frame_id").over(track)})
    here = (x, y, frame)
    before, after = (F.col("_px"), F.col("_py"), F.col("_pf")), (F.col("_nx"), F.col("_ny"), F.col("_nf"))

    def over(speed):
        return _true(speed > rules.jump.max_speed)

    v_in, v_out = over(_speed(before, here)), over(_speed(here, after))
    prev_in = over(_speed((lag(x, 2), lag(y, 2), lag("frame_id", 2)), before))
    tol = rules.off_field.tolerance_yd
    return df.withColumns({
        "r_nan_coordinates": ~_located(x, y),
        "r_off_field": player & _located(x, y) & ((x < -tol) | (x > FIELD_LENGTH + tol) | (y < -tol)
                                                   | (y > FIELD_WIDTH + tol)),
        # Spark orders NaN above every number: a NaN speed fires too.
        "r_speed": player & _true(F.col("_v.s") > rules.speed.max_speed),
        # A displaced frame jumps in and back out (a spike); the frame after it jumps in only
        # because of it, so a jump in right after a spike is not a jump of its own.
        "r_jump": player & v_in & (v_out | ~prev_in),
        # Only a spike is a one-frame glitch to repair; a jump in without the jump back is a shift
        # of the track from there on (repairing its first frame would move a good one).
        "_spike": player & v_in & v_out,
        "r_time_order": _true((frame > F.col("_pf")) & (F.col("_v.time") <= lag(F.col("_v.time")))),
        "_gap": _true(frame - F.col("_pf") > 1),
    })


def _row_actions(df: DataFrame, rules: Rules, track: WindowSpec) -> DataFrame:
    """``_action`` per row (null where no rule fired): the most severe of the fired rules' policies,
    a repair that is not possible counting as drop_play; ``_track_gone``; and x, y and dis as
    top-level columns, repaired (the delivered values stay in ``_v``)."""
    frame = F.col("frame_id")
    fired = {r: F.col(f"r_{r}") for r in ROW_RULES}
    df = df.withColumn("_any", reduce(or_, fired.values()))
    df = df.withColumns({"_prev_any": F.lag("_any").over(track), "_next_any": F.lead("_any").over(track)})
    position = reduce(or_, [fired[r] for r in POSITION_RULES])
    # A position glitch is repaired only on one frame between clean neighbours one frame away on
    # either side whose midpoint is reachable from both at the speed limit.
    bridge = F.hypot(F.col("_nx") - F.col("_px"), F.col("_ny") - F.col("_py")) * FPS / 2
    isolated = _true(F.col("nfl_id").isNotNull() & (frame - F.col("_pf") == 1) & (F.col("_nf") - frame == 1)
                     & ~F.col("_prev_any") & ~F.col("_next_any") & (bridge <= rules.jump.max_speed))
    repairable = ((~fired["duplicate_key"] | ~F.col("_conflict")) & (~position | isolated)
                  & (~fired["jump"] | F.col("_spike")))

    def fired_with(policy):
        return reduce(or_, [fired[r] for r in ROW_RULES if getattr(rules, r).policy == policy], F.lit(False))

    df = df.withColumn("_action", F.when(~F.col("_any"), None)
                       .when(fired_with("drop_play") | (fired_with("repair") & ~repairable), "drop_play")
                       .when(fired_with("drop_track"), "drop_track")
                       .otherwise("repair"))
    fix = _true((F.col("_action") == "repair") & position)
    df = df.withColumns({"_fix": fix,
                         "x": F.when(fix, (F.col("_px") + F.col("_nx")) / 2).otherwise(F.col("_v.x")),
                         "y": F.when(fix, (F.col("_py") + F.col("_ny")) / 2).otherwise(F.col("_v.y"))})
    moved = F.col("_fix") | _true(F.lag("_fix").over(track))  # dis of the repaired frame and of the next
    whole = track.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    step = F.hypot(F.col("x") - F.lag("x").over(track), F.col("y") - F.lag("y").over(track))
    return df.withColumns({"dis": F.when(moved, step).otherwise(F.col("_v.dis")),
                           "_track_gone": _true(F.bool_or(F.col("_action") == "drop_track").over(whole))})


def _outcomes(df: DataFrame, rule: FrameRule) -> DataFrame:
    """Plays with a drop_play row go; then ``r_incomplete_frame`` marks the frames of the other plays
    whose rows left (tracks dropped) are not ``rule.players`` players and ``rule.balls`` balls, or
    that follow frames missing for every track; those plays go too.

    The frame counts leave out dropped tracks only: in a play that a drop_play row removes anyway
    ``r_incomplete_frame`` is false, so the counts never need the play's verdict, and both play-wide
    verdicts come from one window over the play after the frame window (two Window operators, not
    three, over every row).
    """
    play, frame = Window.partitionBy(*PLAY), Window.partitionBy(*PLAY, "frame_id")
    counted = ~F.col("_track_gone")
    player = F.col("nfl_id").isNotNull()
    players = F.count(F.when(counted & player, 1)).over(frame)
    balls = F.count(F.when(counted & ~player, 1)).over(frame)
    df = df.withColumn("_incomplete", (players != rule.players) | (balls != rule.balls) | F.bool_and("_gap").over(frame))
    df = df.withColumns({"_play_drop": _true(F.bool_or(F.col("_action") == "drop_play").over(play)),
                         "_any_incomplete": F.bool_or("_incomplete").over(play)})
    df = df.withColumns({"r_incomplete_frame": ~F.col("_play_drop") & F.col("_incomplete"),
                         "_play_gone": F.col("_play_drop") | F.col("_any_incomplete")})
    return df.withColumn("_kept", ~F.col("_play_gone") & ~F.col("_track_gone"))


def _anomaly_rows(rows: DataFrame) -> DataFrame:
    """One row per (key, rule that fired) with the action finally taken (see ``ANOMALIES``); one
    row per frame for incomplete_frame."""
    rule = F.explode(F.array_compact(F.array(*[F.when(F.col(f"r_{r}"), F.lit(r)) for r in RULES])))
    action = F.when(F.col("_play_gone"), "drop_play").when(F.col("_track_gone"), "drop_track").otherwise("repair")
    return (rows.filter(reduce(or_, [F.col(f"r_{r}") for r in RULES]))
            .select(*KEYS, rule.alias("rule"), action.alias("action"))
            .withColumn("nfl_id", F.when(F.col("rule") != "incomplete_frame", F.col("nfl_id")))
            .distinct())


def _per_play(rows: DataFrame) -> DataFrame:
    """One row per play in: ``rows_out`` (its kept rows) and ``kept`` (any).  The rows are
    partitioned by play already: no shuffle."""
    kept = F.col("_kept")
    return rows.groupBy(*PLAY).agg(F.sum(kept.cast("int")).alias("rows_out"), F.bool_or(kept).alias("kept"))


def _counts(raw: DataFrame, per_play: DataFrame, anomalies: DataFrame) -> dict:
    """The report's counts: small aggregates of the per-play figures and of the anomaly rows."""
    totals = per_play.agg(F.count("*").alias("plays_in"), F.sum("rows_out").alias("rows_out"),
                          F.sum(F.col("kept").cast("int")).alias("plays_out")).first()
    # per (rule, play) first, then per rule: no distinct counts
    rule_play = anomalies.groupBy("rule", *PLAY).agg(
        F.count("*").alias("rows"), F.bool_or(F.col("action") == "drop_play").alias("dropped"))
    per_rule = {r["rule"]: r.asDict() for r in rule_play.groupBy("rule").agg(
        F.sum("rows").alias("rows"), F.count("*").alias("plays"),
        F.sum(F.col("dropped").cast("int")).alias("plays_dropped")).collect()}
    # a repaired row may carry several rules: one per key first
    repaired = (anomalies.filter(F.col("action") == "repair").select(*KEYS).distinct()
                .agg(F.count("*").alias("rows"), F.countDistinct(*PLAY).alias("plays")).first())
    return {
        "rows_in": raw.count(), "rows_out": totals["rows_out"] or 0, "plays_in": totals["plays_in"],
        "plays_out": totals["plays_out"] or 0, "plays_dropped": totals["plays_in"] - (totals["plays_out"] or 0),
        "plays_repaired": repaired["plays"], "rows_repaired": repaired["rows"],
        "rules": {r: {k: per_rule.get(r, {}).get(k, 0) for k in ("rows", "plays", "plays_dropped")} for r in RULES},
    }


def _paths(settings: Settings, season: int, week: int) -> dict[str, Path]:
    root = settings.paths.lake
    tables = {"raw": raw_root(settings) / "tracking", "truth": root / "truth" / "anomalies",
              "clean": root / "clean" / "tracking", "anomalies": root / "clean" / "anomalies"}
    return {**{f"{name}_root": path for name, path in tables.items()},
            **{name: lake.partition_dir(path, season, week) for name, path in tables.items()},
            "report": root / "reports" / "anomalies" / f"season={int(season)}" / f"week={int(week)}.json"}
