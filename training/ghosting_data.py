"""The ghosting model's data: the ghosting feature table plus what it lacks, read from the clean
tracking — the one module of the trajectory model that does I/O.

    data = load_ghosting_data(settings, season, weeks)     # samples, future, selected features
    plays = load_release_context(settings, season, weeks, data.frame)   # references, receivers, target paths

**Samples** are the rows of ``lake/features/ghosting`` (one per released play and defensive back):
the observed frames ``m2, m1, 0`` (0 = the release) of ``x, y, vx, vy, s, a, o, dir``, the context
columns and the next ``H`` frames' positions (``future [n, H, 2]``).  Everything is in the
left→right frame of ``features.build`` (the offense moves towards +x).  ``dx_1s``, ``dy_1s`` and
``displacement_1s`` are the feature selection's target: they are the future and never inputs
(``LEAKS``; a selection that lists one is refused).

**Release context** (from ``lake/clean/tracking``, ``lake/raw/plays`` and ``lake/raw/players``, only
the plays of the samples and only their frames from the release to ``H`` frames later, plus the
arrival frame): per sample, the targeted receiver's path over frames 0…H (``target_path [n, H+1, 2]``,
NaN where the play has no target or a frame is missing) and the reference points at the release
(QB, ball, nearest offensive player: ``ref_*`` columns) from which the velocity-dependent features
are recomputed when the inputs change (``training.ghosting.randomize_inputs``); per play, the
eligible receivers at the release with their position at the ball's arrival (the counterfactual
targets of ``evaluation.ghosting_counterfactual``).

``to_left_to_right`` is the NumPy twin of ``features.build.to_left_to_right`` (the rotation of
``pipelines.field.rotate_to_left``); ``velocity`` the twin of ``features.build.ngs_velocity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from features.config import load_features_config
from features.selection import read_selection, selection_path
from features.sequences import load_ghosting
from pipelines import lake
from pipelines.config import Settings
from pipelines.field import FIELD_WIDTH, FPS, rotate_to_left, unit_from_ngs_angle

KEYS = ["game_id", "play_id"]
SAMPLE_KEYS = KEYS + ["nfl_id"]
OBSERVED = ("x", "y", "vx", "vy", "s", "a", "o", "dir")  # per observed frame, in this order
LEAKS = ("dx_1s", "dy_1s", "displacement_1s")  # the selection's target: the future itself
REFERENCES = ("qb", "ball", "opp")  # release reference points kept as ref_{r}_x / ref_{r}_y


def frame_suffixes(k: int) -> list[str]:
    """Column suffixes of the ``k`` observed frames, oldest first: ``["m2", "m1", "0"]`` for k = 3."""
    return [f"m{j}" if j else "0" for j in range(k - 1, -1, -1)]


def to_left_to_right(direction, x, y, *angles):
    """NumPy twin of ``features.build.to_left_to_right``: rows whose ``direction`` is ``"left"`` are
    rotated by 180° about the field's centre (``pipelines.field.rotate_to_left``); returns
    ``(x, y, *angles)`` as float arrays (NaN angles stay NaN)."""
    left = np.asarray(direction) == "left"
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    angles = [np.asarray(a, dtype=np.float64) for a in angles]
    turned = rotate_to_left(x, y, *([angles[0]] if angles else []))
    out = [np.where(left, turned[0], x), np.where(left, turned[1], y)]
    for a in angles:
        out.append(np.where(left, np.mod(a + 180.0, 360.0), a))
    return tuple(out)


def velocity(s, direction_deg):
    """``(vx, vy) = s·(sin dir, cos dir)`` (NGS angles, ``pipelines.field``)."""
    ux, uy = unit_from_ngs_angle(np.asarray(direction_deg, dtype=np.float64))
    s = np.asarray(s, dtype=np.float64)
    return s * ux, s * uy


# --- the ghosting table ---------------------------------------------------------------------------

@dataclass
class GhostingData:
    frame: pd.DataFrame  # one row per sample: every column of the ghosting table (+ season, week)
    future: np.ndarray  # [n, H, 2] float64: positions of the next H frames (left→right)
    features: list[str] = field(default_factory=list)  # the selected context features
    observed_frames: int = 3

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def game_id(self) -> np.ndarray:
        return self.frame["game_id"].to_numpy()

    @property
    def horizon(self) -> int:
        return self.future.shape[1]


def check_features(features: list[str], where: str) -> None:
    leaks = [c for c in features if c in LEAKS]
    if leaks:
        raise ValueError(f"{where}: {leaks} describe the future the ghosting model predicts and cannot be "
                         "inputs; rerun `trackflow select` (the selection's target is displacement_1s)")


def load_ghosting_data(settings: Settings, season: lake.Seasons, weeks: list[int], features: list[str] | None = None
                       ) -> GhostingData:
    """The ghosting feature table of ``weeks`` with the selected features (or ``features``)."""
    table = lake.read_weeks(settings.paths.lake / "features" / "ghosting", season, weeks)
    return ghosting_data_from_table(table, features or read_selection(selection_path(settings, "ghosting")),
                                    where=f"ghosting feature table (season {lake.seasons_label(season)}, weeks {weeks})")


def ghosting_data_from_table(table: pa.Table, features: list[str], where: str = "ghosting table") -> GhostingData:
    cfg = load_features_config()
    check_features(features, where)
    future, frame = load_ghosting(table)
    needed = [f"{c}_{s}" for c in OBSERVED for s in frame_suffixes(cfg.observed_frames)]
    missing = [c for c in [*needed, *features] if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: no column(s) {missing}; rebuild the features or rerun the selection")
    if future.shape[1] != cfg.future_frames:
        raise ValueError(f"{where}: future_xy holds {future.shape[1]} frames, conf/features.yaml says "
                         f"future_frames = {cfg.future_frames}; rebuild the features")
    if not len(frame):
        raise ValueError(f"{where}: no samples")
    return GhostingData(frame=frame.reset_index(drop=True), future=future.astype(np.float64),
                        features=list(features), observed_frames=cfg.observed_frames)


# --- the release context from the clean tracking ---------------------------------------------------

@dataclass
class ReleaseContext:
    target_path: np.ndarray  # [n samples, H+1, 2]: the targeted receiver, frames 0 (release) … H; NaN if none
    refs: pd.DataFrame  # [n samples] ref_{qb,ball,opp}_{x,y}, target_nfl_id
    receivers: pd.DataFrame  # per (play, eligible receiver): state at the release and position at arrival


TRACKING_COLUMNS = ["game_id", "play_id", "nfl_id", "frame_id", "club", "play_direction", "x", "y", "s", "a", "o", "dir"]


def read_play_frames(settings: Settings, season: lake.Seasons, weeks: list[int], plays: pd.DataFrame) -> pd.DataFrame:
    """Clean tracking rows (left→right, with vx, vy) of ``plays`` (game_id, play_id, first, last frame),
    frames first…last only; ``season``/``week`` columns are not returned."""
    root = settings.paths.lake / "clean" / "tracking"
    parts = []
    for season_, week in ((s, w) for s in lake.season_list(season) for w in weeks):
        part = lake.partition_dir(root, season_, week)
        if not part.is_dir():
            raise FileNotFoundError(f"no partition {part}: filter season {season_} week {week} first")
        games = plays["game_id"].unique()
        table = ds.dataset(part, format="parquet", ignore_prefixes=[".", "_"]).to_table(
            columns=TRACKING_COLUMNS, filter=pc.field("game_id").isin(pa.array(games, pa.int64())))
        parts.append(table.to_pandas())
    rows = pd.concat(parts, ignore_index=True).merge(plays, on=KEYS)
    rows = rows[(rows["frame_id"] >= rows["first"]) & (rows["frame_id"] <= rows["last"])].reset_index(drop=True)
    x, y, o, d = to_left_to_right(rows["play_direction"].to_numpy(), rows["x"], rows["y"], rows["o"], rows["dir"])
    vx, vy = velocity(rows["s"], d)
    return rows.assign(x=x, y=y, o=o, dir=d, vx=vx, vy=vy).drop(columns=["first", "last"])


def load_release_context(settings: Settings, season: lake.Seasons, weeks: list[int], samples: pd.DataFrame
                         ) -> ReleaseContext:
    """The context of ``samples`` (ghosting rows with game_id, play_id, nfl_id, release_frame,
    flight_time) that the ghosting table does not hold; see the module docstring."""
    cfg = load_features_config()
    H = cfg.future_frames
    plays = lake.read_weeks(settings.paths.lake / "raw" / "plays", season, weeks,
                            columns=["game_id", "play_id", "target_nfl_id", "possession_team"]).to_pandas()
    players = lake.read_weeks(settings.paths.lake / "raw" / "players", season, weeks,
                              columns=["nfl_id", "position"]).to_pandas().drop_duplicates("nfl_id", keep="last")
    per_play = samples[KEYS + ["release_frame", "flight_time"]].drop_duplicates(KEYS).merge(plays, on=KEYS, how="left")
    per_play["arrival_frame"] = per_play["release_frame"] + np.rint(per_play["flight_time"].fillna(0) * FPS).astype(int)
    span = per_play.assign(first=per_play["release_frame"],
                           last=np.maximum(per_play["release_frame"] + H, per_play["arrival_frame"]))
    rows = read_play_frames(settings, season, weeks, span[KEYS + ["first", "last"]])
    rows = rows.merge(per_play[KEYS + ["release_frame", "arrival_frame", "target_nfl_id", "possession_team"]], on=KEYS)
    rows = rows.merge(players, on="nfl_id", how="left")
    rows["k"] = rows["frame_id"] - rows["release_frame"]
    return ReleaseContext(target_path=_target_paths(rows, samples, H), refs=_references(rows, samples),
                          receivers=_receivers(rows, cfg.eligible_receivers))


def _target_paths(rows: pd.DataFrame, samples: pd.DataFrame, H: int) -> np.ndarray:
    tgt = rows[(rows["nfl_id"] == rows["target_nfl_id"]) & (rows["k"] >= 0) & (rows["k"] <= H)]
    plays = samples[KEYS].drop_duplicates().reset_index(drop=True)
    paths = np.full((len(plays), H + 1, 2), np.nan)
    at = plays.reset_index().merge(tgt[KEYS + ["k", "x", "y"]], on=KEYS)
    paths[at["index"].to_numpy(), at["k"].to_numpy()] = at[["x", "y"]].to_numpy()
    row = samples[KEYS].merge(plays.reset_index(), on=KEYS, how="left")["index"].to_numpy()
    return paths[row]


def _references(rows: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per sample: QB, ball and nearest offensive player at the release (left→right), and the target id."""
    rel = rows[rows["k"] == 0]
    offense = rel[rel["club"] == rel["possession_team"]]
    qb = (offense[offense["position"] == "QB"].sort_values("nfl_id").drop_duplicates(KEYS)
          [KEYS + ["x", "y"]].rename(columns={"x": "ref_qb_x", "y": "ref_qb_y"}))
    ball = (rel[rel["nfl_id"].isna()].drop_duplicates(KEYS)[KEYS + ["x", "y"]]
            .rename(columns={"x": "ref_ball_x", "y": "ref_ball_y"}))
    target = rows[KEYS + ["target_nfl_id"]].drop_duplicates(KEYS)
    out = samples[SAMPLE_KEYS].merge(qb, on=KEYS, how="left").merge(ball, on=KEYS, how="left")
    out = out.merge(target, on=KEYS, how="left")
    # the nearest offensive player to each defender at the release (ties: the lower nfl_id, as in Spark)
    me = samples[SAMPLE_KEYS].merge(rel[SAMPLE_KEYS + ["x", "y"]], on=SAMPLE_KEYS, how="left")
    pairs = me.merge(offense[KEYS + ["nfl_id", "x", "y"]].rename(columns={"nfl_id": "o_id", "x": "ox", "y": "oy"}),
                     on=KEYS)
    pairs["d"] = np.hypot(pairs["ox"] - pairs["x"], pairs["oy"] - pairs["y"])
    near = (pairs.sort_values(SAMPLE_KEYS + ["d", "o_id"]).drop_duplicates(SAMPLE_KEYS)
            [SAMPLE_KEYS + ["ox", "oy"]].rename(columns={"ox": "ref_opp_x", "oy": "ref_opp_y"}))
    out = out.merge(near, on=SAMPLE_KEYS, how="left")
    assert len(out) == len(samples)
    return out.reset_index(drop=True)


