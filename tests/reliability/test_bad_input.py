"""Bad input through every entry point, as a user gives it: the catalogue of
``tests/reliability/catalogue.py`` (source files, command line, configuration, DAG params, lake
files, model registry and run ids).

Each case must fail with its exit code (or a refused trigger, a failed ``plan`` task, a ValueError)
and a message holding the catalogue's fragments, without a traceback; write nothing (the project
folder, the registry are as before: no partition, manifest, report, temporary file or version);
and leave its input byte-identical.  The tables of ``docs/reliability.md`` are rendered from the
same catalogue and checked here.

Real components only: the ``trackflow`` script in subprocesses, Airflow's DagBag, param validation
and the DAG's own ``plan`` task in a subprocess, MLflow on a SQLite store.  No Spark.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, load_settings
from tests import bdb_files as bdb
from tests.reliability import render_table
from tests.reliability.catalogue import (
    CASES,
    INGEST,
    OTHER_SCENARIOS,
    REQUIRED_KINDS,
    Case,
    Cli,
    DagRun,
    Registry,
)

TRACKFLOW = str(Path(sys.executable).with_name("trackflow"))
CLI_CASES = [c for c in CASES if isinstance(c.how, Cli)]
DAG_CASES = [c for c in CASES if isinstance(c.how, DagRun)]
REGISTRY_CASES = [c for c in CASES if isinstance(c.how, Registry)]
# conf that must pass both stages: the harness refuses bad conf, not every conf
GOOD_CONF = {"tracking_ingest": {"season": 2025, "weeks": "1-4, 7", "source": "bdb:/data/nfl-big-data-bowl-2023"},
             "preseason_retraining": {"seasons": "2024,2025", "weeks": "1-18", "epochs": 3, "profile": "test"}}


def squash(text: str) -> str:
    """A message as one line: the borders of typer's error box removed, whitespace runs made one space."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW", "MLFLOW"))}
    env.update(COLUMNS="200", NO_COLOR="1", TRACKFLOW_PROFILE="test", **extra)
    return env


# --- a source folder and a project with a good week ----------------------------------------------------

@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return bdb.make_folder(tmp_path_factory.mktemp("bdb_source"))


@pytest.fixture(scope="module")
def project(tmp_path_factory, source) -> Path:
    """A project folder whose raw lake holds week 1 of season 2025, ingested from ``source``."""
    from pipelines.ingest import ingest_week

    home = tmp_path_factory.mktemp("project")
    ingest_week(load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(home)}), f"bdb:{source}", 2025, 1)
    assert (home / "lake/raw/tracking/season=2025/week=1/part-0.parquet").is_file()
    return home


# --- command-line cases ----------------------------------------------------------------------------------

@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, dict[str, str]]  # input or output → file → sha256
    after: dict[str, dict[str, str]]


def _run_cli(case, root: Path, source: Path, project: Path) -> Outcome:
    how: Cli = case.how
    src, home, out, cfg = root / "src", root / "home", root / "out", root / "cfg" / "trackflow.yaml"
    shutil.copytree(source, src)
    shutil.copytree(project, home)
    out.mkdir()
    cfg.parent.mkdir()
    text = (PROJECT_ROOT / "conf" / "trackflow.yaml").read_text()
    cfg.write_text(how.edit_config(text) if how.edit_config else text)
    if how.edit_src:
        how.edit_src(src)
    if how.edit_lake:
        how.edit_lake(home)
    watched = {"source folder": src, "project folder": home, "config file": cfg.parent, "scratch folder": out}
    before = {name: bdb.digest(path) for name, path in watched.items()}
    args = [a.format(src=src, cfg=cfg, out=out) for a in how.args]
    done = subprocess.run([TRACKFLOW, *args], env=clean_env(TRACKFLOW__PATHS__HOME=str(home), **how.env),
                          cwd=home, capture_output=True, text=True, timeout=300)
    after = {name: bdb.digest(path) for name, path in watched.items()}
    return Outcome(done.returncode, done.stdout, done.stderr, before, after)


