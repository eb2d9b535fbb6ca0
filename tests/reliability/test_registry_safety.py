"""Registry safety, beyond ``tests/model/test_registry.py`` (which checks ``register`` itself: a failed
gate report raises and adds no passing version, a worse challenger does not take ``champion``, a
retried ``register`` reuses its version):

* a failing gate moves no alias of any registered model and logs no model, through the stages the
  DAG's tasks call (``gate_stage``; ``register_stage`` run alone, as a cleared or retried task is);
* the DAG's register task run twice for the same training run leaves one version, and the same DAG
  run run again (a new training run under the same parent run) registers no second version;
* registrations racing each other (three processes: two challengers better than the champion, and
  a retry of one of them overlapping its first attempt) take turns under the registry lock and end
  with ``champion`` on the best model and one version per training run.

Real MLflow (SQLite under tmp), real PyTorch bundles, the tiny feature tables of test_registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import mlflow
import pytest

from evaluation.gates import GateFailed, check_gates
from evaluation.registry import CHAMPION, register, registry_lock
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run
from pipelines.retraining import gate_stage, register_stage
from tests.model.test_registry import (
    GOOD_GHOSTING_METRICS,
    GOOD_PASSING_METRICS,
    SEASON,
    ghosting_model,
    ghosting_samples,
    passing_model,
    passing_plays,
    perturbed,
    project_settings,
    training_run,
    write_ghosting_table,
    write_passing_table,
)

WAITING = "another run holds the lock on"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """Feature tables, training runs (their gates pass unless named failing), ``bad`` registered as
    the passing champion, and a parent run for the DAG's stages."""
    home = tmp_path_factory.mktemp("registry_safety")
    settings = project_settings(home)
    good = passing_model()
    plays = passing_plays(good)
    write_passing_table(settings, plays)
    keys = plays.assign(season=SEASON).iloc[::2]
    bundles = {"good": good, "mid": perturbed(good, 0.1, seed=11), "bad": perturbed(good, 0.5, seed=12)}
    runs = {label: training_run(settings, "passing", bundle, keys, GOOD_PASSING_METRICS)
            for label, bundle in bundles.items()}
    runs["failing"] = training_run(settings, "passing", good, keys, {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.2})
    ghost = ghosting_model()
    samples = ghosting_samples(ghost)
    write_ghosting_table(settings, samples)
    ghost_keys = samples.assign(season=SEASON).iloc[1::2]
    runs["ghost"] = training_run(settings, "ghosting", ghost, ghost_keys, GOOD_GHOSTING_METRICS)
    runs["ghost_again"] = training_run(settings, "ghosting", ghost, ghost_keys, GOOD_GHOSTING_METRICS)
    runs["ghost_failing"] = training_run(settings, "ghosting", ghost, ghost_keys,
                                         {**GOOD_GHOSTING_METRICS, "composite.observed": 0.4})
    first = register(settings, "passing", runs["bad"], check_gates(settings, "passing", runs["bad"]))
    assert first.champion_moved and first.version == "1"
    with start_run(settings, RETRAINING_EXPERIMENT, "preseason (test)", tags={"stage": "preseason_retraining"}) as run:
        parent = run.info.run_id
    return {"home": home, "settings": settings, "runs": runs, "parent": parent}


def registry_state(client) -> dict:
    """Every registered model's aliases and every version's aliases and tags."""
    return {m.name: {"aliases": {alias: str(v) for alias, v in m.aliases.items()},
                     "versions": {str(v.version): (sorted(v.aliases), dict(v.tags))
                                  for v in client.search_model_versions(f"name = '{m.name}'")}}
            for m in client.search_registered_models()}


def versions_of(client, name: str, run_id: str) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'")
                  if v.tags.get("source_run_id") == run_id)


def test_a_failing_gate_moves_no_alias_of_any_model_through_the_dag_stages(project):
    settings, runs, parent = project["settings"], project["runs"], project["parent"]
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    before = registry_state(client)
    assert before["passing-sbp"]["aliases"] == {"champion": "1", "challenger": "1"}
    with pytest.raises(GateFailed, match="pit_ks"):
        gate_stage(settings, "passing", runs["failing"], parent)
    # the register task alone (cleared, or retried after its gate task was marked success): gates re-checked
    with pytest.raises(GateFailed, match="pit_ks"):
        register_stage(settings, "passing", runs["failing"], parent)
    with pytest.raises(GateFailed, match="composite_observed"):
        register_stage(settings, "ghosting", runs["ghost_failing"], parent)
    assert registry_state(client) == before  # no version, no alias moved, no tag changed, of any model
    experiment = client.get_experiment_by_name(RETRAINING_EXPERIMENT).experiment_id
    for run_id in (runs["failing"], runs["ghost_failing"]):  # and no pyfunc model logged
        assert mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                           filter_string=f"source_run_id = '{run_id}'") == []


