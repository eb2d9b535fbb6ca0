"""A small Big Data Bowl folder for tests, and the edits that turn it into bad input (shared by
``tests/unit/test_ingest_errors.py`` and the reliability catalogue, ``tests/reliability``)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

TRACKING = "tracking_week_1.csv"


def make_folder(folder: Path, lines: int = 3000) -> Path:
    """Week 1 of season 2025 of the test profile's simulator in the BDB 2023 layout, without the
    ground truth, its tracking file cut to ``lines`` lines (a few plays are enough)."""
    from pipelines.config import load_settings
    from pipelines.sources.simulator import simulate_to

    simulate_to(load_settings("test", environ={}).simulator, folder, weeks=[1], fmt="bdb", workers=1)
    shutil.rmtree(folder / "truth")
    tracking = folder / TRACKING
    tracking.write_text("".join(tracking.read_text().splitlines(keepends=True)[:lines]))
    return folder


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden ones too), by path relative to it."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_lines(path: Path, fn: Callable[[list[str]], list[str]]) -> None:
    """Rewrite a CSV file through ``fn`` over its lines (UTF-8, newline-terminated)."""
    path.write_text("\n".join(fn(path.read_text().splitlines())) + "\n")


def edit_tracking(folder: Path, fn: Callable[[list[str]], list[str]]) -> None:
    edit_lines(Path(folder) / TRACKING, fn)


def drop_column(lines: list[str], name: str) -> list[str]:
    idx = lines[0].split(",").index(name)
    return [",".join(v for i, v in enumerate(line.split(",")) if i != idx) for line in lines]


def set_value(lines: list[str], name: str, row: int, value: str) -> list[str]:
    """``lines`` with column ``name`` of line index ``row`` (0 = the header, so file line row + 1) set to ``value``."""
    idx = lines[0].split(",").index(name)
    cells = lines[row].split(",")
    cells[idx] = value
    return lines[:row] + [",".join(cells)] + lines[row + 1:]


def duplicate_with(lines: list[str], row: int, name: str, value: str) -> list[str]:
    """``lines`` plus a copy of line index ``row`` whose column ``name`` is ``value`` (same key, other values)."""
    return lines + [set_value(lines, name, row, value)[row]]
