"""Registration gates: a trained model is registered only when the test metrics of its training run
pass every gate of its kind (thresholds and their reasons: ``conf/gates.yaml``).

    report = check_gates(settings, "passing", run_id)    # raises GateFailed when a gate fails
    log_gate_report(report)                              # gate.<name>.passed etc. on the active run

| model | gate | value (from the run's metrics) | passes when |
|---|---|---|---|
| passing | ``sbp_nll_below_gaussian`` | ``test.sbp.nll − test.gaussian.nll`` | ``< sbp_nll_minus_gaussian_max`` |
| passing | ``pit_ks`` | ``test.sbp.pit_ks`` | ``≤ pit_ks_max`` |
| passing | ``coverage_90`` | ``test.sbp.coverage_90`` | ``lo ≤ value ≤ hi`` |
| passing | ``mae_vs_best_baseline`` | ``test.sbp.mae_median / min(gaussian, xgboost)`` | ``≤ mae_ratio_max`` |
| ghosting | ``ade_vs_constant_velocity`` | ``test.model.ade / test.constant_velocity.ade`` | ``≤ ade_ratio_max`` |
| ghosting | ``composite_observed`` | ``composite.observed`` | ``< composite_observed_max`` |
| ghosting | ``composite_model_vs_observed`` | ``|model − observed| / |observed|`` (``composite.*``) | ``≤ composite_tolerance`` |

A value that is not finite fails its gate whatever the threshold (an infinite NLL: MLflow stores
±inf as ±1.8e308, read back here as ±inf; a NaN).  A missing metric is a ValueError.  The thresholds are ``defaults`` ← the settings' profile ← ``TRACKFLOW_GATES__MODEL__KEY``
environment variables ← ``overrides`` (``{"passing": {"pit_ks_max": 0.03}}`` or
``{"passing.pit_ks_max": 0.03}``).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.config import (
    PROJECT_ROOT,
    ConfigError,
    Settings,
    env_overrides,
    read_yaml,
    validation_problems,
)

DEFAULT_GATES_CONFIG = PROJECT_ROOT / "conf" / "gates.yaml"
GATES_ENV_PREFIX = "TRACKFLOW_GATES__"  # not TRACKFLOW__: those are keys of conf/trackflow.yaml
MODELS = ("passing", "ghosting")
STAGES = {"passing": "train_passing", "ghosting": "train_ghosting"}  # the training run's stage tag

Model = Literal["passing", "ghosting"]


# --- configuration ------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PassingGates(_Strict):
    sbp_nll_minus_gaussian_max: float
    pit_ks_max: float = Field(ge=0.0)
    pit_ks_alpha: float = Field(ge=0.0, lt=1.0)
    coverage_90: tuple[float, float]
    mae_ratio_max: float = Field(gt=0.0)

    @field_validator("coverage_90")
    @classmethod
    def _interval(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= value[0] <= value[1] <= 1.0:
            raise ValueError(f"expected [lo, hi] with 0 <= lo <= hi <= 1, got {list(value)}")
        return value


class GhostingGates(_Strict):
    ade_ratio_max: float = Field(gt=0.0)
    composite_observed_max: float
    composite_tolerance: float = Field(ge=0.0)


class GatesConfig(_Strict):
    passing: PassingGates
    ghosting: GhostingGates


def load_gates_config(settings: Settings, path: str | Path = DEFAULT_GATES_CONFIG,
                      overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
                      ) -> GatesConfig:
    """The gate thresholds for ``settings.profile``: ``defaults`` ← the profile (when ``path`` has
    one) ← ``TRACKFLOW_GATES__…`` variables of ``environ`` (default: the process environment) ←
    ``overrides``.  Errors name the file (or the variable) and the key."""
    path = Path(path)
    raw = read_yaml(path, "gates config")
    if not isinstance(raw, dict) or not isinstance(raw.get("defaults"), dict):
        raise ConfigError(f"gates config {path}: expected a mapping with a 'defaults' section")
    unknown = sorted(set(raw) - {"defaults", "profiles"})
    if unknown:
        raise ConfigError(f"gates config {path}: unknown top-level key {unknown[0]!r}; "
                          "expected 'defaults' and 'profiles'")
    profiles = raw.get("profiles") or {}
    known = _known_profiles(settings)
    strangers = sorted(p for p in profiles if known and p not in known)
    if strangers:
        raise ConfigError(f"gates config {path}: profile {strangers[0]!r} is not a profile of "
                          f"{settings.config_file} ({', '.join(sorted(known))})")
    merged = _merge(raw["defaults"], profiles.get(settings.profile) or {}, f"gates config {path} profile "
                    f"{settings.profile!r}")
    env = dict(os.environ if environ is None else environ)
    merged = _merge(merged, env_overrides(env, GATES_ENV_PREFIX), f"environment ({GATES_ENV_PREFIX}…)")
    merged = _merge(merged, _dotted_tree(overrides or {}), "gate overrides")
    try:
        return GatesConfig(**merged)
    except ValidationError as err:
        raise ConfigError(f"gates config {path}, profile {settings.profile!r}:{validation_problems(err)}") from None


def _known_profiles(settings: Settings) -> set[str]:
    try:
        return set((read_yaml(settings.config_file, "config file") or {}).get("profiles") or {})
    except ConfigError:
        return set()


def _merge(base: dict, override: dict, where: str, prefix: str = "") -> dict:
    if not isinstance(override, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the section'} must be a mapping, got {override!r}")
    out = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key {prefix + str(key)!r}; known keys: "
                              f"{', '.join(prefix + k for k in sorted(base))}")
        if isinstance(base[key], dict):
            out[key] = _merge(base[key], value, where, f"{prefix}{key}.")
        else:
            out[key] = value
    return out


def _dotted_tree(overrides: dict[str, Any]) -> dict:
    tree: dict = {}
    for key, value in overrides.items():
        *parents, last = str(key).split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict):
            node.setdefault(last, {}).update(_dotted_tree(value))
        else:
            node[last] = value
    return tree


# --- the report ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    name: str
    value: float
    threshold: float | tuple[float, float]
    rule: str  # how value meets threshold: "<", "<=" or "in" (inclusive interval)
    passed: bool
    description: str  # what value is, from which metrics

    @property
    def threshold_text(self) -> str:
        if self.rule == "in":
            return f"[{self.threshold[0]:g}, {self.threshold[1]:g}]"
        return f"{self.threshold:g}"

    def describe(self) -> str:
        """``pit_ks: 0.0812 (test.sbp.pit_ks) must be <= 0.05 — failed``"""
        must = f"lie in {self.threshold_text}" if self.rule == "in" else f"be {self.rule} {self.threshold_text}"
        verdict = "passed" if self.passed else ("failed: not finite" if not math.isfinite(self.value) else "failed")
        return f"{self.name}: {self.value:.6g} ({self.description}) must {must} — {verdict}"


@dataclass
class GateReport:
    model: str
    run_id: str
    profile: str
    gates: list[Gate] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def failures(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]

    def gate(self, name: str) -> Gate:
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"{self.model} gates have no gate {name!r}; gates: {', '.join(g.name for g in self.gates)}")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"gate": g.name, "value": g.value, "rule": g.rule, "threshold": g.threshold_text,
                              "passed": g.passed, "description": g.description} for g in self.gates])

    def summary(self) -> str:
        head = f"{self.model} gates of run {self.run_id} (profile {self.profile}): " + (
            "all passed" if self.passed else f"{len(self.failures)} of {len(self.gates)} failed")
        return "\n".join([head, *("  " + g.describe() for g in self.gates)])


class GateFailed(Exception):
    """At least one gate failed; ``report`` holds every gate.  The message names the failed gates
    with their values and thresholds, and the run."""

    def __init__(self, report: GateReport):
        self.report = report
        failed = "; ".join(g.describe() for g in report.failures) or "no gates were checked"
        super().__init__(f"{report.model} model of run {report.run_id} failed {len(report.failures)} of "
                         f"{len(report.gates)} gate(s) (profile {report.profile}, conf/gates.yaml): {failed}")


# --- checking a run -----------------------------------------------------------------------------

def check_gates(settings: Settings, model: Model, run_id: str, overrides: dict[str, Any] | None = None,
                config_path: str | Path = DEFAULT_GATES_CONFIG, raise_on_failure: bool = True) -> GateReport:
    """The gates of ``model`` ("passing" or "ghosting") on the metrics of training run ``run_id``.
    Raises ``GateFailed`` (with the report) when a gate fails, unless ``raise_on_failure`` is False."""
    if model not in MODELS:
        raise ValueError(f"gates: model {model!r} is not one of {MODELS}")
    cfg = load_gates_config(settings, config_path, overrides)
    metrics = _run_metrics(settings, model, run_id)
    gates = _passing_gates(cfg.passing, metrics) if model == "passing" else _ghosting_gates(cfg.ghosting, metrics)
    report = GateReport(model=model, run_id=run_id, profile=settings.profile, gates=gates)
    if raise_on_failure and not report.passed:
        raise GateFailed(report)
    return report


def _run_metrics(settings: Settings, model: str, run_id: str) -> _Metrics:
    from pipelines.mlflow_runs import use_store

    mlflow = use_store(settings)
    from mlflow.exceptions import MlflowException

    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except MlflowException as err:  # an unknown run id
        raise ValueError(f"{model} gates: run {run_id!r} is not in {settings.mlflow_tracking_uri} "
                         f"({type(err).__name__})") from None
    stage = run.data.tags.get("stage")
    if stage is not None and stage != STAGES[model]:
        raise ValueError(f"{model} gates: run {run_id} is a {stage!r} run, expected a {STAGES[model]!r} run")
    return _Metrics(run_id, model, dict(run.data.metrics), dict(run.data.params))


class _Metrics:
    def __init__(self, run_id: str, model: str, values: dict[str, float], params: dict[str, str] | None = None):
        self.run_id, self.model, self.values, self.params = run_id, model, values, params or {}

    def count(self, param: str) -> int:
        """A count the run logged as a param (e.g. ``plays.test``)."""
        try:
            return int(self.params[param])
        except (KeyError, ValueError):
            raise ValueError(f"{self.model} gates: run {self.run_id} has no whole-number param {param!r}; is it a "
                             f"finished {STAGES[self.model]!r} run?") from None

    def __getitem__(self, key: str) -> float:
        if key not in self.values:
            raise ValueError(f"{self.model} gates: run {self.run_id} has no metric {key!r}; is it a "
                             f"finished {STAGES[self.model]!r} run?")
        value = float(self.values[key])
        # MLflow stores ±inf as ±float max (1.8e308): read it back as the infinity it was
        return math.copysign(math.inf, value) if abs(value) >= sys.float_info.max else value


def _gate(name: str, value: float, threshold, rule: str, description: str) -> Gate:
    value = float(value)
    finite = math.isfinite(value)
    if rule == "<":
        ok = finite and value < threshold
    elif rule == "<=":
        ok = finite and value <= threshold
    elif rule == "in":
        ok = finite and threshold[0] <= value <= threshold[1]
    else:
        raise ValueError(f"gate {name}: unknown rule {rule!r}")
    return Gate(name, value, tuple(threshold) if rule == "in" else float(threshold), rule, bool(ok), description)


def _ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return math.nan
    return a / b


def ks_critical_value(n: int, alpha: float) -> float:
    """The KS distance a perfectly calibrated model exceeds with probability ``alpha`` on ``n``
    plays (the exact one-sample distribution; 0 when ``alpha`` is 0)."""
    from scipy.stats import kstwo

    return float(kstwo.ppf(1.0 - alpha, n)) if alpha > 0 and n > 0 else 0.0


def _passing_gates(cfg: PassingGates, m: _Metrics) -> list[Gate]:
    best = min(m["test.gaussian.mae_median"], m["test.xgboost.mae_median"])
    n_test = m.count("plays.test")
    ks_limit = max(cfg.pit_ks_max, ks_critical_value(n_test, cfg.pit_ks_alpha))
    return [
        _gate("sbp_nll_below_gaussian", m["test.sbp.nll"] - m["test.gaussian.nll"], cfg.sbp_nll_minus_gaussian_max, "<",
              "test.sbp.nll − test.gaussian.nll"),
        _gate("pit_ks", m["test.sbp.pit_ks"], ks_limit, "<=",
              f"test.sbp.pit_ks; limit max(pit_ks_max {cfg.pit_ks_max:g}, KS critical value at α {cfg.pit_ks_alpha:g} "
              f"for {n_test} test plays)"),
        _gate("coverage_90", m["test.sbp.coverage_90"], cfg.coverage_90, "in", "test.sbp.coverage_90"),
        _gate("mae_vs_best_baseline", _ratio(m["test.sbp.mae_median"], best), cfg.mae_ratio_max, "<=",
              "test.sbp.mae_median / min(test.gaussian.mae_median, test.xgboost.mae_median)"),
    ]


def _ghosting_gates(cfg: GhostingGates, m: _Metrics) -> list[Gate]:
    observed, model = m["composite.observed"], m["composite.model"]
    return [
        _gate("ade_vs_constant_velocity", _ratio(m["test.model.ade"], m["test.constant_velocity.ade"]),
              cfg.ade_ratio_max, "<=", "test.model.ade / test.constant_velocity.ade"),
        _gate("composite_observed", observed, cfg.composite_observed_max, "<", "composite.observed"),
        _gate("composite_model_vs_observed", _ratio(abs(model - observed), abs(observed)), cfg.composite_tolerance,
              "<=", "|composite.model − composite.observed| / |composite.observed|"),
    ]


# --- logging ------------------------------------------------------------------------------------

def log_gate_report(report: GateReport, run_id: str | None = None) -> str:
    """Log ``report`` to run ``run_id`` (default: the active run): metrics ``gate.<name>.passed``
    (1/0) and ``gate.<name>.value`` (left out when not finite), ``gate.passed``, the tag
    ``gates.<model>`` = passed/failed, and the table as ``gates/<model>_gates.csv`` and ``.md``.
    Returns the run id."""
    import mlflow

    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise ValueError(f"log_gate_report: no active MLflow run to log the {report.model} gates of run "
                             f"{report.run_id} to; pass run_id")
        run_id = active.info.run_id
    client = mlflow.MlflowClient()
    metrics = {f"gate.{report.model}.{g.name}.passed": float(g.passed) for g in report.gates}
    metrics |= {f"gate.{report.model}.{g.name}.value": g.value for g in report.gates if math.isfinite(g.value)}
    metrics[f"gate.{report.model}.passed"] = float(report.passed)
    from mlflow.entities import Metric, RunTag

    now = _now_ms()
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     tags=[RunTag(f"gates.{report.model}", "passed" if report.passed else "failed"),
                           RunTag(f"gates.{report.model}.run_id", report.run_id)])
    table = report.to_frame()
    client.log_text(run_id, table.to_csv(index=False), f"gates/{report.model}_gates.csv")
    client.log_text(run_id, report.summary() + "\n\n" + table.to_markdown(index=False, floatfmt=".6g") + "\n",
                    f"gates/{report.model}_gates.md")
    return run_id


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
