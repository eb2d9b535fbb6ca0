"""Big Data Bowl CSV layouts: the ``bdb:`` reader, and the writer that lets the simulator feed it.

Layouts, told apart by file names and header lines (:func:`detect_layout`):

* ``bdb2021`` — ``week{N}.csv`` (``team`` is home/away/football, with ``position`` and ``route``),
  ``plays.csv`` of every play, ``games.csv``, ``players.csv``, optional ``targetedReceiver.csv``.
* ``bdb2023`` — the 2023–2025 releases and this module's writer: ``tracking_week_{N}.csv``
  (2023: ``week{N}.csv``) with ``club`` or ``team``, ``plays.csv``, ``games.csv``, ``players.csv``,
  2025 ``player_play.csv``.
* ``bdb2026`` — the prediction layout: ``input_{season}_w{NN}.csv`` / ``output_{season}_w{NN}.csv``.

:func:`read_week` maps a week to the canonical tables of :mod:`pipelines.schema`; missing optional
inputs leave columns null and say so in the notes.  Values are kept as delivered: coordinates and
angles are not flipped, times are read as UTC.  Bad input raises :class:`SourceError`.

The column maps are canonical → BDB name: the writer uses them forwards, the reader backwards, and
``VARIANTS`` lists the other spellings the releases use for a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines import schema
from pipelines.sources import SourceError  # the one error type of every source


# canonical column → BDB 2023 column (the writer's spelling)
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
    "defenders_in_box": "defendersInTheBox", "game_clock_s": "gameClock",
    "home_score": "preSnapHomeScore", "visitor_score": "preSnapVisitorScore",  # → offense/defense_score
}  # fmt: skip
GAMES_2023 = {"game_id": "gameId", "season": "season", "week": "week", "game_date": "gameDate",
              "game_time_eastern": "gameTimeEastern", "home_team": "homeTeamAbbr",
              "visitor_team": "visitorTeamAbbr"}  # fmt: skip
PLAYERS_2023 = {"nfl_id": "nflId", "height_in": "height", "weight_lb": "weight", "birth_date": "birthDate",
                "college_name": "collegeName", "position": "position", "display_name": "displayName"}  # fmt: skip
PLAYER_PLAY_2025 = {"game_id": "gameId", "play_id": "playId", "target_nfl_id": "nflId",
                    "targeted": "wasTargettedReceiver"}  # fmt: skip (sic: the published spelling)

# 2021: home/away in `team`; plays of every kind; games.csv has no season; players.csv as in 2023
TRACKING_2021 = {**TRACKING_2023, "club": "team", "position": "position"}
PLAYS_2021 = {
    "game_id": "gameId", "play_id": "playId", "quarter": "quarter", "down": "down",
    "yards_to_go": "yardsToGo", "possession_team": "possessionTeam",
    "absolute_yardline": "absoluteYardlineNumber", "pass_result": "passResult",
    "yards_gained": "offensePlayResult", "pass_rushers": "numberOfPassRushers",
    "defenders_in_box": "defendersInTheBox", "game_clock_s": "gameClock",
    "home_score": "preSnapHomeScore", "visitor_score": "preSnapVisitorScore",
}  # fmt: skip
TARGETS_2021 = {"game_id": "gameId", "play_id": "playId", "target_nfl_id": "targetNflId"}

# 2026 prediction layout: snake_case → canonical names where there is one
PREDICTION_INPUT = {
    "game_id": "game_id", "play_id": "play_id", "player_to_predict": "player_to_predict", "nfl_id": "nfl_id",
    "frame_id": "frame_id", "play_direction": "play_direction", "absolute_yardline": "absolute_yardline_number",
    "display_name": "player_name", "height_in": "player_height", "weight_lb": "player_weight",
    "birth_date": "player_birth_date", "position": "player_position", "player_side": "player_side",
    "player_role": "player_role", "x": "x", "y": "y", "s": "s", "a": "a", "dir": "dir", "o": "o",
    "num_frames_output": "num_frames_output", "ball_land_x": "ball_land_x", "ball_land_y": "ball_land_y",
}  # fmt: skip
PREDICTION_OUTPUT = {"game_id": "game_id", "play_id": "play_id", "nfl_id": "nfl_id", "frame_id": "frame_id",
                     "x": "x", "y": "y"}  # fmt: skip

# other spellings of a BDB column, tried in order when the file lacks the map's spelling
VARIANTS = {
    "club": ("team",), "position": ("officialPosition",), "playResult": ("yardsGained",),
    "offensePlayResult": ("playResult",), "defendersInTheBox": ("defendersInBox",),
}  # fmt: skip
NA = "NA"  # how the published files spell a missing value
NULLS = [NA, ""]
PASS_RESULTS = ("C", "I", "IN", "S")
TRACKING_KEYS = ["game_id", "play_id", "nfl_id", "frame_id"]
PLAY_KEYS = ["game_id", "play_id"]

_TYPES = {f.name: f.type for s in (schema.TRACKING, schema.PLAYS, schema.GAMES, schema.PLAYERS) for f in s} | {
    "home_score": pa.int32(), "visitor_score": pa.int32(), "targeted": pa.int32(),
    "player_to_predict": pa.bool_(), "player_side": pa.string(), "player_role": pa.string(),
    "num_frames_output": pa.int32(), "ball_land_x": pa.float64(), "ball_land_y": pa.float64(),
}  # fmt: skip


@dataclass(frozen=True)
class _Layout:
    tracking_file: re.Pattern  # group 1: the week
    tracking_hint: str
    tracking: dict[str, str]
    tracking_optional: tuple[str, ...]
    plays: dict[str, str]
    targets_file: str  # where target receivers come from when plays.csv has no targetNflId
    targets: dict[str, str]


# checked in this order: a 2021 week file also has every column the 2023 layout needs
_LAYOUTS = {
    "bdb2021": _Layout(re.compile(r"week(\d+)\.csv"), "week{N}.csv", TRACKING_2021, (), PLAYS_2021,
                       "targetedReceiver.csv", TARGETS_2021),
    "bdb2023": _Layout(re.compile(r"(?:tracking_week_|week)(\d+)\.csv"), "tracking_week_{N}.csv", TRACKING_2023,
                       ("display_name",), PLAYS_2023, "player_play.csv", PLAYER_PLAY_2025),
}  # fmt: skip
_PREDICTION_FILE = re.compile(r"input_(\d+)_w(\d+)\.csv")


# --- value parsers: string column → canonical type; each raises pa.ArrowException on a bad value ---

def _parse_time(a):
    # 2021 ends in "Z", later releases and the writer have no zone; both are UTC
    naive = pc.utf8_rtrim(a, characters="Z").cast(pa.timestamp("ns"))
    # canonical time is in ms: digits below a millisecond, if a release had any, are dropped
    return pc.assume_timezone(naive, "UTC").cast(pa.timestamp("ms", tz="UTC"), safe=False)


def _parse_date(a):
    # games.csv writes MM/DD/YYYY, players.csv YYYY-MM-DD; the 2021 players.csv mixes both
    parsed = [pc.strptime(a, format=f, unit="s", error_is_null=True) for f in ("%Y-%m-%d", "%m/%d/%Y")]
    d = pc.coalesce(*parsed).cast(pa.date32())
    if d.null_count != a.null_count:
        raise pa.ArrowInvalid("unparsed date")
    return d


def _two_parts(a, sep: str, scale: int):
    """Two whole numbers joined by ``sep``: 6-2 → 6 * 12 + 2, 07:41 → 7 * 60 + 41 (a third part is ignored)."""
    parts = pc.split_pattern(a, sep)
    return pc.add(pc.multiply(pc.list_element(parts, 0).cast(pa.int32()), scale),
                  pc.list_element(parts, 1).cast(pa.int32()))


def _parse_height(a):
    feet_inches = pc.if_else(pc.match_substring(a, "-"), a, pc.binary_join_element_wise("0", a, "-"))  # 74 → 0-74
    return _two_parts(feet_inches, "-", 12)


def _parse_clock(a):
    return _two_parts(a, ":", 60)  # "MM:SS"; 2021 writes "MM:SS:00"


_PARSERS = {
    "time": (_parse_time, "a timestamp like 2018-09-07T01:07:14.599Z"),
    "game_date": (_parse_date, "a date MM/DD/YYYY or YYYY-MM-DD"),
    "birth_date": (_parse_date, "a date YYYY-MM-DD or MM/DD/YYYY"),
    "height_in": (_parse_height, "a height like 6-2 (feet-inches) or 74 (inches)"),
    "game_clock_s": (_parse_clock, "a game clock MM:SS"),
}


# --- reading one CSV file ---

def _line(row: int) -> int:
    return row + 2  # 1-based, after the header line


_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
         b"\xfe\xff": "UTF-16"}  # fmt: skip (longest first: a UTF-32 LE mark starts like UTF-16's)


def _not_utf8(path: Path) -> SourceError | None:
    """The error for a file that is not UTF-8 text (a UTF-16/32 byte-order mark, or the first line
    with bytes that are not UTF-8, e.g. Latin-1 or Windows-1252), or None when it is UTF-8."""
    with path.open("rb") as f:
        head = f.read(4)
        encoding = next((name for bom, name in _BOMS.items() if head.startswith(bom)), None)
        if encoding:
            return SourceError(f"{path}: the file is {encoding} encoded; expected UTF-8 text (save it as UTF-8)")
        f.seek(0)
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad = raw[max(err.start - 10, 0):err.end + 10]
                return SourceError(f"{path} line {number}: bytes {bad!r} are not UTF-8; expected UTF-8 text "
                                   "(was the file saved as Latin-1 or Windows-1252?)")
    return None


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with path.open("rb") as f:
        first = f.readline()
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _not_utf8(path) or SourceError(f"{path} line 1: not UTF-8; expected UTF-8 text") from None
    if "\x00" in line:  # UTF-16 without a byte-order mark
        raise SourceError(f"{path}: the header contains NUL bytes; expected UTF-8 text (is it UTF-16?)")
    if not line.strip():
        raise SourceError(f"{path}: the file is empty; expected a header line of comma-separated column names")
    names = [n.strip().strip('"') for n in line.split(",")]
    if len(names) == 1:
        raise SourceError(f"{path}: the header has one column ({line[:80]!r}); expected comma-separated column "
                          "names (is the delimiter ';' or a tab?)")
    return names


def _spelling(name: str, header: list[str]) -> str | None:
    return next((n for n in (name, *VARIANTS.get(name, ())) if n in header), None)


def _csv_type(canonical: str) -> pa.DataType:
    t = _TYPES[canonical]
    if canonical in _PARSERS:
        return pa.string()
    # whole numbers are read as doubles and cast safely: some releases write 6.0 for 6
    return pa.float64() if pa.types.is_integer(t) or pa.types.is_floating(t) else t


def _options(types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(column_types=types, include_columns=list(types), null_values=NULLS,
                                strings_can_be_null=True)


def _first_failure(values, fn) -> int | None:
    """Index of the first element ``fn`` cannot convert (``fn`` works element by element), by bisection."""
    def fails(lo, hi):
        try:
            fn(values[lo:hi])
            return False
        except pa.ArrowException:
            return True

    lo, hi = 0, len(values)
    if not fails(lo, hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fails(lo, mid) else (mid, hi)
    return lo


def _ragged_row(path: Path) -> SourceError | None:
    """The error for the first line whose number of fields is not the header's (a cut-off file, a
    stray delimiter), or None when every line has the header's fields."""
    found = []

    def first(row) -> str:
        if not found:
            found.append(row)
        return "skip"

    try:
        pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=False),
                       parse_options=pacsv.ParseOptions(invalid_row_handler=first),
                       convert_options=pacsv.ConvertOptions(include_columns=[]))
    except pa.ArrowException:
        pass
    if not found:
        return None
    row = found[0]
    where = f" line {row.number}" if row.number is not None else ""
    return SourceError(f"{path}{where}: {row.actual_columns} fields, expected {row.expected_columns} as in the "
                       f"header (is the file cut off, or a value not quoted?): {row.text[:80]!r}")


