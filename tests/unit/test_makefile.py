"""The two-command setup: the install step reruns only when the lock changes; Java is checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from pipelines.config import PROJECT_ROOT

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