def test_the_register_task_run_twice_for_one_training_run_leaves_one_version(project):
    settings, runs, parent = project["settings"], project["runs"], project["parent"]
    first = register_stage(settings, "ghosting", runs["ghost"], parent)
    again = register_stage(settings, "ghosting", runs["ghost"], parent)  # a retry, or the same DAG run again
    assert again["version"] == first["version"] and first["champion_moved"] and not again["champion_moved"]
    client = mlflow.MlflowClient()
    assert versions_of(client, "ghosting-db", runs["ghost"]) == [first["version"]]
    assert sorted(client.get_model_version("ghosting-db", first["version"]).aliases) == ["challenger", "champion"]


def test_the_same_dag_run_again_registers_no_second_version(project):
    """The DAG run run again trains anew (a new training run) under the same parent run: its register
    task keeps the version the first pass registered and moves no alias."""
    settings, runs, parent = project["settings"], project["runs"], project["parent"]
    client = mlflow.MlflowClient()
    first = register_stage(settings, "ghosting", runs["ghost"], parent)
    before = registry_state(client)
    again = register_stage(settings, "ghosting", runs["ghost_again"], parent)
    assert again == {**first, "champion_moved": False}
    assert registry_state(client) == before
    assert versions_of(client, "ghosting-db", runs["ghost_again"]) == []
    # another DAG run (another parent) registers the same model as a version of its own
    with start_run(settings, RETRAINING_EXPERIMENT, "preseason (test, 2nd)", tags={"stage": "preseason_retraining"}) as run:
        other_parent = run.info.run_id
    other = register_stage(settings, "ghosting", runs["ghost_again"], other_parent)
    assert other["version"] != first["version"]
    assert versions_of(client, "ghosting-db", runs["ghost_again"]) == [other["version"]]


REGISTER = """
import json, sys
from evaluation.gates import check_gates
from evaluation.registry import register
from pipelines.config import load_settings

settings = load_settings("demo")
run_id = sys.argv[1]
done = register(settings, "passing", run_id, check_gates(settings, "passing", run_id))
print(json.dumps({"version": done.version, "moved": done.champion_moved, "value": done.value}))
"""


def test_racing_registrations_end_with_the_best_champion_and_one_version_per_run(project, tmp_path):
    settings, runs = project["settings"], project["runs"]
    client = mlflow.MlflowClient()
    before = registry_state(client)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKFLOW", "AIRFLOW", "MLFLOW"))}
    environ.update(TRACKFLOW_PROFILE="demo", TRACKFLOW__PATHS__HOME=str(project["home"]))
    # mid and good both beat the champion (bad); good twice, as a retry overlapping its first attempt
    racers = [("mid", runs["mid"]), ("good", runs["good"]), ("good again", runs["good"])]
    logs = [tmp_path / f"register-{i}.log" for i in range(len(racers))]
    procs = []
    try:
        # all three have evaluated their model and wait at the decision while the lock is taken:
        # when it is let go, they would all compare against the same champion without it
        with registry_lock(settings, "passing-sbp"):
            for (_, run_id), log in zip(racers, logs):
                with log.open("w") as out:
                    proc = subprocess.Popen([sys.executable, "-", run_id], stdin=subprocess.PIPE, stdout=out,
                                            stderr=subprocess.STDOUT, text=True, env=environ, cwd=tmp_path)
                proc.stdin.write(REGISTER)
                proc.stdin.close()
                procs.append(proc)
            deadline = time.monotonic() + 300
            while not all(WAITING in log.read_text() for log in logs):
                for proc, log in zip(procs, logs):
                    assert proc.poll() is None, f"a registration did not wait for the lock:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "the registrations did not reach the registry lock"
                time.sleep(0.1)
            assert registry_state(client) == before
        results = []
        for proc, log in zip(procs, logs):
            assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
            results.append(json.loads(log.read_text().strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    by = {label: result for (label, _), result in zip(racers, results)}
    assert by["good"]["value"] < by["mid"]["value"]  # the fixture's models: good is the best
    assert by["good"]["version"] == by["good again"]["version"]
    assert versions_of(client, "passing-sbp", runs["good"]) == [by["good"]["version"]]
    assert versions_of(client, "passing-sbp", runs["mid"]) == [by["mid"]["version"]]
    assert len(registry_state(client)["passing-sbp"]["versions"]) == 3  # bad, mid, good
    assert str(client.get_model_version_by_alias("passing-sbp", CHAMPION).version) == by["good"]["version"]
    # whatever the order they went in: good moved champion exactly once, and mid held it at most in between
    assert [by["good"]["moved"], by["good again"]["moved"]].count(True) == 1
    if by["mid"]["moved"]:
        mid = client.get_model_version("passing-sbp", by["mid"]["version"])
        assert mid.tags["alias.champion.replaced_by"] == by["good"]["version"]
