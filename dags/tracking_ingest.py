"""
### tracking_ingest

Weekly during the season: pull a week of tracking data from a source into the raw lake, validate
it with Great Expectations, filter its anomalies and build its feature tables (Spark).

**Schedule.** Tuesdays 06:00 UTC from September through January. Each run's data interval is the
week that just ended (Tuesday to Monday); `pipelines.nfl_calendar.season_week_of` maps its start to
the (season, week) ingested — the one documented rule.

**Backfills.** `airflow backfill create --dag-id tracking_ingest --from-date 2025-09-09 --to-date
2025-09-30` creates one run per past week; each rewrites exactly its week's partitions
(idempotent). A manual run can name the weeks instead: params `{"season": 2025, "weeks": "1-4"}`.

**Params.** `source` (`synthetic:` or `bdb:/folder`; default from `conf/trackflow.yaml`), `season`,
`weeks` (`"3"`, `"1-4"`, `"1,3"`), `profile` (config profile; default from the environment).

Flow, per week: plan → ingest → validate (Asset `lake/raw/tracking`) → filter anomalies (Asset
`lake/clean/tracking`) → build features (Assets `lake/features/passing`, `lake/features/ghosting`).
The Spark stages are plain tasks with a local Spark session (`pipelines.spark.get_spark`), one at a
time across all runs of this DAG (`max_active_tis_per_dag=1`): each holds a JVM of
`spark.driver_memory`. All logic lives in `pipelines/` and `features/`; this file only wires it.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from pipelines.config import SOURCE_PATTERN, WEEKS_PATTERN

RAW_TRACKING = Asset("trackflow://lake/raw/tracking")
CLEAN_TRACKING = Asset("trackflow://lake/clean/tracking")
PASSING_FEATURES = Asset("trackflow://lake/features/passing")
GHOSTING_FEATURES = Asset("trackflow://lake/features/ghosting")


def _settings():
    from pipelines.config import load_settings

    return load_settings(profile=get_current_context()["params"].get("profile"))


@dag(
    dag_id="tracking_ingest",
    schedule=CronDataIntervalTimetable("0 6 * 9-12,1 2", timezone="UTC"),
    start_date=dt.datetime(2025, 9, 2, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    params={
        "source": Param(None, type=["null", "string"], pattern=SOURCE_PATTERN,
                        description="synthetic: or bdb:/path/to/folder (default: ingest.source in the config)"),
        "season": Param(None, type=["null", "integer"], minimum=1920, maximum=2100,
                        description="season to ingest (default: the data interval's)"),
        "weeks": Param(None, type=["null", "string"], pattern=WEEKS_PATTERN,
                       description="weeks to ingest: '3', '1-4' or '1,3' (default: the data interval's week)"),
        "profile": Param(None, type=["null", "string"], enum=[None, "test", "demo", "season"],
                         description="trackflow config profile (default: TRACKFLOW_PROFILE or demo)"),
    },
    tags=["trackflow", "ingest"],
    doc_md=__doc__,
)
def tracking_ingest():
    @task(retries=0)  # a wrong param does not right itself on a retry
    def plan() -> list[dict]:
        from pipelines.config import check_params
        from pipelines.ingest import plan_weeks

        ctx = get_current_context()
        check_params(ctx["params"], ctx["dag"].params, ctx["dag"].dag_id)
        settings = _settings()
        return plan_weeks(ctx["params"], ctx.get("data_interval_start"), settings.simulator.season)

    @task(max_active_tis_per_dagrun=1)
    def ingest(item: dict) -> dict:
        from pipelines.ingest import ingest_week

        settings = _settings()
        source = get_current_context()["params"].get("source") or settings.ingest.source
        manifest = ingest_week(settings, source, item["season"], item["week"])
        return {**item, "content_hash": manifest.content_hash, "rows": manifest.row_counts["tracking"]}

    @task(outlets=[RAW_TRACKING])
    def validate(item: dict) -> dict:
        from pipelines.validate import validate_week

        validate_week(_settings(), item["season"], item["week"])
        return item

    @task(outlets=[CLEAN_TRACKING], max_active_tis_per_dag=1)
    def filter_anomalies(item: dict) -> dict:
        from pipelines.anomaly_filter import filter_week

        report = filter_week(_settings(), item["season"], item["week"])
        return {**item, "plays_kept": report.plays_out, "plays_dropped": report.plays_dropped}

    @task(outlets=[PASSING_FEATURES, GHOSTING_FEATURES], max_active_tis_per_dag=1)
    def build_features(item: dict) -> dict:
        from features.build import build_features

        tables = build_features(_settings(), item["season"], item["week"])
        return {**item, **{f"{name}_rows": t["rows"] for name, t in tables.items()}}

    weeks = plan()
    raw = validate.expand(item=ingest.expand(item=weeks))
    build_features.expand(item=filter_anomalies.expand(item=raw))


tracking_ingest()
