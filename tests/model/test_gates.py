"""Registration gates: thresholds from conf/gates.yaml (defaults, profile, environment, overrides),
checked against the metrics of real MLflow runs; a failure names the gate, value, threshold and run."""

from __future__ import annotations

import math

import mlflow
import pytest

from evaluation.gates import GateFailed, check_gates, load_gates_config, log_gate_report
from pipelines.config import ConfigError, load_settings
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run
from tests.model.test_registry import GOOD_GHOSTING_METRICS, GOOD_PASSING_METRICS


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("gates")


def settings_for(home, profile: str = "season"):  # the season profile keeps every default gate
    return load_settings(profile, environ={"TRACKFLOW__PATHS__HOME": str(home)})


def run_with(settings, stage: str, metrics: dict[str, float], test_rows: int = 2000) -> str:
    # 2,000 test plays: the KS test's critical value (0.036 at α 0.01) is below pit_ks_max
    with start_run(settings, RETRAINING_EXPERIMENT, f"{stage} (test)", tags={"stage": stage}) as run:
        mlflow.log_metrics(metrics)
        mlflow.log_param("plays.test" if stage == "train_passing" else "samples.test", test_rows)
    return run.info.run_id


# --- configuration ------------------------------------------------------------------------------

def test_defaults_profile_environment_and_overrides_stack_in_that_order(home):
    demo = load_gates_config(settings_for(home), environ={})
    assert demo.passing.pit_ks_max == 0.05 and demo.passing.coverage_90 == (0.85, 0.95)
    assert demo.passing.mae_ratio_max == 1.05
    assert load_gates_config(settings_for(home, "demo"), environ={}).passing.mae_ratio_max == 1.25  # its own
    assert demo.ghosting.ade_ratio_max == 0.7
    test = load_gates_config(settings_for(home, "test"), environ={})
    assert test.passing.pit_ks_max == 0.75 and test.ghosting.composite_tolerance == 3.0
    assert test.ghosting.composite_observed_max == demo.ghosting.composite_observed_max  # not named: the default
    env = {"TRACKFLOW_GATES__PASSING__PIT_KS_MAX": "0.01", "TRACKFLOW_GATES__PASSING__COVERAGE_90": "[0.8, 0.99]"}
    from_env = load_gates_config(settings_for(home, "test"), environ=env)
    assert from_env.passing.pit_ks_max == 0.01 and from_env.passing.coverage_90 == (0.8, 0.99)
    both = load_gates_config(settings_for(home, "test"), environ=env, overrides={"passing.pit_ks_max": 0.02,
                                                                                 "ghosting": {"ade_ratio_max": 0.5}})
    assert both.passing.pit_ks_max == 0.02 and both.ghosting.ade_ratio_max == 0.5
    assert both.passing.coverage_90 == (0.8, 0.99)


@pytest.mark.parametrize("kwargs, message", [
    ({"environ": {"TRACKFLOW_GATES__PASSING__PIT_KS": "0.1"}},
     r"unknown key 'passing.pit_ks'; known keys: .*passing.pit_ks_max"),
    ({"overrides": {"ghosting.ade_max": 1}}, r"gate overrides: unknown key 'ghosting.ade_max'"),
    ({"overrides": {"passes": {"pit_ks_max": 1}}}, r"unknown key 'passes'"),
    ({"overrides": {"passing.coverage_90": [0.95, 0.85]}}, r"passing.coverage_90: .*lo <= hi"),
    ({"overrides": {"passing.pit_ks_max": "low"}}, r"passing.pit_ks_max: .*\(got 'low'\)"),
])
def test_bad_thresholds_are_refused_naming_the_key(home, kwargs, message):
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError, match=message):
        load_gates_config(settings_for(home), **kwargs)