def _unreadable(path: Path, types: dict[str, pa.DataType], err: Exception) -> SourceError:
    """The error for a file pyarrow could not convert: find the first bad value of a typed column."""
    if "UTF8" in str(err) and (problem := _not_utf8(path)):
        return problem
    if "CSV parse error" in str(err) and (problem := _ragged_row(path)):
        return problem
    typed = {n: t for n, t in types.items() if t != pa.string()}
    try:
        raw = pacsv.read_csv(path, convert_options=_options(dict.fromkeys(typed, pa.string())))
    except pa.ArrowException:
        return SourceError(f"{path}: not readable as CSV: {err}")
    found = []
    for name, t in typed.items():
        row = _first_failure(raw[name], lambda a, t=t: pc.utf8_trim_whitespace(a).cast(t))
        if row is not None:
            found.append((row, name, "True or False" if t == pa.bool_() else "a number"))
    if not found:
        return SourceError(f"{path}: not readable as CSV: {err}")
    row, name, expected = min(found)
    return SourceError(f"{path} line {_line(row)}, column {name!r}: {raw[name][row].as_py()!r} is not {expected}")


def _convert(path: Path, column: str, values, canonical: str):
    parse, expected = _PARSERS.get(canonical) or ((lambda a: a.cast(_TYPES[canonical])), "a whole number")
    try:
        return parse(values)
    except pa.ArrowException as err:
        row = _first_failure(values, parse)
        if row is None:
            raise SourceError(f"{path}, column {column!r}: {err}") from None
        raise SourceError(f"{path} line {_line(row)}, column {column!r}: {values[row].as_py()!r} is not "
                          f"{expected}") from None