def test_the_good_input_goes_through_the_same_harness(source, project, tmp_path):
    """The control: without an edit the same command succeeds and rewrites the week."""
    good = Case("good", "good input", "source files", "", Cli((*INGEST, "--no-validate")), ("",))
    out = _run_cli(good, tmp_path, source, project)
    assert out.returncode == 0, out.stderr
    assert out.after["source folder"] == out.before["source folder"]
    assert "season 2025 week 1: tracking 2,999" in out.stdout  # ingested again (the same bytes: idempotent)
    assert set(out.after["project folder"]) == set(out.before["project folder"])


def assert_fails_well(case, returncode, message: str):
    text = squash(message)
    assert returncode == case.how.exit_code, f"{case.id}: exit {returncode}, expected {case.how.exit_code}\n{message}"
    assert "Traceback" not in message, f"{case.id}: a traceback\n{message}"
    missing = [part for part in case.expect if squash(part) not in text]
    assert not missing, f"{case.id}: the message lacks {missing}\n{message}"


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_case(case, source, project, tmp_path):
    out = _run_cli(case, tmp_path, source, project)
    assert_fails_well(case, out.returncode, out.stderr + out.stdout)
    for name in out.before:  # nothing written, nothing changed, nothing left behind
        changed = sorted(set(out.before[name].items()) ^ set(out.after[name].items()))
        assert not changed, f"{case.id}: the {name} changed: {sorted({path for path, _ in changed})}"


# --- DAG params ------------------------------------------------------------------------------------------

DAG_SCRIPT = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.param import process_params
    from airflow.sdk.execution_time.context import set_current_context
    from airflow.serialization.serialized_objects import DagSerialization

    cases = json.load(sys.stdin)
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    serialized = {d: DagSerialization.from_dict(DagSerialization.to_dict(dag)) for d, dag in bag.dags.items()}
    results = {}
    for case in cases:
        dag = bag.dags[case["dag_id"]]
        try:  # what the API/UI trigger and `airflow backfill create` run before a run exists
            serialized[case["dag_id"]].params.deep_merge(case["conf"]).validate()
        except Exception as err:
            results[case["id"]] = {"stage": "trigger", "error": f"{type(err).__name__}: {err}"}
            continue
        plan = dag.task_dict["plan"]
        params = process_params(dag, plan, case["conf"], suppress_exception=False)  # what the task sees
        context = {"params": params, "dag": dag, "logical_date": None, "data_interval_start": None}
        try:
            with set_current_context(context):
                plan.python_callable()
        except Exception as err:
            results[case["id"]] = {"stage": "plan", "error": f"{type(err).__name__}: {err}"}
            continue
        results[case["id"]] = {"stage": "none", "error": ""}
    print("RESULTS " + json.dumps(results))
