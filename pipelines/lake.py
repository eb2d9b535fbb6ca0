"""Lake I/O: the one place that reads and writes partitioned Parquet (see DESIGN.md, "Data lake").

Partitions are Hive-style folders (``season=S/week=W``).  A partition is written to a temporary
sibling folder and then renamed into place, so a run that dies leaves the old partition or the new
one, never half of one, and writing the same rows again gives the same bytes.
"""

from __future__ import annotations

import shutil
import uuid
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        pq.write_table(body, tmp / PART_FILE, compression="zstd", row_group_size=1 << 20)
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
    return target


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