def _read(path: Path, mapping: dict[str, str], required=()) -> pa.Table:
    """The mapped columns ``path`` has, under canonical names and types; ``required`` ones must be there."""
    header = _header(path)
    names = {c: n for c, b in mapping.items() if (n := _spelling(b, header))}
    lacking = [mapping[c] for c in required if c not in names]
    if lacking:
        raise SourceError(f"{path}: column {', '.join(lacking)} missing; the header has {', '.join(header)}")
    types = {n: _csv_type(c) for c, n in names.items()}
    try:
        raw = pacsv.read_csv(path, convert_options=_options(types))
    except pa.ArrowInvalid as err:
        raise _unreadable(path, types, err) from None
    if raw.num_rows == 0:
        raise SourceError(f"{path}: a header but no rows; expected at least one data row")
    table = pa.table({c: _convert(path, n, raw[n], c) for c, n in names.items()})
    for key in ("game_id", "play_id", "frame_id"):
        if key in table.column_names and table[key].null_count:
            row = pc.index(pc.is_null(table[key]), True).as_py()
            raise SourceError(f"{path} line {_line(row)}, column {names[key]!r}: empty; expected a number")
    if "frame_id" in table.column_names and pc.min(table["frame_id"]).as_py() < 1:  # frames count from 1
        row = pc.index(pc.less(table["frame_id"], 1), True).as_py()
        raise SourceError(f"{path} line {_line(row)}, column {names['frame_id']!r}: "
                          f"{table['frame_id'][row].as_py()} is not a frame number; expected 1 or more")
    return table


