"""The tracking_ingest DAG, run by Airflow itself (`airflow dags test`, a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines import lake
from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.ingest import RAW_TABLES, TRUTH_TABLES, manifest_path, raw_root, read_manifest

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("airflow_project")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW"))}
    env.update(TRACKFLOW_PROFILE="test", TRACKFLOW__PATHS__HOME=str(home))
    return env


def _dags_test(home: Path, logical_date: str, conf: dict | None = None) -> subprocess.CompletedProcess:
    args = [TRACKFLOW, "airflow", "dags", "test", "tracking_ingest", logical_date]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return subprocess.run(args, env=_env(home), capture_output=True, text=True, timeout=600)


def test_dag_imports_without_errors_and_wires_the_stages(home):
    script = textwrap.dedent(f"""
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(PROJECT_ROOT / "dags")!r})
        assert bag.import_errors == {{}}, bag.import_errors
        dag = bag.dags["tracking_ingest"]
        print(sorted(t.task_id for t in dag.tasks), sorted(dag.params.keys()), type(dag.timetable).__name__)
        print(dag.task_dict["ingest"].retries, [[a.uri for a in dag.task_dict[t].outlets]
                                                for t in ("validate", "filter_anomalies", "build_features")])
        print([sorted(dag.task_dict[t].upstream_task_ids) for t in ("filter_anomalies", "build_features")],
              [dag.task_dict[t].max_active_tis_per_dag for t in ("filter_anomalies", "build_features")])
    """)
    env = {**_env(home), "AIRFLOW_HOME": str(home / ".airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-"], input=script, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    tasks, outlets, wiring = out.stdout.strip().splitlines()[-3:]
    assert tasks == ("['build_features', 'filter_anomalies', 'ingest', 'plan', 'validate'] "
                     "['profile', 'season', 'source', 'weeks'] CronDataIntervalTimetable")
    assert outlets == ("2 [['trackflow://lake/raw/tracking'], ['trackflow://lake/clean/tracking'], "
                       "['trackflow://lake/features/passing', 'trackflow://lake/features/ghosting']]")
    assert wiring == "[['validate'], ['filter_anomalies']] [1, 1]"


def test_a_scheduled_run_ingests_and_prepares_exactly_its_week(home):
    # a logical date on the Tuesday schedule: the interval ending 2025-09-09 is week 1 (the backfill
    # test covers consecutive intervals: weeks 2 and 3)
    out = _dags_test(home, "2025-09-09T06:00:00+00:00")
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home)})
    parts = sorted(str(p.relative_to(raw_root(settings))) for p in raw_root(settings).glob("tracking/season=*/week=*"))
    assert parts == ["tracking/season=2025/week=1"]
    # the Spark stages ran after validation: clean tracking, the anomaly report and both feature tables
    lake_root = settings.paths.lake
    for table in ("clean/tracking", "clean/anomalies", "features/passing", "features/ghosting"):
        weeks = sorted(p.name for p in (lake_root / table / "season=2025").glob("week=*"))
        assert weeks == ["week=1"], table
    assert (lake_root / "reports" / "anomalies" / "season=2025" / "week=1.json").is_file()
    assert manifest_path(settings, 2025, 1).is_file()
    reports = settings.paths.lake / "reports" / "validation" / "raw_tracking" / "season=2025"
    assert sorted(p.name for p in reports.glob("*.json")) == ["week=1.json"]


def test_the_same_run_again_rewrites_identical_partitions(home):
    # runs after the test above: week 1 is in the lake; the same logical date is the same DAG run
    # (`dags test` replaces the run), through every stage again
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home)})
    ingested = [f"raw/{t}" for t in RAW_TABLES] + list(TRUTH_TABLES)
    tables = ingested + ["clean/tracking", "clean/anomalies", "features/passing", "features/ghosting"]

    def hashes() -> dict[str, str]:
        return {t: lake.partition_hash(lake.partition_dir(settings.paths.lake / t, 2025, 1)) for t in tables}

    before, manifest = hashes(), read_manifest(settings, 2025, 1)
    out = _dags_test(home, "2025-09-09T06:00:00+00:00")
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert hashes() == before
    again = read_manifest(settings, 2025, 1)
    assert (again.content_hash, again.partitions, again.row_counts) == (manifest.content_hash, manifest.partitions,
                                                                        manifest.row_counts)
    assert again.partitions == {t.removeprefix("raw/"): before[t] for t in ingested}  # what is in the lake
    assert not list(settings.paths.lake.rglob(".*"))  # no staging, aside or lock file left


def test_manual_run_with_params_and_a_rejected_param(home):
    out = _dags_test(home, "2025-11-04T06:00:00+00:00", {"season": 2025, "weeks": "3"})
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home)})
    assert manifest_path(settings, 2025, 3).is_file()
    assert not manifest_path(settings, 2025, 9).exists()  # the interval's own week was not touched
    bad = _dags_test(home, "2025-11-04T06:00:00+00:00", {"season": 2025, "weeks": "three"})
    assert bad.returncode != 0
    assert "weeks" in bad.stdout + bad.stderr
