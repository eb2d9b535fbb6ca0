"""Concurrency: two runs writing the same week at once end with one whole, valid week.

The chosen behaviour (``pipelines.locks``, ``lake.staged_partition``, ``ingest.write_week``): the
second writer waits for the first, saying so once on stderr ("… another run holds the lock on
<lock file> (pid N); waiting for it"), then writes; both exit 0 and the week is the last writer's,
whole.  Two `trackflow ingest` processes backfilling one week (real subprocesses), and two writers
of one partition at the lake level, where the first is held inside its write so that the overlap
is certain rather than left to timing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import lake, schema
from pipelines.ingest import read_manifest, week_lock
from tests.reliability.lake_state import (
    INGESTED,
    SEASON,
    TRACKFLOW,
    WEEK,
    WEEK_ARGS,
    check_manifest,
    env,
    hidden_entries,
    manifest_exists,
    settings,
    trackflow,
    week_hashes,
)

WAITING = "another run holds the lock on"


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """The week ingested by one run alone."""
    home = tmp_path_factory.mktemp("single")
    trackflow(home, "ingest", *WEEK_ARGS, "--no-validate")
    return {"hashes": week_hashes(home, INGESTED), "manifest": read_manifest(settings(home), SEASON, WEEK)}


def _wait_for(what: str, done, procs: list[subprocess.Popen], logs: list[Path], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        for proc, log in zip(procs, logs):
            assert proc.poll() is None, f"{what}: a process ended first (exit {proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def test_two_overlapping_ingests_of_the_same_week_end_with_one_whole_week(single, tmp_path):
    home = tmp_path / "home"
    logs = [tmp_path / f"ingest-{i}.log" for i in (1, 2)]
    procs = []
    try:
        # both runs reach their writes while the week's lock is taken: when it is let go they are
        # writing the same week at once, and one must wait for the other
        with week_lock(settings(home), SEASON, WEEK):
            for log in logs:
                with log.open("w") as out:
                    procs.append(subprocess.Popen([TRACKFLOW, "ingest", *WEEK_ARGS, "--no-validate"], env=env(home),
                                                  stdout=out, stderr=subprocess.STDOUT))
            _wait_for("both runs waiting for the week's lock", lambda: all(WAITING in log.read_text() for log in logs),
                      procs, logs)
            assert week_hashes(home, INGESTED) == dict.fromkeys(INGESTED) and not manifest_exists(home)
        for proc, log in zip(procs, logs):
            assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for log in logs:
        assert f"ingesting season {SEASON} week {WEEK}: {WAITING} " in log.read_text()
        assert f"season {SEASON} week {WEEK}: tracking " in log.read_text()  # and then it wrote the week
    assert week_hashes(home, INGESTED) == single["hashes"]
    check_manifest(home, single["manifest"].content_hash)
    assert hidden_entries(home) == []


WRITER = """
import sys, time
from pathlib import Path
import pyarrow as pa
import pyarrow.parquet as pq
from pipelines import lake, schema

root, rows, go, inside = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
games = pa.table({"game_id": list(range(rows)), "season": [2025] * rows, "week": [1] * rows,
                  "game_date": [None] * rows, "game_time_eastern": ["13:00:00"] * rows,
                  "home_team": ["KC"] * rows, "visitor_team": ["BUF"] * rows}, schema=schema.GAMES)
if go == "-":  # an ordinary write
    lake.write_partition(games, root, schema.GAMES, 2025, 1)
else:  # a write held open after its file is written, until the file `go` appears
    with lake.staged_partition(root, 2025, 1) as tmp:
        pq.write_table(games.drop_columns(["season", "week"]), tmp / lake.PART_FILE)
        Path(inside).write_text(str(tmp))
        while not Path(go).exists():
            time.sleep(0.01)
"""


def _games(n: int) -> pa.Table:
    return pa.table({"game_id": list(range(n)), "season": [SEASON] * n, "week": [WEEK] * n, "game_date": [None] * n,
                     "game_time_eastern": ["13:00:00"] * n, "home_team": ["KC"] * n, "visitor_team": ["BUF"] * n},
                    schema=schema.GAMES)


def test_a_second_writer_of_a_partition_waits_for_the_first_and_the_partition_ends_whole(tmp_path):
    root, go, inside = tmp_path / "lake" / "games", tmp_path / "go", tmp_path / "inside"
    lake.write_partition(_games(7), root, schema.GAMES, SEASON, WEEK)  # what both replace
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    def start(rows: int, go_file: str, log: Path) -> subprocess.Popen:
        with log.open("w") as out:
            return subprocess.Popen([sys.executable, "-", str(root), str(rows), go_file, str(inside)], stdin=subprocess.PIPE,
                                    stdout=out, stderr=subprocess.STDOUT, text=True, env=env(tmp_path))

    procs = []
    try:
        procs.append(start(3, str(go), logs[0]))
        procs[0].stdin.write(WRITER)
        procs[0].stdin.close()
        _wait_for("the first writer inside its write", inside.exists, procs[:1], logs[:1], timeout=120)
        procs.append(start(2, "-", logs[1]))
        procs[1].stdin.write(WRITER)
        procs[1].stdin.close()
        _wait_for("the second writer waiting", lambda: WAITING in logs[1].read_text(), procs, logs, timeout=120)
        held = lake.partition_dir(root, SEASON, WEEK)
        assert f"{WAITING} {held.parent / '.lock-week=1'} (pid {procs[0].pid})" in logs[1].read_text()
        # it waits before writing anything: the only staging folder is the first writer's
        assert [str(p) for p in held.parent.iterdir() if p.name.startswith(".tmp-")] == [inside.read_text()]
        assert lake.read_table(root, schema.GAMES).num_rows == 7  # readers still get the old partition
        go.touch()
        for proc, log in zip(procs, logs):
            assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    # one whole partition: the second (last) writer's, byte for byte what it writes alone
    alone = lake.write_partition(_games(2), tmp_path / "alone", schema.GAMES, SEASON, WEEK)
    assert lake.partition_hash(held) == lake.partition_hash(alone)
    assert lake.read_table(root, schema.GAMES).num_rows == 2
    assert sorted(p.name for p in held.parent.iterdir()) == ["week=1"]  # no staging, aside or lock file left
