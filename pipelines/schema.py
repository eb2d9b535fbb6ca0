"""Canonical table schemas: the contract between every stage (see DESIGN.md, "Data lake").

One pyarrow schema per table.  Every writer casts to these schemas and every reader can rely on
them.  ``season`` and ``week`` are Hive partition keys: they are part of the logical schema but live
in the partition path, not in the Parquet files (``PARTITION_KEYS``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
PARTITION_KEYS = ("season", "week")

TRACKING = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("nfl_id", pa.int64()),  # null for the ball
        pa.field("frame_id", pa.int32(), nullable=False),
        pa.field("time", pa.timestamp("ms", tz="UTC")),
        pa.field("club", pa.string()),  # team abbreviation, "football" for the ball
        pa.field("jersey_number", pa.int32()),
        pa.field("play_direction", pa.string()),  # "left" | "right": where the offense moves
        pa.field("x", pa.float64()),  # yards, 0..120 (see pipelines.field)
        pa.field("y", pa.float64()),  # yards, 0..53.3
        pa.field("s", pa.float64()),  # speed, yd/s
        pa.field("a", pa.float64()),  # acceleration magnitude, yd/s^2
        pa.field("dis", pa.float64()),  # distance since the previous frame, yd
        pa.field("o", pa.float64()),  # orientation, NGS degrees; null for the ball
        pa.field("dir", pa.float64()),  # direction of motion, NGS degrees; null for the ball
        pa.field("event", pa.string()),  # Big Data Bowl event spelling, null on most frames
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
    ]
)

# pass_result: C complete, I incomplete, IN intercepted, S sacked.
# yards_gained is the offense's gain on the play: the tackle spot minus the line of scrimmage for a
# completion or a sack, 0 for an incompletion or an interception (the return is not the offense's).
PLAYS = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
        pa.field("quarter", pa.int32()),
        pa.field("game_clock_s", pa.int32()),  # seconds left in the quarter
        pa.field("down", pa.int32()),
        pa.field("yards_to_go", pa.int32()),
        pa.field("possession_team", pa.string()),
        pa.field("defensive_team", pa.string()),
        pa.field("absolute_yardline", pa.float64()),  # x of the line of scrimmage, 0..120 frame
        pa.field("pass_result", pa.string()),
        pa.field("yards_gained", pa.int32()),
        pa.field("target_nfl_id", pa.int64()),
        pa.field("pass_rushers", pa.int32()),
        pa.field("defenders_in_box", pa.int32()),
        pa.field("offense_score", pa.int32()),
        pa.field("defense_score", pa.int32()),
    ]
)

GAMES = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
        pa.field("game_date", pa.date32()),
        pa.field("game_time_eastern", pa.string()),  # "HH:MM:SS"
        pa.field("home_team", pa.string()),
        pa.field("visitor_team", pa.string()),
    ]
)

PLAYERS = pa.schema(
    [
        pa.field("nfl_id", pa.int64(), nullable=False),
        pa.field("display_name", pa.string()),
        pa.field("position", pa.string()),
        pa.field("height_in", pa.int32()),
        pa.field("weight_lb", pa.int32()),
        pa.field("birth_date", pa.date32()),
        pa.field("college_name", pa.string()),
    ]
)

# Ground truth the simulator keeps beside its data (never available for real data).
TRUTH_QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
TRUTH_PLAYS = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
        pa.field("coverage", pa.string()),  # cover0 | cover1 | cover2 | cover3 | cover4 | man2
        pa.field("offense_personnel", pa.string()),  # "11", "12", "21"
        pa.field("defense_personnel", pa.string()),  # "base" | "nickel"
        pa.field("snap_frame", pa.int32()),
        pa.field("release_frame", pa.int32()),  # null for a sack
        pa.field("arrival_frame", pa.int32()),
        pa.field("time_to_throw_s", pa.float64()),
        pa.field("air_yards", pa.float64()),  # catch point x minus line of scrimmage
        pa.field("separation_at_arrival", pa.float64()),  # nearest defender to the catch point
        pa.field("pressure_at_release", pa.float64()),  # nearest rusher to the QB, yards
        pa.field("p_complete", pa.float64()),
        pa.field("p_interception", pa.float64()),
        pa.field("p_breakaway", pa.float64()),  # given a completion
        pa.field("expected_yards", pa.float64()),
        *[pa.field(f"yards_q{int(round(q * 100)):02d}", pa.int32()) for q in TRUTH_QUANTILE_LEVELS],
        pa.field("target_candidates", pa.list_(pa.int64())),  # eligible receivers' nfl_ids
        pa.field("target_probs", pa.list_(pa.float64())),  # the QB's choice probabilities
    ]
)

ANOMALY_KINDS = (
    "off_field",  # a point moved outside the field
    "speed_spike",  # the reported speed s jumps above 12.5 yd/s
    "teleport",  # the position jumps: position-derived speed above 12.5 yd/s
    "duplicate_frame",  # every row of a frame delivered twice
    "dropped_player_frames",  # a player's rows missing for a run of frames
    "nan_coordinates",  # x and y missing (NaN)
)
TRUTH_ANOMALIES = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("nfl_id", pa.int64()),  # null when the whole frame is affected
        pa.field("frame_id", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
    ]
)

# lake/clean/anomalies (pipelines/anomaly_filter.py): one row per (key, rule that fired) with the
# action finally taken for that row: "drop_play" when its play was removed, "drop_track" when its
# track was, else "repair".  nfl_id is null for the ball and for a whole frame (incomplete_frame).
# lake/clean/tracking has the TRACKING schema.  The feature tables (features/build.py) carry the
# schema of the Spark job that writes them: their candidate columns grow with the feature code.
ANOMALIES = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("nfl_id", pa.int64()),
        pa.field("frame_id", pa.int32(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
    ]
)

# The passing table's snap→release tensor (column ``tensor``, features.build writes it, features.sequences
# reads it): per frame, 22 player slots (the ordering rule: features.build) × these channels, in this order.
# Kept here, away from Spark, so that training and serving import it without PySpark.
N_PLAYERS = 22
N_OFFENSE = 11  # slots 0 … N_OFFENSE − 1 hold the offense (slot 0 the QB), the rest the defense
SEQ_FEATURES = ("x", "y", "vx", "vy", "ax", "ay", "dir", "o")

# lake/scores/passing/… (evaluation/passing_score.py): the passing score of every scored play, and
# its aggregates per passer, recomputed from all the season's scored plays.  The split columns are
# the split names of conf/scoring.yaml (their bounds live there); passer_nfl_id is null when the
# tracking had no QB at the snap, passer_name when the season's raw players table does not name him.
PASSING_SCORE_SPLITS = ("under_pressure", "long_time_to_throw", "deep_pass")
PASSING_SCORE_PLAYS = pa.schema(
    [
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("play_id", pa.int64(), nullable=False),
        pa.field("passer_nfl_id", pa.int64()),
        pa.field("target_nfl_id", pa.int64()),
        pa.field("pass_result", pa.string()),  # C, I, IN (plays with a release only)
        pa.field("yards_gained", pa.int32()),
        pa.field("predicted_median", pa.float64()),  # yards, of the predicted distribution
        pa.field("predicted_q10", pa.float64()),
        pa.field("predicted_q90", pa.float64()),
        pa.field("expected_yards", pa.float64()),  # its mean; null where a tail makes it infinite
        pa.field("passing_score", pa.float64()),  # 0–100: 100 · mid-PIT of yards_gained
        *[pa.field(name, pa.bool_(), nullable=False) for name in PASSING_SCORE_SPLITS],
        pa.field("qb_pressure", pa.float64()),  # the splits' measures, as in the feature table
        pa.field("time_to_throw", pa.float64()),
        pa.field("pass_depth", pa.float64()),
        pa.field("model_run_id", pa.string(), nullable=False),  # the MLflow run that trained the model
        pa.field("season", pa.int32(), nullable=False),
        pa.field("week", pa.int32(), nullable=False),
    ]
)
# The statistics of a group of scored plays (evaluation.passing_score.aggregate documents each).
_PASSING_SCORE_STATS = [
    pa.field("plays", pa.int64(), nullable=False),
    pa.field("score_mean", pa.float64()),
    pa.field("score_median", pa.float64()),
    pa.field("score_sd", pa.float64()),
    pa.field("score_se", pa.float64()),
    pa.field("share_above_50", pa.float64()),
    pa.field("share_above_80", pa.float64()),
    pa.field("share_below_20", pa.float64()),
    pa.field("completion_rate", pa.float64()),
    pa.field("interception_rate", pa.float64()),
    pa.field("yards_mean", pa.float64()),
    pa.field("predicted_median_mean", pa.float64()),
    pa.field("expected_yards_mean", pa.float64()),
    pa.field("yards_over_expected", pa.float64()),
    pa.field("pass_depth_mean", pa.float64()),
]
# Partitioned by season only: the game's week is `game_week`, since `week` is a partition key and
# partition keys live in the path (docs/ARCHITECTURE.md).
PASSING_SCORE_BY_PASSER_GAME = pa.schema(
    [
        pa.field("season", pa.int32(), nullable=False),
        pa.field("passer_nfl_id", pa.int64()),
        pa.field("passer_name", pa.string()),
        pa.field("game_id", pa.int64(), nullable=False),
        pa.field("game_week", pa.int32(), nullable=False),
        *_PASSING_SCORE_STATS,
    ]
)
PASSING_SCORE_BY_PASSER_SEASON = pa.schema(
    [
        pa.field("season", pa.int32(), nullable=False),
        pa.field("passer_nfl_id", pa.int64()),
        pa.field("passer_name", pa.string()),
        pa.field("games", pa.int64(), nullable=False),
        *_PASSING_SCORE_STATS,
    ]
)
PASSING_SCORE_BY_PASSER_SPLIT = pa.schema(
    [
        pa.field("season", pa.int32(), nullable=False),
        pa.field("passer_nfl_id", pa.int64()),
        pa.field("passer_name", pa.string()),
        pa.field("split", pa.string(), nullable=False),  # one of PASSING_SCORE_SPLITS
        *_PASSING_SCORE_STATS,
        pa.field("share_of_passer_plays", pa.float64()),  # plays in the split / the passer's season plays
        pa.field("score_mean_vs_season", pa.float64()),  # score_mean − the passer's season score_mean
    ]
)

TABLES: dict[str, pa.Schema] = {
    "tracking": TRACKING,
    "plays": PLAYS,
    "games": GAMES,
    "players": PLAYERS,
    "truth/plays": TRUTH_PLAYS,
    "truth/anomalies": TRUTH_ANOMALIES,
}


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The schema as stored in a partition's files: the partition keys removed."""
    keep = [f for f in schema if f.name not in PARTITION_KEYS]
    return pa.schema(keep)
