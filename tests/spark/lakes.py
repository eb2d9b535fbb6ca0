"""Helpers of the Spark tests."""

from __future__ import annotations

from pipelines.config import Settings, load_settings
from pipelines.ingest import ingest

SEASON = 2025


def ingested(tmp_path_factory, name: str, anomaly_rate: str, weeks: list[int]) -> Settings:
    """Test-profile settings in a fresh home with ``weeks`` of SEASON simulated and ingested."""
    env = {"TRACKFLOW__PATHS__HOME": str(tmp_path_factory.mktemp(name)),
           "TRACKFLOW__SIMULATOR__ANOMALIES__PLAY_RATE": anomaly_rate}
    settings = load_settings("test", environ=env)
    ingest(settings, "synthetic:", SEASON, weeks)
    return settings