def _receivers(rows: pd.DataFrame, eligible: list[str]) -> pd.DataFrame:
    """Per (play, eligible receiver of the offense): state at the release, position at the arrival,
    whether he was the target; the defenders' distances for the separation features."""
    offense = rows[(rows["club"] == rows["possession_team"]) & rows["position"].isin(eligible)]
    rel = offense[offense["k"] == 0][KEYS + ["nfl_id", "position", "x", "y", "vx", "vy", "s", "target_nfl_id"]]
    arr = (offense[offense["frame_id"] == offense["arrival_frame"]][KEYS + ["nfl_id", "x", "y"]]
           .rename(columns={"x": "arrival_x", "y": "arrival_y"}))
    out = rel.merge(arr, on=KEYS + ["nfl_id"], how="left")
    out["is_target"] = out["nfl_id"] == out["target_nfl_id"]
    return out.drop(columns=["target_nfl_id"]).sort_values(KEYS + ["nfl_id"]).reset_index(drop=True)


def release_players(settings: Settings, season: int, weeks: list[int], game_id: int, play_id: int,
                    release_frame: int, last_frame: int) -> pd.DataFrame:
    """Every tracked row (players and ball) of one play from the release to ``last_frame``, left→right,
    with ``position`` (the counterfactual plot draws them)."""
    rows = read_play_frames(settings, season, weeks, pd.DataFrame(
        {"game_id": [game_id], "play_id": [play_id], "first": [release_frame], "last": [last_frame]}))
    players = lake.read_weeks(settings.paths.lake / "raw" / "players", season, weeks,
                              columns=["nfl_id", "position"]).to_pandas().drop_duplicates("nfl_id", keep="last")
    return rows.merge(players, on="nfl_id", how="left")


__all__ = ["FIELD_WIDTH", "GhostingData", "ReleaseContext", "check_features", "frame_suffixes",
           "ghosting_data_from_table", "load_ghosting_data", "load_release_context", "read_play_frames",
           "release_players", "to_left_to_right", "velocity"]
