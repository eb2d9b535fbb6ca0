"""Big Data Bowl CSV layouts.

This module writes canonical tables in the 2023+ Big Data Bowl layout (``tracking_week_N.csv``,
``plays.csv``, ``games.csv``, ``players.csv``), so that the ``bdb:`` source can be exercised on the
simulator's data.  The column maps below are the one home for the canonical ↔ BDB 2023 names; the
reader (the ``bdb:`` source) uses them in the other direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


# canonical column → BDB 2023 column
TRACKING_2023 = {
    "game_id": "gameId", "play_id": "playId", "nfl_id": "nflId", "display_name": "displayName",
    "frame_id": "frameId", "time": "time", "jersey_number": "jerseyNumber", "club": "club",
    "play_direction": "playDirection", "x": "x", "y": "y", "s": "s", "a": "a", "dis": "dis", "o": "o",
    "dir": "dir", "event": "event",
}  # fmt: skip
PLAYS_2023 = {
    "game_id": "gameId", "play_id": "playId", "quarter": "quarter", "down": "down",
    "yards_to_go": "yardsToGo", "possession_team": "possessionTeam", "defensive_team": "defensiveTeam",
    "absolute_yardline": "absoluteYardlineNumber", "pass_result": "passResult",
    "yards_gained": "playResult", "target_nfl_id": "targetNflId", "pass_rushers": "numberOfPassRushers",
    "defenders_in_box": "defendersInTheBox",
}  # fmt: skip
GAMES_2023 = {"game_id": "gameId", "season": "season", "week": "week", "home_team": "homeTeamAbbr",
              "visitor_team": "visitorTeamAbbr"}  # fmt: skip
PLAYERS_2023 = {"nfl_id": "nflId", "weight_lb": "weight", "college_name": "collegeName", "position": "position",
                "display_name": "displayName"}  # fmt: skip
NA = "NA"  # how the published files spell a missing value


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, na_rep=NA)
    tmp.replace(path)


def write_week(tracking: pa.Table, players: pa.Table, out: Path, week: int) -> Path:
    """Write one week's tracking as ``tracking_week_{week}.csv`` (names from ``players``)."""
    df = tracking.to_pandas()
    names = dict(zip(players.column("nfl_id").to_pylist(), players.column("display_name").to_pylist()))
    df["display_name"] = df["nfl_id"].map(names).fillna("football")
    df["time"] = df["time"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    for col in ("nfl_id", "jersey_number"):
        df[col] = df[col].astype("Int64")
    path = Path(out) / f"tracking_week_{week}.csv"
    _write_csv(df[list(TRACKING_2023)].rename(columns=TRACKING_2023), path)
    return path


def write_season_tables(out: Path, players: pa.Table, games: pa.Table, plays: pa.Table) -> None:
    """Write ``players.csv``, ``games.csv`` and ``plays.csv`` (with ``targetNflId``)."""
    out = Path(out)
    p = players.to_pandas()
    p["height"] = (p["height_in"] // 12).astype(str) + "-" + (p["height_in"] % 12).astype(str)
    p["birthDate"] = pd.to_datetime(p["birth_date"]).dt.strftime("%Y-%m-%d")
    _write_csv(p.rename(columns=PLAYERS_2023)[["nflId", "height", "weight", "birthDate", "collegeName", "position",
                                                 "displayName"]], out / "players.csv")
    g = games.to_pandas()
    g["gameDate"] = pd.to_datetime(g["game_date"]).dt.strftime("%m/%d/%Y")
    g["gameTimeEastern"] = g["game_time_eastern"]
    _write_csv(g.rename(columns=GAMES_2023)[["gameId", "season", "week", "gameDate", "gameTimeEastern",
                                             "homeTeamAbbr", "visitorTeamAbbr"]], out / "games.csv")
    pl = plays.to_pandas().merge(g[["game_id", "home_team"]], on="game_id", how="left")
    home_has_ball = pl["possession_team"] == pl["home_team"]
    pl["preSnapHomeScore"] = np.where(home_has_ball, pl["offense_score"], pl["defense_score"])
    pl["preSnapVisitorScore"] = np.where(home_has_ball, pl["defense_score"], pl["offense_score"])
    pl["gameClock"] = [f"{s // 60:02d}:{s % 60:02d}" for s in pl["game_clock_s"]]
    pl["target_nfl_id"] = pl["target_nfl_id"].astype("Int64")
    cols = list(PLAYS_2023.values()) + ["gameClock", "preSnapHomeScore", "preSnapVisitorScore"]
    _write_csv(pl.rename(columns=PLAYS_2023)[cols], out / "plays.csv")

