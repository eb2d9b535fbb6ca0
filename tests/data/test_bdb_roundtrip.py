"""The simulator's BDB CSV output read back by the ``bdb:`` reader gives exactly its canonical tables."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.config import load_settings
from pipelines.sources import bdb
from pipelines.sources.simulator import simulate_to, simulate_week
from pipelines.sources.simulator.season import league_for, players_table

SORT_KEYS = {"tracking": ["game_id", "play_id", "nfl_id", "frame_id"], "plays": ["game_id", "play_id"],
             "games": ["game_id"], "players": ["nfl_id"]}


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        a, b = got[name], want[name]
        if pa.types.is_floating(a.type):
            # NaN is a value here (an injected anomaly), distinct from null: compare both masks, then the rest
            assert pc.is_nan(a).equals(pc.is_nan(b)), name
            a, b = (pc.if_else(pc.is_nan(c), -1e9, c) for c in (a, b))
        assert a.equals(b), name


@pytest.mark.parametrize("play_rate", [None, 0.5], ids=["test-profile", "many-anomalies"])
def test_bdb_files_read_back_as_the_simulators_canonical_tables(tmp_path, play_rate):
    sim = load_settings("test", environ={}).simulator
    if play_rate is not None:  # every anomaly kind, NaN coordinates and repeated frames included
        sim = sim.model_copy(update={"anomalies": sim.anomalies.model_copy(update={"play_rate": play_rate})})
    weeks = [1, 2]
    simulate_to(sim, tmp_path, season=2025, weeks=weeks, fmt="bdb")
    assert bdb.detect_layout(tmp_path) == "bdb2023"
    all_players = players_table(league_for(sim.seed))
    for week in weeks:
        got, notes = bdb.read_week(tmp_path, 2025, week)
        want = simulate_week(sim, 2025, week)
        ids = pc.unique(want["tracking"]["nfl_id"]).drop_null()
        want["players"] = all_players.filter(pc.is_in(all_players["nfl_id"], value_set=ids))
        for name, keys in SORT_KEYS.items():
            assert_same_rows(_sorted(got[name], keys), _sorted(want[name], keys))
        kinds = set(want["truth/anomalies"]["kind"].to_pylist())
        assert all("repeat an earlier row" in n for n in notes), notes
        assert bool(notes) == ("duplicate_frame" in kinds)
    if play_rate is not None:
        assert pc.any(pc.is_nan(want["tracking"]["x"])).as_py()  # the NaN path was exercised
