"""Shared fixtures.  The simulated weeks are made once per test session and shared read-only."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings


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
