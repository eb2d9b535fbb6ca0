"""The two-command setup: the install step reruns only when the lock changes; Java is checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from pipelines.config import PROJECT_ROOT
from tests.ports import free_port

MAKE = shutil.which("make")


def test_install_is_skipped_until_the_lock_or_pyproject_changes(tmp_path):
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    stamp = tmp_path / ".venv" / ".installed"
    stamp.parent.mkdir()
    stamp.touch()
    up_to_date = subprocess.run([MAKE, "-q", ".venv/.installed"], cwd=tmp_path)
    assert up_to_date.returncode == 0
    later = time.time() + 5
    os.utime(tmp_path / "requirements.lock", (later, later))
    assert subprocess.run([MAKE, "-q", ".venv/.installed"], cwd=tmp_path).returncode == 1


def test_missing_java_gets_a_clear_message(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = subprocess.run([MAKE, "-s", "-C", str(PROJECT_ROOT), "java"], capture_output=True, text=True,
                         env={"PATH": str(empty), "HOME": str(tmp_path)})
    assert out.returncode != 0
    assert "needs Java 17" in out.stderr and "openjdk-17" in out.stderr


def test_ci_runs_the_readme_test_command():
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make run" in readme
    assert os.access(PROJECT_ROOT / ".ci" / "run", os.X_OK)
    assert Path(PROJECT_ROOT / "requirements.lock").read_text().count("torch==2.13.0") == 1


def test_make_airflow_serves_on_localhost_and_airflow_stop_ends_its_process_group(tmp_path):
    import json
    import urllib.request

    port, state = free_port(), tmp_path / "state"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW"))},
           "TRACKFLOW__PATHS__HOME": str(tmp_path), "TRACKFLOW_PROFILE": "test",
           # the scheduler's and the triggerer's log servers (8793, 8794 by default): another
           # standalone (test_backfill's, on the other xdist worker) must not hold them
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
    args = [MAKE, "-s", "-C", str(PROJECT_ROOT), f"AIRFLOW_PORT={port}", f"AIRFLOW_STATE={state}"]
    started = subprocess.run([*args, "airflow"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout
    group = int((state / "standalone.pid").read_text())
    try:
        health, deadline = None, time.time() + 180
        while time.time() < deadline and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as r:
                    health = json.load(r)
            except OSError:
                time.sleep(2)
        assert health is not None, (state / "standalone.log").read_text()[-3000:]
        assert health["metadatabase"]["status"] == "healthy"
        again = subprocess.run([*args, "airflow"], env=env, capture_output=True, text=True, timeout=60)
        assert "already running" in again.stdout
    finally:
        stopped = subprocess.run([*args, "airflow-stop"], env=env, capture_output=True, text=True, timeout=60)
    assert "Airflow stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    deadline = time.time() + 30
    while time.time() < deadline and _group_alive(group):
        time.sleep(1)
    assert not _group_alive(group)
    assert (tmp_path / ".airflow" / "airflow.db").is_file()  # the project-local AIRFLOW_HOME of the settings


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    # zombies of the group count as gone
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(group)], capture_output=True, text=True).stdout.split()
    return any(not s.startswith("Z") for s in out)
