"""Counterfactual targets: the defensive backs' predicted trajectories as if each eligible receiver of
a play had been targeted (``trackflow ghost``).

    cf = counterfactual_play(settings, model, game_id=…, play_id=…)      # samples, receivers, predictions
    table = cf.table                                                     # one row per hypothetical target
    draw_play(cf, out_png, target=None)

**What changes with the target.** Every input of ``TARGET_DEPENDENT`` is recomputed for the
hypothetical target ``N`` from the tracking at the release (``retarget``): the defender's offsets,
distance and closing speed to ``N`` (``dx_target, dy_target, d_target, cl_target``), ``N``'s speed,
depth, sideline distance, distance to the QB and ``vx`` (``target_*``), his separation from the nearest
defender and its closing speed, the defenders within ``target_radius`` of him; and the pass itself:
the ball is assumed to land where ``N`` was when the real pass arrived (his tracked position at the
arrival frame, same flight time), which gives ``landing_x/y``, ``dx/dy/d_landing``, ``speed_to_landing``,
``speed_needed_to_landing``, ``pass_depth`` and ``air_distance``.  Everything else (the defender's
own motion, the situation) stays as observed.  The actual target's row uses the observed inputs
unchanged, so its prediction is the model's ordinary one.

**The table** (one row per eligible receiver): whether he was the actual target, and over the play's
defensive backs the mean predicted distance to him 1 s after the release (against his tracked path),
the nearest predicted defender then, and the composite score of the predictions against his path
(lower: the defence would have covered him better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

from evaluation import ghosting_metrics as m
from features.config import load_features_config
from pipelines import lake
from pipelines.config import Settings
from pipelines.field import FIELD_LENGTH, FIELD_WIDTH, FPS
from training.ghosting import load_ghosting_config
from training.ghosting_data import ghosting_data_from_table, release_players
from training.ghosting_model import GhostingModel

TARGET_DEPENDENT = (
    "dx_target", "dy_target", "d_target", "cl_target", "target_speed", "target_depth", "target_sideline_distance",
    "target_qb_distance", "target_vx", "target_separation", "target_separation_closing", "defenders_near_target",
    "landing_x", "landing_y", "dx_landing", "dy_landing", "d_landing", "speed_to_landing", "speed_needed_to_landing",
    "pass_depth", "air_distance",
)


def retarget(frame: pd.DataFrame, receiver: dict, landing: tuple[float, float], qb: tuple[float, float],
             defense: pd.DataFrame, target_radius: float) -> pd.DataFrame:
    """A copy of one play's ghosting rows with every ``TARGET_DEPENDENT`` column recomputed for
    ``receiver`` (x, y, vx, vy, s at the release) and a ball landing at ``landing``.  ``defense``: the
    defensive players at the release (x, y, vx, vy); ``qb``: the QB at the release."""
    out = frame.copy()
    col = lambda c: frame[c].to_numpy(dtype=np.float64)
    px, py, vx, vy = col("x_0"), col("y_0"), col("vx_0"), col("vy_0")
    rx, ry, rvx, rvy = (float(receiver[k]) for k in ("x", "y", "vx", "vy"))
    dx, dy = rx - px, ry - py
    d = np.hypot(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cl_target"] = ((vx - rvx) * dx + (vy - rvy) * dy) / d
    out["dx_target"], out["dy_target"], out["d_target"] = dx, dy, d
    los_x = col("los_x")
    out["target_speed"] = float(receiver["s"])
    out["target_depth"] = rx - los_x
    out["target_sideline_distance"] = min(ry, FIELD_WIDTH - ry)
    out["target_qb_distance"] = float(np.hypot(rx - qb[0], ry - qb[1]))
    out["target_vx"] = rvx
    gap = np.hypot(defense["x"].to_numpy() - rx, defense["y"].to_numpy() - ry)
    if len(gap):
        near = int(np.argmin(gap))
        ox, oy = defense["x"].iloc[near] - rx, defense["y"].iloc[near] - ry
        ovx, ovy = defense["vx"].iloc[near], defense["vy"].iloc[near]
        out["target_separation"] = gap[near]
        out["target_separation_closing"] = ((rvx - ovx) * ox + (rvy - ovy) * oy) / gap[near] if gap[near] > 0 else np.nan
        out["defenders_near_target"] = int((gap <= target_radius).sum())
    lx, ly = landing
    dxl, dyl = lx - px, ly - py
    dl = np.hypot(dxl, dyl)
    out["landing_x"], out["landing_y"] = lx, ly
    out["dx_landing"], out["dy_landing"], out["d_landing"] = dxl, dyl, dl
    with np.errstate(invalid="ignore", divide="ignore"):
        out["speed_to_landing"] = (vx * dxl + vy * dyl) / dl
        out["speed_needed_to_landing"] = dl / col("flight_time")
    out["pass_depth"] = lx - los_x
    out["air_distance"] = float(np.hypot(lx - qb[0], ly - qb[1]))
    return out


@dataclass
class Counterfactual:
    game_id: int
    play_id: int
    season: int
    week: int
    samples: pd.DataFrame  # the play's ghosting rows (one per defensive back)
    observed: np.ndarray  # [n DBs, H, 2] their tracked future
    frames: pd.DataFrame  # every tracked row of the play, release … release + H (left→right)
    receivers: pd.DataFrame  # eligible receivers at the release (+ arrival position, is_target)
    predictions: dict[int, np.ndarray]  # receiver nfl_id → [n DBs, H, 2]
    receiver_paths: dict[int, np.ndarray]  # receiver nfl_id → [H+1, 2] his tracked path
    table: pd.DataFrame
    offense_club: str


def find_play(settings: Settings, game_id: int, play_id: int) -> tuple[int, int]:
    """``(season, week)`` of the ghosting partition holding the play; ValueError when none does."""
    root = settings.paths.lake / "features" / "ghosting"
    parts = sorted(root.glob("season=*/week=*/part-0.parquet")) if root.is_dir() else []
    for part in parts:
        table = ds.dataset(part, format="parquet").to_table(
            columns=["play_id"], filter=(pc.field("game_id") == game_id) & (pc.field("play_id") == play_id))
        if table.num_rows:
            return int(part.parent.parent.name.split("=")[1]), int(part.parent.name.split("=")[1])
    raise ValueError(f"game {game_id} play {play_id}: no ghosting samples under {root} "
                     f"({len(parts)} week partition(s)): a released pass with defensive backs tracked for "
                     "1 s after the release is needed")


def counterfactual_play(settings: Settings, model: GhostingModel, game_id: int, play_id: int,
                        target: int | None = None) -> Counterfactual:
    fcfg, gcfg = load_features_config(), load_ghosting_config()
    season, week = find_play(settings, game_id, play_id)
    table = lake.read_weeks(settings.paths.lake / "features" / "ghosting", season, [week])
    table = table.filter((pc.field("game_id") == game_id) & (pc.field("play_id") == play_id))
    data = ghosting_data_from_table(table, model.features, where=f"game {game_id} play {play_id}")
    samples = data.frame
    H = data.horizon
    release = int(samples["release_frame"].iloc[0])
    arrival = release + int(round(float(samples["flight_time"].iloc[0]) * FPS))
    frames = release_players(settings, season, [week], game_id, play_id, release, max(release + H, arrival))
    plays = lake.read_weeks(settings.paths.lake / "raw" / "plays", season, [week],
                            columns=["game_id", "play_id", "target_nfl_id", "possession_team"]).to_pandas()
    play = plays[(plays["game_id"] == game_id) & (plays["play_id"] == play_id)].iloc[0]
    at_release = frames[frames["frame_id"] == release]
    offense = at_release[at_release["club"] == play["possession_team"]]
    defense = at_release[(at_release["club"] != play["possession_team"]) & at_release["nfl_id"].notna()]
    qb_rows = offense[offense["position"] == "QB"].sort_values("nfl_id")
    qb = (float(qb_rows["x"].iloc[0]), float(qb_rows["y"].iloc[0])) if len(qb_rows) else (np.nan, np.nan)
    receivers = offense[offense["position"].isin(fcfg.eligible_receivers)].sort_values("nfl_id").copy()
    receivers["nfl_id"] = receivers["nfl_id"].astype(np.int64)
    receivers["is_target"] = receivers["nfl_id"] == play["target_nfl_id"]
    if target is not None and target not in set(receivers["nfl_id"]):
        raise ValueError(f"receiver {target} is not an eligible receiver of game {game_id} play {play_id} "
                         f"(eligible: {', '.join(map(str, receivers['nfl_id']))})")
    tracks = frames[frames["nfl_id"].isin(receivers["nfl_id"])]
    predictions, paths, rows = {}, {}, []
    p0 = samples[["x_0", "y_0"]].to_numpy(dtype=np.float64)
    weights = gcfg.composite.weights.model_dump()
    for _, rec in receivers.iterrows():
        nid = int(rec["nfl_id"])
        track = tracks[tracks["nfl_id"] == nid].set_index("frame_id")
        path = np.full((H + 1, 2), np.nan)
        for k in range(H + 1):
            if release + k in track.index:
                path[k] = track.loc[release + k, ["x", "y"]].to_numpy(dtype=np.float64)
        landing = (tuple(track.loc[arrival, ["x", "y"]].to_numpy(dtype=np.float64)) if arrival in track.index
                   else (float(path[-1, 0]), float(path[-1, 1])))
        inputs = samples if rec["is_target"] else retarget(samples, rec, landing, qb, defense, fcfg.target_radius)
        pred = model.predict(inputs)
        predictions[nid], paths[nid] = pred, path
        receiver = np.repeat(path[None], len(samples), axis=0)
        final = np.hypot(*(pred[:, -1] - path[-1]).T)
        rows.append({"receiver_nfl_id": nid, "position": rec["position"], "actual_target": bool(rec["is_target"]),
                     "mean_db_distance_1s": float(np.mean(final)), "nearest_db_distance_1s": float(np.min(final)),
                     "composite": m.composite(m.with_release(p0, pred), receiver, gcfg.composite.top_speed,
                                              gcfg.composite.speed_limit, weights)})
    out_table = pd.DataFrame(rows)
    return Counterfactual(game_id, play_id, season, week, samples, data.future, frames, receivers, predictions,
                          paths, out_table, str(play["possession_team"]))


def draw_play(cf: Counterfactual, out, target: int | None = None) -> None:
    """The field around the play: every player's tracked path for 1 s after the release (offense blue,
    defence grey, defensive backs black), and the DBs' predicted paths for each hypothetical target
    (one colour per receiver, dashed; the actual target's solid); ``target`` draws that receiver only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = cf.frames
    release = int(cf.samples["release_frame"].iloc[0])
    H = cf.observed.shape[1]
    fig, ax = plt.subplots(figsize=(12, 6))
    ax.add_patch(plt.Rectangle((0, 0), FIELD_LENGTH, FIELD_WIDTH, color="#e8f3e8", zorder=0))
    for x in range(10, 111, 5):
        ax.axvline(x, color="white" if x % 10 else "#bcd5bc", lw=1, zorder=1)
    los = float(cf.samples["los_x"].iloc[0])
    ax.axvline(los, color="tab:blue", lw=1, ls=":", zorder=1)
    dbs = set(cf.samples["nfl_id"].astype(np.int64))
    window = fr[(fr["frame_id"] >= release) & (fr["frame_id"] <= release + H)]
    for nid, g in window[window["nfl_id"].notna()].groupby("nfl_id"):
        g = g.sort_values("frame_id")
        db = int(nid) in dbs
        colour = "k" if db else ("tab:blue" if g["club"].iloc[0] == cf.offense_club else "0.6")
        ax.plot(g["x"], g["y"], "-", color=colour, lw=1.8 if db else 0.8, zorder=2)
        ax.plot(g["x"].iloc[0], g["y"].iloc[0], "o", ms=3, color=colour, zorder=3)
    colours = plt.get_cmap("tab10")
    chosen = [target] if target is not None else list(cf.predictions)
    p0 = cf.samples[["x_0", "y_0"]].to_numpy(dtype=np.float64)
    for i, nid in enumerate(cf.predictions):
        if nid not in chosen:
            continue
        colour = colours(i % 10)
        actual = bool(cf.receivers.loc[cf.receivers["nfl_id"] == nid, "is_target"].iloc[0])
        pred = m.with_release(p0, cf.predictions[nid])
        for j in range(len(pred)):
            ax.plot(pred[j, :, 0], pred[j, :, 1], "-" if actual else "--", color=colour, lw=1.4, zorder=4,
                    label=f"DBs if {nid} targeted{' (actual)' if actual else ''}" if j == 0 else None)
        path = cf.receiver_paths[nid]
        ax.plot(path[:, 0], path[:, 1], "-", color=colour, lw=2.5, alpha=0.5, zorder=3)
        ax.annotate(str(nid), path[0], fontsize=7, color=colour, xytext=(3, 3), textcoords="offset points")
    xs = window["x"].to_numpy()
    ys = window["y"].to_numpy()
    ax.set_xlim(max(0, np.nanmin(xs) - 5), min(FIELD_LENGTH, np.nanmax(xs) + 5))
    ax.set_ylim(max(0, np.nanmin(ys) - 3) - 1, min(FIELD_WIDTH, np.nanmax(ys) + 3) + 1)
    ax.set_aspect("equal")
    ax.set(xlabel="x (yards, offense → +x)", ylabel="y (yards)",
           title=f"game {cf.game_id} play {cf.play_id}: defensive backs 1 s after the release, by hypothetical target")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
