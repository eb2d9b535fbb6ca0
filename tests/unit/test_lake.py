"""Partition writes: atomic replacement, identical bytes on a rewrite, nothing half-written."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import lake, schema


def _games(n, week=1):
    return pa.table({
        "game_id": list(range(n)), "season": [2025] * n, "week": [week] * n, "game_date": [None] * n,
        "game_time_eastern": ["13:00:00"] * n, "home_team": ["KC"] * n, "visitor_team": ["BUF"] * n,
    }, schema=schema.GAMES)


def test_write_then_read_back_with_partition_keys(tmp_path):
    lake.write_partition(_games(3, week=1), tmp_path / "games", schema.GAMES, season=2025, week=1)
    lake.write_partition(_games(2, week=2), tmp_path / "games", schema.GAMES, season=2025, week=2)
    back = lake.read_table(tmp_path / "games", schema.GAMES)
    assert back.schema == schema.GAMES and back.num_rows == 5
    assert sorted(set(back.column("week").to_pylist())) == [1, 2]
    stored = pa.parquet.read_schema(tmp_path / "games" / "season=2025" / "week=1" / lake.PART_FILE)
    assert "season" not in stored.names and "week" not in stored.names


def test_rewriting_replaces_the_partition_with_identical_bytes(tmp_path):
    part = lake.write_partition(_games(3), tmp_path / "games", schema.GAMES, season=2025, week=1)
    first = (part / lake.PART_FILE).read_bytes()
    lake.write_partition(_games(1), tmp_path / "games", schema.GAMES, season=2025, week=1)
    assert lake.read_table(tmp_path / "games", schema.GAMES).num_rows == 1  # replaced, never appended
    lake.write_partition(_games(3), tmp_path / "games", schema.GAMES, season=2025, week=1)
    assert (part / lake.PART_FILE).read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "games" / "season=2025").iterdir()) == ["week=1"]


def test_a_failed_write_leaves_the_old_partition(tmp_path):
    lake.write_partition(_games(3), tmp_path / "games", schema.GAMES, season=2025, week=1)
    bad = _games(1).set_column(0, "game_id", pa.array(["not-a-number"]))
    with pytest.raises(pa.ArrowInvalid):
        lake.write_partition(bad, tmp_path / "games", schema.GAMES, season=2025, week=1)
    with pytest.raises(ValueError, match="home_team"):
        lake.write_partition(_games(1).drop_columns(["home_team"]), tmp_path / "games", schema.GAMES, season=2025, week=1)
    assert lake.read_table(tmp_path / "games", schema.GAMES).num_rows == 3
    assert [p.name for p in (tmp_path / "games" / "season=2025").iterdir()] == ["week=1"]


def test_read_weeks_reads_the_same_weeks_of_several_seasons(tmp_path):
    root = tmp_path / "features" / "passing"
    for season, week, n in ((2024, 1, 2), (2024, 2, 1), (2025, 1, 3), (2025, 2, 1)):
        folder = lake.partition_dir(root, season, week)
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"play_id": list(range(n))}), folder / lake.PART_FILE)
    one = lake.read_weeks(root, 2025, [1])
    assert one.column("season").to_pylist() == [2025] * 3 and one.column("week").to_pylist() == [1] * 3
    both = lake.read_weeks(root, [2024, 2025], [1, 2])
    assert list(zip(both.column("season").to_pylist(), both.column("week").to_pylist())) == [
        (2024, 1), (2024, 1), (2024, 2), (2025, 1), (2025, 1), (2025, 1), (2025, 2)]
    with pytest.raises(FileNotFoundError, match=r"no partition for season 2023 week\(s\) \[1, 2\]"):
        lake.read_weeks(root, [2023, 2025], [1, 2])
    assert lake.seasons_label([2024, 2025]) == "2024+2025" and lake.season_list(2025) == [2025]


def test_a_cut_off_part_file_is_an_error_naming_it_not_rows_missing(tmp_path):
    lake.write_partition(_games(3, week=1), tmp_path, schema.GAMES, season=2025, week=1)
    lake.write_partition(_games(2, week=2), tmp_path, schema.GAMES, season=2025, week=2)
    part = lake.partition_dir(tmp_path, 2025, 2) / lake.PART_FILE
    part.write_bytes(part.read_bytes()[:-100])  # the footer gone, as a killed copy leaves it
    with pytest.raises(ValueError, match=r"week=2/part-0\.parquet"):
        lake.read_table(tmp_path, schema.GAMES)