def _check_keys(path: Path, table: pa.Table) -> int:
    """Raise on two rows with one key but different values; return how many rows repeat one exactly.

    An exact repeat is the "duplicate frame" failure of real feeds: it stays, as delivered, for the
    anomaly filter to remove.
    """
    keys = [k for k in TRACKING_KEYS if k in table.column_names]
    repeated = np.flatnonzero(table.select(keys).to_pandas().duplicated(keep=False))
    if len(repeated) == 0:
        return 0
    rows = table.take(repeated).to_pandas().set_axis(repeated)
    conflict = rows.index[rows.duplicated(keys) & ~rows.duplicated()]
    if len(conflict):
        row = conflict[0]
        group = rows.groupby(keys, dropna=False, sort=False).ngroup()
        first = group.index[group == group[row]][0]
        shown = ", ".join(f"{k}={'null' if pd.isna(v) else int(v)}" for k, v in rows.loc[row, keys].items())
        raise SourceError(f"{path} line {_line(row)}: duplicated key ({shown}) of line {_line(first)} with other "
                          "values; expected one row per key")
    return int(rows.duplicated().sum())


# --- layouts ---

def _folder(folder) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder; expected a Big Data Bowl data folder")
    return folder


def _week_files(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    return dict(sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))))


def detect_layout(folder: Path) -> str:
    """``"bdb2021"``, ``"bdb2023"`` (2023–2025) or ``"bdb2026"`` (prediction), from file names and headers."""
    folder = _folder(folder)
    lacks = {}
    for name, layout in _LAYOUTS.items():
        files = _week_files(folder, layout.tracking_file)
        if not files:
            lacks[name] = f"a {layout.tracking_hint} file"
            continue
        path = next(iter(files.values()))
        header = _header(path)
        missing = [b for c, b in layout.tracking.items()
                   if c not in layout.tracking_optional and not _spelling(b, header)]
        if not missing:
            return name
        lacks[name] = f"columns {', '.join(missing)} in {path.name}"
    inputs = sorted(p for p in folder.iterdir() if _PREDICTION_FILE.fullmatch(p.name))
    if not inputs:
        lacks["bdb2026"] = "an input_{season}_w{NN}.csv file"
    else:
        header = _header(inputs[0])
        missing = [b for b in PREDICTION_INPUT.values() if b not in header]
        if not missing:
            return "bdb2026"
        lacks["bdb2026"] = f"columns {', '.join(missing)} in {inputs[0].name}"
    raise SourceError(f"{folder}: not a known Big Data Bowl layout: "
                      + "; ".join(f"{k} lacks {v}" for k, v in lacks.items()))


