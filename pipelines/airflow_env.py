"""The environment an Airflow process of this project runs with: a project-local AIRFLOW_HOME,
this repo's dags/ folder, no example DAGs, SQLite metadata, and every server whose address Airflow
lets us choose on 127.0.0.1.  (Airflow 3's task-log servers of the scheduler and the triggerer
always listen on every interface; docs/reliability.md, "Threat note", says what guards them.)"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings


def airflow_environment(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    home = settings.paths.airflow_home
    env.update({
        # `airflow standalone` starts its components as `airflow …` from the PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": env.get("AIRFLOW__API__HOST", "127.0.0.1"),
        "AIRFLOW__API__PORT": env.get("AIRFLOW__API__PORT", "8080"),
        # the scheduler's health-check server (off unless [scheduler] enable_health_check) would
        # otherwise bind every interface
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST":
            env.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", "127.0.0.1"),
        # tasks inherit the profile and configuration of the process that started Airflow
        "TRACKFLOW_PROFILE": settings.profile,
        "TRACKFLOW_CONFIG": str(settings.config_file),
        "TRACKFLOW__PATHS__HOME": str(settings.paths.home),
    })
    # tasks reach the API server at this URL: it must follow the port, or every task fails
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                   f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/execution/")
    # A task's supervisor waits 5 s (Airflow's default) for each answer of the API server, and tries
    # 5 times (about 15 s) while it is not listening yet.  On a busy 2-core machine (a parallel test
    # run) the scheduler hands out queued tasks before `airflow standalone`'s API server is up, and
    # its first answers took 7.5 s: the task's retry of a request the server did carry out is then
    # refused, and the task fails.  A minute per answer and 10 tries (a few minutes) ride that out.
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60")
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_RETRIES", "10")
    return env


# What the last `airflow db migrate` of this AIRFLOW_HOME ran against: the Airflow version and the
# metadata DB file (its inode: a deleted and re-created airflow.db is a new file)
MIGRATED_STAMP = ".trackflow-db-migrated"


def _migrated_as(home: Path) -> str | None:
    db = home / "airflow.db"
    if not db.is_file():
        return None
    return f"apache-airflow {importlib.metadata.version('apache-airflow')} inode {db.stat().st_ino}"


def run_airflow(settings: Settings, args: list[str]) -> int:
    """Run the airflow CLI with the project environment, migrating the metadata DB first when needed.

    A fresh AIRFLOW_HOME needs `airflow db migrate` before anything else.  It is idempotent, but
    a whole Airflow start (~3 CPU s): it runs again only when the Airflow version or the DB file
    changed since the last one (the stamp file), and after any `db …` command (a downgrade, a reset)."""
    env = airflow_environment(settings)
    airflow = str(Path(sys.executable).with_name("airflow"))
    home = settings.paths.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / MIGRATED_STAMP
    if args[:1] == ["db"]:
        stamp.unlink(missing_ok=True)
    else:
        migrated = _migrated_as(home)
        if migrated is None or not stamp.is_file() or stamp.read_text() != migrated:
            subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            stamp.write_text(_migrated_as(home) or "")
    return subprocess.run([airflow, *args], env=env).returncode
