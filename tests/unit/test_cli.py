"""The trackflow command line, run as a user runs it (a real subprocess of the installed script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TRACKFLOW = shutil.which("trackflow", path=str(Path(sys.executable).parent)) or "trackflow"


def run(*args, env=None, cwd=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACKFLOW")}
    environ.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    return subprocess.run([TRACKFLOW, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=300)


def test_help_lists_real_commands_with_help_text():
    out = run("--help")
    assert out.returncode == 0
    for command in ("simulate", "config"):
        assert command in out.stdout
    sim = run("simulate", "--help")
    for option in ("--season", "--weeks", "--out", "--format", "--seed", "--games-per-week", "--workers"):
        assert option in sim.stdout
    assert "Big Data Bowl" in sim.stdout


def test_simulate_parquet_prints_a_summary_and_writes_the_tables(tmp_path):
    out = run("--profile", "test", "simulate", "--out", str(tmp_path), "--weeks", "2", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["games"] == 2 and summary["plays"] > 100 and 0 < summary["completion_rate"] < 1
    for table in ("tracking", "plays", "games", "truth/plays", "truth/anomalies"):
        assert (tmp_path / table / "season=2025" / "week=2" / "part-0.parquet").is_file()
    assert (tmp_path / "players" / "season=2025" / "part-0.parquet").is_file()
    assert not list(tmp_path.rglob(".tmp-*"))


def test_simulate_bdb_writes_the_2023_layout(tmp_path):
    out = run("--profile", "test", "simulate", "--out", str(tmp_path), "--weeks", "1-2", "--format", "bdb")
    assert out.returncode == 0, out.stderr
    assert "completion" in out.stdout and "anomalies" in out.stdout
    tracking = pd.read_csv(tmp_path / "tracking_week_2.csv", nrows=50)
    assert list(tracking.columns) == ["gameId", "playId", "nflId", "displayName", "frameId", "time", "jerseyNumber",
                                      "club", "playDirection", "x", "y", "s", "a", "dis", "o", "dir", "event"]
    plays = pd.read_csv(tmp_path / "plays.csv")
    assert {"targetNflId", "passResult", "playResult", "absoluteYardlineNumber"} <= set(plays.columns)
    assert set(plays.week if "week" in plays else []) <= {1, 2}
    games = pd.read_csv(tmp_path / "games.csv")
    assert set(games.week) == {1, 2} and set(plays.gameId) == set(games.gameId)
    players = pd.read_csv(tmp_path / "players.csv")
    assert plays.targetNflId.dropna().isin(players.nflId).all()
    assert (tmp_path / "truth" / "anomalies" / "season=2025" / "week=1" / "part-0.parquet").is_file()
    # missing values are spelled as in the published files: the ball has no nflId, most frames no event
    lines = (tmp_path / "tracking_week_1.csv").read_text().splitlines()
    ball = next(line for line in lines if ",football," in line)
    assert ball.split(",")[2] == "NA" and lines[2].endswith(",NA")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "--weeks", "0"], "--weeks"),
        (["simulate", "--weeks", "two"], "not a week number"),
        (["simulate", "--format", "xlsx"], "--format"),
        (["simulate", "--games-per-week", "40"], "--games-per-week"),
        (["--profile", "prod", "simulate"], "profile 'prod'"),
    ],
)
def test_bad_arguments_fail_with_a_message_naming_the_parameter(args, needle, tmp_path):
    out = run(*args, "--out", str(tmp_path / "x")) if args[0] == "simulate" else run(*args)
    assert out.returncode != 0
    assert needle in out.stderr + out.stdout
    assert not (tmp_path / "x").exists()


def test_config_prints_the_effective_settings_with_overrides(tmp_path):
    out = run("--profile", "test", "config", env={"TRACKFLOW__SIMULATOR__SEED": "99", "TRACKFLOW__PATHS__HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "seed: 99" in out.stdout and f"lake: {tmp_path.resolve()}/lake" in out.stdout
    assert "mlflow_tracking_uri: sqlite:///" in out.stdout


def test_config_typo_in_environment_is_reported(tmp_path):
    out = run("config", env={"TRACKFLOW__SIMULATOR__SEEDS": "1"})
    assert out.returncode == 2 and "'seeds'" in out.stderr


def test_runs_commands_on_an_empty_store_say_what_to_run(tmp_path):
    env = {"TRACKFLOW_PROFILE": "test", "TRACKFLOW__PATHS__HOME": str(tmp_path)}
    compared = run("runs", "compare", env=env)
    assert compared.returncode == 0 and "no retraining runs yet: run `make run`" in compared.stdout
    shown = run("runs", "show", env=env)
    assert shown.returncode == 1 and "trackflow runs show: no retraining run in sqlite:///" in shown.stderr
    assert "Traceback" not in shown.stderr
    missing = run("runs", "show", "0123abcd", env=env)
    assert missing.returncode == 1 and "run '0123abcd' is not in" in missing.stderr


def test_trackflow_airflow_migrates_the_metadata_db_only_when_airflow_or_the_db_file_changed(tmp_path):
    from pipelines.airflow_env import MIGRATED_STAMP

    env = {"TRACKFLOW_PROFILE": "test", "TRACKFLOW__PATHS__HOME": str(tmp_path)}
    airflow_home, db = tmp_path / ".airflow", tmp_path / ".airflow" / "airflow.db"  # the wrapper's AIRFLOW_HOME

    def airflow(*args):
        out = run("airflow", *args, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    airflow("version")  # a fresh home: migrated, and the stamp says by what and which file
    stamp = airflow_home / MIGRATED_STAMP
    first = stamp.read_text()
    assert db.is_file() and first.startswith("apache-airflow ") and first.endswith(f" inode {db.stat().st_ino}")
    os.utime(stamp, (0, 0))
    airflow("version")
    assert stamp.stat().st_mtime == 0  # up to date: no second migrate
    stamp.write_text(first.replace("apache-airflow ", "apache-airflow 0.0-"))  # another Airflow migrated it
    airflow("version")
    assert stamp.read_text() == first
    airflow("db", "check")  # any db command may change the schema: the next call migrates again
    assert not stamp.exists()
    db.unlink()
    stamp.write_text(first)  # a stale stamp beside a new (here: missing) DB file
    airflow("dags", "list")  # fails on an unmigrated DB ("Database migration required")
    assert stamp.read_text().endswith(f" inode {db.stat().st_ino}")
