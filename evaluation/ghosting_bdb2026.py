"""The ghosting evaluation on data in the 2026 Big Data Bowl prediction layout.

    samples = prediction_samples(folder, season, week)           # via pipelines.sources.bdb
    result = evaluate_prediction_week(folder, season, week, model)

The 2026 files (``input_{season}_w{NN}.csv``: every player, frames up to the release, with
``player_to_predict``, ``player_role``, ``ball_land_x/y`` and ``num_frames_output``;
``output_{season}_w{NN}.csv``: the positions of the players to predict for the ``num_frames_output``
frames after the release, numbered from 1) are read with ``pipelines.sources.bdb.read_prediction_week``
and turned into ghosting samples (``prediction_samples``): the defensive backs to predict (position
in ``conf/features.yaml`` ``defensive_backs``) of plays with at least ``H`` output frames, their last
``K`` input frames, their first ``H`` output frames, and the targeted receiver's path (the last input
frame, then his output frames).  Plays are turned left→right as the features are.

Inputs the layout carries are computed as ``features.build`` computes them (distances, offsets and
closing speeds to the targeted receiver, the passer, the nearest offensive player and the landing
spot; depth, sideline distance, the target's speed, depth, ``vx``, distance to the passer; the pass's
depth, air distance and flight time = ``num_frames_output``/10 s).  What it lacks (the ball before it
lands, the snap, the game situation) stays NaN, which the model reads as its training mean
(``Standardizer``).  ``write_prediction_week`` writes the layout from canonical tables (the fixtures
of the tests and the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.ghosting import bars, composite_table, error_table
from features.config import load_features_config
from pipelines.field import FIELD_WIDTH, FPS
from pipelines.sources.bdb import read_prediction_week
from training.ghosting import (GhostingTrainingConfig, constant_acceleration, constant_velocity, load_ghosting_config,
                               randomize_inputs)
from training.ghosting_data import OBSERVED, frame_suffixes, to_left_to_right, velocity

KEYS = ["game_id", "play_id"]


@dataclass
class PredictionSamples:
    frame: pd.DataFrame  # ghosting-table columns (NaN where the layout lacks them) + ref_{qb,ball,opp}_{x,y}
    future: np.ndarray  # [n, H, 2]
    target_path: np.ndarray  # [n, H+1, 2]


def prediction_samples(folder: str | Path, season: int, week: int) -> PredictionSamples:
    fcfg = load_features_config()
    K, H = fcfg.observed_frames, fcfg.future_frames
    parts = read_prediction_week(Path(folder), season, week)
    inp, out = parts["input"].to_pandas(), parts["output"].to_pandas()
    inp = inp[inp["num_frames_output"] >= H].copy()
    x, y, o, d = to_left_to_right(inp["play_direction"].to_numpy(), inp["x"], inp["y"], inp["o"], inp["dir"])
    vx, vy = velocity(inp["s"], d)
    lx, ly = to_left_to_right(inp["play_direction"].to_numpy(), inp["ball_land_x"], inp["ball_land_y"])
    los, _ = to_left_to_right(inp["play_direction"].to_numpy(), inp["absolute_yardline"], np.zeros(len(inp)))
    inp = inp.assign(x=x, y=y, o=o, dir=d, vx=vx, vy=vy, landing_x=lx, landing_y=ly, los_x=los)
    inp["release_frame"] = inp.groupby(KEYS)["frame_id"].transform("max")
    inp["k"] = inp["frame_id"] - inp["release_frame"]
    direction = inp.drop_duplicates(KEYS).set_index(KEYS)["play_direction"]
    rel = inp[inp["k"] == 0]
    dbs = rel[rel["player_to_predict"] & (rel["player_side"] == "Defense") & rel["position"].isin(fcfg.defensive_backs)]
    wide = dbs[KEYS + ["nfl_id", "release_frame", "num_frames_output", "landing_x", "landing_y", "los_x", "position"]].copy()
    for j, sfx in zip(range(K - 1, -1, -1), frame_suffixes(K)):
        at = inp[inp["k"] == -j][KEYS + ["nfl_id", *OBSERVED]].rename(columns={c: f"{c}_{sfx}" for c in OBSERVED})
        wide = wide.merge(at, on=KEYS + ["nfl_id"], how="left")
    wide = wide.dropna(subset=[f"x_{s}" for s in frame_suffixes(K)]).reset_index(drop=True)
    wide = wide.merge(inp[inp["k"] <= 0].groupby(KEYS + ["nfl_id"])["s"].max().rename("max_speed_before").reset_index(),
                      on=KEYS + ["nfl_id"], how="left")

    def role(name):
        r = rel[rel["player_role"] == name].sort_values("nfl_id").drop_duplicates(KEYS)
        return r[KEYS + ["nfl_id", "x", "y", "vx", "vy", "s"]].set_index(KEYS)

    target, passer = role("Targeted Receiver"), role("Passer")
    offense = rel[rel["player_side"] == "Offense"]
    idx = pd.MultiIndex.from_frame(wide[KEYS])
    t = target.reindex(idx)
    q = passer.reindex(idx)
    px, py, pvx, pvy = (wide[f"{c}_0"].to_numpy() for c in ("x", "y", "vx", "vy"))
    f = wide

    def relation(ref, rx, ry, rvx, rvy):
        dx, dy = rx - px, ry - py
        dist = np.hypot(dx, dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            f[f"cl_{ref}"] = ((pvx - rvx) * dx + (pvy - rvy) * dy) / dist
        f[f"d_{ref}"] = dist
        return dx, dy

    dx, dy = relation("target", t["x"].to_numpy(), t["y"].to_numpy(), t["vx"].to_numpy(), t["vy"].to_numpy())
    f["dx_target"], f["dy_target"] = dx, dy
    relation("qb", q["x"].to_numpy(), q["y"].to_numpy(), q["vx"].to_numpy(), q["vy"].to_numpy())
    pairs = f[KEYS + ["nfl_id", "x_0", "y_0"]].merge(
        offense[KEYS + ["nfl_id", "x", "y", "vx", "vy"]].rename(columns={"nfl_id": "o_id"}), on=KEYS)
    pairs["dd"] = np.hypot(pairs["x"] - pairs["x_0"], pairs["y"] - pairs["y_0"])
    near = pairs.sort_values(KEYS + ["nfl_id", "dd", "o_id"]).drop_duplicates(KEYS + ["nfl_id"])
    near = f[KEYS + ["nfl_id"]].merge(near, on=KEYS + ["nfl_id"], how="left")
    relation("opp", near["x"].to_numpy(), near["y"].to_numpy(), near["vx"].to_numpy(), near["vy"].to_numpy())
    for c in ("d_ball", "cl_ball"):  # the ball is not tracked in this layout
        f[c] = np.nan
    dxl, dyl = f["landing_x"].to_numpy() - px, f["landing_y"].to_numpy() - py
    dl = np.hypot(dxl, dyl)
    f["flight_time"] = f["num_frames_output"] / FPS
    with np.errstate(invalid="ignore", divide="ignore"):
        f["speed_to_landing"] = (pvx * dxl + pvy * dyl) / dl
    f["dx_landing"], f["dy_landing"], f["d_landing"] = dxl, dyl, dl
    f["speed_needed_to_landing"] = dl / f["flight_time"]
    f["depth"] = px - f["los_x"]
    f["sideline_distance"] = np.minimum(py, FIELD_WIDTH - py)
    f["is_cb"] = (f["position"] == "CB").astype(int)
    f["target_speed"], f["target_vx"] = t["s"].to_numpy(), t["vx"].to_numpy()
    f["target_depth"] = t["x"].to_numpy() - f["los_x"]
    f["target_sideline_distance"] = np.minimum(t["y"].to_numpy(), FIELD_WIDTH - t["y"].to_numpy())
    f["target_qb_distance"] = np.hypot(t["x"].to_numpy() - q["x"].to_numpy(), t["y"].to_numpy() - q["y"].to_numpy())
    f["pass_depth"] = f["landing_x"] - f["los_x"]
    f["air_distance"] = np.hypot(f["landing_x"] - q["x"].to_numpy(), f["landing_y"] - q["y"].to_numpy())
    f["ref_qb_x"], f["ref_qb_y"] = q["x"].to_numpy(), q["y"].to_numpy()
    f["ref_ball_x"], f["ref_ball_y"] = np.nan, np.nan
    f["ref_opp_x"], f["ref_opp_y"] = near["x"].to_numpy(), near["y"].to_numpy()

    # the future: output frames 1 … H, left→right
    out = out[(out["frame_id"] >= 1) & (out["frame_id"] <= H)].copy()
    out = out.merge(direction.reset_index(), on=KEYS)
    out["x"], out["y"] = to_left_to_right(out["play_direction"].to_numpy(), out["x"], out["y"])
    future = _paths(f[KEYS + ["nfl_id"]], out, H, first=1)
    target_ids = f[KEYS].merge(target["nfl_id"].reset_index(), on=KEYS, how="left")
    tgt_future = _paths(target_ids, out, H, first=1)
    target_path = np.concatenate([np.stack([t["x"].to_numpy(), t["y"].to_numpy()], axis=1)[:, None], tgt_future], axis=1)
    keep = ~np.isnan(future).any(axis=(1, 2))
    return PredictionSamples(frame=f[keep].reset_index(drop=True), future=future[keep], target_path=target_path[keep])


def _paths(who: pd.DataFrame, out: pd.DataFrame, H: int, first: int) -> np.ndarray:
    """``[len(who), H, 2]`` positions of output frames first … first+H−1 (NaN where absent)."""
    paths = np.full((len(who), H, 2), np.nan)
    at = who.reset_index().merge(out[KEYS + ["nfl_id", "frame_id", "x", "y"]], on=KEYS + ["nfl_id"])
    at = at[at["frame_id"].between(first, first + H - 1)]
    paths[at["index"].to_numpy(), (at["frame_id"] - first).to_numpy()] = at[["x", "y"]].to_numpy()
    return paths


@dataclass
class PredictionEvaluation:
    errors: pd.DataFrame
    composites: pd.DataFrame
    bars: dict[str, bool]
    samples: int


def evaluate_prediction_weeks(folder: str | Path, season: int, weeks: list[int], model=None,
                              config: GhostingTrainingConfig | None = None) -> PredictionEvaluation:
    """ADE/FDE/RMSE of the baselines (and of ``model``, a ``GhostingModel``, when given) and the
    composite scores on the samples of ``weeks`` of the 2026 layout, pooled."""
    cfg = config or load_ghosting_config()
    parts = [prediction_samples(folder, season, w) for w in weeks]
    s = PredictionSamples(frame=pd.concat([p.frame for p in parts], ignore_index=True),
                          future=np.concatenate([p.future for p in parts]),
                          target_path=np.concatenate([p.target_path for p in parts]))
    H = s.future.shape[1]
    preds = {"constant_velocity": constant_velocity(s.frame, H), "constant_acceleration": constant_acceleration(s.frame, H)}
    paths = {"observed": s.future}
    if model is not None:
        preds = {"model": model.predict(s.frame), **preds}
        randomized, mask = randomize_inputs(s.frame, s.frame, cfg.randomize.share, cfg.randomize.seed,
                                            model.observed_frames)
        paths |= {"model": preds["model"], "randomized": model.predict(randomized)}
    else:
        mask = None
    errors = error_table(preds, s.future)
    composites = composite_table(paths, s.frame[["x_0", "y_0"]].to_numpy(), s.target_path, cfg.composite, mask)
    met = bars(errors, composites, cfg.bars) if model is not None else {}
    return PredictionEvaluation(errors, composites, met, len(s.frame))


# --- the layout, written from canonical tables (test fixtures, the benchmark) ----------------------

INPUT_COLUMNS = ["game_id", "play_id", "player_to_predict", "nfl_id", "frame_id", "play_direction",
                 "absolute_yardline_number", "player_name", "player_height", "player_weight", "player_birth_date",
                 "player_position", "player_side", "player_role", "x", "y", "s", "a", "dir", "o", "num_frames_output",
                 "ball_land_x", "ball_land_y"]
OUTPUT_COLUMNS = ["game_id", "play_id", "nfl_id", "frame_id", "x", "y"]


def write_prediction_week(tracking: pd.DataFrame, plays: pd.DataFrame, positions: pd.DataFrame, out: str | Path,
                          season: int, week: int) -> tuple[Path, Path]:
    """Write ``input_{season}_w{NN}.csv`` and ``output_…`` from canonical tracking rows (values as
    delivered, with ``event``), plays (``target_nfl_id``, ``possession_team``, ``absolute_yardline``)
    and player positions: input frames from the snap to the release (``pass_forward``), output frames
    from the release to the arrival (``pass_arrived``), for the defence and the targeted receiver."""
    fcfg = load_features_config()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = tracking.merge(plays[KEYS + ["target_nfl_id", "possession_team", "absolute_yardline"]], on=KEYS)
    first = lambda name: t[t["event"] == name].groupby(KEYS)["frame_id"].min().rename(name)
    ev = pd.concat([first("ball_snap"), first("pass_forward"), first("pass_arrived")], axis=1).dropna().astype(int)
    t = t.merge(ev.reset_index(), on=KEYS)
    ball = t[t["nfl_id"].isna() & (t["frame_id"] == t["pass_arrived"])][KEYS + ["x", "y"]].rename(
        columns={"x": "ball_land_x", "y": "ball_land_y"})
    t = t[t["nfl_id"].notna()].merge(ball, on=KEYS).merge(positions[["nfl_id", "position"]], on="nfl_id", how="left")
    t["nfl_id"] = t["nfl_id"].astype(np.int64)
    offense = t["club"] == t["possession_team"]
    t["player_side"] = np.where(offense, "Offense", "Defense")
    is_target = t["nfl_id"] == t["target_nfl_id"]
    t["player_role"] = np.select([is_target, offense & (t["position"] == "QB"), ~offense],
                                 ["Targeted Receiver", "Passer", "Defensive Coverage"], "Other Route Runner")
    t["player_to_predict"] = is_target | (~offense & t["position"].isin(fcfg.defensive_backs))
    t["num_frames_output"] = t["pass_arrived"] - t["pass_forward"]
    inp = t[(t["frame_id"] >= t["ball_snap"]) & (t["frame_id"] <= t["pass_forward"])].copy()
    inp["frame_id"] = inp["frame_id"] - inp["ball_snap"] + 1
    inp = inp.assign(absolute_yardline_number=inp["absolute_yardline"], player_name="P" + inp["nfl_id"].astype(str),
                     player_height="6-0", player_weight=200, player_birth_date="1998-01-01",
                     player_position=inp["position"])
    outp = t[t["player_to_predict"] & (t["frame_id"] > t["pass_forward"]) & (t["frame_id"] <= t["pass_arrived"])].copy()
    outp["frame_id"] = outp["frame_id"] - outp["pass_forward"]
    paths = out / f"input_{season}_w{week:02d}.csv", out / f"output_{season}_w{week:02d}.csv"
    inp.sort_values(KEYS + ["nfl_id", "frame_id"])[INPUT_COLUMNS].to_csv(paths[0], index=False, na_rep="NA")
    outp.sort_values(KEYS + ["nfl_id", "frame_id"])[OUTPUT_COLUMNS].to_csv(paths[1], index=False, na_rep="NA")
    return paths
