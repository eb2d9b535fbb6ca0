"""The preseason retraining stages that ``dags/preseason_retraining.py`` wires (one function per
task; each takes the settings and plain values and returns a small dict for XCom):

    request = resolve_request(settings, params, logical_date)       # validated params + config defaults
    prepare_week(settings, request, season, week)                   # per week: ingest/filter/features if missing
    parent = open_retraining_run(settings, request, dag_id, run_id) # the parent MLflow run
    select_stage(settings, request, parent)                         # XGBoost feature selection, both models
    train_passing_stage(…) / train_ghosting_stage(…)                # the models and their baselines
    evaluate_stage(settings, parent, passing, ghosting)             # one table of both models' test metrics
    gate_stage(settings, "passing", passing_run, parent)            # conf/gates.yaml; raises GateFailed
    register_stage(settings, "passing", passing_run, parent)        # registry version, challenger/champion
    close_retraining_run(settings, parent)                          # FINISHED, or FAILED naming the stages

Every stage runs ``under_parent``: its MLflow runs nest under the parent run and carry its tags
(data manifest hash, seasons, weeks, Airflow dag and run id, device) besides the standard ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pipelines.config import Settings, parse_seasons, parse_weeks
from pipelines.mlflow_runs import (RETRAINING_EXPERIMENT, experiment_id, standard_tags, start_run, under_parent,
                                   use_store)

STAGE = "preseason_retraining"
MODELS = ("passing", "ghosting")
# the nested runs a complete retraining run has: (tag stage, tag model or None)
EXPECTED_CHILDREN = (("feature_selection", "passing"), ("feature_selection", "ghosting"), ("train_passing", None),
                     ("train_ghosting", None), ("evaluate", None), ("gates", "passing"), ("gates", "ghosting"),
                     ("register", "passing"), ("register", "ghosting"))
# the parent run's headline metrics (`trackflow runs compare` prints them): name → (train stage, metric)
HEADLINE = {
    "passing.sbp_nll": ("train_passing", "test.sbp.nll"),
    "passing.gaussian_nll": ("train_passing", "test.gaussian.nll"),
    "passing.sbp_mae_median": ("train_passing", "test.sbp.mae_median"),
    "passing.xgboost_mae_median": ("train_passing", "test.xgboost.mae_median"),
    "passing.pit_ks": ("train_passing", "test.sbp.pit_ks"),
    "passing.coverage_90": ("train_passing", "test.sbp.coverage_90"),
    "ghosting.ade": ("train_ghosting", "test.model.ade"),
    "ghosting.constant_velocity_ade": ("train_ghosting", "test.constant_velocity.ade"),
    "ghosting.fde": ("train_ghosting", "test.model.fde"),
    "ghosting.composite_observed": ("train_ghosting", "composite.observed"),
    "ghosting.composite_model": ("train_ghosting", "composite.model"),
    "ghosting.composite_randomized": ("train_ghosting", "composite.randomized"),
}


# --- the request ---------------------------------------------------------------------------------

def resolve_request(settings: Settings, params: dict[str, Any], logical_date: dt.datetime | None = None) -> dict:
    """The run's request from its params, falling back on the ``retraining`` config section: the
    seasons (default: the last complete season before ``logical_date``), the weeks of each, the epoch and
    game limits, the device (checked here, so a run asking for a missing GPU fails first) and the
    ingest source.  Errors name the param."""
    from pipelines.nfl_calendar import last_complete_season
    from training.passing import resolve_device

    cfg = settings.retraining

    def given(name: str, default):
        return default if params.get(name) is None else params[name]

    seasons = given("seasons", cfg.seasons)
    if seasons is None:
        if logical_date is None:
            raise ValueError("param 'seasons': not given, and no logical date to infer the last complete season from")
        seasons = [last_complete_season(logical_date)]
    try:
        seasons = parse_seasons(seasons)
    except ValueError as err:
        raise ValueError(f"param 'seasons': {err}") from None
    try:
        weeks = parse_weeks(given("weeks", cfg.weeks))
    except ValueError as err:
        raise ValueError(f"param 'weeks': {err}") from None
    epochs, max_games = given("epochs", cfg.epochs), given("max_games", cfg.max_games)
    for name, value, least in (("epochs", epochs, 1), ("max_games", max_games, 3)):
        if value is not None and (not isinstance(value, int) or value < least):
            raise ValueError(f"param {name!r}: expected an integer ≥ {least}, got {value!r}")
    device = given("device", cfg.device)
    try:
        resolved = resolve_device(device)
    except ValueError as err:
        raise ValueError(f"param 'device': {err}") from None
    return {"seasons": seasons, "weeks": weeks, "epochs": epochs, "max_games": max_games,
            "device": device, "device_type": resolved.type,
            "source": given("source", settings.ingest.source)}


def week_items(request: dict) -> list[dict]:
    """One item per (season, week) of the request: what ``prepare_week`` is mapped over."""
    return [{"season": s, "week": w} for s in request["seasons"] for w in request["weeks"]]


# --- data -----------------------------------------------------------------------------------------

def prepare_week(settings: Settings, request: dict, season: int, week: int) -> dict:
    """Make sure (season, week) has raw data, clean tracking and both feature tables: ingest (and
    validate) a week that is not in the raw lake, filter and build features for a week whose feature
    tables are missing or older than its raw manifest.  Weeks already prepared are left alone, so
    the DAG reuses what ``tracking_ingest`` wrote.  Returns what was done."""
    from features.build import build_features
    from pipelines.anomaly_filter import filter_week
    from pipelines.ingest import ingest_week, manifest_path
    from pipelines.lake import partition_dir
    from pipelines.validate import validate_week

    done = {"season": season, "week": week, "ingested": False, "prepared": False}
    manifest = manifest_path(settings, season, week)
    if not manifest.is_file():
        ingest_week(settings, request["source"], season, week)
        validate_week(settings, season, week)
        done["ingested"] = True
    lake_root = settings.paths.lake
    outputs = [partition_dir(lake_root / t, season, week)
               for t in ("clean/tracking", "features/passing", "features/ghosting")]
    if not all(p.is_dir() and p.stat().st_mtime >= manifest.stat().st_mtime for p in outputs):
        filter_week(settings, season, week)
        build_features(settings, season, week)
        done["prepared"] = True
    return done


def data_manifest_hash(settings: Settings, seasons: list[int], weeks: list[int]) -> str:
    """A hash of the raw manifests' content hashes of the weeks of the seasons: equal when the data is."""
    from pipelines.ingest import read_manifest

    h = hashlib.sha256()
    for season in seasons:
        for week in weeks:
            h.update(f"{season}/{week}:{read_manifest(settings, season, week).content_hash}\n".encode())
    return h.hexdigest()[:16]


