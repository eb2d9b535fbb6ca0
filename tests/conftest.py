"""Shared fixtures.  The simulated weeks are made once per test session (per pytest-xdist worker)
and shared read-only.  And the hooks `make test`'s parallel run (`-n 2 --dist loadfile`, README
"Tests") needs: a `__main__.__file__` on the workers, one compute thread per worker, and the heavy
files handed out first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings


def pytest_configure(config):
    """Give a `__main__` without `__spec__` and `__file__` a `__file__` (None), before pyspark is imported.

    pytest-xdist runs each worker as `python -c …` (execnet), so the worker's `__main__` has neither.
    pyspark.sql.connect.utils.check_dependencies(), run on import of pyspark.sql.connect (which
    great_expectations and mlflow import to recognise Spark Connect frames), takes exactly that for
    "running doctests" and, as grpcio-status is not installed, calls sys.exit(0) ("Skipping
    doctests: No module named 'grpc_status'"), which kills the worker.  This hook runs before any
    test module is imported, and nothing imported above imports pyspark.  None, not a path:
    multiprocessing's spawn (the simulator's workers) re-runs a `__main__.__file__` path in each
    child and skips a None one, as it skips a missing one; pandas and python-dotenv, which take a
    missing `__file__` for an interactive session, then see a script, as in a serial run.
    """
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = None
    if hasattr(config, "workerinput"):
        _one_thread_per_worker()


# OpenMP, OpenBLAS and MKL read these when they start (torch, XGBoost and NumPy in this process
# and in every process a test starts, e.g. an Airflow task): set before any of them is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_thread_per_worker() -> None:
    """One compute thread per library per pytest-xdist worker (unless the caller set one).

    Each of the two workers of `make test` runs on one of the two cores, so torch's and XGBoost's
    thread pools, sized for every core, each ask for twice the machine: their OpenMP threads then
    spin-wait for each other across the two workers."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def _module_rank(item) -> int:
    """0: end-to-end (real Airflow runs, minutes each), 1: a module with a `slow` test, 2: the rest."""
    if "e2e" in item.path.relative_to(item.config.rootpath).parts:
        return 0
    return 1 if item.get_closest_marker("slow") else 2


def pytest_collection_modifyitems(config, items):
    """On pytest-xdist workers, put the heaviest files first (the order of the tests inside a file is kept).

    Under `--dist loadfile --no-loadscope-reorder` (pyproject.toml) the files go to the workers in
    collection order, each to the worker that runs short of work: heavy files first keeps two of
    them from ending up one after the other on one worker at the end of the run.  Every worker
    collects, and must come to the same order: the ranks depend on the files only.  A serial run
    keeps pytest's own order."""
    if not hasattr(config, "workerinput"):
        return
    rank: dict[Path, int] = {}
    for item in items:
        rank[item.path] = min(rank.get(item.path, 2), _module_rank(item))
    items.sort(key=lambda item: rank[item.path])  # stable: files and tests keep their order within a rank


@pytest.fixture(scope="session")
def demo_settings():
    return load_settings("demo", environ={})


@pytest.fixture(scope="session")
def two_weeks(tmp_path_factory, demo_settings) -> dict[str, pa.Table]:
    """Two full simulated weeks (32 games), written as canonical Parquet and read back."""
    from pipelines.sources.simulator import simulate_to

    out = tmp_path_factory.mktemp("two_weeks")
    simulate_to(demo_settings.simulator, out, season=2025, weeks=[1, 2], workers=2)
    tables = {name: lake.read_table(out / name, schema.TABLES[name]) for name in
              ("tracking", "plays", "games", "truth/plays", "truth/anomalies")}
    tables["players"] = lake.read_table(out / "players", schema.PLAYERS)
    tables["_root"] = out
    return tables


@pytest.fixture(scope="session")
def two_weeks_root(two_weeks) -> Path:
    return two_weeks["_root"]
