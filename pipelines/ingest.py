"""Ingest: a source's weeks into the raw lake, one atomic partition per table and week, plus a manifest.

    lake/raw/{tracking,plays,games,players}/season=S/week=W/part-0.parquet
    lake/raw/_manifests/season=S/week=W.json
    lake/truth/{plays,anomalies}/season=S/week=W/     (the simulator's ground truth, synthetic: only)

Values are stored as delivered (no cleaning here).  Re-ingesting a week replaces its partitions
and, for the same input, writes the same bytes, so the manifest's content hash is the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines import lake, schema
from pipelines.config import Settings
from pipelines.locks import file_lock
from pipelines.sources import WeekData, open_source

RAW_TABLES = ("tracking", "plays", "games", "players")
TRUTH_TABLES = ("truth/plays", "truth/anomalies")


@dataclass
class Manifest:
    source: str
    season: int
    week: int
    inputs: dict[str, str]  # input file -> sha256
    row_counts: dict[str, int]
    content_hash: str  # sha256 over the written partitions' bytes, table by table
    schema_version: int
    notes: list[str]
    ingested_at: str
    # table -> lake.partition_hash of its partition as written: the manifest names exactly the
    # partitions of the week and their bytes (empty in manifests written before it existed)
    partitions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def raw_root(settings: Settings) -> Path:
    return settings.paths.lake / "raw"


def manifest_path(settings: Settings, season: int, week: int) -> Path:
    return raw_root(settings) / "_manifests" / f"season={season}" / f"week={week}.json"


def ingest_week(settings: Settings, source_uri: str, season: int, week: int) -> Manifest:
    """Read one week from the source and write it to the raw lake; returns the manifest written."""
    source = open_source(source_uri, settings)
    data = source.read_week(season, week)
    return write_week(settings, source.uri, season, week, data)


def write_week(settings: Settings, source_uri: str, season: int, week: int, data: WeekData) -> Manifest:
    """Write the week: its manifest is deleted first and written last, after every partition, so
    a manifest that exists describes exactly the partitions there (the week's commit record).
    Each partition is replaced atomically on its own (``lake.staged_partition``): a run killed
    midway leaves whole partitions, some old and some new, and no manifest, so the week counts as
    not ingested (``retraining.prepare_week`` ingests it again) until a run completes it.  The
    week's lock (a hidden file beside the manifest) is held throughout: two runs ingesting the
    same week at once (overlapping backfills) write it one after the other, each whole."""
    if data.tables["tracking"].num_rows == 0:
        raise ValueError(f"{source_uri}: season {season} week {week} has no tracking rows; nothing was written")
    with week_lock(settings, season, week):
        return _write_week(settings, source_uri, season, week, data)


def week_lock(settings: Settings, season: int, week: int):
    """The lock an ingest of (season, week) holds while it writes the week (``write_week``)."""
    path = manifest_path(settings, season, week)
    return file_lock(path.with_name(f".lock-{path.stem}"), f"ingesting season {season} week {week}")


def _write_week(settings: Settings, source_uri: str, season: int, week: int, data: WeekData) -> Manifest:
    tables = {}
    for name in RAW_TABLES + TRUTH_TABLES:
        if data.tables.get(name) is not None:
            root = raw_root(settings) / name if name in RAW_TABLES else settings.paths.lake / name
            # every table checked against its schema before the first change to the lake
            tables[name] = (root, lake.conform(data.tables[name], schema.TABLES[name],
                                               lake.partition_dir(root, season, week)))
    manifest_path(settings, season, week).unlink(missing_ok=True)
    digest = hashlib.sha256()
    counts, partitions = {}, {}
    for name, (root, table) in tables.items():
        part = lake.write_partition(table, root, schema.TABLES[name], season=season, week=week)
        counts[name] = table.num_rows
        partitions[name] = lake.partition_hash(part)
        digest.update(name.encode())
        digest.update((part / lake.PART_FILE).read_bytes())
    manifest = Manifest(
        source=source_uri, season=season, week=week, inputs=data.inputs, row_counts=counts,
        content_hash=digest.hexdigest(), schema_version=schema.SCHEMA_VERSION, notes=data.notes,
        ingested_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), partitions=partitions,
    )
    lake.write_text_atomic(manifest_path(settings, season, week), manifest.to_json())
    return manifest


def ingest(settings: Settings, source_uri: str, season: int, weeks: list[int]) -> list[Manifest]:
    """Ingest several weeks, one after the other."""
    return [ingest_week(settings, source_uri, season, week) for week in weeks]


def read_manifest(settings: Settings, season: int, week: int) -> Manifest:
    path = manifest_path(settings, season, week)
    if not path.is_file():
        raise FileNotFoundError(f"no manifest for season {season} week {week} at {path}: ingest the week first")
    return Manifest(**json.loads(path.read_text()))


def plan_weeks(params: dict, data_interval_start=None, default_season: int | None = None) -> list[dict]:
    """Which (season, week)s a run ingests: the params when given, else the run's data interval.

    * ``weeks`` given: those weeks of ``season`` (or of the data interval's season, or the default).
    * ``weeks`` not given: the week holding ``data_interval_start`` (see ``pipelines.nfl_calendar``).
    """
    from pipelines.config import parse_weeks
    from pipelines.nfl_calendar import season_week_of

    season = params.get("season")
    weeks = params.get("weeks")
    interval = season_week_of(data_interval_start) if data_interval_start is not None else None
    if weeks:
        season = season or (interval[0] if interval else default_season)
        if season is None:
            raise ValueError("param 'season' is required when the run has no data interval in a season")
        return [{"season": int(season), "week": w} for w in parse_weeks(weeks)]
    if interval is None:
        raise ValueError(
            f"the data interval starting {data_interval_start} is in no NFL week (off-season) and no 'weeks' "
            "param was given: pass params like {\"season\": 2025, \"weeks\": \"1-4\"}")
    if season is not None and int(season) != interval[0]:
        raise ValueError(f"param season={season} contradicts the data interval, which is in season {interval[0]}")
    return [{"season": interval[0], "week": interval[1]}]
