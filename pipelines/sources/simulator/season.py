"""From simulated plays to canonical tables: one game, one week, many weeks in parallel.

Every game draws from its own random stream seeded by (seed, season, week, game), so weeks and
games are independent of each other and of how many workers run them: the same seed gives the same
bytes.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines import lake, schema
from pipelines.config import SimulatorConfig
from pipelines.field import DT, FIELD_LENGTH, ngs_angle, rotate_to_left
from pipelines.sources.simulator import anomalies, plays
from pipelines.sources.simulator.league import (
    TEAMS, Game, League, game_situations, games_table, make_league, players_table, week_games,
)

REAL_SECONDS_PER_GAME_SECOND = 3.0  # a 60-minute game lasts about three hours on the clock


@lru_cache(maxsize=4)
def league_for(seed: int) -> League:
    return make_league(seed)


def _round2(v: np.ndarray) -> np.ndarray:
    """Two decimals as published; rint(v*100)/100 is exactly what a '%.2f' CSV reads back."""
    return np.rint(v * 100.0) / 100.0


@dataclass
class GameTables:
    tracking: pa.Table
    plays: pa.Table
    truth_plays: pa.Table
    truth_anomalies: pa.Table


def simulate_game(cfg: SimulatorConfig, game: Game) -> GameTables:
    """Simulate every pass play of one game and return its canonical tables."""
    league = league_for(cfg.seed)
    rng = np.random.default_rng([cfg.seed, game.season, game.week, game.index])
    sit = game_situations(rng, game, cfg.pass_plays_per_team)
    batch = plays.setup_plays(rng, sit, league, cfg.presnap_frames)
    res = plays.simulate_batch(rng, batch)
    cols, play_starts = _tracking_columns(game, sit, batch, res, league)
    cols, truth_rows = anomalies.inject(rng, cols, play_starts, cfg.anomalies.play_rate, cfg.anomalies.kinds)
    return GameTables(
        tracking=_tracking_table(cols, game),
        plays=_plays_table(game, sit, batch, res, league),
        truth_plays=_truth_plays_table(game, sit, batch, res, league),
        truth_anomalies=pa.table(
            {**truth_rows, "season": [game.season] * len(truth_rows["kind"]), "week": [game.week] * len(truth_rows["kind"])},
            schema=schema.TRUTH_ANOMALIES,
        ),
    )


def _tracking_columns(game, sit, batch, res, league):
    """Rows grouped by play, then entity (players by nfl_id, the ball last), then frame."""
    parts: dict[str, list] = {k: [] for k in (
        "game_id", "play_id", "nfl_id", "frame_id", "time_ms", "club", "jersey_number", "right",
        "x", "y", "s", "a", "dis", "o", "dir", "event")}  # fmt: skip
    starts = [0]
    kickoff_ms = int(game.kickoff_utc.timestamp() * 1000)
    for i in range(len(sit.play_id)):
        n = int(res.n_frames[i])
        rows = batch.roster_row[i]
        order = np.argsort(league.nfl_id[rows], kind="stable")
        pos = res.pos[:n, i][:, order]  # (n, 22, 2)
        vel = res.vel[:n, i][:, order]
        ori = res.ori[:n, i][:, order]
        bpos = res.ball[:n, i]
        ball_vel = np.diff(bpos, axis=0, prepend=bpos[:1]) / DT
        # all 23 entities: (23, n, 2)
        p = np.concatenate([pos.transpose(1, 0, 2), bpos[None]], axis=0)
        v = np.concatenate([vel.transpose(1, 0, 2), ball_vel[None]], axis=0)
        o = np.concatenate([ori.T, np.full((1, n), np.nan)], axis=0)
        right = bool(sit.moves_right[i])
        if not right:  # the simulation runs left to right; a "left" play is the field turned by 180°
            px, py, o = rotate_to_left(p[..., 0], p[..., 1], o)
            p = np.stack([px, py], -1)
            v = -v
        xr, yr = _round2(p[..., 0]), _round2(p[..., 1])
        dx = np.diff(xr, axis=1, prepend=xr[:, :1])
        dy = np.diff(yr, axis=1, prepend=yr[:, :1])
        speed = plays._norm(v)
        dis = np.sqrt(dx * dx + dy * dy)
        dis[:, 0] = speed[:, 0] * DT
        acc = plays._norm(np.diff(v, axis=1, prepend=v[:, :1])) / DT
        # dir: the heading of the published (rounded) motion where it moves visibly, else the velocity's
        direction = np.where(dis >= 0.05, ngs_angle(dx, dy), ngs_angle(v[..., 0], v[..., 1]))
        direction[-1] = np.nan  # the ball has no direction or orientation in the published data
        ent_ids = np.concatenate([league.nfl_id[rows][order], [-1]])
        clubs = np.concatenate([np.where(np.arange(22)[order] < 11, TEAMS[sit.offense[i]], TEAMS[sit.defense[i]]), ["football"]])
        jerseys = np.concatenate([league.jersey[rows][order], [-1]])
        t0 = kickoff_ms + int(sit.start_offset_s[i] * REAL_SECONDS_PER_GAME_SECOND * 1000)
        frame = np.arange(1, n + 1)
        m = 23 * n
        parts["game_id"].append(np.full(m, game.game_id, np.int64))
        parts["play_id"].append(np.full(m, sit.play_id[i], np.int64))
        parts["nfl_id"].append(np.repeat(ent_ids, n))
        parts["frame_id"].append(np.tile(frame, 23).astype(np.int32))
        parts["time_ms"].append(np.tile(t0 + (frame - 1) * 100, 23).astype(np.int64))
        parts["club"].append(np.repeat(clubs, n))
        parts["jersey_number"].append(np.repeat(jerseys, n))
        parts["right"].append(np.full(m, right))
        parts["x"].append(xr.ravel())
        parts["y"].append(yr.ravel())
        parts["s"].append(_round2(speed).ravel())
        parts["a"].append(_round2(acc).ravel())
        parts["dis"].append(_round2(dis).ravel())
        parts["o"].append(_round2(o).ravel() % 360.0)
        parts["dir"].append(_round2(direction).ravel() % 360.0)
        parts["event"].append(np.tile(res.event[:n, i], 23))
        starts.append(starts[-1] + m)
    return {k: np.concatenate(v) for k, v in parts.items()}, np.array(starts)


def _tracking_table(cols, game) -> pa.Table:
    n = len(cols["frame_id"])
    events = np.array(plays.EVENTS, dtype=object)[cols["event"]]
    ball = cols["nfl_id"] < 0
    return pa.table(
        {
            "game_id": cols["game_id"],
            "play_id": cols["play_id"],
            "nfl_id": pa.array(cols["nfl_id"], mask=ball),
            "frame_id": cols["frame_id"],
            "time": pa.array(cols["time_ms"], type=pa.timestamp("ms", tz="UTC")),
            "club": cols["club"].astype(str),
            "jersey_number": pa.array(cols["jersey_number"].astype(np.int32), mask=ball),
            "play_direction": np.where(cols["right"], "right", "left"),
            "x": cols["x"],
            "y": cols["y"],
            "s": cols["s"],
            "a": cols["a"],
            "dis": cols["dis"],
            "o": pa.array(cols["o"], mask=ball),
            "dir": pa.array(cols["dir"], mask=ball),
            "event": pa.array(events, type=pa.string()),
            "season": np.full(n, game.season, np.int32),
            "week": np.full(n, game.week, np.int32),
        },
        schema=schema.TRACKING,
    )


def _plays_table(game, sit, batch, res, league) -> pa.Table:
    P = len(sit.play_id)
    tgt = res.target_slot
    target_id = np.where(tgt > 0, league.nfl_id[batch.roster_row[np.arange(P), np.maximum(tgt, 0)]], -1)
    # defenders in the box at the snap: within 6 yards of the line and 5 of the ball laterally
    snap_pos = res.pos[batch.snap_f, np.arange(P)][:, 11:]
    in_box = ((snap_pos[..., 0] - sit.los_x[:, None]).__abs__() <= 6.0) & (
        np.abs(snap_pos[..., 1] - sit.ball_y[:, None]) <= 5.0)
    absolute = np.where(sit.moves_right, sit.los_x, FIELD_LENGTH - sit.los_x)
    return pa.table(
        {
            "game_id": np.full(P, game.game_id, np.int64),
            "play_id": sit.play_id,
            "season": np.full(P, game.season, np.int32),
            "week": np.full(P, game.week, np.int32),
            "quarter": sit.quarter.astype(np.int32),
            "game_clock_s": sit.game_clock_s.astype(np.int32),
            "down": sit.down.astype(np.int32),
            "yards_to_go": sit.yards_to_go.astype(np.int32),
            "possession_team": [TEAMS[t] for t in sit.offense],
            "defensive_team": [TEAMS[t] for t in sit.defense],
            "absolute_yardline": absolute.astype(float),
            "pass_result": res.pass_result.astype(str),
            "yards_gained": res.yards.astype(np.int32),
            "target_nfl_id": pa.array(target_id, mask=target_id < 0),
            "pass_rushers": (batch.behaviour[:, 11:] == plays.B_RUSH).sum(1).astype(np.int32),
            "defenders_in_box": in_box.sum(1).astype(np.int32),
            "offense_score": sit.offense_score.astype(np.int32),
            "defense_score": sit.defense_score.astype(np.int32),
        },
        schema=schema.PLAYS,
    )


def _truth_plays_table(game, sit, batch, res, league) -> pa.Table:
    P = len(sit.play_id)
    tr = res.truth
    cols = {
        "game_id": np.full(P, game.game_id, np.int64),
        "play_id": sit.play_id,
        "season": np.full(P, game.season, np.int32),
        "week": np.full(P, game.week, np.int32),
        "coverage": tr["coverage"].astype(str),
        "offense_personnel": tr["off_personnel"].astype(str),
        "defense_personnel": tr["def_personnel"].astype(str),
        "snap_frame": tr["snap_frame"].astype(np.int32),
    }
    sack = res.pass_result == "S"
    for name in ("release_frame", "arrival_frame"):
        cols[name] = pa.array(tr[name].astype(np.int32), mask=tr[name] < 0)
    for name in ("time_to_throw_s", "air_yards", "separation_at_arrival", "pressure_at_release", "p_complete",
                 "p_interception", "p_breakaway", "expected_yards"):
        cols[name] = pa.array(np.round(tr[name], 6), mask=np.isnan(tr[name]))
    for j, q in enumerate(schema.TRUTH_QUANTILE_LEVELS):
        cols[f"yards_q{int(round(q * 100)):02d}"] = pa.array(tr["quantiles"][:, j].astype(np.int32), mask=sack)
    cands, probs = [], []
    for i in range(P):
        elig = np.flatnonzero(tr["eligible_runner"][i])
        cands.append([int(league.nfl_id[batch.roster_row[i, 1 + e]]) for e in elig])
        probs.append(None if sack[i] else [round(float(tr["target_probs"][i, e]), 6) for e in elig])
    cols["target_candidates"] = cands
    cols["target_probs"] = probs
    return pa.table(cols, schema=schema.TRUTH_PLAYS)


@dataclass
class WeekResult:
    season: int
    week: int
    tracking_rows: int
    plays: pa.Table
    truth_plays: pa.Table
    truth_anomalies: pa.Table


def simulate_week(cfg: SimulatorConfig, season: int, week: int) -> dict[str, pa.Table]:
    """All games of a week, concatenated: tracking, plays, games, truth/plays, truth/anomalies."""
    games = week_games(cfg.seed, season, week, cfg.games_per_week)
    parts = [simulate_game(cfg, g) for g in games]
    return {
        "tracking": pa.concat_tables([p.tracking for p in parts]),
        "plays": pa.concat_tables([p.plays for p in parts]),
        "games": games_table(games),
        "truth/plays": pa.concat_tables([p.truth_plays for p in parts]),
        "truth/anomalies": pa.concat_tables([p.truth_anomalies for p in parts]),
    }


def _simulate_and_write_week(cfg: SimulatorConfig, season: int, week: int, out: Path, fmt: str) -> WeekResult:
    tables = simulate_week(cfg, season, week)
    if fmt == "parquet":
        for name, table in tables.items():
            lake.write_partition(table, out / name, schema.TABLES[name], season=season, week=week)
    else:
        from pipelines.sources import bdb

        bdb.write_week(tables["tracking"], players_table(league_for(cfg.seed)), out, week)
        for name in ("truth/plays", "truth/anomalies"):
            lake.write_partition(tables[name], out / name, schema.TABLES[name], season=season, week=week)
    return WeekResult(season, week, tables["tracking"].num_rows, tables["plays"], tables["truth/plays"],
                      tables["truth/anomalies"])


def simulate_to(cfg: SimulatorConfig, out: Path, season: int | None = None, weeks: list[int] | None = None,
                fmt: str = "parquet", workers: int | None = None) -> list[WeekResult]:
    """Simulate weeks of a season and write them under ``out`` as canonical Parquet or BDB CSV.

    Weeks run in parallel processes; each writes its own partitions and returns its small tables.
    """
    if fmt not in ("parquet", "bdb"):
        raise ValueError(f"format {fmt!r} is not supported; expected 'parquet' or 'bdb'")
    season = cfg.season if season is None else season
    weeks = cfg.week_list if weeks is None else weeks
    workers = cfg.workers if workers is None else workers
    workers = min(len(weeks), workers or os.cpu_count() or 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    players = players_table(league_for(cfg.seed))
    if fmt == "parquet":
        lake.write_partition(players, out / "players", schema.PLAYERS, season=season)
    if workers <= 1:
        results = [_simulate_and_write_week(cfg, season, w, out, fmt) for w in weeks]
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_simulate_and_write_week, cfg, season, w, out, fmt) for w in weeks]
            results = [f.result() for f in futures]
    if fmt == "bdb":
        from pipelines.sources import bdb

        all_games = [g for w in weeks for g in week_games(cfg.seed, season, w, cfg.games_per_week)]
        bdb.write_season_tables(out, players, games_table(all_games), pa.concat_tables([r.plays for r in results]))
    return results