# --- the parent run ---------------------------------------------------------------------------------

def open_retraining_run(settings: Settings, request: dict, dag_id: str = "manual", dag_run_id: str = "manual") -> str:
    """The parent run of a retraining (RUNNING until ``close_retraining_run``); a retried task finds
    the one it opened before (same dag and run id) instead of opening a second."""
    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    exp = experiment_id(settings, RETRAINING_EXPERIMENT)
    found = client.search_runs([exp], filter_string=f"tags.stage = '{STAGE}' and tags.`airflow.dag_id` = '{dag_id}' "
                                                    f"and tags.`airflow.run_id` = '{dag_run_id}' "
                                                    "and attributes.status = 'RUNNING'", max_results=1)
    if found and dag_run_id != "manual":
        return found[0].info.run_id
    seasons, weeks = request["seasons"], request["weeks"]
    label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    tags = {**standard_tags(settings), "stage": STAGE, "data_manifest_hash": data_manifest_hash(settings, seasons, weeks),
            "seasons": ",".join(map(str, seasons)), "weeks": ",".join(map(str, weeks)), "airflow.dag_id": dag_id,
            "airflow.run_id": dag_run_id, "device": request["device_type"]}
    run = client.create_run(exp, run_name=f"preseason {'+'.join(map(str, seasons))} {label}", tags=tags)
    for key, value in request.items():
        client.log_param(run.info.run_id, key, value if not isinstance(value, list) else ",".join(map(str, value)))
    return run.info.run_id


def close_retraining_run(settings: Settings, parent_run_id: str) -> dict:
    """End the parent run: FINISHED when every expected stage ran and finished, else FAILED with the
    missing or failed stages named (then raises RuntimeError, so the DAG run fails too).  Copies the
    headline test metrics onto the parent, where the MLflow UI and ``runs compare`` show them."""
    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    children = child_runs(settings, parent_run_id)
    status = {}
    for run in children:
        key = (run.data.tags.get("stage"), run.data.tags.get("model") if run.data.tags.get("stage")
               in ("feature_selection", "gates", "register") else None)
        status[key] = run.info.status
    problems = [f"{stage}{f' {model}' if model else ''}: {status.get((stage, model), 'did not run')}"
                for stage, model in EXPECTED_CHILDREN if status.get((stage, model)) != "FINISHED"]
    by_stage = {run.data.tags.get("stage"): run for run in children if run.info.status == "FINISHED"}
    for name, (stage, metric) in HEADLINE.items():
        if stage in by_stage and metric in by_stage[stage].data.metrics:
            client.log_metric(parent_run_id, name, by_stage[stage].data.metrics[metric])
    client.set_terminated(parent_run_id, "FAILED" if problems else "FINISHED")
    if problems:
        raise RuntimeError(f"retraining run {parent_run_id} failed: " + "; ".join(problems))
    return {"run_id": parent_run_id, "status": "FINISHED"}


def child_runs(settings: Settings, parent_run_id: str) -> list:
    mlflow = use_store(settings)
    return mlflow.MlflowClient().search_runs([experiment_id(settings, RETRAINING_EXPERIMENT)],
                                             filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                             order_by=["attributes.start_time ASC"])


# --- stages -----------------------------------------------------------------------------------------

