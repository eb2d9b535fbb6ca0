"""The raw-tracking suite with the real Great Expectations: a clean week passes, each injected
problem fails the expectation meant to catch it, with its severity."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings
from pipelines.ingest import raw_root
from pipelines.sources.simulator import simulate_week
from pipelines.validate import (
    ROW_INPUTS,
    TARGETS,
    ValidationError,
    _motion,
    _sorted,
    format_result,
    load_suite,
    raise_for_hard_failures,
    validate_raw,
    validate_week,
)

SEASON, WEEK = 2025, 1


@pytest.fixture(scope="module")
def week() -> pa.Table:
    """The test profile's week (2 games) with its default injected anomalies."""
    return simulate_week(load_settings("test", environ={}).simulator, SEASON, WEEK)["tracking"]


def replace(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def first_play(table: pa.Table) -> pc.Expression:
    return (pc.field("game_id") == table["game_id"][0].as_py()) & (pc.field("play_id") == table["play_id"][0].as_py())


def failed(checks: list[dict]) -> set[tuple[str, str, str | None]]:
    return {(c["table"], c["expectation"], c["columns"]) for c in checks}


def test_suite_loads_one_suite_per_table_with_severities():
    suites, severities = load_suite()
    assert set(suites) == set(TARGETS)
    for table, suite in suites.items():
        assert len(suite.expectations) == len(severities[table]) > 0
        assert {e.meta["severity"] for e in suite.expectations} <= {"hard", "soft"}
        assert [e.meta["severity"] for e in suite.expectations] == severities[table]
        assert all(e.meta["why"] for e in suite.expectations)


def test_suite_entry_without_severity_is_refused(tmp_path):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "s", "tables": {"rows": {"expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}, "meta": {"why": "w"}}]}}}))
    with pytest.raises(ValueError, match=r"tables\.rows\.expectations\[0\].*severity"):
        load_suite(path)


def test_clean_week_passes_and_writes_complete_reports(week, tmp_path):
    result = validate_raw(week, SEASON, WEEK, tmp_path)
    assert result.success and result.hard_failures == []
    assert result.counts["rows"] == week.num_rows and result.counts["plays"] > 100
    folder = tmp_path / "validation" / "raw_tracking" / f"season={SEASON}"
    assert result.json_path == folder / f"week={WEEK}.json" and result.md_path == folder / f"week={WEEK}.md"
    assert sorted(p.name for p in folder.iterdir()) == [f"week={WEEK}.json", f"week={WEEK}.md"]  # no temp files
    report = json.loads(result.json_path.read_text())
    total = sum(len(s.expectations) for s in load_suite()[0].values())
    assert report["success"] and len(report["checks"]) == result.counts["expectations"] == total
    assert set(report["gx_results"]) == set(TARGETS)
    assert all(r["expectation_config"]["meta"]["why"] for t in TARGETS for r in report["gx_results"][t]["results"])
    md = result.md_path.read_text()
    assert md.count("| hard |") + md.count("| soft |") == total
    assert "passed" in format_result(result)
    raise_for_hard_failures(result)  # does not raise


def test_missing_column_fails_hard(week, tmp_path):
    result = validate_raw(week.drop_columns(["dir"]), SEASON, WEEK, tmp_path)
    assert not result.success
    assert ("schema", "expect_table_columns_to_match_set", None) in failed(result.hard_failures)
    columns_check = next(c for c in result.hard_failures if c["expectation"] == "expect_table_columns_to_match_set")
    assert "dir" in columns_check["observed"]
    with pytest.raises(ValidationError, match="expect_table_columns_to_match_set"):
        raise_for_hard_failures(result)


def test_string_coordinate_column_fails_the_type_check(week, tmp_path):
    result = validate_raw(replace(week, "x", pc.cast(week["x"], pa.string())), SEASON, WEEK, tmp_path)
    assert failed(result.hard_failures) == {("schema", "expect_column_values_to_be_in_type_list", "x")}


def test_null_play_id_fails_hard(week, tmp_path):
    ball_row = pc.and_(pc.is_null(week["nfl_id"]), pc.equal(week["frame_id"], 5))
    play_id = pc.if_else(ball_row, pa.scalar(None, pa.int64()), week["play_id"])
    result = validate_raw(replace(week, "play_id", play_id), SEASON, WEEK, tmp_path)
    assert failed(result.hard_failures) == {("rows", "expect_column_values_to_not_be_null", "play_id")}


def test_duplicated_keys_warn_beyond_the_tolerance(week, tmp_path):
    # One duplicated frame is within the tolerance the anomaly filter is there for ...
    frame = week.filter(first_play(week) & (pc.field("frame_id") == 5))
    result = validate_raw(pa.concat_tables([week, frame]), SEASON, WEEK, tmp_path)
    assert ("rows", "expect_compound_columns_to_be_unique", "game_id, play_id, nfl_key, frame_id") \
        not in failed(result.soft_warnings)
    # ... a whole play delivered twice is not, but it stays a warning: duplicates are filtered.
    play = week.filter(first_play(week))
    result = validate_raw(pa.concat_tables([week, play]), SEASON, WEEK, tmp_path)
    assert result.success
    assert ("rows", "expect_compound_columns_to_be_unique", "game_id, play_id, nfl_key, frame_id") \
        in failed(result.soft_warnings)


def test_frames_missing_a_player_warn(week, tmp_path):
    player = week.filter(first_play(week) & pc.field("nfl_id").is_valid())["nfl_id"][0].as_py()
    result = validate_raw(week.filter(~(first_play(week) & (pc.field("nfl_id") == player))), SEASON, WEEK, tmp_path)
    assert result.success
    assert ("frames", "expect_column_values_to_be_between", "players") in failed(result.soft_warnings)


def test_frame_id_gap_fails_hard(week, tmp_path):
    result = validate_raw(week.filter(~(first_play(week) & (pc.field("frame_id") == 5))), SEASON, WEEK, tmp_path)
    assert failed(result.hard_failures) == {("plays", "expect_column_values_to_be_between", "missing_frames")}
    assert "1 of" in result.hard_failures[0]["observed"]


def test_off_field_share_above_one_percent_warns(week, tmp_path):
    every_32nd = pc.equal(pc.bit_wise_and(pa.array(range(week.num_rows)), 31), 0)  # ~3 % of the rows
    result = validate_raw(replace(week, "x", pc.if_else(every_32nd, pc.add(week["x"], 200.0), week["x"])),
                          SEASON, WEEK, tmp_path)
    assert result.success
    assert ("rows", "expect_column_values_to_be_in_set", "on_field") in failed(result.soft_warnings)
    assert "soft expect_column_values_to_be_in_set [rows.on_field]" in format_result(result)


def test_all_nan_x_fails_hard_and_warns(week, tmp_path):
    result = validate_raw(replace(week, "x", pa.array([float("nan")] * week.num_rows)), SEASON, WEEK, tmp_path)
    assert failed(result.hard_failures) == {
        ("rows", "expect_column_proportion_of_non_null_values_to_be_between", "x")}
    assert ("rows", "expect_column_values_to_not_be_null", "x") in failed(result.soft_warnings)


def test_validate_week_reads_the_raw_lake_and_raises_on_hard_failures(week, tmp_path):
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__LAKE": str(tmp_path / "lake")})
    root = raw_root(settings) / "tracking"
    lake.write_partition(week, root, schema.TRACKING, SEASON, WEEK)
    result = validate_week(settings, SEASON, WEEK)
    assert result.success and result.json_path.is_relative_to(settings.paths.lake / "reports")
    gap = week.filter(~(first_play(week) & (pc.field("frame_id") == 5)))
    lake.write_partition(gap, root, schema.TRACKING, SEASON, WEEK)
    with pytest.raises(ValidationError, match="missing_frames"):
        validate_week(settings, SEASON, WEEK)
    with pytest.raises(FileNotFoundError, match="ingest the week first"):
        validate_week(settings, SEASON, WEEK + 1)


def test_motion_table_is_the_same_whether_or_not_the_rows_arrive_in_track_order(week):
    """The clean suite's motion table skips its sort when the rows are already in track order
    (the clean table is written so); shuffled rows must give the same steps and speeds."""
    df = week.select(["time", *ROW_INPUTS]).to_pandas()
    order = ["game_id", "play_id", "nfl_key", "frame_id"]
    # unique keys: rows that share one (an injected duplicate) have no defined order between them
    in_order = (df.assign(nfl_key=df["nfl_id"].fillna(-1)).drop_duplicates(order).sort_values(order)
                .drop(columns="nfl_key"))
    shuffled = in_order.sample(frac=1.0, random_state=7)
    expected = _motion(in_order.reset_index(drop=True))
    assert expected["frame_step"].notna().sum() > 0.9 * len(expected)  # real steps, not all null
    pd.testing.assert_frame_equal(_motion(shuffled.reset_index(drop=True)), expected)


@pytest.mark.parametrize(("rows", "in_order"), [
    ({"a": [1, 1, 2], "b": [1, 2, 0]}, True),
    ({"a": [1, 1, 2], "b": [2, 1, 0]}, False),  # descending within a tie on the first key
    ({"a": [2, 1, 1], "b": [0, 1, 2]}, False),
    ({"a": [1, 2, 2], "b": [5, 1, 1]}, True),   # ties on every key are in order
    ({"a": [1, None, 2], "b": [1, 2, 3]}, False),  # a null key is never taken as sorted
])
def test_sorted_checks_the_keys_lexicographically(rows, in_order):
    df = pd.DataFrame(rows).astype("Int64")  # nullable ints, as pyarrow gives nullable columns
    assert _sorted(df, ["a", "b"]) is in_order
