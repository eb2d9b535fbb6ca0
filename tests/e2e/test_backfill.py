"""`airflow backfill create` over a date range re-runs exactly those weeks (ingest to features), run by a real scheduler."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipelines.config import load_settings
from pipelines.ingest import manifest_path
from tests.ports import free_port

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))


@pytest.mark.slow
def test_backfill_creates_one_run_per_week_and_ingests_exactly_those(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW"))}
    env.update(TRACKFLOW_PROFILE="test", TRACKFLOW__PATHS__HOME=str(tmp_path), AIRFLOW__API__PORT=str(port),
               AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
               # the scheduler's and the triggerer's log servers (8793, 8794 by default): another
               # standalone (test_makefile's, on the other xdist worker) must not hold them
               AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
               AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
               # the scheduler creates no run of its own: unpaused, the DAG's latest interval (this
               # week of the real calendar) would run beside the two backfill runs and take a third
               # of the CPU; the backfill's queued runs still start
               AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
               # the DAGs were serialized above and do not change: the DAG processor need not parse
               # both files again every 30 s beside the runs (2 CPU cores for the whole suite)
               AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600")

    def airflow(*args):
        out = subprocess.run([TRACKFLOW, "airflow", *args], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        return out.stdout

    airflow("dags", "reserialize")
    airflow("dags", "unpause", "tracking_ingest")
    # logical dates are the Tuesdays that open weeks 2 (2025-09-09) and 3 (2025-09-16)
    airflow("backfill", "create", "--dag-id", "tracking_ingest", "--from-date", "2025-09-09",
            "--to-date", "2025-09-22")
    log = open(tmp_path / "standalone.log", "w")
    server = subprocess.Popen([TRACKFLOW, "airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path)})
    # the last stage of a run writes the ghosting features of its week
    ghosting = settings.paths.lake / "features" / "ghosting" / "season=2025"
    runs: list[dict] = []

    def finished() -> bool:
        nonlocal runs
        listing = airflow("dags", "list-runs", "tracking_ingest", "--output", "json")
        runs = json.loads(next(line for line in listing.splitlines() if line.startswith("[")))  # skip log lines
        return sum(r["run_id"].startswith("backfill__") and r["state"] in ("success", "failed") for r in runs) == 2

    try:
        # 6 min seen beside the other xdist worker's end-to-end file (with a third, scheduled run
        # then), 9 min on a machine busy with more
        deadline, last_listing = time.time() + 900, time.time()
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            done = all((ghosting / f"week={w}").is_dir() for w in (2, 3))
            # now and then (each listing is an Airflow start, ~3 CPU s): a failed run ends the wait too
            if done or time.time() - last_listing > 90:
                last_listing = time.time()
                if finished():
                    break
            time.sleep(3)
    finally:
        _stop(server)
        log.close()
    backfills = sorted((r["run_id"], r["state"]) for r in runs if r["run_id"].startswith("backfill__"))
    assert [state for _, state in backfills] == ["success", "success"], runs
    assert len(runs) == 2, runs  # no scheduled run beside them
    ingested_2025 = sorted(int(p.name.split("=")[1].split(".")[0])
                           for p in manifest_path(settings, 2025, 1).parent.glob("week=*.json"))
    assert ingested_2025 == [2, 3]
    assert sorted(p.name for p in ghosting.glob("week=*")) == ["week=2", "week=3"]


def _stop(server: subprocess.Popen) -> None:
    """End `airflow standalone` and every process it started.  SIGTERM to its process group alone
    leaves the task processes of the LocalExecutor, which run in process groups of their own: the
    run of the latest interval (the DAG is unpaused) kept a Spark JVM busy for minutes after the
    test, beside the next tests of the worker (the scheduler no longer creates that run; this still
    ends whatever a run left)."""
    def below() -> list[psutil.Process]:
        try:
            return psutil.Process(server.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    tree = {p.pid: p for p in below()}
    with contextlib.suppress(ProcessLookupError):  # a group all gone: the failure that ended the wait says why
        os.killpg(server.pid, signal.SIGTERM)
    tree.update((p.pid, p) for p in below())  # what was being started meanwhile
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    _, alive = psutil.wait_procs(list(tree.values()), timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=30)