def _note(notes: list[str], message: str) -> None:
    if message not in notes:
        notes.append(message)


def _conform(table: pa.Table | None, target: pa.Schema, season: int, week: int) -> pa.Table:
    """``table`` cast exactly to ``target``: missing columns null, the partition keys filled."""
    if table is None:
        return target.empty_table()
    n = table.num_rows
    fill = {"season": season, "week": week}
    cols = [pa.array(np.full(n, fill[f.name], np.int32)) if f.name in fill else
            table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type) for f in target]
    return pa.Table.from_arrays(cols, schema=target)


def _games(folder: Path, game_ids, season: int, week: int, notes: list[str]) -> pa.Table | None:
    path = folder / "games.csv"
    if not path.exists():
        _note(notes, "no games.csv: games table is empty")
        return None
    games = _read(path, GAMES_2023, required=("game_id", "home_team", "visitor_team"))
    games = games.filter(pc.is_in(games["game_id"], value_set=game_ids))
    for col, asked in (("season", season), ("week", week)):
        if col in games.column_names and (other := games.filter(pc.not_equal(games[col], asked))).num_rows:
            raise SourceError(f"{path}: game {other['game_id'][0].as_py()} is in {col} {other[col][0].as_py()}; "
                              f"expected {col} {asked} as asked")
    if games.num_rows < len(game_ids):
        _note(notes, f"games.csv lacks {len(game_ids) - games.num_rows} games of the tracking file")
    return games.sort_by("game_id")


def _home_visitor(table: pa.Table, games: pa.Table | None) -> tuple:
    """The home and visiting team of each row's game (null without games.csv)."""
    if games is None:
        return pa.nulls(table.num_rows, pa.string()), pa.nulls(table.num_rows, pa.string())
    idx = pc.index_in(table["game_id"], value_set=games["game_id"])
    return pc.take(games["home_team"], idx), pc.take(games["visitor_team"], idx)


