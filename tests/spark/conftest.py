"""Fixtures of the Spark tests: one Spark session per module."""

from __future__ import annotations

import pytest

from pipelines.spark import get_spark


@pytest.fixture(scope="module")
def spark(settings):
    """One local Spark session for the module (``settings``: the module's own fixture); the stages
    get it from get_spark."""
    session = get_spark(settings)
    yield session
    session.stop()
