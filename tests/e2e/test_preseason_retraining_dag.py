"""The preseason_retraining DAG, run by Airflow itself (`airflow dags test`, a real subprocess) on the
test profile: data prepared from nothing, both models trained, gated and registered as champions,
the pyfunc models loaded in a fresh process; then a run whose gates fail moves no alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.mlflow_runs import INHERITED_TAGS, RETRAINING_EXPERIMENT, use_store

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))
MODELS = {"passing-sbp": "passing", "ghosting-db": "ghosting"}
# four games: enough released passes for the feature selection's min_rows
ENV = {"TRACKFLOW_PROFILE": "test", "TRACKFLOW__SIMULATOR__GAMES_PER_WEEK": "4"}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("retraining_project")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW", "MLFLOW"))}
    return {**env, **ENV, "TRACKFLOW__PATHS__HOME": str(home), **extra}


def _dags_test(home: Path, conf: dict | None = None, **extra: str) -> subprocess.CompletedProcess:
    args = [TRACKFLOW, "airflow", "dags", "test", "preseason_retraining", "2026-08-01T06:00:00+00:00"]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return subprocess.run(args, env=_env(home, **extra), capture_output=True, text=True, timeout=900)


def _client(home: Path):
    settings = load_settings("test", environ={**ENV, "TRACKFLOW__PATHS__HOME": str(home)})
    use_store(settings)
    return settings, mlflow.MlflowClient()


def _parents(client) -> list:
    exp = client.get_experiment_by_name(RETRAINING_EXPERIMENT)
    return client.search_runs([exp.experiment_id], filter_string="tags.stage = 'preseason_retraining'",
                              order_by=["attributes.start_time ASC"])


def first_plays(client, parent) -> int:
    (run,) = client.search_runs([parent.info.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.stage = 'train_passing'"))
    return sum(int(run.data.params[f"plays.{k}"]) for k in ("train", "validation", "test"))


def test_dag_imports_without_errors_and_wires_the_stages(home):
    script = textwrap.dedent(f"""
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(PROJECT_ROOT / "dags")!r})
        assert bag.import_errors == {{}}, bag.import_errors
        dag = bag.dags["preseason_retraining"]
        print(sorted(dag.params.keys()), dag.timetable.expression)
        print(sorted(dag.task_dict["register_passing"].upstream_task_ids),
              sorted(dag.task_dict["close_run"].upstream_task_ids), dag.task_dict["close_run"].trigger_rule.value,
              dag.task_dict["gates_ghosting"].retries)
    """)
    env = {**_env(home), "AIRFLOW_HOME": str(home / ".airflow-check"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-"], input=script, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    params, wiring = out.stdout.strip().splitlines()[-2:]
    assert params == "['device', 'epochs', 'max_games', 'profile', 'seasons', 'source', 'weeks'] 0 6 1 8 *"
    assert wiring == ("['gates_passing', 'open_run', 'train_passing'] ['open_run', 'register_ghosting', "
                      "'register_passing'] all_done 0")


def test_a_run_prepares_the_data_trains_gates_and_registers_two_champions(home):
    out = _dags_test(home)
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    settings, client = _client(home)
    # the data was prepared from nothing: ingested, filtered, both feature tables
    for table in ("raw/tracking", "clean/tracking", "features/passing", "features/ghosting"):
        assert (settings.paths.lake / table / "season=2025" / "week=1").is_dir(), table

    (parent,) = _parents(client)
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["airflow.dag_id"] == "preseason_retraining" and tags["seasons"] == "2025" and tags["weeks"] == "1"
    assert tags["device"] == "cpu" and len(tags["data_manifest_hash"]) == 16 and tags["git_sha"] != ""
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    stages = sorted((c.data.tags["stage"], c.data.tags.get("model", "")) for c in children)
    assert stages == [("evaluate", ""), ("feature_selection", "ghosting"), ("feature_selection", "passing"),
                      ("gates", "ghosting"), ("gates", "passing"), ("register", "ghosting"), ("register", "passing"),
                      ("train_ghosting", ""), ("train_passing", "")]
    for child in children:  # every nested run carries the parent's tags and the standard ones
        assert child.info.status == "FINISHED", child.info.run_name
        assert {k: child.data.tags.get(k) for k in INHERITED_TAGS} == {k: tags[k] for k in INHERITED_TAGS}
        assert child.data.tags["config_hash"] == tags["config_hash"] and child.data.tags["git_sha"] == tags["git_sha"]
    by_stage = {c.data.tags["stage"]: c for c in children}
    # the trainers recorded the feature tables they read
    for stage, table in (("train_passing", "features/passing"), ("train_ghosting", "features/ghosting")):
        inputs = client.get_run(by_stage[stage].info.run_id).inputs.dataset_inputs
        assert [i.dataset.name for i in inputs] == [f"{table} 2025 w1"] and inputs[0].dataset.digest
    artifacts = {a.path for a in client.list_artifacts(by_stage["evaluate"].info.run_id, "evaluation")}
    assert {"evaluation/passing_metrics.json", "evaluation/ghosting_errors.json", "evaluation/composite.json"} <= artifacts
    assert {"passing/pit_histogram.png", "passing/sample_play_pdfs.png"} <= {
        a.path for a in client.list_artifacts(by_stage["train_passing"].info.run_id, "passing")}
    assert "ghosting/trajectories.png" in {a.path for a in client.list_artifacts(by_stage["train_ghosting"].info.run_id,
                                                                                 "ghosting")}
    # headline metrics on the parent, for the UI's run table and `trackflow runs compare`
    assert {"passing.sbp_nll", "ghosting.ade", "ghosting.composite_randomized"} <= set(parent.data.metrics)

    for name in MODELS:
        champion = client.get_model_version_by_alias(name, "champion")
        assert str(champion.version) == "1" and set(champion.aliases) == {"champion", "challenger"}
        assert champion.tags["validation_status"] == "passed"
        assert champion.tags["retraining_run_id"] == parent.info.run_id

    # in a fresh process, the registered champions score rows of the feature tables
    script = textwrap.dedent("""
        import mlflow, pandas as pd
        from pipelines.config import load_settings
        settings = load_settings("test")
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)

        def rows(model, table, n, renames):
            # what a user does: read the feature table, name and type the columns as the signature does
            types = {c.name: getattr(c.type, "name", None) for c in model.metadata.get_input_schema().inputs}
            frame = pd.read_parquet(settings.paths.lake / "features" / table / "season=2025" / "week=1")
            frame = frame.rename(columns=renames)
            frame = frame[[c for c in types if c in frame.columns]].head(n)
            return frame.astype({c: {"long": "int64", "double": "float64"}[t] for c, t in types.items()
                                 if c in frame.columns and t in ("long", "double")})

        passing = mlflow.pyfunc.load_model("models:/passing-sbp@champion")
        out = passing.predict(rows(passing, "passing", 5, {"tensor": "sequence", "seq_len": "sequence_length"}))
        assert len(out) == 5 and out["passing_score"].between(0, 100).all(), out
        assert (out["predicted_q10"] <= out["predicted_median"]).all() and (out["predicted_median"] <= out["predicted_q90"]).all()
        ghosting = mlflow.pyfunc.load_model("models:/ghosting-db@champion")
        tracks = ghosting.predict(rows(ghosting, "ghosting", 4, {}))
        assert list(tracks.columns[:2]) == ["x_1", "x_2"] and len(tracks) == 4 and tracks.notna().all().all(), tracks
        print("scored", len(out), "plays and", len(tracks), "defensive backs")
    """)
    scored = subprocess.run([sys.executable, "-"], input=script, env=_env(home), capture_output=True, text=True,
                            timeout=300)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "scored 5 plays and 4 defensive backs" in scored.stdout

    shown = subprocess.run([TRACKFLOW, "runs", "show"], env=_env(home), capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert f"Retraining run {parent.info.run_id} — FINISHED" in shown.stdout
    assert "passing-sbp version 1: aliases" in shown.stdout and "| sbp " in shown.stdout


def test_a_run_whose_gates_fail_fails_and_moves_no_alias(home):
    # runs after the test above: version 1 of each model is the champion
    # two seasons this time: 2024 is prepared from nothing, 2025 reused; the trainers read both
    out = _dags_test(home, {"epochs": 1, "seasons": "2024,2025"}, TRACKFLOW_GATES__PASSING__PIT_KS_MAX="0.0",
                     TRACKFLOW_GATES__PASSING__PIT_KS_ALPHA="0",
                     TRACKFLOW_GATES__GHOSTING__ADE_RATIO_MAX="0.01")
    logs = out.stdout + out.stderr
    assert out.returncode != 0
    # each gate task failed naming its gate, the value and the threshold
    assert "GateFailed: passing model of run" in logs and "pit_ks: " in logs and "must be <= 0 — failed" in logs
    assert "GateFailed: ghosting model of run" in logs and "ade_vs_constant_velocity: " in logs
    settings, client = _client(home)
    first, second = _parents(client)
    assert second.info.status == "FAILED" and second.data.tags["seasons"] == "2024,2025"
    trained = client.search_runs([second.info.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{second.info.run_id}' and tags.stage = 'train_passing'"))
    (dataset,) = client.get_run(trained[0].info.run_id).inputs.dataset_inputs
    assert dataset.dataset.name == "features/passing 2024+2025 w1"
    keys = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=trained[0].info.run_id,
                                                               artifact_path="passing/evaluation_set.parquet"))
    assert int(trained[0].data.params["plays.train"]) + int(trained[0].data.params["plays.validation"]) + len(keys) \
        > int(first_plays(client, first))  # more plays than the one-season run
    gates = client.search_runs([second.info.experiment_id],
                               filter_string=f"tags.mlflow.parentRunId = '{second.info.run_id}' and tags.stage = 'gates'")
    assert sorted(g.info.status for g in gates) == ["FAILED", "FAILED"]
    for name in MODELS:  # nothing registered, no alias moved
        assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"

    compared = subprocess.run([TRACKFLOW, "runs", "compare", "--last", "5"], env=_env(home), capture_output=True,
                              text=True, timeout=300)
    assert compared.returncode == 0, compared.stderr[-2000:]
    rows = [line for line in compared.stdout.splitlines() if line.startswith("| ") and "run_id" not in line]
    assert len(rows) == 2 and "FAILED" in rows[0] and "FINISHED" in rows[1]
    assert second.info.run_id[:8] in rows[0] and first.info.run_id[:8] in rows[1]