def _clubs(tracking: pa.Table, games: pa.Table | None, notes: list[str]) -> pa.Table:
    """2021 says "home"/"away" where later releases give the club: look it up in games.csv."""
    club = tracking["club"]
    if not pc.any(pc.is_in(club, value_set=pa.array(["home", "away"]))).as_py():
        return tracking
    if games is None:
        _note(notes, "no games.csv: tracking.club is null where the file says home or away")
    home, visitor = _home_visitor(tracking, games)
    club = pc.if_else(pc.equal(club, "home"), home, pc.if_else(pc.equal(club, "away"), visitor, club))
    return tracking.set_column(tracking.schema.get_field_index("club"), "club", club)


def _targets(folder: Path, layout: _Layout) -> pa.Table | None:
    path = folder / layout.targets_file
    if not path.exists():
        return None
    t = _read(path, layout.targets, required=tuple(layout.targets))
    if "targeted" in t.column_names:
        t = t.filter(pc.equal(t["targeted"], 1))
    # one target per play, even if a file names two
    return t.group_by(PLAY_KEYS).aggregate([("target_nfl_id", "min")]).rename_columns(
        {"target_nfl_id_min": "target_nfl_id"})


def _plays(folder: Path, layout: _Layout, games: pa.Table | None, game_ids, notes: list[str]) -> pa.Table | None:
    path = folder / "plays.csv"
    if not path.exists():
        _note(notes, "no plays.csv: plays table is empty")
        return None
    plays = _read(path, layout.plays, required=("game_id", "play_id", "pass_result"))
    for c, name in layout.plays.items():
        if c not in plays.column_names and c not in ("defensive_team", "target_nfl_id", "home_score", "visitor_score"):
            _note(notes, f"plays.csv has no {name}: plays.{c} is null")
    plays = plays.filter(pc.is_in(plays["game_id"], value_set=game_ids))
    passes = pc.is_in(plays["pass_result"], value_set=pa.array(PASS_RESULTS)).fill_null(False)
    if dropped := plays.num_rows - (plays := plays.filter(passes)).num_rows:
        _note(notes, f"plays.csv: left out {dropped} plays of the week that are not passes (passResult not "
                     f"{', '.join(PASS_RESULTS)})")
    cols = {c: plays[c] for c in plays.column_names}
    if "yards_gained" in cols:  # the offense gains nothing on an incompletion or an interception
        no_gain = pc.is_in(cols["pass_result"], value_set=pa.array(["I", "IN"]))
        cols["yards_gained"] = pc.if_else(no_gain, pa.scalar(0, pa.int32()), cols["yards_gained"])
    home, visitor = _home_visitor(plays, games)
    home_has_ball = pc.equal(cols.get("possession_team", pa.nulls(plays.num_rows, pa.string())), home)
    if "defensive_team" not in cols:
        if games is None:
            _note(notes, "no games.csv: plays.defensive_team is null")
        cols["defensive_team"] = pc.if_else(home_has_ball, visitor, home)
    if "home_score" in cols and "visitor_score" in cols:
        if games is None:
            _note(notes, "no games.csv: plays.offense_score and defense_score are null")
        cols["offense_score"] = pc.if_else(home_has_ball, cols["home_score"], cols["visitor_score"])
        cols["defense_score"] = pc.if_else(home_has_ball, cols["visitor_score"], cols["home_score"])
    else:
        _note(notes, "plays.csv has no preSnapHomeScore/preSnapVisitorScore: plays.offense_score and "
                     "defense_score are null")
    plays = pa.table(cols)
    if "target_nfl_id" not in cols:
        targets = _targets(folder, layout)
        if targets is None:
            _note(notes, f"no {layout.targets_file}: plays.target_nfl_id is null")
        else:
            plays = plays.join(targets, PLAY_KEYS, join_type="left outer")
    return plays.sort_by([(k, "ascending") for k in PLAY_KEYS])