""")


@pytest.fixture(scope="module")
def dag_outcomes(tmp_path_factory, project) -> dict:
    """Every DAG case (and one good conf per DAG) through Airflow in one subprocess."""
    root = tmp_path_factory.mktemp("dag_cases")
    home = root / "home"
    shutil.copytree(project, home)
    cases = [{"id": c.id, "dag_id": c.how.dag_id, "conf": c.how.conf} for c in DAG_CASES]
    cases += [{"id": f"good-{dag_id}", "dag_id": dag_id, "conf": conf} for dag_id, conf in GOOD_CONF.items()]
    before = bdb.digest(home)
    env = clean_env(TRACKFLOW__PATHS__HOME=str(home), AIRFLOW_HOME=str(root / "airflow"),
                    AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"))
    done = subprocess.run([sys.executable, "-c", DAG_SCRIPT, str(PROJECT_ROOT / "dags")], input=json.dumps(cases),
                          env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    return {"results": json.loads(line[len("RESULTS "):]), "before": before, "after": bdb.digest(home)}


def test_good_dag_conf_passes_the_trigger_and_the_plan(dag_outcomes):
    for dag_id in GOOD_CONF:
        assert dag_outcomes["results"][f"good-{dag_id}"] == {"stage": "none", "error": ""}, dag_id


@pytest.mark.parametrize("case", DAG_CASES, ids=lambda c: c.id)
def test_dag_case(case, dag_outcomes):
    result = dag_outcomes["results"][case.id]
    assert result["stage"] == case.how.stage, f"{case.id}: {result}"
    missing = [part for part in case.expect if squash(part) not in squash(result["error"])]
    assert not missing, f"{case.id}: the message lacks {missing}\n{result['error']}"
    assert dag_outcomes["after"] == dag_outcomes["before"]  # no run wrote anything to the project


# --- model registry --------------------------------------------------------------------------------------

def _registry_state(mlflow) -> dict:
    client = mlflow.MlflowClient()
    return {
        "models": {m.name: sorted((alias, str(version)) for alias, version in m.aliases.items())
                   for m in client.search_registered_models()},
        "versions": sorted((v.name, v.version, v.run_id) for v in client.search_model_versions()),
        "runs": len(mlflow.search_runs(search_all_experiments=True, output_format="list")),
    }


@pytest.fixture(scope="module")
def registry_outcomes(tmp_path_factory) -> dict:
    """``passing-sbp`` version 1 with alias ``challenger`` in a SQLite registry; every registry case run
    against it in this process, with the registry's state before and after."""
    from evaluation.registry import load_registered
    from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run, use_store

    settings = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path_factory.mktemp("registry"))})
    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    with start_run(settings, RETRAINING_EXPERIMENT, "reliability") as run:
        mlflow.log_text("a stand-in for a model", "model/README.txt")
    client.create_registered_model("passing-sbp")
    version = client.create_model_version("passing-sbp", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("passing-sbp", "challenger", version.version)
    before = _registry_state(mlflow)
    errors = {}
    for case in REGISTRY_CASES:
        try:
            load_registered(settings, case.how.name, case.how.alias)
            errors[case.id] = None
        except ValueError as err:
            errors[case.id] = str(err)
    return {"errors": errors, "before": before, "after": _registry_state(mlflow)}


@pytest.mark.parametrize("case", REGISTRY_CASES, ids=lambda c: c.id)
def test_registry_case(case, registry_outcomes):
    error = registry_outcomes["errors"][case.id]
    assert error is not None, f"{case.id}: loaded a model"
    missing = [part for part in case.expect if part not in error]
    assert not missing, f"{case.id}: the message lacks {missing}\n{error}"
    assert registry_outcomes["after"] == registry_outcomes["before"]
    assert registry_outcomes["before"]["models"] == {"passing-sbp": [("challenger", "1")]}


# --- the catalogue itself and the docs -------------------------------------------------------------------

def test_the_catalogue_covers_the_issues_kinds_with_unique_ids():
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = {c.kind for c in CASES}
    assert not set(REQUIRED_KINDS) - kinds, set(REQUIRED_KINDS) - kinds
    assert len(kinds) >= 15
    for case in CASES:
        assert case.expect and all(case.expect), case.id


def _defined_tests(path: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}


def test_every_scenario_of_the_figures_names_an_existing_test():
    tests = [render_table.test_of(c) for c in CASES] + [t for s in OTHER_SCENARIOS for t in s.tests]
    for test in tests:
        path, _, function = test.partition("::")
        assert (PROJECT_ROOT / path).is_file(), test
        assert function in _defined_tests(PROJECT_ROOT / path), test
    for s in OTHER_SCENARIOS:
        assert s.tests and 0 <= s.caught <= s.tried and s.lost == 0, s


def test_docs_tables_are_rendered_from_the_catalogue():
    found = render_table.read_blocks(render_table.DOC.read_text())
    for name, expected in render_table.blocks().items():
        assert found[name] is not None, f"{render_table.DOC}: no <!-- generated:{name} --> block"
        diff = "\n".join(difflib.unified_diff(found[name].splitlines(), expected.splitlines(), "docs", "catalogue",
                                              lineterm=""))
        assert found[name] == expected, (f"docs/reliability.md's {name} table is stale; regenerate it with "
                                         f"`.venv/bin/python -m tests.reliability.render_table --write`:\n{diff}")
