"""Lake I/O: the one place that reads and writes partitioned Parquet (see DESIGN.md, "Data lake").

Partitions are Hive-style folders (``season=S/week=W``).  A partition is written to a temporary
sibling folder and then renamed into place, so a run that dies leaves the old partition or the new
one, never half of one, and writing the same rows again gives the same bytes (``partition_hash``).

Crashes and concurrent writers (``staged_partition``):

* every write of a partition holds a lock on it (``pipelines.locks``; the hidden file
  ``.lock-week=W`` beside it, deleted after the write) from its first byte to the swap: two runs
  writing the same week (overlapping backfills) take turns, the second waiting for the first, and
  the partition ends as one whole write, never a mix of both;
* the new folder replaces the old one in one atomic step where the system allows it (Linux
  ``renameat2(RENAME_EXCHANGE)``), so readers find the old or the new partition at every instant;
  elsewhere the old folder is renamed aside first (a crash between the two renames leaves the old
  folder aside; the next write puts it back before doing anything else);
* what a killed writer left (hidden ``.tmp-…`` staging and ``.old-…`` folders) is never read as
  data (every reader skips names starting with ``.`` or ``_``) and is deleted by the next write of
  that partition, under its lock: no live writer can own it then.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.locks import file_lock
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
    body = conform(table, table_schema, target)
    with staged_partition(table_root, season, week) as tmp:
        pq.write_table(body, tmp / PART_FILE, compression="zstd", row_group_size=1 << 20)
    return target


def conform(table: pa.Table, table_schema: pa.Schema, target: Path) -> pa.Table:
    """``table`` as ``write_partition`` stores it in ``target``: the stored columns of
    ``table_schema``, cast to their types; raises when it does not fit."""
    stored = file_schema(table_schema)
    missing = [name for name in stored.names if name not in table.column_names]
    if missing:
        raise ValueError(f"cannot write {target}: columns {missing} are missing")
    return table.select(stored.names).cast(stored).replace_schema_metadata(None)


@contextlib.contextmanager
def staged_partition(table_root: Path, season: int, week: int | None = None) -> Iterator[Path]:
    """Yield an empty hidden sibling folder of the partition to write into; when the block ends
    without an error it replaces the partition, otherwise it is removed and the old one stays.

    The partition's lock is held for the whole block (module docstring): a second writer of the
    same partition waits, then writes after the first.  Holding it from the first byte rather than
    only around the swap is what makes leftovers of dead writers safe to delete here: under the
    lock, any other staging folder of this partition belongs to a process that died.  The cost is
    that two writers of one partition run one after the other; writers of different partitions
    never wait for each other.  Nested blocks (the anomaly filter stages two tables) take their
    locks in the same order in every process, so they cannot deadlock.
    """
    target = partition_dir(table_root, season, week)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".lock-{target.name}", f"writing {target}"):
        _clear_leftovers(target)
        tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
            _swap_in(tmp, target)
        finally:
            if tmp.exists():  # the failed write, or the old partition after an exchange
                shutil.rmtree(tmp)


def _clear_leftovers(target: Path) -> None:
    """Under ``target``'s lock: put back an old partition a dead writer had renamed aside without
    renaming its new one in (only without ``RENAME_EXCHANGE``), then delete the staging and aside
    folders of dead writers."""
    def mine(prefix: str) -> list[Path]:
        return [p for p in target.parent.iterdir() if p.name.startswith(f"{prefix}{target.name}-") and p.is_dir()]

    aside = sorted(mine(".old-"), key=lambda p: p.stat().st_mtime)
    if aside and not target.exists():
        aside.pop().rename(target)
    for stale in aside + mine(".tmp-"):
        shutil.rmtree(stale)


def _swap_in(new: Path, target: Path) -> None:
    """Make the folder ``new`` the partition ``target`` (see the module docstring); when ``target``
    existed and was exchanged, ``new`` then holds the old partition for the caller to delete."""
    if not target.exists():
        new.rename(target)
    elif not _exchange(new, target):
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old)


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100
_renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if sys.platform == "linux" else None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False
    when the system or the file system cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def partition_hash(folder: Path) -> str:
    """SHA-256 over a partition folder's data files: their names (relative to ``folder``) and
    bytes, in name order; hidden and ``_`` files are not data and are left out.  Writes are
    deterministic (the same rows give the same bytes), so a rewrite of the same input has the same
    hash, and any difference in any file changes it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no partition at {folder}")
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts))
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_spark_files(df, folder: Path, table_schema: pa.Schema, sort_by: Sequence[str]) -> None:
    """Write a Spark DataFrame into a (staged) partition folder as one Parquet file that
    ``read_table`` reads with ``table_schema``: the stored columns in schema order and types, rows
    sorted by ``sort_by`` (integer or string columns, nulls first, as Spark sorts them) so that the
    same rows give the same bytes, named ``PART_FILE``.

    Spark hands its partitions over as Arrow record batches (``DataFrame.toArrow``: the rows pass
    through the driver, as one sorted file needs them to); pyarrow sorts the rows and writes the one
    zstd file.  (Before: Spark wrote snappy Parquet files into a hidden subfolder that pyarrow read
    back, ~2 CPU·s more per demo week for the clean table alone, spent encoding, compressing and
    decoding an intermediate; and sorting in Spark needed a shuffle of every row into one partition
    and a single-threaded sort, its writer's bytes not even stable: parquet-mr lists each column
    chunk's encodings in the order of a Java hash set, which changes from one JVM to the next.)
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    stored = file_schema(table_schema)
    wanted = [(f.name, from_arrow_type(f.type)) for f in stored]
    # A cast per column is several Py4J calls (the feature tables have hundreds of columns): the
    # select is only added where the DataFrame's columns differ from the stored ones.
    if [(f.name, f.dataType) for f in df.schema.fields] != wanted:
        df = df.select([F.col(name).cast(dtype) for name, dtype in wanted])
    table = df.toArrow()
    if table.schema != stored:  # Spark's timestamps are microseconds; a safe cast fails rather than truncate
        table = table.cast(stored)
    table = table.sort_by([(key, "ascending", "at_start") for key in sort_by])
    pq.write_table(table, Path(folder) / PART_FILE, compression="zstd", row_group_size=1 << 20)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file (a report, a manifest) through a hidden temporary sibling, under the
    file's lock (as partitions are: the last of two writers wins whole, and temporary files a killed
    writer left are deleted here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(f".lock-{path.name}"), f"writing {path}"):
        for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def read_table(table_root: Path, schema: pa.Schema, filter=None) -> pa.Table:
    """Read a partitioned table back with its canonical schema (partition keys restored).  A file
    that is not readable Parquet (cut off, overwritten) is an error naming it, never skipped: a
    skipped file would be rows missing without a word."""
    part_fields = [schema.field(k) for k in PARTITION_KEYS if k in schema.names]
    try:
        dataset = ds.dataset(
            Path(table_root), format="parquet",
            partitioning=ds.partitioning(pa.schema(part_fields), flavor="hive") if part_fields else None,
            ignore_prefixes=[".", "_"],
        )
        table = dataset.to_table(filter=filter)
    except pa.ArrowInvalid as err:
        raise ValueError(f"table {table_root}: {err}; expected the Parquet files trackflow wrote — write "
                         "the partition again (ingest or the stage that makes it)") from None
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
