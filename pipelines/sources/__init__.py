"""Data sources behind one interface: the built-in season simulator (``synthetic:``) and Big Data
Bowl files (``bdb:<folder>``).

A source turns (season, week) into the canonical tables of :mod:`pipelines.schema` plus notes on
what it could not provide.  The simulator also returns its ground truth (``truth/plays``,
``truth/anomalies``), which the ingest keeps beside the raw lake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import Settings

SCHEMES = ("synthetic:", "bdb:")


class SourceError(ValueError):
    """A source URI or a source file is wrong; the message names it and what was expected."""


@dataclass
class WeekData:
    """One week from a source: canonical tables, what was unavailable, and the input files read."""

    tables: dict[str, pa.Table]
    notes: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # input file -> sha256 (empty for synthetic:)


class SyntheticSource:
    """The season simulator; deterministic per (seed, season, week, game)."""

    def __init__(self, settings: Settings):
        self.sim = settings.simulator
        self.uri = "synthetic:"

    def describe(self) -> str:
        return f"synthetic: (seed {self.sim.seed}, {self.sim.games_per_week} games a week)"

    def read_week(self, season: int, week: int) -> WeekData:
        from pipelines.sources.simulator import simulate_week
        from pipelines.sources.simulator.league import players_table
        from pipelines.sources.simulator.season import league_for

        tables = simulate_week(self.sim, season, week)
        # like a Big Data Bowl week: the players who appear in the week's tracking
        players = players_table(league_for(self.sim.seed))
        seen = pc.unique(tables["tracking"]["nfl_id"]).drop_null()
        tables["players"] = players.filter(pc.is_in(players["nfl_id"], value_set=seen))
        return WeekData(tables)


class BdbSource:
    """A folder of Big Data Bowl CSV files, in any layout ``pipelines.sources.bdb`` recognises."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.uri = f"bdb:{folder}"

    def describe(self) -> str:
        from pipelines.sources import bdb

        return f"{self.uri} ({bdb.detect_layout(self.folder)} layout)"

    def read_week(self, season: int, week: int) -> WeekData:
        from pipelines.sources import bdb

        tables, notes = bdb.read_week(self.folder, season, week)
        inputs = {str(p.relative_to(self.folder)): _sha256(p) for p in bdb.week_files(self.folder, week)}
        return WeekData(tables, notes, inputs)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_source(uri: str, settings: Settings) -> SyntheticSource | BdbSource:
    """Open a source URI: ``synthetic:`` or ``bdb:<folder>`` (absolute, or relative to the working folder)."""
    if uri == "synthetic:":
        return SyntheticSource(settings)
    if uri.startswith("bdb:"):
        raw = uri[len("bdb:"):]
        if not raw:
            raise SourceError("source 'bdb:' needs a folder, e.g. bdb:/data/nfl-big-data-bowl-2023")
        if "\x00" in raw:
            raise SourceError(f"source {uri!r}: the folder name contains a NUL byte")
        if ".." in Path(raw).parts:  # a DAG param or a config value must not climb out of where it points
            raise SourceError(f"source {uri!r}: '..' in the folder; expected the folder itself, absolute or below "
                              "the working folder, e.g. bdb:/data/nfl-big-data-bowl-2023")
        folder = Path(raw).expanduser().resolve()
        if not folder.is_dir():
            raise SourceError(f"source {uri!r}: folder {folder} does not exist or is not a folder")
        return BdbSource(folder)
    raise SourceError(f"unknown source {uri!r}; expected one of: synthetic:, bdb:<folder>")
