"""Bad Big Data Bowl input through `trackflow ingest`: a message naming the file and the column or
line, a non-zero exit, no partition written and the input left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bdb_files import digest as _digest
from tests.bdb_files import drop_column as _drop_column
from tests.bdb_files import duplicate_with, make_folder
from tests.bdb_files import edit_tracking as _edit_tracking
from tests.bdb_files import set_value as _set_value

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("bdb_good"))


def _ingest(folder: Path, home: Path, weeks: str = "1"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKFLOW")}
    env.update(TRACKFLOW_PROFILE="test", TRACKFLOW__PATHS__HOME=str(home), COLUMNS="200")
    return subprocess.run([TRACKFLOW, "ingest", "--source", f"bdb:{folder}", "--season", "2025", "--weeks", weeks,
                           "--no-validate"], env=env, capture_output=True, text=True, timeout=300)


def _duplicate_with_other_x(lines):
    return duplicate_with(lines, 10, "x", "99.99")


CASES = {
    "missing file": (lambda f: (f / "tracking_week_1.csv").rename(f / "tracking_week_3.csv"), ["week 1"]),
    "empty file": (lambda f: (f / "tracking_week_1.csv").write_text(""), ["tracking_week_1.csv", "empty"]),
    "missing column": (lambda f: _edit_tracking(f, lambda l: _drop_column(l, "dis")), ["tracking_week_1.csv", "dis"]),
    "non-numeric coordinate": (lambda f: _edit_tracking(f, lambda l: _set_value(l, "y", 7, "12,5".replace(",", "x"))),
                               ["tracking_week_1.csv", "line 8", "'y'", "12x5"]),
    "duplicated key": (lambda f: _edit_tracking(f, _duplicate_with_other_x), ["tracking_week_1.csv", "duplicated key"]),
    "wrong delimiter": (lambda f: _edit_tracking(f, lambda l: [x.replace(",", ";") for x in l]),
                        ["tracking_week_1.csv", "one column"]),
    "unknown layout": (lambda f: (f / "tracking_week_1.csv").rename(f / "positions_1.csv"), ["lacks"]),
}


def test_the_good_folder_ingests(good_folder, tmp_path):
    out = _ingest(good_folder, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "lake/raw/tracking/season=2025/week=1/part-0.parquet").is_file()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_and_nothing_is_written(good_folder, tmp_path, case):
    folder = tmp_path / "input"
    shutil.copytree(good_folder, folder)
    corrupt, needles = CASES[case]
    corrupt(folder)
    before = _digest(folder)
    out = _ingest(folder, tmp_path / "home")
    assert out.returncode != 0
    for needle in needles:
        assert needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "home" / "lake").exists()  # no partition, no manifest
    assert _digest(folder) == before  # raw input untouched
