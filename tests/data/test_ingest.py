"""Ingest into the raw lake: partitions, manifests, idempotent re-ingest, Spark reads it back."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow.compute as pc
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings
from pipelines.ingest import ingest, ingest_week, manifest_path, plan_weeks, raw_root, read_manifest
from pipelines.sources import SourceError, open_source
from pipelines.sources.simulator import simulate_week


@pytest.fixture
def settings(tmp_path):
    return load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path)})


def _partitions(root):
    return sorted(str(p.relative_to(root)) for p in root.glob("season=*/week=*"))


def test_ingest_writes_every_table_and_a_manifest(settings):
    manifests = ingest(settings, "synthetic:", 2025, [1, 2])
    for name in ("tracking", "plays", "games", "players"):
        assert _partitions(raw_root(settings) / name) == ["season=2025/week=1", "season=2025/week=2"]
    for name in ("truth/plays", "truth/anomalies"):
        assert _partitions(settings.paths.lake / name) == ["season=2025/week=1", "season=2025/week=2"]
    m = json.loads(manifest_path(settings, 2025, 2).read_text())
    assert m["source"] == "synthetic:" and m["season"] == 2025 and m["week"] == 2
    assert m["schema_version"] == schema.SCHEMA_VERSION and len(m["content_hash"]) == 64
    tracking = lake.read_table(raw_root(settings) / "tracking", schema.TRACKING, filter=pc.field("week") == 2)
    assert m["row_counts"]["tracking"] == tracking.num_rows == manifests[1].row_counts["tracking"]
    # the lake holds the rows as the source delivered them
    expected = simulate_week(settings.simulator, 2025, 2)["tracking"]
    order = [(k, "ascending") for k in ("game_id", "play_id", "nfl_id", "frame_id")]
    assert tracking.schema == expected.schema
    pd.testing.assert_frame_equal(tracking.sort_by(order).to_pandas(), expected.sort_by(order).to_pandas())


def test_reingesting_a_week_replaces_it_with_the_same_content(settings):
    first = ingest_week(settings, "synthetic:", 2025, 1)
    second = ingest_week(settings, "synthetic:", 2025, 1)
    assert first.content_hash == second.content_hash
    assert read_manifest(settings, 2025, 1).content_hash == first.content_hash
    tracking = lake.read_table(raw_root(settings) / "tracking", schema.TRACKING)
    assert tracking.num_rows == first.row_counts["tracking"]  # replaced, not appended
    leftovers = [p for p in settings.paths.lake.rglob("*") if p.name.startswith((".tmp", ".old"))]
    assert leftovers == []


def test_spark_reads_the_ingested_lake_back(settings):
    from pipelines.spark import get_spark

    ingest(settings, "synthetic:", 2025, [1, 2])
    spark = get_spark(settings)
    df = spark.read.parquet(str(raw_root(settings) / "tracking"))
    assert set(schema.TRACKING.names) == set(df.columns)
    by_week = {r["week"]: r["count"] for r in df.groupBy("week").count().collect()}
    assert by_week == {w: read_manifest(settings, 2025, w).row_counts["tracking"] for w in (1, 2)}
    assert dict(df.dtypes)["x"] == "double" and dict(df.dtypes)["frame_id"] == "int"
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.shuffle.partitions") == str(settings.spark.shuffle_partitions)


@pytest.mark.parametrize(
    ("uri", "needle"),
    [("bdb:", "needs a folder"), ("bdb:/no/such/folder", "does not exist"), ("s3://bucket", "unknown source"),
     ("synthetic", "unknown source")],
)
def test_bad_source_uris(settings, uri, needle):
    with pytest.raises(SourceError, match=needle):
        open_source(uri, settings)
    assert not (settings.paths.lake).exists()


def test_plan_weeks_from_params_or_the_data_interval():
    tuesday = dt.datetime(2025, 9, 9, 6, tzinfo=dt.timezone.utc)  # the start of week 2 of 2025
    assert plan_weeks({}, tuesday) == [{"season": 2025, "week": 2}]
    assert plan_weeks({"weeks": "1-3"}, tuesday) == [{"season": 2025, "week": w} for w in (1, 2, 3)]
    assert plan_weeks({"season": 2024, "weeks": "5"}, None) == [{"season": 2024, "week": 5}]
    assert plan_weeks({"weeks": "4"}, None, default_season=2023) == [{"season": 2023, "week": 4}]
    with pytest.raises(ValueError, match="off-season"):
        plan_weeks({}, dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(ValueError, match="contradicts"):
        plan_weeks({"season": 2024}, tuesday)
    with pytest.raises(ValueError, match="outside 1..22"):
        plan_weeks({"season": 2025, "weeks": "30"}, None)


def test_bdb_files_from_the_simulator_ingest_to_the_same_partitions_as_synthetic(tmp_path):
    """`trackflow simulate --format bdb` then `ingest --source bdb:` gives byte-identical raw partitions."""
    import subprocess
    import sys
    from pathlib import Path

    trackflow = str(Path(sys.executable).with_name("trackflow"))
    env_base = {"PATH": str(Path(sys.executable).parent), "TRACKFLOW_PROFILE": "test", "COLUMNS": "200"}
    bdb_dir = tmp_path / "bdb"
    run = subprocess.run([trackflow, "simulate", "--format", "bdb", "--weeks", "1-2", "--out", str(bdb_dir)],
                         env=env_base, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name, source in (("via_bdb", f"bdb:{bdb_dir}"), ("direct", "synthetic:")):
        env = {**env_base, "TRACKFLOW__PATHS__HOME": str(tmp_path / name)}
        run = subprocess.run([trackflow, "ingest", "--source", source, "--season", "2025", "--weeks", "1-2"],
                             env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "validation passed" in run.stdout.lower() or "passed" in run.stdout.lower()
    for table in ("tracking", "plays", "games", "players"):
        for week in (1, 2):
            part = Path("lake/raw", table, "season=2025", f"week={week}", "part-0.parquet")
            assert (tmp_path / "via_bdb" / part).read_bytes() == (tmp_path / "direct" / part).read_bytes(), part
    manifest = json.loads((tmp_path / "via_bdb/lake/raw/_manifests/season=2025/week=1.json").read_text())
    assert manifest["source"] == f"bdb:{bdb_dir}" and "tracking_week_1.csv" in manifest["inputs"]
