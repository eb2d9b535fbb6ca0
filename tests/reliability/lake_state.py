"""Helpers of the crash, rerun and concurrency tests: the ``trackflow`` command in a project home
under tmp (test profile), the content of one week in the lake as partition hashes, the manifest
checked against what is on disk, and a job killed while it writes a partition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines import lake
from pipelines.config import Settings, load_settings
from pipelines.ingest import RAW_TABLES, TRUTH_TABLES, manifest_path, raw_root, read_manifest

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))
SEASON, WEEK = 2025, 1
WEEK_ARGS = ("--season", str(SEASON), "--weeks", str(WEEK))
# tables of one week, as paths under the lake
INGESTED = tuple(f"raw/{t}" for t in RAW_TABLES) + TRUTH_TABLES  # what `trackflow ingest` writes
CLEAN = ("clean/tracking", "clean/anomalies")  # `trackflow filter`
FEATURES = ("features/passing", "features/ghosting")  # `trackflow features`


def env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``trackflow`` subprocess working in project home ``home``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW", "MLFLOW"))}
    return {**base, "TRACKFLOW_PROFILE": "test", "TRACKFLOW__PATHS__HOME": str(home), **extra}


def settings(home: Path) -> Settings:
    return load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home)})


def trackflow(home: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``trackflow ARGS`` to its end in ``home``; it must succeed."""
    out = subprocess.run([TRACKFLOW, *args], env=env(home), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"trackflow {' '.join(args)}: exit {out.returncode}\n{(out.stdout + out.stderr)[-4000:]}"
    return out


def week_hashes(home: Path, tables: tuple[str, ...]) -> dict[str, str | None]:
    """``lake.partition_hash`` of the week's partition of each table (None: no partition)."""
    root = settings(home).paths.lake
    out = {}
    for table in tables:
        folder = lake.partition_dir(root / table, SEASON, WEEK)
        out[table] = lake.partition_hash(folder) if folder.is_dir() else None
    return out


def hidden_entries(home: Path) -> list[str]:
    """Hidden files and folders anywhere in the lake: staging, aside and lock files, temporary
    reports.  A finished run leaves none."""
    root = settings(home).paths.lake
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*"))


def check_manifest(home: Path, expected_content_hash: str | None = None) -> None:
    """The week's manifest names exactly the partitions of the week that exist, each with its rows
    and ``lake.partition_hash``, and each partition holds exactly one data file."""
    s = settings(home)
    m = read_manifest(s, SEASON, WEEK)
    present = {}
    for name in RAW_TABLES + TRUTH_TABLES:
        root = raw_root(s) / name if name in RAW_TABLES else s.paths.lake / name
        folder = lake.partition_dir(root, SEASON, WEEK)
        if folder.is_dir():
            present[name] = folder
    assert set(m.partitions) == set(m.row_counts) == set(present), (m.partitions, m.row_counts, present)
    for name, folder in present.items():
        assert sorted(p.name for p in folder.iterdir()) == [lake.PART_FILE], folder
        assert lake.partition_hash(folder) == m.partitions[name], name
        assert pq.read_metadata(folder / lake.PART_FILE).num_rows == m.row_counts[name], name
    if expected_content_hash is not None:
        assert m.content_hash == expected_content_hash


def manifest_exists(home: Path) -> bool:
    return manifest_path(settings(home), SEASON, WEEK).is_file()


def staging_folders(home: Path, tables: tuple[str, ...]) -> list[Path]:
    """Staging folders (``.tmp-…``, ``lake.staged_partition``) of the tables' season folders."""
    root = settings(home).paths.lake
    found = []
    for table in tables:
        season = root / table / f"season={SEASON}"
        try:
            found += [p for p in season.iterdir() if p.name.startswith(".tmp-")]
        except FileNotFoundError:
            pass
    return found


def kill_mid_write(home: Path, args: tuple[str, ...], tables: tuple[str, ...], log: Path,
                   timeout: float = 300) -> list[Path]:
    """Start ``trackflow ARGS`` (its own process group), and as soon as it stages a partition of
    one of ``tables`` freeze the whole group (SIGSTOP: the Python process, Spark's JVM and its
    workers), check that the staging folder is still there (else let it go on and wait for the
    next one), then SIGKILL the group.  Returns the staging folders that existed at the kill; the
    caller checks they are still on disk (no cleanup ran) and the exit status was SIGKILL."""
    with log.open("w") as out:
        proc = subprocess.Popen([TRACKFLOW, *args], env=env(home), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"trackflow {' '.join(args)} ended (exit {proc.returncode}) before a " \
                                        f"write of {tables} was caught:\n{log.read_text()[-3000:]}"
            if staging_folders(home, tables):
                os.killpg(proc.pid, signal.SIGSTOP)
                caught = staging_folders(home, tables)  # listed while nothing of the job runs
                if caught:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=60)
                    assert proc.returncode == -signal.SIGKILL, proc.returncode
                    _wait_group_gone(proc.pid)
                    return caught
                os.killpg(proc.pid, signal.SIGCONT)  # it had just renamed it into place
            time.sleep(0.002)
        raise AssertionError(f"no staging folder of {tables} within {timeout} s:\n{log.read_text()[-3000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def _wait_group_gone(pgid: int, timeout: float = 30) -> None:
    """Every process of the killed group (Spark's JVM and workers too) has died (zombies waiting
    for their parent to reap them count as dead)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, …
                alive.append(stat.parent.name)
        if not alive:
            return
        assert time.monotonic() < deadline, f"processes {alive} of group {pgid} are alive {timeout} s after SIGKILL"
        time.sleep(0.05)