def _only_plays(tracking: pa.Table, plays: pa.Table, notes: list[str]) -> pa.Table:
    """Tracking rows of the canonical plays only, in the delivered order."""
    rows = tracking.select(PLAY_KEYS).append_column("row", pa.array(np.arange(tracking.num_rows)))
    kept = rows.join(plays.select(PLAY_KEYS), PLAY_KEYS, join_type="left semi")["row"].to_numpy()
    if len(kept) == tracking.num_rows:
        return tracking
    _note(notes, f"tracking: left out {tracking.num_rows - len(kept)} rows of plays that are not pass plays in "
                 "plays.csv")
    return tracking.take(np.sort(kept))


def _first_per_player(table: pa.Table, columns: list[str]) -> pa.Table:
    present = [c for c in columns if c in table.column_names]
    table = table.filter(pc.is_valid(table["nfl_id"]))
    firsts = table.group_by("nfl_id", use_threads=False).aggregate([(c, "first") for c in present])
    return firsts.rename_columns({f"{c}_first": c for c in present})


def _players(folder: Path, tracking: pa.Table, notes: list[str]) -> pa.Table:
    path = folder / "players.csv"
    if not path.exists():
        _note(notes, "no players.csv: players come from the tracking file (nfl_id and what it has of "
                     "display_name, position)")
        return _first_per_player(tracking, ["display_name", "position"]).sort_by("nfl_id")
    players = _read(path, PLAYERS_2023, required=("nfl_id",))
    for c, name in PLAYERS_2023.items():
        if c not in players.column_names:
            _note(notes, f"players.csv has no {name}: players.{c} is null")
    ids = pc.unique(tracking["nfl_id"]).drop_null()
    players = players.filter(pc.is_in(players["nfl_id"], value_set=ids))
    if lacking := len(ids) - pc.count_distinct(players["nfl_id"]).as_py():
        _note(notes, f"players.csv lacks {lacking} players of the tracking file")
    return players.sort_by("nfl_id")


def _prediction_part(folder: Path, season: int, week: int, part: str) -> pa.Table:
    path = folder / f"{part}_{season}_w{week:02d}.csv"
    mapping = PREDICTION_INPUT if part == "input" else PREDICTION_OUTPUT
    table = _read(path, mapping, required=tuple(mapping))
    _check_keys(path, table)
    n = table.num_rows
    return table.append_column("season", pa.array(np.full(n, season, np.int32))).append_column(
        "week", pa.array(np.full(n, week, np.int32)))


def read_prediction_week(folder: Path, season: int, week: int) -> dict[str, pa.Table]:
    """The 2026 prediction files of a week: {"input", "output"}, typed, with canonical names where they exist
    (``absolute_yardline``, ``display_name``, ``height_in``, ``weight_lb``, ``birth_date``, ``position``)."""
    folder = _folder(folder)
    return {part: _prediction_part(folder, season, week, part) for part in ("input", "output")}


def _read_prediction_as_canonical(folder: Path, season: int, week: int) -> tuple[dict[str, pa.Table], list[str]]:
    inp = _prediction_part(folder, season, week, "input")
    players = _first_per_player(inp, ["display_name", "position", "height_in", "weight_lb", "birth_date"])
    notes = [
        "prediction layout: tracking.time, club, jersey_number, dis and event are null, and the ball is not tracked",
        "prediction layout: plays and games are unavailable (empty tables)",
        "prediction layout: players.college_name is null",
    ]
    return {
        "tracking": _conform(inp, schema.TRACKING, season, week),
        "plays": schema.PLAYS.empty_table(),
        "games": schema.GAMES.empty_table(),
        "players": _conform(players.sort_by("nfl_id"), schema.PLAYERS, season, week),
    }, notes


def week_files(folder: Path, week: int) -> list[Path]:
    """The files :func:`read_week` may read for ``week`` (for a manifest of inputs); a missing week gives []."""
    folder = _folder(folder)
    layout_name = detect_layout(folder)
    if layout_name == "bdb2026":
        return sorted(p for p in folder.iterdir() if (m := _PREDICTION_FILE.fullmatch(p.name)) and int(m[2]) == week)
    layout = _LAYOUTS[layout_name]
    tracking = _week_files(folder, layout.tracking_file).get(week)
    shared = [folder / n for n in ("games.csv", "plays.csv", "players.csv", layout.targets_file)]
    return [tracking, *(p for p in shared if p.is_file())] if tracking else []


