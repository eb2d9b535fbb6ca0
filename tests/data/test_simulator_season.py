"""A full simulated regular season (272 games): the long tail shows up and the targets still hold."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.config import load_settings
from pipelines.sources.simulator import simulate_to
from pipelines.summary import play_summary


@pytest.mark.slow
def test_full_season(tmp_path):
    sim = load_settings("season", environ={}).simulator
    results = simulate_to(sim, tmp_path, workers=2)
    plays = pa.concat_tables([r.plays for r in results])
    s = play_summary(plays, pa.concat_tables([r.truth_plays for r in results]))
    assert s["games"] == 272 and 17 * 16 * 70 <= s["plays"] <= 17 * 16 * 90
    assert s["completed_yards_max"] >= 60  # a season has its breakaways
    assert 0.60 <= s["completion_rate"] <= 0.68 and 0.015 <= s["interception_rate"] <= 0.035
    assert 6.0 <= s["yards_per_attempt"] <= 8.0 and 7 <= s["completed_yards_p50"] <= 11
    assert s["completed_yards_p99"] >= 40 and s["completed_yards_min"] < 0
    assert 2.4 <= s["time_to_throw_p50"] <= 3.0 and s["time_to_throw_p05"] >= 1.2 and s["time_to_throw_p95"] <= 5.0