def test_a_gates_file_with_an_unknown_key_or_profile_is_refused(home, tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("defaults:\n  passing: {sbp_nll_minus_gaussian_max: 0, pit_ks_max: 0.05, coverage_90: [0.8, 0.9],"
                    " mae_ratio_max: 1, pit_ks_alpha: 0, pit_max: 3}\n  ghosting: {ade_ratio_max: 1, composite_observed_max: 0,"
                    " composite_tolerance: 1}\n")
    with pytest.raises(ConfigError, match=rf"(?s)gates config {path}.*passing.pit_max: Extra inputs"):
        load_gates_config(settings_for(home), path, environ={})
    path.write_text(path.read_text().replace(", pit_max: 3", "") + "profiles:\n  tset: {}\n")
    with pytest.raises(ConfigError, match="profile 'tset' is not a profile of"):
        load_gates_config(settings_for(home), path, environ={})


# --- checking runs ------------------------------------------------------------------------------

def test_good_passing_metrics_pass_every_gate_with_the_values_computed_from_the_run(home):
    settings = settings_for(home)
    run_id = run_with(settings, "train_passing", GOOD_PASSING_METRICS)
    report = check_gates(settings, "passing", run_id)
    assert report.passed and report.run_id == run_id and report.profile == "season"
    assert [g.name for g in report.gates] == ["sbp_nll_below_gaussian", "pit_ks", "coverage_90", "mae_vs_best_baseline"]
    assert report.gate("sbp_nll_below_gaussian").value == pytest.approx(2.5 - 3.4)
    assert report.gate("mae_vs_best_baseline").value == pytest.approx(5.8 / 5.7)  # XGBoost is the best baseline
    assert report.gate("coverage_90").threshold == (0.85, 0.95)


@pytest.mark.parametrize("metric, value, gate, text", [
    ("test.sbp.pit_ks", 0.081, "pit_ks", "for 2000 test plays)) must be <= 0.05 — failed"),
    ("test.sbp.coverage_90", 0.97, "coverage_90", "coverage_90: 0.97 (test.sbp.coverage_90) must lie in [0.85, 0.95]"),
    ("test.sbp.nll", 3.5, "sbp_nll_below_gaussian",
     "sbp_nll_below_gaussian: 0.1 (test.sbp.nll − test.gaussian.nll) must be < 0"),
    ("test.sbp.nll", math.inf, "sbp_nll_below_gaussian", "must be < 0 — failed: not finite"),
    ("test.sbp.mae_median", 6.0, "mae_vs_best_baseline", "mae_vs_best_baseline: 1.05263"),
])
def test_a_failing_passing_gate_raises_naming_gate_value_threshold_and_run(home, metric, value, gate, text):
    settings = settings_for(home)
    run_id = run_with(settings, "train_passing", {**GOOD_PASSING_METRICS, metric: value})
    with pytest.raises(GateFailed) as failed:
        check_gates(settings, "passing", run_id)
    message = str(failed.value)
    assert text in message and f"run {run_id} failed 1 of 4 gate(s)" in message
    report = failed.value.report
    assert [g.name for g in report.failures] == [gate] and not report.passed
    # the same run passes when the threshold is loosened for it
    loose = {"pit_ks": {"passing.pit_ks_max": 0.1}, "coverage_90": {"passing.coverage_90": [0.85, 0.99]},
             "sbp_nll_below_gaussian": {"passing.sbp_nll_minus_gaussian_max": 0.2},
             "mae_vs_best_baseline": {"passing.mae_ratio_max": 1.1}}[gate]
    if math.isfinite(value):
        assert check_gates(settings, "passing", run_id, overrides=loose).passed


def test_the_pit_gate_allows_the_sampling_noise_of_a_small_test_set(home):
    # a calibrated model's KS distance on n plays exceeds kstwo.ppf(1 − α, n) with probability α
    from scipy.stats import kstwo

    settings = settings_for(home)
    limit = kstwo.ppf(0.99, 370)
    assert 0.084 < limit < 0.0845  # ≈ 1.63/√370
    small = run_with(settings, "train_passing", {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.083}, test_rows=370)
    report = check_gates(settings, "passing", small)
    assert report.gate("pit_ks").threshold == pytest.approx(limit) and "for 370 test plays" in report.gate(
        "pit_ks").description
    worse = run_with(settings, "train_passing", {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.09}, test_rows=370)
    with pytest.raises(GateFailed, match=r"pit_ks: 0.09 .* must be <= 0.0841"):
        check_gates(settings, "passing", worse)
    # the same KS on a large test set is no noise: the fixed bound applies, and α = 0 turns the allowance off
    large = run_with(settings, "train_passing", {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.083})
    assert not check_gates(settings, "passing", large, raise_on_failure=False).passed
    assert not check_gates(settings, "passing", small, overrides={"passing.pit_ks_alpha": 0},
                           raise_on_failure=False).passed


def test_an_environment_variable_makes_a_gate_fail(home, monkeypatch):
    settings = settings_for(home)
    run_id = run_with(settings, "train_passing", GOOD_PASSING_METRICS)
    assert check_gates(settings, "passing", run_id).passed
    monkeypatch.setenv("TRACKFLOW_GATES__PASSING__PIT_KS_MAX", "0.01")
    monkeypatch.setenv("TRACKFLOW_GATES__PASSING__PIT_KS_ALPHA", "0")  # no small-sample allowance either
    with pytest.raises(GateFailed, match=r"pit_ks: 0.03 .* must be <= 0.01"):
        check_gates(settings, "passing", run_id)


def test_ghosting_gates(home):
    settings = settings_for(home)
    report = check_gates(settings, "ghosting", run_with(settings, "train_ghosting", GOOD_GHOSTING_METRICS))
    assert report.passed
    assert report.gate("ade_vs_constant_velocity").value == pytest.approx(0.4)
    assert report.gate("composite_model_vs_observed").value == pytest.approx(0.1)  # |−0.18 + 0.2| / 0.2
    bad = run_with(settings, "train_ghosting", {**GOOD_GHOSTING_METRICS, "composite.observed": 0.05,
                                                "test.model.ade": 0.9})
    report = check_gates(settings, "ghosting", bad, raise_on_failure=False)
    assert {g.name for g in report.failures} == {"ade_vs_constant_velocity", "composite_observed",
                                                  "composite_model_vs_observed"}
    assert "failed 3 of 3" in str(GateFailed(report)) and "composite_observed: 0.05" in str(GateFailed(report))


def test_a_run_without_the_metrics_or_of_another_stage_is_refused(home):
    settings = settings_for(home)
    partial = run_with(settings, "train_passing",
                       {k: v for k, v in GOOD_PASSING_METRICS.items() if k != "test.sbp.pit_ks"})
    with pytest.raises(ValueError, match=f"run {partial} has no metric 'test.sbp.pit_ks'"):
        check_gates(settings, "passing", partial)
    ghosting = run_with(settings, "train_ghosting", GOOD_GHOSTING_METRICS)
    with pytest.raises(ValueError, match="is a 'train_ghosting' run, expected a 'train_passing' run"):
        check_gates(settings, "passing", ghosting)
    with pytest.raises(ValueError, match="run 'nope' is not in"):
        check_gates(settings, "ghosting", "nope")
    with pytest.raises(ValueError, match="model 'trajectory'"):
        check_gates(settings, "trajectory", ghosting)


def test_the_report_is_logged_to_a_run(home):
    settings = settings_for(home)
    trained = run_with(settings, "train_passing", {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.2})
    report = check_gates(settings, "passing", trained, raise_on_failure=False)
    with pytest.raises(ValueError, match="no active MLflow run"):
        log_gate_report(report)
    with start_run(settings, RETRAINING_EXPERIMENT, "gates (test)") as run:
        assert log_gate_report(report) == run.info.run_id
    logged = mlflow.MlflowClient().get_run(run.info.run_id)
    assert logged.data.metrics["gate.passing.pit_ks.passed"] == 0.0
    assert logged.data.metrics["gate.passing.coverage_90.passed"] == 1.0
    assert logged.data.metrics["gate.passing.pit_ks.value"] == pytest.approx(0.2)
    assert logged.data.metrics["gate.passing.passed"] == 0.0
    assert logged.data.tags["gates.passing"] == "failed" and logged.data.tags["gates.passing.run_id"] == trained
    table = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/gates/passing_gates.csv")
    assert table.splitlines()[0] == "gate,value,rule,threshold,passed,description"
    assert 'pit_ks,0.2,<=,0.05,False,"test.sbp.pit_ks; limit max(pit_ks_max 0.05' in table
