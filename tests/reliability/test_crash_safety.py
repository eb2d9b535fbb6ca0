"""Crash safety: `trackflow ingest` and `trackflow features` killed with SIGKILL while they write a
partition (real subprocesses; the whole process group, Spark's JVM included), then run again.

While killed: every partition of the week is whole, the old one or the new one; the staging folder
the killed run left is not read as data; the week has no manifest that could describe partitions
it does not match.  After the rerun: the partitions are byte-identical to an uninterrupted run's in
another project home (``lake.partition_hash``), the manifest names exactly the partitions there,
and nothing hidden (staging, aside or lock files) is left in the lake.  One simulated week of the
test profile (2 games); the Spark stages dominate the time."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings
from pipelines.ingest import ingest_week, read_manifest
from tests.reliability.lake_state import (
    CLEAN,
    FEATURES,
    INGESTED,
    SEASON,
    WEEK,
    WEEK_ARGS,
    check_manifest,
    hidden_entries,
    kill_mid_write,
    manifest_exists,
    settings,
    trackflow,
    week_hashes,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The week ingested without interruption, in its own home (``prepared`` adds the Spark stages)."""
    home = tmp_path_factory.mktemp("uninterrupted")
    trackflow(home, "ingest", *WEEK_ARGS, "--no-validate")
    hashes = week_hashes(home, INGESTED)
    assert all(hashes.values()), hashes
    return {"home": home, "hashes": hashes, "manifest": read_manifest(settings(home), SEASON, WEEK)}


@pytest.fixture(scope="module")
def prepared(reference) -> dict:
    """The reference week filtered and featurized without interruption."""
    trackflow(reference["home"], "prepare", *WEEK_ARGS)
    hashes = week_hashes(reference["home"], INGESTED + CLEAN + FEATURES)
    assert all(hashes.values()), hashes
    return {**reference, "hashes": hashes}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """The project home the killed runs work in (the ingest test, then the features test)."""
    return tmp_path_factory.mktemp("crashed")


def _table_of(staging) -> str:
    """``raw/tracking`` for ``…/lake/raw/tracking/season=2025/.tmp-week=1-…``."""
    parts = staging.parent.parent.parts
    return "/".join(parts[parts.index("lake") + 1:])


def test_ingest_killed_mid_write_leaves_whole_partitions_and_the_rerun_equals_an_uninterrupted_run(
        reference, crashed, tmp_path):
    expected = {t: reference["hashes"][t] for t in INGESTED}
    # the week is already in the lake from an older ingest (another seed): the killed run replaces it
    ingest_week(load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(crashed),
                                               "TRACKFLOW__SIMULATOR__SEED": "7"}), "synthetic:", SEASON, WEEK)
    old = week_hashes(crashed, INGESTED)
    assert old["raw/tracking"] != expected["raw/tracking"]

    staging = kill_mid_write(crashed, ("ingest", *WEEK_ARGS, "--no-validate"), INGESTED, tmp_path / "killed.log")
    # it died writing: its staging folder is still there (no cleanup ran) and that partition is still the old one
    assert staging and all(p.is_dir() for p in staging)
    for folder in staging:
        assert week_hashes(crashed, (_table_of(folder),)) == {_table_of(folder): old[_table_of(folder)]}
    # every partition is whole: the old one or the new one, none missing, none half-written
    killed = week_hashes(crashed, INGESTED)
    assert all(killed[t] in (old[t], expected[t]) for t in INGESTED), (killed, old, expected)
    # the staging folder is not read as data: a reader of the table gets exactly the partition's rows
    s = settings(crashed)
    tracking = lake.partition_dir(s.paths.lake / "raw" / "tracking", SEASON, WEEK)
    assert lake.read_table(s.paths.lake / "raw" / "tracking", schema.TRACKING).num_rows == \
        pq.read_metadata(tracking / lake.PART_FILE).num_rows
    # the manifest goes first and comes last: none describes partitions it does not match
    assert not manifest_exists(crashed)

    trackflow(crashed, "ingest", *WEEK_ARGS, "--no-validate")
    assert week_hashes(crashed, INGESTED) == expected
    check_manifest(crashed, reference["manifest"].content_hash)
    assert read_manifest(s, SEASON, WEEK).partitions == reference["manifest"].partitions
    assert hidden_entries(crashed) == []  # the killed run's staging folder and lock file are gone


