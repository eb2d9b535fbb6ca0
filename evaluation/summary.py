"""Tables of a retraining's test metrics, read back from the training runs' MLflow metrics (the
names ``training/train_passing.py`` and ``training/train_ghosting.py`` log):

* ``passing_metrics`` — one row per passing model (sbp, gaussian, xgboost), one column per metric;
* ``ghosting_errors`` — one row per trajectory model (model, constant_velocity, constant_acceleration);
* ``composite`` — one row per scenario (observed, model, randomized): the composite and its terms.
"""

from __future__ import annotations

import pandas as pd

from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, use_store
from pipelines.retraining import HEADLINE, STAGE, child_runs


def _grid(metrics: dict[str, float], prefix: str, depth: int) -> pd.DataFrame:
    """``prefix.<row>.<column>`` metrics as a table (``depth`` 2), or ``prefix.<row>`` as the column
    ``composite`` plus ``prefix.<row>.<column>`` (``depth`` 1)."""
    cells: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        parts = name.split(".")
        if parts[0] != prefix:
            continue
        if depth == 2 and len(parts) == 3:
            cells.setdefault(parts[1], {})[parts[2]] = value
        elif depth == 1 and len(parts) in (2, 3):
            cells.setdefault(parts[1], {})[parts[2] if len(parts) == 3 else prefix] = value
    table = pd.DataFrame.from_dict(cells, orient="index")
    if depth == 1 and prefix in table.columns:
        table = table[[prefix, *[c for c in table.columns if c != prefix]]]
    table.index.name = "model" if depth == 2 else "scenario"
    return table


def evaluation_tables(passing: dict[str, float], ghosting: dict[str, float]) -> dict[str, pd.DataFrame]:
    """The three tables from the two training runs' metrics (``run.data.metrics``); rows in the
    order the trainers use, metrics sorted."""
    tables = {"passing_metrics": _grid(passing, "test", 2), "ghosting_errors": _grid(ghosting, "test", 2),
              "composite": _grid(ghosting, "composite", 1)}
    order = {"passing_metrics": ["sbp", "gaussian", "xgboost"],
             "ghosting_errors": ["model", "constant_velocity", "constant_acceleration"],
             "composite": ["observed", "model", "randomized"]}
    for name, rows in order.items():
        table = tables[name]
        tables[name] = table.reindex([r for r in rows if r in table.index]
                                     + [r for r in table.index if r not in rows])
        if name != "composite":
            tables[name] = tables[name][sorted(tables[name].columns)]
    return tables


# --- reports over the MLflow store (``trackflow runs compare`` / ``trackflow runs show``) -----------



def compare_runs(settings, last: int = 5) -> pd.DataFrame:
    """The newest ``last`` retraining runs, one row each: when, what they trained on, where, their
    status and headline test metrics (the parent run's metrics; blank where a stage did not finish)."""
    mlflow = use_store(settings)
    runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], output_format="list",
                              filter_string=f"tags.stage = '{STAGE}'", order_by=["attributes.start_time DESC"],
                              max_results=last)
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        rows.append({"run_id": run.info.run_id[:8], "started": pd.Timestamp(run.info.start_time, unit="ms")
                     .strftime("%Y-%m-%d %H:%M"), "status": run.info.status, "seasons": tags.get("seasons"),
                     "weeks": tags.get("weeks"), "device": tags.get("device"), "git": tags.get("git_sha", "")[:8],
                     "data": tags.get("data_manifest_hash", "")[:8],
                     **{c: metrics.get(c) for c in HEADLINE}})
    return pd.DataFrame(rows, columns=["run_id", "started", "status", "seasons", "weeks", "device", "git", "data",
                                       *HEADLINE])


def retraining_summary(settings, run_id: str | None = None) -> str:
    """A Markdown report of retraining run ``run_id`` (default: the newest): status, the test metric
    tables, the registered versions and their aliases, where the artifacts are, how to browse them."""
    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    if run_id is None:
        found = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], output_format="list",
                                   filter_string=f"tags.stage = '{STAGE}'", order_by=["attributes.start_time DESC"],
                                   max_results=1)
        if not found:
            raise ValueError(f"no retraining run in {settings.mlflow_tracking_uri}: run `make run` "
                             "(or `trackflow airflow dags test preseason_retraining`) first")
        parent = found[0]
    else:
        try:
            parent = client.get_run(run_id)
        except Exception as err:
            raise ValueError(f"run {run_id!r} is not in {settings.mlflow_tracking_uri} ({type(err).__name__})") from None
    children = child_runs(settings, parent.info.run_id)
    by_stage = {}
    for run in children:
        by_stage.setdefault(run.data.tags.get("stage"), run)
    tags = parent.data.tags
    lines = [f"## Retraining run {parent.info.run_id} — {parent.info.status}",
             f"seasons {tags.get('seasons')} · weeks {tags.get('weeks')} · device {tags.get('device')} · "
             f"git {tags.get('git_sha', '')[:12]} · data {tags.get('data_manifest_hash')} · "
             f"Airflow {tags.get('airflow.dag_id')} {tags.get('airflow.run_id')}", ""]
    if "train_passing" in by_stage and "train_ghosting" in by_stage:
        tables = evaluation_tables(by_stage["train_passing"].data.metrics, by_stage["train_ghosting"].data.metrics)
        titles = {"passing_metrics": "Passing model (test plays)", "ghosting_errors": "Ghosting model (test samples, yards)",
                  "composite": "Composite metric (lower = better defence)"}
        shown = {"passing_metrics": ["nll", "crps", "mae_median", "pit_ks", "coverage_50", "coverage_80", "coverage_90",
                                     "quantile_error_mean"],
                 "composite": ["composite", "closing", "effort", "speed"]}
        for name, table in tables.items():
            table = table[[c for c in shown.get(name, table.columns) if c in table.columns]]
            lines += [f"### {titles[name]}", table.to_markdown(floatfmt=".4f"), ""]
        lines.append("(every metric: the `evaluate` run's artifacts under evaluation/)")
        lines.append("")
    lines.append("### Stages")
    for run in children:
        model = run.data.tags.get("model")
        lines.append(f"- {run.info.run_name}{'' if not model or model in run.info.run_name else f' ({model})'}: "
                     f"{run.info.status}")
    lines += ["", "### Registry"]
    versions = client.search_model_versions(f"tags.retraining_run_id = '{parent.info.run_id}'")
    if not versions:
        lines.append("- nothing registered by this run")
    for v in sorted(versions, key=lambda v: v.name):
        aliases = client.get_model_version(v.name, v.version).aliases
        lines.append(f"- {v.name} version {v.version}: aliases {', '.join(aliases) or 'none'} "
                     f"→ `models:/{v.name}/{v.version}`")
    lines += ["", "### Where things are",
              f"- MLflow store: {settings.mlflow_tracking_uri}",
              f"- artifacts of this run and its stages: {parent.info.artifact_uri.rsplit('/', 2)[0]}/<run id>/artifacts",
              f"- the lake: {settings.paths.lake}",
              "- browse: `make ui`, then http://127.0.0.1:5000 (experiment trackflow/preseason-retraining)"]
    return "\n".join(lines) + "\n"