def select_stage(settings: Settings, request: dict, parent_run_id: str) -> dict:
    from features.selection import run_selection

    out = {}
    with under_parent(settings, parent_run_id):
        for model in MODELS:
            done = run_selection(settings, model, request["seasons"], request["weeks"])
            out[model] = {"features": len(done.selection.selected), "run_id": done.run_id}
    return out


def train_passing_stage(settings: Settings, request: dict, parent_run_id: str) -> dict:
    from training.train_passing import train_passing

    with under_parent(settings, parent_run_id):
        result = train_passing(settings, request["seasons"], request["weeks"], device=request["device"],
                               max_epochs=request["epochs"], max_games=request["max_games"])
    return {"run_id": result.run_id, "epochs": result.epochs, "plays": result.split_plays, "bars": result.bars}


def train_ghosting_stage(settings: Settings, request: dict, parent_run_id: str) -> dict:
    from training.train_ghosting import train_ghosting

    with under_parent(settings, parent_run_id):
        result = train_ghosting(settings, request["seasons"], request["weeks"], device=request["device"],
                                max_epochs=request["epochs"], max_games=request["max_games"])
    return {"run_id": result.run_id, "epochs": result.epochs, "samples": result.split_samples, "bars": result.bars}


def evaluate_stage(settings: Settings, parent_run_id: str, passing_run_id: str, ghosting_run_id: str) -> dict:
    """One evaluation run beside the trainers': both models' test metrics side by side with their
    baselines (``evaluation/passing_metrics.*``, ``evaluation/ghosting_errors.*``), the composite-metric
    table (``evaluation/composite.*``) and each model's bars, as tables the MLflow UI shows."""
    from evaluation.summary import evaluation_tables

    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    runs = {"passing": client.get_run(passing_run_id), "ghosting": client.get_run(ghosting_run_id)}
    tables = evaluation_tables(runs["passing"].data.metrics, runs["ghosting"].data.metrics)
    with under_parent(settings, parent_run_id), start_run(settings, RETRAINING_EXPERIMENT, "evaluate",
                                                          tags={"stage": "evaluate"}) as run:
        mlflow.log_params({"passing_run_id": passing_run_id, "ghosting_run_id": ghosting_run_id})
        for name, table in tables.items():
            mlflow.log_table(table.reset_index(), f"evaluation/{name}.json")
            mlflow.log_text(table.to_markdown(floatfmt=".4f") + "\n", f"evaluation/{name}.md")
        mlflow.log_metrics({f"{model}.{k}": v for model, r in runs.items() for k, v in r.data.metrics.items()
                            if k.startswith("bar.")})
    return {"run_id": run.info.run_id, "tables": sorted(tables)}


def gate_stage(settings: Settings, model: str, train_run_id: str, parent_run_id: str) -> dict:
    """Check ``model``'s gates (conf/gates.yaml) on its training run's test metrics, in a nested run
    that logs every gate; raises GateFailed naming the failed gates (the run ends FAILED)."""
    from evaluation.gates import GateFailed, check_gates, log_gate_report

    with under_parent(settings, parent_run_id), start_run(settings, RETRAINING_EXPERIMENT, f"gates {model}",
                                                          tags={"stage": "gates", "model": model}):
        report = check_gates(settings, model, train_run_id, raise_on_failure=False)
        log_gate_report(report)
        if not report.passed:
            raise GateFailed(report)
    return {"model": model, "passed": True, "gates": len(report.gates)}


def register_stage(settings: Settings, model: str, train_run_id: str, parent_run_id: str) -> dict:
    """Register ``model``'s training run (gates re-checked: this task may run alone on a retry) as a
    new registry version: alias ``challenger``, and ``champion`` when it beats the current one on
    the same evaluation set.  A DAG run registers one version per model: when this one already did
    (the DAG run run again: its parent run is found again by dag and run id), that version stays and
    nothing is registered — a new model needs a new DAG run."""
    import mlflow

    from evaluation.gates import check_gates
    from evaluation.registry import REGISTERED_NAMES, register, version_of_retraining, version_of_training

    with under_parent(settings, parent_run_id) as tags, start_run(settings, RETRAINING_EXPERIMENT, f"register {model}",
                                                                  tags={"stage": "register", "model": model}):
        report = check_gates(settings, model, train_run_id)
        earlier = version_of_retraining(settings, model, parent_run_id)
        if earlier is not None and earlier != version_of_training(settings, model, train_run_id):
            mlflow.log_params({"registered_model": REGISTERED_NAMES[model], "version": earlier, "champion_moved": False,
                               "reused_version_of_this_dag_run": True})
            return {"model": model, "name": REGISTERED_NAMES[model], "version": earlier, "champion_moved": False}
        done = register(settings, model, train_run_id, report,
                        tags={"retraining_run_id": parent_run_id, **tags})
        mlflow.log_params({"registered_model": done.name, "version": done.version,
                           "champion_moved": done.champion_moved})
    return {"model": model, "name": done.name, "version": done.version, "champion_moved": done.champion_moved}

