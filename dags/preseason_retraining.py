"""
### preseason_retraining

Before each season, retrain both models on the last complete season and register them: the passing
SBP model (with its Gaussian and XGBoost baselines) and the defender trajectory ("ghosting") model
(with its constant-velocity and constant-acceleration baselines).

**Schedule.** Yearly on August 1st, 06:00 UTC: after the previous season's data is final and about a
month before the opener, when training camps start. Without a `seasons` param a run trains on the last
complete season before its logical date (`pipelines.nfl_calendar.last_complete_season`).

**Params** (each falls back on the `retraining` section of `conf/trackflow.yaml`): `seasons`
(`"2025"`, `"2023-2025"`), `weeks` of each season (`"1-18"`, `"1,3"`), `epochs` (a cap; early
stopping usually ends sooner), `device` (`auto`, `cpu`, `cuda[:N]`), `max_games` (a seeded sample of games, for quick runs), `source` (for weeks not yet
ingested), `profile`.

Flow: plan → prepare each week (ingest, filter and build features only where missing; weeks that
`tracking_ingest` prepared are reused) → open the parent MLflow run → XGBoost feature selection →
train passing ∥ train ghosting → evaluate → gates (`conf/gates.yaml`) → register (alias
`challenger`; `champion` moves only when the new version beats it on the same evaluation set) →
close the parent run (FAILED, naming the stages, when any stage failed). MLflow experiment
`trackflow/preseason-retraining`: one parent run per DAG run, a nested run per stage. All logic lives
in `pipelines/retraining.py` and the stage modules; this file only wires it.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.config import SEASONS_PATTERN, SOURCE_PATTERN, WEEKS_PATTERN



def _settings():
    from pipelines.config import load_settings

    return load_settings(profile=get_current_context()["params"].get("profile"))


@dag(
    dag_id="preseason_retraining",
    schedule="0 6 1 8 *",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    params={
        "seasons": Param(None, type=["null", "string"], pattern=SEASONS_PATTERN,
                         description="seasons to train on: '2025', '2023-2025', '2024,2025' (default: "
                                     "retraining.seasons, else the last complete season)"),
        "weeks": Param(None, type=["null", "string"], pattern=WEEKS_PATTERN,
                       description="weeks: '1-18', '1,3' (default: retraining.weeks)"),
        "epochs": Param(None, type=["null", "integer"], minimum=1, maximum=1000,
                        description="maximum epochs per network (default: retraining.epochs, else conf/training.yaml)"),
        "device": Param(None, type=["null", "string"], pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto, cpu or cuda[:N] (default: retraining.device)"),
        "max_games": Param(None, type=["null", "integer"], minimum=3,
                           description="train on a seeded sample of this many games (default: all)"),
        "source": Param(None, type=["null", "string"], pattern=SOURCE_PATTERN,
                        description="source of weeks not ingested yet (default: ingest.source)"),
        "profile": Param(None, type=["null", "string"], enum=[None, "test", "demo", "season"],
                         description="trackflow config profile (default: TRACKFLOW_PROFILE or demo)"),
    },
    tags=["trackflow", "training"],
    doc_md=__doc__,
)
def preseason_retraining():
    @task(retries=0)  # a wrong param does not right itself on a retry
    def plan() -> dict:
        from pipelines.config import check_params
        from pipelines.retraining import resolve_request

        ctx = get_current_context()
        check_params(ctx["params"], ctx["dag"].params, ctx["dag"].dag_id)
        return resolve_request(_settings(), ctx["params"], ctx.get("logical_date"))

    @task
    def weeks(request: dict) -> list[dict]:
        from pipelines.retraining import week_items

        return week_items(request)

    @task(max_active_tis_per_dag=1)  # one JVM at a time
    def prepare_week(item: dict, request: dict) -> dict:
        from pipelines.retraining import prepare_week

        return prepare_week(_settings(), request, item["season"], item["week"])

    @task
    def open_run(request: dict, prepared: list[dict]) -> str:
        from pipelines.retraining import open_retraining_run

        ctx = get_current_context()
        return open_retraining_run(_settings(), request, ctx["dag"].dag_id, ctx["run_id"])

    @task
    def select_features(request: dict, parent: str) -> dict:
        from pipelines.retraining import select_stage

        return select_stage(_settings(), request, parent)

    @task
    def train_passing(request: dict, parent: str, selection: dict) -> dict:
        from pipelines.retraining import train_passing_stage

        return train_passing_stage(_settings(), request, parent)

    @task
    def train_ghosting(request: dict, parent: str, selection: dict) -> dict:
        from pipelines.retraining import train_ghosting_stage

        return train_ghosting_stage(_settings(), request, parent)

    @task
    def evaluate(parent: str, passing: dict, ghosting: dict) -> dict:
        from pipelines.retraining import evaluate_stage

        return evaluate_stage(_settings(), parent, passing["run_id"], ghosting["run_id"])

    @task(retries=0)  # a failed gate is a verdict, not a glitch
    def gates(model: str, trained: dict, parent: str, evaluation: dict) -> dict:
        from pipelines.retraining import gate_stage

        return gate_stage(_settings(), model, trained["run_id"], parent)

    @task
    def register(model: str, trained: dict, parent: str, gate: dict) -> dict:
        from pipelines.retraining import register_stage

        return register_stage(_settings(), model, trained["run_id"], parent)

    @task(trigger_rule="all_done", retries=0)
    def close_run(parent: str) -> dict:
        from pipelines.retraining import close_retraining_run

        return close_retraining_run(_settings(), parent)

    request = plan()
    prepared = prepare_week.partial(request=request).expand(item=weeks(request))
    parent = open_run(request, prepared)
    selection = select_features(request, parent)
    passing = train_passing(request, parent, selection)
    ghosting = train_ghosting(request, parent, selection)
    evaluation = evaluate(parent, passing, ghosting)
    registered = [
        register.override(task_id=f"register_{model}")(
            model, trained, parent,
            gates.override(task_id=f"gates_{model}")(model, trained, parent, evaluation))
        for model, trained in (("passing", passing), ("ghosting", ghosting))
    ]
    close_run(parent).set_upstream(registered)


preseason_retraining()
