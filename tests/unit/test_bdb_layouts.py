"""The ``bdb:`` reader on tiny hand-written folders with the published Big Data Bowl headers."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import schema
from pipelines.sources.bdb import SourceError, detect_layout, read_prediction_week, read_week, week_files

# published headers
H2021 = {
    "week": "time,x,y,s,a,dis,o,dir,event,nflId,displayName,jerseyNumber,position,frameId,team,gameId,playId,"
            "playDirection,route",
    "plays": "gameId,playId,playDescription,quarter,down,yardsToGo,possessionTeam,playType,yardlineSide,yardlineNumber,"
             "offenseFormation,personnelO,defendersInTheBox,numberOfPassRushers,personnelD,typeDropback,"
             "preSnapVisitorScore,preSnapHomeScore,gameClock,absoluteYardlineNumber,penaltyCodes,penaltyJerseyNumbers,"
             "passResult,offensePlayResult,playResult,epa,isDefensivePI",
    "games": "gameId,gameDate,gameTimeEastern,homeTeamAbbr,visitorTeamAbbr,week",
    "players": "nflId,height,weight,birthDate,collegeName,position,displayName",
    "targets": "gameId,playId,targetNflId",
}
H2023 = {
    "week": "gameId,playId,nflId,frameId,time,jerseyNumber,team,playDirection,x,y,s,a,dis,o,dir,event",
    "tracking_week": "gameId,playId,nflId,displayName,frameId,time,jerseyNumber,club,playDirection,x,y,s,a,dis,o,dir,"
                     "event",
    "tracking_week_2025": "gameId,playId,nflId,displayName,frameId,frameType,time,jerseyNumber,club,playDirection,x,y,"
                          "s,a,dis,o,dir,event",
    "plays_2024": "gameId,playId,ballCarrierId,ballCarrierDisplayName,playDescription,quarter,down,yardsToGo,"
                  "possessionTeam,defensiveTeam,yardlineSide,yardlineNumber,gameClock,preSnapHomeScore,"
                  "preSnapVisitorScore,passResult,passLength,penaltyYards,prePenaltyPlayResult,playResult,"
                  "playNullifiedByPenalty,absoluteYardlineNumber,offenseFormation,defendersInTheBox,passProbability",
    "plays_2025": "gameId,playId,playDescription,quarter,down,yardsToGo,possessionTeam,defensiveTeam,yardlineSide,"
                  "yardlineNumber,gameClock,preSnapHomeScore,preSnapVisitorScore,playNullifiedByPenalty,"
                  "absoluteYardlineNumber,offenseFormation,receiverAlignment,passResult,passLength,targetX,targetY,"
                  "playAction,dropbackType,timeToThrow,penaltyYards,yardsGained,isDropback,pff_passCoverage,pff_manZone",
    "games": "gameId,season,week,gameDate,gameTimeEastern,homeTeamAbbr,visitorTeamAbbr",
    "players": "nflId,height,weight,birthDate,collegeName,position,displayName",
    "players_2023": "nflId,height,weight,birthDate,collegeName,officialPosition,displayName",
    "player_play": "gameId,playId,nflId,teamAbbr,hadRushAttempt,hadDropback,hadPassReception,receivingYards,"
                   "wasTargettedReceiver,wasInitialPassRusher,wasRunningRoute,routeRan",
}
H2026 = {
    "input": "game_id,play_id,player_to_predict,nfl_id,frame_id,play_direction,absolute_yardline_number,player_name,"
             "player_height,player_weight,player_birth_date,player_position,player_side,player_role,x,y,s,a,dir,o,"
             "num_frames_output,ball_land_x,ball_land_y",
    "output": "game_id,play_id,nfl_id,frame_id,x,y",
}

QB, WR, CB = 2506109, 2495454, 2552689
GAME = 2018090600  # PHI (home) v ATL


def write(path: Path, header: str, rows: list[dict]) -> Path:
    """A CSV with ``header``; cells a row does not name are NA."""
    cols = header.split(",")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows([[row.get(c, "NA") for c in cols] for row in rows])
    return path


def tracking(plays: dict[int, str], entities: list[tuple], frames: int = 2, **extra) -> list[dict]:
    """Rows for each play × entity × frame; entities are (nflId, name, jersey, team, position)."""
    rows = []
    for play, direction in plays.items():
        for k, (nfl_id, name, jersey, team, position) in enumerate(entities):
            for f in range(1, frames + 1):
                rows.append({"gameId": GAME, "playId": play, "nflId": nfl_id, "displayName": name, "frameId": f,
                             "jerseyNumber": jersey, "team": team, "club": team, "position": position,
                             "playDirection": direction, "x": 30.0 + k + f / 10, "y": 20.5 + k, "s": 1.25, "a": 0.5,
                             "dis": 0.12, "o": 90.0 if nfl_id != "NA" else "NA", "dir": 45.5 if nfl_id != "NA" else "NA",
                             "event": "ball_snap" if f == 1 else "NA", "route": "GO" if k == 1 else "NA",
                             "frameType": "BEFORE_SNAP", **extra})
    return rows


ENTITIES_2021 = [(QB, "Matt Ryan", 2, "away", "QB"), (WR, "Julio Jones", 11, "away", "WR"),
                 (CB, "Jalen Mills", 31, "home", "CB"), ("NA", "Football", "NA", "football", "NA")]


def folder_2021(root: Path, targets: bool = True) -> Path:
    root.mkdir(exist_ok=True)
    write(root / "games.csv", H2021["games"], [
        {"gameId": GAME, "gameDate": "09/06/2018", "gameTimeEastern": "20:20:00", "homeTeamAbbr": "PHI",
         "visitorTeamAbbr": "ATL", "week": 1}])
    write(root / "plays.csv", H2021["plays"], [
        {"gameId": GAME, "playId": 75, "playDescription": "(15:00) M.Ryan pass short right to J.Jones, for 10 yards",
         "quarter": 1, "down": 1, "yardsToGo": 15, "possessionTeam": "ATL", "playType": "play_type_pass",
         "defendersInTheBox": "6.0", "numberOfPassRushers": 4, "preSnapVisitorScore": 0, "preSnapHomeScore": 0,
         "gameClock": "15:00:00", "absoluteYardlineNumber": 90, "passResult": "C", "offensePlayResult": 10,
         "playResult": 10},
        {"gameId": GAME, "playId": 146, "quarter": 2, "down": 2, "yardsToGo": 4, "possessionTeam": "PHI",
         "preSnapVisitorScore": 3, "preSnapHomeScore": 7, "gameClock": "07:41:00", "absoluteYardlineNumber": 45,
         "passResult": "I", "offensePlayResult": 0, "playResult": 15},  # a penalty: the offense still gained 0
        {"gameId": GAME, "playId": 168, "quarter": 2, "possessionTeam": "ATL", "passResult": "R",
         "offensePlayResult": 7, "playResult": 7},  # a scramble: not a pass play
        {"gameId": GAME, "playId": 190, "quarter": 2, "possessionTeam": "ATL", "passResult": "NA"},  # penalty
        {"gameId": 2018090900, "playId": 1, "quarter": 1, "possessionTeam": "NE", "passResult": "C"},  # other week
    ])
    rows = tracking({75: "left", 146: "right", 168: "left"}, ENTITIES_2021)
    for r in rows:
        r["time"] = f"2018-09-07T01:07:{10 + r['frameId']}.599Z"
    write(root / "week1.csv", H2021["week"], rows)
    write(root / "players.csv", H2021["players"], [
        {"nflId": QB, "height": "6-4", "weight": 217, "birthDate": "1985-05-17", "collegeName": "Boston College",
         "position": "QB", "displayName": "Matt Ryan"},
        {"nflId": WR, "height": "75", "weight": 220, "birthDate": "02/03/1989", "collegeName": "Alabama",
         "position": "WR", "displayName": "Julio Jones"},
        {"nflId": CB, "height": "6-0", "weight": 196, "birthDate": "1994-04-23", "collegeName": "LSU",
         "position": "CB", "displayName": "Jalen Mills"},
        {"nflId": 1, "height": "6-0", "weight": 200, "birthDate": "1990-01-01", "position": "K",
         "displayName": "Not This Week"},
    ])
    if targets:
        write(root / "targetedReceiver.csv", H2021["targets"],
              [{"gameId": GAME, "playId": 75, "targetNflId": WR}, {"gameId": GAME, "playId": 146, "targetNflId": "NA"}])
    return root


def folder_2023(root: Path, variant: str) -> Path:
    """variant "club" (2024 release), "team" (2023 week{N}.csv, officialPosition) or "2025" (player_play.csv)."""
    root.mkdir(exist_ok=True)
    entities = [(QB, "Matt Ryan", 2, "ATL", "QB"), (WR, "Julio Jones", 11, "ATL", "WR"),
                (CB, "Jalen Mills", 31, "PHI", "CB"), ("NA", "football", "NA", "football", "NA")]
    rows = tracking({75: "left", 146: "right"}, entities)
    for r in rows:
        r["time"] = f"2018-09-07 01:07:{10 + r['frameId']}.500000"
    tracking_file, tracking_header = {"club": ("tracking_week_1.csv", H2023["tracking_week"]),
                                      "team": ("week1.csv", H2023["week"]),
                                      "2025": ("tracking_week_1.csv", H2023["tracking_week_2025"])}[variant]
    write(root / tracking_file, tracking_header, rows)
    write(root / "games.csv", H2023["games"], [
        {"gameId": GAME, "season": 2018, "week": 1, "gameDate": "09/06/2018", "gameTimeEastern": "20:20:00",
         "homeTeamAbbr": "PHI", "visitorTeamAbbr": "ATL"}])
    yards = "playResult" if variant == "club" else "yardsGained"
    plays = [
        {"gameId": GAME, "playId": 75, "quarter": 1, "down": 1, "yardsToGo": 10, "possessionTeam": "ATL",
         "defensiveTeam": "PHI", "gameClock": "15:00", "preSnapHomeScore": 0, "preSnapVisitorScore": 3,
         "passResult": "S", yards: -7, "absoluteYardlineNumber": 90, "defendersInTheBox": 7},
        {"gameId": GAME, "playId": 146, "quarter": 2, "down": 3, "yardsToGo": 2, "possessionTeam": "PHI",
         "defensiveTeam": "ATL", "gameClock": "0:42", "preSnapHomeScore": 7, "preSnapVisitorScore": 3,
         "passResult": "IN", yards: 0, "absoluteYardlineNumber": 45, "defendersInTheBox": 6},
        {"gameId": GAME, "playId": 200, "quarter": 3, "possessionTeam": "PHI", "passResult": "NA", yards: 4},  # a run
    ]
    write(root / "plays.csv", H2023["plays_2025" if variant != "club" else "plays_2024"], plays)
    players = [{"nflId": QB, "height": "6-4", "weight": 217, "birthDate": "1985-05-17", "position": "QB",
                "officialPosition": "QB", "displayName": "Matt Ryan"},
               {"nflId": WR, "height": "6-3", "weight": 220, "birthDate": "1989-02-03", "position": "WR",
                "officialPosition": "WR", "displayName": "Julio Jones"}]  # CB missing from the file
    write(root / "players.csv", H2023["players_2023" if variant == "team" else "players"], players)
    if variant == "2025":
        write(root / "player_play.csv", H2023["player_play"], [
            {"gameId": GAME, "playId": 75, "nflId": QB, "wasTargettedReceiver": 0},
            {"gameId": GAME, "playId": 146, "nflId": WR, "wasTargettedReceiver": 0},
            {"gameId": GAME, "playId": 146, "nflId": CB, "wasTargettedReceiver": 1}])
    return root


def folder_2026(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    base = {"game_id": 2023090700, "play_id": 101, "play_direction": "left", "absolute_yardline_number": 42,
            "num_frames_output": 2, "ball_land_x": 20.5, "ball_land_y": 30.1}
    players = [
        {"nfl_id": 46076, "player_to_predict": "False", "player_name": "Josh Allen", "player_height": "6-5",
         "player_weight": 237, "player_birth_date": "1996-05-21", "player_position": "QB", "player_side": "Offense",
         "player_role": "Passer"},
        {"nfl_id": 47857, "player_to_predict": "True", "player_name": "Stefon Diggs", "player_height": "6-0",
         "player_weight": 191, "player_birth_date": "1993-11-29", "player_position": "WR", "player_side": "Offense",
         "player_role": "Targeted Receiver"},
        {"nfl_id": 52546, "player_to_predict": "True", "player_name": "Jalen Ramsey", "player_height": "6-1",
         "player_weight": 208, "player_birth_date": "1994-10-24", "player_position": "CB", "player_side": "Defense",
         "player_role": "Defensive Coverage"},
    ]
    rows = [{**base, **p, "frame_id": f, "x": 50.0 - f, "y": 20.0 + k, "s": 3.5, "a": 1.1, "dir": 270.0, "o": 268.5}
            for k, p in enumerate(players) for f in (1, 2, 3)]
    write(root / "input_2023_w01.csv", H2026["input"], rows)
    write(root / "output_2023_w01.csv", H2026["output"],
          [{"game_id": 2023090700, "play_id": 101, "nfl_id": p["nfl_id"], "frame_id": f, "x": 45.0, "y": 21.0}
           for p in players[1:] for f in (1, 2)])
    return root


def assert_canonical(tables: dict[str, pa.Table]) -> None:
    assert set(tables) == {"tracking", "plays", "games", "players"}
    for name, table in tables.items():
        assert table.schema == schema.TABLES[name], name


def digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


# --- layouts ---

def test_2021_with_targeted_receivers(tmp_path):
    root = folder_2021(tmp_path / "bdb")
    before = digest(root)
    assert detect_layout(root) == "bdb2021"
    tables, notes = read_week(root, 2018, 1)
    assert_canonical(tables)
    assert digest(root) == before  # raw files are never modified
    plays = tables["plays"].to_pylist()
    assert [p["play_id"] for p in plays] == [75, 146]  # the scramble, the penalty and the other week left out
    first, second = plays
    assert first == {"game_id": GAME, "play_id": 75, "season": 2018, "week": 1, "quarter": 1, "game_clock_s": 900,
                     "down": 1, "yards_to_go": 15, "possession_team": "ATL", "defensive_team": "PHI",
                     "absolute_yardline": 90.0, "pass_result": "C", "yards_gained": 10, "target_nfl_id": WR,
                     "pass_rushers": 4, "defenders_in_box": 6, "offense_score": 0, "defense_score": 0}
    assert second["game_clock_s"] == 7 * 60 + 41 and second["yards_gained"] == 0 and second["target_nfl_id"] is None
    assert (second["offense_score"], second["defense_score"], second["defensive_team"]) == (7, 3, "ATL")
    t = tables["tracking"]
    assert t.num_rows == 2 * 4 * 2 and set(t["play_id"].to_pylist()) == {75, 146}
    row = t.slice(0, 1).to_pylist()[0]
    assert row["club"] == "ATL" and row["time"] == dt.datetime(2018, 9, 7, 1, 7, 11, 599000, tzinfo=dt.timezone.utc)
    assert row["x"] == 30.1 and row["o"] == 90.0 and row["event"] == "ball_snap" and row["jersey_number"] == 2
    assert set(t["club"].to_pylist()) == {"ATL", "PHI", "football"}
    ball = t.filter(pa.compute.equal(t["club"], "football")).to_pylist()[0]
    assert ball["nfl_id"] is None and ball["o"] is None and ball["jersey_number"] is None
    assert tables["games"].to_pylist() == [{"game_id": GAME, "season": 2018, "week": 1, "game_date": dt.date(2018, 9, 6),
                                            "game_time_eastern": "20:20:00", "home_team": "PHI", "visitor_team": "ATL"}]
    players = {p["nfl_id"]: p for p in tables["players"].to_pylist()}
    assert set(players) == {QB, WR, CB}
    assert players[QB]["height_in"] == 76 and players[WR]["height_in"] == 75
    assert players[WR]["birth_date"] == dt.date(1989, 2, 3) and players[QB]["college_name"] == "Boston College"
    assert any("not passes" in n for n in notes) and any("left out 8 rows" in n for n in notes)
    assert len(notes) == len(set(notes))


def test_2021_without_targeted_receivers_notes_the_null_target(tmp_path):
    tables, notes = read_week(folder_2021(tmp_path / "bdb", targets=False), 2018, 1)
    assert_canonical(tables)
    assert tables["plays"]["target_nfl_id"].null_count == 2
    assert "no targetedReceiver.csv: plays.target_nfl_id is null" in notes


def test_2021_without_games_and_plays_degrades(tmp_path):
    root = folder_2021(tmp_path / "bdb")
    (root / "games.csv").unlink()
    (root / "plays.csv").unlink()
    (root / "players.csv").unlink()
    tables, notes = read_week(root, 2018, 1)
    assert_canonical(tables)
    assert tables["plays"].num_rows == 0 and tables["games"].num_rows == 0
    assert tables["tracking"].num_rows == 3 * 4 * 2  # no plays.csv: every tracked play stays
    assert set(tables["tracking"]["club"].to_pylist()) == {None, "football"}
    assert {p["nfl_id"]: p["position"] for p in tables["players"].to_pylist()} == {QB: "QB", WR: "WR", CB: "CB"}
    for expected in ("no plays.csv: plays table is empty", "no games.csv: games table is empty"):
        assert expected in notes
    assert any(n.startswith("no games.csv: tracking.club is null") for n in notes)
    assert any(n.startswith("no players.csv") for n in notes)


@pytest.mark.parametrize("variant", ["club", "team", "2025"])
def test_2023_to_2025_variants(tmp_path, variant):
    root = folder_2023(tmp_path / "bdb", variant)
    assert detect_layout(root) == "bdb2023"
    tables, notes = read_week(root, 2018, 1)
    assert_canonical(tables)
    plays = tables["plays"].to_pylist()
    assert [(p["play_id"], p["pass_result"], p["yards_gained"]) for p in plays] == [(75, "S", -7), (146, "IN", 0)]
    assert [(p["offense_score"], p["defense_score"]) for p in plays] == [(3, 0), (7, 3)]
    assert [p["game_clock_s"] for p in plays] == [900, 42] and plays[0]["defensive_team"] == "PHI"
    assert [p["target_nfl_id"] for p in plays] == ([None, CB] if variant == "2025" else [None, None])
    if variant != "2025":
        assert "no player_play.csv: plays.target_nfl_id is null" in notes
    assert plays[0]["defenders_in_box"] == (7 if variant == "club" else None) and plays[0]["pass_rushers"] is None
    assert "plays.csv has no numberOfPassRushers: plays.pass_rushers is null" in notes
    t = tables["tracking"]
    assert t.num_rows == 16 and set(t["club"].to_pylist()) == {"ATL", "PHI", "football"}
    assert t["time"][0].as_py() == dt.datetime(2018, 9, 7, 1, 7, 11, 500000, tzinfo=dt.timezone.utc)
    players = tables["players"].to_pylist()
    assert [(p["nfl_id"], p["position"], p["height_in"]) for p in players] == [(WR, "WR", 75), (QB, "QB", 76)]
    assert "players.csv lacks 1 players of the tracking file" in notes


def test_2026_prediction_layout(tmp_path):
    root = folder_2026(tmp_path / "bdb")
    assert detect_layout(root) == "bdb2026"
    week = read_prediction_week(root, 2023, 1)
    inp, out = week["input"], week["output"]
    assert inp.num_rows == 9 and out.num_rows == 4
    assert inp.schema.field("player_to_predict").type == pa.bool_() and inp.schema.field("frame_id").type == pa.int32()
    row = inp.to_pylist()[3]
    assert row["display_name"] == "Stefon Diggs" and row["height_in"] == 72 and row["weight_lb"] == 191
    assert row["player_role"] == "Targeted Receiver" and row["player_to_predict"] is True
    assert row["birth_date"] == dt.date(1993, 11, 29) and row["absolute_yardline"] == 42.0 and row["season"] == 2023
    assert out.column_names == ["game_id", "play_id", "nfl_id", "frame_id", "x", "y", "season", "week"]
    tables, notes = read_week(root, 2023, 1)
    assert_canonical(tables)
    t = tables["tracking"]
    assert t.num_rows == 9 and t["x"][0].as_py() == 49.0 and t["dir"][0].as_py() == 270.0
    for col in ("time", "club", "jersey_number", "dis", "event"):
        assert t[col].null_count == 9, col
    assert tables["plays"].num_rows == 0 and tables["games"].num_rows == 0
    assert [p["display_name"] for p in tables["players"].to_pylist()] == ["Josh Allen", "Stefon Diggs", "Jalen Ramsey"]
    assert any("plays and games are unavailable" in n for n in notes)


def test_week_files_names_the_inputs_of_a_week(tmp_path):
    root = folder_2021(tmp_path / "bdb")
    assert [p.name for p in week_files(root, 1)] == ["week1.csv", "games.csv", "plays.csv", "players.csv",
                                                     "targetedReceiver.csv"]
    assert week_files(root, 2) == []
    assert [p.name for p in week_files(folder_2026(tmp_path / "pred"), 1)] == ["input_2023_w01.csv"]


def test_unknown_layout_lists_what_each_layout_lacks(tmp_path):
    header = H2023["tracking_week"].replace(",x,", ",").replace(",dis,", ",")
    write(tmp_path / "tracking_week_1.csv", header, [{"gameId": GAME}])
    with pytest.raises(SourceError) as err:
        detect_layout(tmp_path)
    msg = str(err.value)
    assert "bdb2021 lacks a week{N}.csv file" in msg
    assert "bdb2023 lacks columns x, dis in tracking_week_1.csv" in msg
    assert "bdb2026 lacks an input_{season}_w{NN}.csv file" in msg


# --- errors ---

def test_missing_folder_and_files(tmp_path):
    with pytest.raises(SourceError, match="nowhere: no such folder"):
        read_week(tmp_path / "nowhere", 2018, 1)
    root = folder_2023(tmp_path / "bdb", "club")
    with pytest.raises(SourceError, match=r"no tracking file for week 3; expected tracking_week_3\.csv"):
        read_week(root, 2018, 3)
    (root / "tracking_week_1.csv").rename(root / "input_2023_w01.csv")
    with pytest.raises(SourceError, match="bdb2026 lacks columns"):
        read_week(root, 2023, 1)
    root = folder_2026(tmp_path / "pred")
    (root / "output_2023_w01.csv").unlink()
    with pytest.raises(SourceError, match=r"output_2023_w01\.csv: no such file"):
        read_prediction_week(root, 2023, 1)


def test_empty_files(tmp_path):
    root = folder_2023(tmp_path / "bdb", "club")
    (root / "plays.csv").write_text("")
    with pytest.raises(SourceError, match=r"plays\.csv: the file is empty"):
        read_week(root, 2018, 1)
    (root / "plays.csv").write_text(H2023["plays_2024"] + "\n")
    with pytest.raises(SourceError, match=r"plays\.csv: a header but no rows"):
        read_week(root, 2018, 1)
    (root / "tracking_week_1.csv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"tracking_week_1\.csv: the file is empty"):
        read_week(root, 2018, 1)


def test_required_column_missing(tmp_path):
    root = folder_2023(tmp_path / "bdb", "club")
    write(root / "tracking_week_2.csv", H2023["tracking_week"].replace(",x,", ","), [{"gameId": GAME}])
    with pytest.raises(SourceError, match=r"tracking_week_2\.csv: column x missing"):
        read_week(root, 2018, 2)
    write(root / "plays.csv", H2023["plays_2024"].replace(",passResult", ""), [{"gameId": GAME, "playId": 75}])
    with pytest.raises(SourceError, match=r"plays\.csv: column passResult missing"):
        read_week(root, 2018, 1)


@pytest.mark.parametrize("column", ["x", "y", "s", "a", "dis", "o", "dir"])
def test_non_numeric_value_names_column_line_and_value(tmp_path, column):
    root = folder_2023(tmp_path / "bdb", "club")
    rows = tracking({75: "left"}, [(QB, "Matt Ryan", 2, "ATL", "QB")], frames=5)
    rows[3][column] = "1.2.3"  # the 4th data row: line 5
    rows[4]["x"] = "later"
    write(root / "tracking_week_1.csv", H2023["tracking_week"], rows)
    with pytest.raises(SourceError) as err:
        read_week(root, 2018, 1)
    assert "tracking_week_1.csv line 5, column " + repr(column) + ": '1.2.3' is not a number" in str(err.value)


def test_bad_values_in_other_columns(tmp_path):
    root = folder_2023(tmp_path / "bdb", "club")
    rows = tracking({75: "left"}, [(QB, "Matt Ryan", 2, "ATL", "QB")])
    rows[1]["time"] = "yesterday"
    write(root / "tracking_week_1.csv", H2023["tracking_week"], rows)
    with pytest.raises(SourceError, match=r"line 3, column 'time': 'yesterday' is not a timestamp"):
        read_week(root, 2018, 1)
    rows[1]["time"], rows[0]["frameId"] = "2018-09-07 01:07:11.5", 1.5
    write(root / "tracking_week_1.csv", H2023["tracking_week"], rows)
    with pytest.raises(SourceError, match=r"line 2, column 'frameId': 1.5 is not a whole number"):
        read_week(root, 2018, 1)


def test_duplicated_key_with_other_values_is_an_error_an_exact_repeat_a_note(tmp_path):
    root = folder_2023(tmp_path / "bdb", "club")
    rows = tracking({75: "left", 146: "right"}, [(QB, "Matt Ryan", 2, "ATL", "QB"), ("NA", "football", "NA", "football", "NA")])
    write(root / "tracking_week_1.csv", H2023["tracking_week"], [*rows[:3], rows[2], *rows[3:]])
    tables, notes = read_week(root, 2018, 1)
    assert tables["tracking"].num_rows == len(rows) + 1
    assert "tracking_week_1.csv: 1 rows repeat an earlier row exactly; kept as delivered for the anomaly filter" in notes
    write(root / "tracking_week_1.csv", H2023["tracking_week"], [*rows[:6], {**rows[2], "x": 99.0}, *rows[6:]])
    with pytest.raises(SourceError, match=r"tracking_week_1\.csv line 8: duplicated key \(game_id=2018090600, "
                                          r"play_id=75, nfl_id=null, frame_id=1\) of line 4"):
        read_week(root, 2018, 1)


def test_wrong_delimiter_says_the_header_has_one_column(tmp_path):
    root = folder_2023(tmp_path / "bdb", "club")
    (root / "tracking_week_1.csv").write_text(H2023["tracking_week"].replace(",", ";") + "\n1;2;3\n")
    with pytest.raises(SourceError, match=r"tracking_week_1\.csv: the header has one column"):
        read_week(root, 2018, 1)


def test_season_other_than_the_files_is_an_error(tmp_path):
    with pytest.raises(SourceError, match=r"games\.csv: game 2018090600 is in season 2018; expected season 2019"):
        read_week(folder_2023(tmp_path / "bdb", "club"), 2019, 1)