def read_week(folder: Path, season: int, week: int) -> tuple[dict[str, pa.Table], list[str]]:
    """One week of a Big Data Bowl folder as canonical {"tracking", "plays", "games", "players"}, plus notes.

    Plays are the week's pass plays (C, I, IN, S) and tracking keeps only their rows when plays.csv is
    there; players are those in the week's tracking.  Each note says once what an absent optional
    input left null or empty.
    """
    folder = _folder(folder)
    layout_name = detect_layout(folder)
    if layout_name == "bdb2026":
        return _read_prediction_as_canonical(folder, season, week)
    layout = _LAYOUTS[layout_name]
    files = _week_files(folder, layout.tracking_file)
    if week not in files:
        raise SourceError(f"{folder}: no tracking file for week {week}; expected "
                          f"{layout.tracking_hint.replace('{N}', str(week))} (weeks present: {list(files)})")
    path = files[week]
    required = [c for c in layout.tracking if c not in layout.tracking_optional]
    tracking = _read(path, layout.tracking, required=required)
    notes: list[str] = []
    if repeats := _check_keys(path, tracking):
        _note(notes, f"{path.name}: {repeats} rows repeat an earlier row exactly; kept as delivered for the "
                     "anomaly filter")
    game_ids = pc.unique(tracking["game_id"])
    games = _games(folder, game_ids, season, week, notes)
    tracking = _clubs(tracking, games, notes)
    plays = _plays(folder, layout, games, game_ids, notes)
    if plays is not None:
        tracking = _only_plays(tracking, plays, notes)
    players = _players(folder, tracking, notes)
    tables = {"tracking": tracking, "plays": plays, "games": games, "players": players}
    return {name: _conform(t, schema.TABLES[name], season, week) for name, t in tables.items()}, notes


# --- writer ---

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
    for col in ("x", "y", "s", "a", "dis", "o", "dir"):
        # NaN (a corrupted value) is not NA (no value, e.g. the ball's o): pandas writes both as NA
        nan = pc.is_nan(tracking[col]).fill_null(False).to_numpy(zero_copy_only=False)
        if nan.any():
            df[col] = df[col].astype(object).where(~nan, "NaN")
    path = Path(out) / f"tracking_week_{week}.csv"
    _write_csv(df[list(TRACKING_2023)].rename(columns=TRACKING_2023), path)
    return path


def write_season_tables(out: Path, players: pa.Table, games: pa.Table, plays: pa.Table) -> None:
    """Write ``players.csv``, ``games.csv`` and ``plays.csv`` (with ``targetNflId``)."""
    out = Path(out)
    p = players.to_pandas()
    p["height_in"] = (p["height_in"] // 12).astype(str) + "-" + (p["height_in"] % 12).astype(str)
    p["birth_date"] = pd.to_datetime(p["birth_date"]).dt.strftime("%Y-%m-%d")
    _write_csv(p[list(PLAYERS_2023)].rename(columns=PLAYERS_2023), out / "players.csv")
    g = games.to_pandas()
    g["game_date"] = pd.to_datetime(g["game_date"]).dt.strftime("%m/%d/%Y")
    _write_csv(g[list(GAMES_2023)].rename(columns=GAMES_2023), out / "games.csv")
    pl = plays.to_pandas().merge(g[["game_id", "home_team"]], on="game_id", how="left")
    home_has_ball = pl["possession_team"] == pl["home_team"]
    pl["home_score"] = np.where(home_has_ball, pl["offense_score"], pl["defense_score"])
    pl["visitor_score"] = np.where(home_has_ball, pl["defense_score"], pl["offense_score"])
    pl["game_clock_s"] = [f"{s // 60:02d}:{s % 60:02d}" for s in pl["game_clock_s"]]
    pl["target_nfl_id"] = pl["target_nfl_id"].astype("Int64")
    _write_csv(pl[list(PLAYS_2023)].rename(columns=PLAYS_2023), out / "plays.csv")
