"""Lake I/O: the one place that reads and writes partitioned Parquet (see DESIGN.md, "Data lake").

Partitions are Hive-style folders (``season=S/week=W``).  A partition is written to a temporary
sibling folder and then renamed into place, so a run that dies leaves the old partition or the new
one, never half of one, and writing the same rows again gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.schema import PARTITION_KEYS, file_schema

PART_FILE = "part-0.parquet"


def partition_dir(table_root: Path, season: int, week: int | None = None) -> Path:
    path = Path(table_root) / f"season={int(season)}"
    return path / f"week={int(week)}" if week is not None else path


def write_partition(table: pa.Table, table_root: Path, table_schema: pa.Schema, season: int,
                    week: int | None = None) -> Path:
    """Atomically replace one partition with ``table``, cast to its canonical ``table_schema``.

    The partition-key columns are not stored in the file; a table that does not fit the schema
    raises before anything is written.
    """
    target = partition_dir(table_root, season, week)
    stored = file_schema(table_schema)
    missing = [name for name in stored.names if name not in table.column_names]
    if missing:
        raise ValueError(f"cannot write {target}: columns {missing} are missing")
    body = table.select(stored.names).cast(stored).replace_schema_metadata(None)
    with staged_partition(table_root, season, week) as tmp:
        pq.write_table(body, tmp / PART_FILE, compression="zstd", row_group_size=1 << 20)
    return target


@contextlib.contextmanager
def staged_partition(table_root: Path, season: int, week: int | None = None) -> Iterator[Path]:
    """Yield an empty hidden sibling folder of the partition to write into; when the block ends
    without an error it replaces the partition, otherwise it is removed and the old one stays.

    The old partition is renamed aside, the new one renamed in, the old one deleted.
    """
    target = partition_dir(table_root, season, week)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_spark_files(df, folder: Path, table_schema: pa.Schema, sort_by: Sequence[str]) -> None:
    """Write a Spark DataFrame into a (staged) partition folder as one Parquet file that
    ``read_table`` reads with ``table_schema``: the stored columns in schema order and types, rows
    sorted by ``sort_by`` so that the same rows give the same bytes, named ``PART_FILE``,
    without Spark's ``_SUCCESS`` and ``.crc`` files.  The folder must be on the local file system.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    stored = file_schema(table_schema)  # timestamps: get_spark sets TIMESTAMP_MILLIS, pyarrow's unit
    body = df.select([F.col(f.name).cast(from_arrow_type(f.type)) for f in stored])
    (body.repartition(1).sortWithinPartitions(*sort_by)
     .write.mode("overwrite").option("compression", "zstd").parquet(str(folder)))
    for path in Path(folder).iterdir():
        if path.name.startswith(("_", ".")):
            path.unlink()
    (part,) = Path(folder).glob("part-*.parquet")  # Spark names it part-00000-<uuid>…: not stable
    part.rename(part.with_name(PART_FILE))


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file (a report, a manifest) through a hidden temporary sibling."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_table(table_root: Path, schema: pa.Schema, filter=None) -> pa.Table:
    """Read a partitioned table back with its canonical schema (partition keys restored)."""
    part_fields = [schema.field(k) for k in PARTITION_KEYS if k in schema.names]
    dataset = ds.dataset(
        Path(table_root), format="parquet",
        partitioning=ds.partitioning(pa.schema(part_fields), flavor="hive") if part_fields else None,
        exclude_invalid_files=True, ignore_prefixes=[".", "_"],
    )
    table = dataset.to_table(filter=filter)
    return table.select(schema.names).cast(schema)


Seasons = int | Sequence[int]  # one season, or several (the same weeks of each)


def season_list(season: Seasons) -> list[int]:
    """``season`` as a list: ``2025`` → ``[2025]``; a list stays (as ints, in its order)."""
    return [int(season)] if isinstance(season, int) or hasattr(season, "__index__") else [int(s) for s in season]


def seasons_label(season: Seasons) -> str:
    """``2025`` or ``2024+2025``: for run names and messages."""
    return "+".join(str(s) for s in season_list(season))


def read_weeks(table_root: Path, season: Seasons, weeks: Sequence[int], columns: Sequence[str] | None = None
               ) -> pa.Table:
    """Read the given weeks of a season (or of each of several seasons) from a table without a
    canonical schema (the feature tables), with ``season`` and ``week`` columns restored."""
    parts = []
    for s in season_list(season):
        missing = [w for w in weeks if not partition_dir(table_root, s, w).is_dir()]
        if missing:
            raise FileNotFoundError(f"{table_root}: no partition for season {s} week(s) {missing}; build them first")
        for week in weeks:
            table = pq.read_table(partition_dir(table_root, s, week) / PART_FILE, columns=columns)
            parts.append(table.append_column("season", pa.array([s] * table.num_rows, pa.int32()))
                         .append_column("week", pa.array([week] * table.num_rows, pa.int32())))
    return pa.concat_tables(parts)