@pytest.mark.slow  # three Spark jobs in the file (the reference's prepare, the killed and the rerun features)
def test_features_killed_mid_write_leave_whole_partitions_and_the_rerun_equals_an_uninterrupted_run(
        prepared, crashed, tmp_path):
    reference = prepared
    if week_hashes(crashed, INGESTED) != {t: reference["hashes"][t] for t in INGESTED}:
        trackflow(crashed, "ingest", *WEEK_ARGS, "--no-validate")  # run alone: the test above did not
    # the features job's input: the uninterrupted run's clean tracking
    clean_root = settings(crashed).paths.lake / "clean"
    shutil.copytree(settings(reference["home"]).paths.lake / "clean", clean_root, dirs_exist_ok=True)
    expected = {t: reference["hashes"][t] for t in FEATURES}

    staging = kill_mid_write(crashed, ("features", *WEEK_ARGS), FEATURES, tmp_path / "killed.log")
    assert staging and all(p.is_dir() for p in staging)
    killed = week_hashes(crashed, FEATURES)
    for folder in staging:  # it died writing that partition: it is not there (a first write)
        assert killed[_table_of(folder)] is None
    assert all(killed[t] in (None, expected[t]) for t in FEATURES), killed  # a table it finished is whole

    trackflow(crashed, "features", *WEEK_ARGS)
    assert week_hashes(crashed, FEATURES) == expected
    assert week_hashes(crashed, INGESTED + CLEAN) == {t: reference["hashes"][t] for t in INGESTED + CLEAN}
    assert hidden_entries(crashed) == []


def _games(n: int) -> pa.Table:
    return pa.table({"game_id": list(range(n)), "season": [SEASON] * n, "week": [WEEK] * n, "game_date": [None] * n,
                     "game_time_eastern": ["13:00:00"] * n, "home_team": ["KC"] * n, "visitor_team": ["BUF"] * n},
                    schema=schema.GAMES)


def test_a_writer_killed_between_the_two_renames_of_the_fallback_swap_loses_nothing(tmp_path):
    """Where ``RENAME_EXCHANGE`` is missing, a partition is replaced by renaming the old one aside,
    then the new one in: a writer killed between the two leaves the old partition aside and its
    complete new one in staging (built here as that writer leaves them).  The next write of the
    partition puts the old one back before anything else, so a failing write keeps it."""
    root = tmp_path / "games"
    lake.write_partition(_games(1), root, schema.GAMES, SEASON, WEEK + 1)  # another week, untouched
    target = lake.write_partition(_games(3), root, schema.GAMES, SEASON, WEEK)
    season = target.parent
    target.rename(season / f".old-{target.name}-0dead000")
    (season / f".tmp-{target.name}-0dead001").mkdir()
    pq.write_table(_games(5).drop_columns(["season", "week"]), season / f".tmp-{target.name}-0dead001" / lake.PART_FILE)
    assert lake.read_table(root, schema.GAMES).num_rows == 1  # neither leftover is read as data

    with pytest.raises(RuntimeError, match="the write fails"), lake.staged_partition(root, SEASON, WEEK):
        raise RuntimeError("the write fails")
    assert lake.read_table(root, schema.GAMES).num_rows == 3 + 1  # the old partition, back in place
    assert sorted(p.name for p in season.iterdir()) == ["week=1", "week=2"]  # leftovers and lock file gone
    lake.write_partition(_games(2), root, schema.GAMES, SEASON, WEEK)
    assert lake.read_table(root, schema.GAMES).num_rows == 2 + 1
    assert sorted(p.name for p in season.iterdir()) == ["week=1", "week=2"]
