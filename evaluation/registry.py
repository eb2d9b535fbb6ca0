"""Registration in the MLflow model registry: a training run whose gates passed becomes a new version
of ``passing-sbp`` or ``ghosting-db`` with alias ``challenger``; ``champion`` moves to it only when it
beats the current champion on the same evaluation set.

    report = check_gates(settings, "passing", run_id)          # evaluation.gates; raises when a gate fails
    registration = register(settings, "passing", run_id, report, tags={"airflow.run_id": …})
    model = load_registered(settings, "passing-sbp", "champion")   # a pyfunc model

``register``:

1. refuses (``GateFailed``) unless ``report`` passed, and is for this model and run;
2. evaluates the run's model bundle and, when there is one, the current champion's bundle on the
   run's evaluation set (``<passing|ghosting>/evaluation_set.parquet``: the keys of its test plays
   or samples), each reading the feature table with its *own* feature list.  Primary metric, lower
   is better: passing = the SBP's NLL of the actual yards, ghosting = ADE (yards).  Nothing is
   logged or registered before both evaluations succeeded;
3. logs the pyfunc model (``training.pyfunc_models``, signature and input example from a few rows
   of that evaluation set) into the training run, registers it as a new version with tags
   ``validation_status=passed``, ``source_run_id``, ``gate.<name>`` (value) and
   ``gate.<name>.threshold``, ``evaluation.*`` and the caller's ``tags``;
4. points ``challenger`` at it, and ``champion`` too when there is no champion or the new version is
   strictly better (a tie keeps the champion).  Every alias move is recorded on the versions as
   tags: ``alias.<alias>.assigned_at`` on the new holder, ``alias.<alias>.removed_at`` (and
   ``alias.<alias>.replaced_by``) on the previous one; ``champion_comparison`` on the new version
   (and ``alias.champion.removed_reason`` on a replaced champion) gives both values.

A retried registration of the same run (an Airflow retry) reuses the version it created: its tags
are set again and the aliases decided again, without a second version.

Registrations of one registered model take turns (``registry_lock``): from finding the run's
version and the current champion to the last alias move, one ``register`` at a time holds the
model's lock, so two registrations racing (two DAG runs, a retry overlapping its first attempt)
cannot both compare against the same old champion and leave ``champion`` on the worse of the two,
nor both create a version for one run.  The lock is a file beside the SQLite store (or under
``paths.mlflow_db``'s folder when a tracking server is configured): it orders registrations made
from this machine; registrations from several machines against one tracking server need the
server side to order them.

The champion may have been trained on some of these plays (a run over the same weeks splits them
into other train and test games), which favours it: a challenger must then be clearly better.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from evaluation.gates import GateFailed, GateReport
from pipelines.config import Settings
from pipelines.mlflow_runs import load_run_artifact, use_store

REGISTERED_NAMES = {"passing": "passing-sbp", "ghosting": "ghosting-db"}
CHAMPION, CHALLENGER = "champion", "challenger"
PRIMARY_METRIC = {"passing": "sbp_nll", "ghosting": "ade"}  # on the evaluation set; lower is better
EXAMPLE_ROWS = 3  # rows of the evaluation set logged as the pyfunc's input example


@dataclass
class Registration:
    model: str  # "passing" or "ghosting"
    name: str  # the registered model
    version: str
    run_id: str  # the training run the version was logged into
    model_uri: str  # models:/<name>/<version>
    metric: str  # PRIMARY_METRIC[model]
    value: float  # the new version's metric on the evaluation set
    champion_value: float | None  # the previous champion's on the same set (None: there was none)
    previous_champion: str | None  # its version
    champion_moved: bool
    evaluation_rows: int
    aliases: list[str] = field(default_factory=list)  # of the new version after registration


# --- evaluation sets --------------------------------------------------------------------------------

def _spec(model: str):
    """``(stage, model artifact, evaluation-set artifact, bundle class)`` of the training run."""
    if model == "passing":
        from training import train_passing as t
        from training.passing_model import PassingModel

        return t.ARTIFACT_DIR, "train_passing", f"{t.ARTIFACT_DIR}/{t.MODEL_FILES['sbp']}", \
            f"{t.ARTIFACT_DIR}/{t.EVALUATION_SET_FILE}", list(t.EVALUATION_KEYS), PassingModel
    if model == "ghosting":
        from training import train_ghosting as t
        from training.ghosting_model import GhostingModel

        return t.ARTIFACT_DIR, t.STAGE, f"{t.ARTIFACT_DIR}/{t.MODEL_FILE}", \
            f"{t.ARTIFACT_DIR}/{t.EVALUATION_SET_FILE}", list(t.EVALUATION_KEYS), GhostingModel
    raise ValueError(f"registry: model {model!r} is not one of {tuple(REGISTERED_NAMES)}")


def load_evaluation_set(settings: Settings, model: str, run_id: str) -> pd.DataFrame:
    """The keys of the test plays (passing) or samples (ghosting) logged by training run ``run_id``."""
    _, stage, _, artifact, keys, _ = _spec(model)
    frame, _ = load_run_artifact(settings, stage, artifact, pd.read_parquet, run_id)
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"run {run_id}: {artifact} has no column(s) {missing}; expected {keys}")
    if frame.empty:
        raise ValueError(f"run {run_id}: {artifact} is empty: no test rows to compare models on")
    return frame[keys].reset_index(drop=True)


def _rows(context: pd.DataFrame, keys: pd.DataFrame, where: str) -> np.ndarray:
    """Positions in ``context`` of the rows of ``keys`` (all of them, in their order)."""
    names = list(keys.columns)
    table = context[names].reset_index(drop=True).assign(_row=np.arange(len(context)))
    if table.duplicated(names).any():
        raise ValueError(f"{where}: key {names} repeats; rebuild the features")
    found = keys.merge(table, on=names, how="left")
    lost = found["_row"].isna()
    if lost.any():
        raise ValueError(f"{where}: {int(lost.sum())} of {len(keys)} evaluation rows are not in the feature table, "
                         f"e.g. {keys[lost.to_numpy()].head(3).to_dict('records')}; rebuild the features of "
                         "those weeks or compare on a newer run")
    return found["_row"].to_numpy(dtype=np.int64)


def evaluate_passing(settings: Settings, bundle, keys: pd.DataFrame, example_rows: int = 0
                     ) -> tuple[np.ndarray, pd.DataFrame | None]:
    """``(per-play NLL of the actual yards under the SBP ``bundle``, pyfunc input example)`` on the
    plays ``keys`` (season, week, game_id, play_id), read from ``lake/features/passing`` with the
    bundle's own features."""
    from evaluation.passing_metrics import nll
    from training.passing import load_passing_data
    from training.pyfunc_models import passing_example

    if bundle.head != "sbp":
        raise ValueError(f"passing registry: expected an SBP network, got head {bundle.head!r}")
    values, example = [], None
    for season, part in keys.groupby("season", sort=True):
        weeks = sorted(int(w) for w in part["week"].unique())
        data = load_passing_data(settings, int(season), weeks, features=list(bundle.features))
        rows = _rows(data.context, part.reset_index(drop=True),
                     f"passing feature table (season {season}, weeks {weeks})")
        seq, lengths, static, y = data.seq[rows], data.lengths[rows], data.static_raw[rows], data.y[rows]
        values.append(np.asarray(nll(bundle.distribution(seq, lengths, static), y, reduction="none"), dtype=np.float64))
        if example is None and example_rows:
            k = slice(0, example_rows)
            example = passing_example(bundle, seq[k], lengths[k], static[k], y[k])
    return np.concatenate(values), example


def evaluate_ghosting(settings: Settings, bundle, keys: pd.DataFrame, example_rows: int = 0
                      ) -> tuple[np.ndarray, pd.DataFrame | None]:
    """``(per-sample ADE of ``bundle``, pyfunc input example)`` on the samples ``keys`` (season, week,
    game_id, play_id, nfl_id), read from ``lake/features/ghosting`` with the bundle's own features."""
    from evaluation.ghosting_metrics import ade
    from training.ghosting_data import load_ghosting_data
    from training.pyfunc_models import ghosting_columns

    values, example = [], None
    for season, part in keys.groupby("season", sort=True):
        weeks = sorted(int(w) for w in part["week"].unique())
        data = load_ghosting_data(settings, int(season), weeks, features=list(bundle.features))
        rows = _rows(data.frame, part.reset_index(drop=True),
                     f"ghosting feature table (season {season}, weeks {weeks})")
        frame = data.frame.iloc[rows].reset_index(drop=True)
        values.append(np.asarray(ade(bundle.predict(frame), data.future[rows], reduction="none"), dtype=np.float64))
        if example is None and example_rows:  # rows the pyfunc accepts: a known release state
            usable = frame[ghosting_columns(bundle)]
            usable = usable[usable[["x_0", "y_0", "vx_0", "vy_0"]].notna().all(axis=1)]
            example = usable.head(example_rows).reset_index(drop=True)
    return np.concatenate(values), example


EVALUATORS = {"passing": evaluate_passing, "ghosting": evaluate_ghosting}


def _mean(values: np.ndarray) -> float:
    """The mean, +inf when any value is infinite or NaN (such a model cannot win)."""
    return float(values.mean()) if len(values) and np.isfinite(values).all() else math.inf


# --- registration -----------------------------------------------------------------------------------

def register(settings: Settings, model: str, run_id: str, gate_report: GateReport,
             tags: dict[str, str] | None = None) -> Registration:
    """Register the ``model`` ("passing" or "ghosting") of training run ``run_id`` (module docstring)."""
    import mlflow

    _, stage, model_artifact, _, _, bundle_class = _spec(model)
    if not isinstance(gate_report, GateReport):
        raise TypeError(f"register: gate_report must be an evaluation.gates.GateReport, "
                        f"got {type(gate_report).__name__}")
    if gate_report.model != model or gate_report.run_id != run_id:
        raise ValueError(f"register {model} run {run_id}: the gate report is for the {gate_report.model} model of "
                         f"run {gate_report.run_id}")
    if not gate_report.passed:
        raise GateFailed(gate_report)
    use_store(settings)
    client = mlflow.MlflowClient()
    name = REGISTERED_NAMES[model]
    keys = load_evaluation_set(settings, model, run_id)
    evaluate = EVALUATORS[model]
    challenger, _ = load_run_artifact(settings, stage, model_artifact, bundle_class.load, run_id)
    values, example = evaluate(settings, challenger, keys, example_rows=EXAMPLE_ROWS)
    value = _mean(values)
    with registry_lock(settings, name):  # what is read from the registry from here on stays true
        return _register_version(settings, client, model, run_id, gate_report, tags, keys, value, example)


def version_of_retraining(settings: Settings, model: str, retraining_run_id: str) -> str | None:
    """The version of ``model`` that the retraining (DAG) run ``retraining_run_id`` registered, or
    None: a DAG run registers at most one version per model, so that running it again (a cleared
    run, the same logical date again) does not add a second one."""
    import mlflow

    use_store(settings)
    name = REGISTERED_NAMES[model]
    found = mlflow.MlflowClient().search_model_versions(
        f"name = '{name}' and tags.retraining_run_id = '{retraining_run_id}'")
    return str(min(int(v.version) for v in found)) if found else None


def version_of_training(settings: Settings, model: str, train_run_id: str) -> str | None:
    """The version of ``model`` registered from training run ``train_run_id``, or None."""
    import mlflow

    use_store(settings)
    version = _version_of_run(mlflow.MlflowClient(), REGISTERED_NAMES[model], train_run_id)
    return str(version.version) if version is not None else None


def registry_lock(settings: Settings, name: str):
    """The lock one registration of registered model ``name`` holds (module docstring)."""
    from pipelines.locks import file_lock

    return file_lock(settings.paths.mlflow_db.parent / f".registry-{name}.lock", f"registering {name}")


def _register_version(settings: Settings, client, model: str, run_id: str, gate_report: GateReport,
                      tags: dict[str, str] | None, keys: pd.DataFrame, value: float,
                      example: pd.DataFrame | None) -> Registration:
    """``register``'s steps 2 (the champion's side) to 4, under the registry lock."""
    import mlflow

    _, _, model_artifact, eval_artifact, _, _ = _spec(model)
    name, metric, evaluate = REGISTERED_NAMES[model], PRIMARY_METRIC[model], EVALUATORS[model]
    existing = _version_of_run(client, name, run_id)  # a retried registration: reuse its version
    champion = _holder(client, name, CHAMPION)
    if champion is not None and existing is not None and str(champion.version) == str(existing.version):
        champion = None  # it is the champion already: nothing to compare, nothing moves
        already_champion = True
    else:
        already_champion = False
    champion_value = None
    if champion is not None:
        champion_value = _mean(evaluate(settings, _registered_bundle(name, champion.version), keys)[0])
    moved = not already_champion and (champion is None or value < champion_value)

    # nothing was written before this point
    version_tags = {"validation_status": "passed", "source_run_id": run_id, "model_kind": model,
                    "gates.profile": gate_report.profile,
                    **{f"gate.{g.name}": f"{g.value:.6g}" for g in gate_report.gates},
                    **{f"gate.{g.name}.threshold": f"{g.rule} {g.threshold_text}" for g in gate_report.gates},
                    "evaluation.metric": metric, f"evaluation.{metric}": f"{value:.6g}",
                    "evaluation.rows": str(len(keys)), "evaluation.set": f"runs:/{run_id}/{eval_artifact}",
                    **{str(k): str(v) for k, v in (tags or {}).items()}}
    if existing is None:
        with tempfile.TemporaryDirectory() as tmp, _in_run(run_id):
            info = _log_pyfunc_from(model, artifact=model_artifact, run_id=run_id, example=example, name=name,
                                    tmp=tmp)
        version = str(mlflow.register_model(info.model_uri, name, tags=version_tags).version)
    else:
        version = str(existing.version)
        for key, text in version_tags.items():
            client.set_model_version_tag(name, version, key, text)
    where = f"{metric} on the {len(keys)} evaluation rows of run {run_id}"
    if already_champion:
        comparison = None  # recorded by the attempt that made it champion
    elif champion is None:
        comparison = f"{where}: v{version} {value:.6g}; no champion before: v{version} becomes champion"
    else:
        verdict = (f"champion moves from v{champion.version} to v{version}" if moved
                   else f"v{champion.version} stays champion (lower is better; a tie keeps it)")
        comparison = f"{where}: challenger v{version} {value:.6g} vs champion v{champion.version} " \
                     f"{champion_value:.6g}: {verdict}"
    if comparison is not None:
        client.set_model_version_tag(name, version, "champion_comparison", comparison)
    _move_alias(client, name, CHALLENGER, version)
    if moved:
        _move_alias(client, name, CHAMPION, version)
        if champion is not None:
            client.set_model_version_tag(name, champion.version, "alias.champion.removed_reason", comparison)
    aliases = sorted(client.get_model_version(name, version).aliases)
    return Registration(model=model, name=name, version=version, run_id=run_id, model_uri=f"models:/{name}/{version}",
                        metric=metric, value=value, champion_value=champion_value,
                        previous_champion=None if champion is None else str(champion.version), champion_moved=moved,
                        evaluation_rows=len(keys), aliases=aliases)


def load_registered(settings: Settings, name: str, alias: str = CHAMPION):
    """The pyfunc model ``models:/<name>@<alias>`` of the project's registry (``name`` may also be the
    kind: "passing" or "ghosting")."""
    import mlflow

    name = REGISTERED_NAMES.get(name, name)
    use_store(settings)
    client = mlflow.MlflowClient()
    if _holder(client, name, alias) is None:
        raise ValueError(f"registered model {name!r} has no version with alias {alias!r} in "
                         f"{settings.mlflow_tracking_uri}; {_what_there_is(client, name)}; register one first "
                         "(evaluation.registry.register)")
    return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")


def _what_there_is(client, name: str) -> str:
    """The aliases ``name`` has, or the registered models when there is no ``name``: for an error message."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models())
        return f"no model {name!r} is registered (registered: {', '.join(names) or 'none'})"
    held = ", ".join(f"{a} (version {v})" for a, v in sorted(aliases.items()))
    return f"its aliases: {held}" if held else "it has no aliases"


# --- helpers ----------------------------------------------------------------------------------------

def _holder(client, name: str, alias: str):
    """The version of ``name`` holding ``alias``, or None (also when ``name`` is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _registered_bundle(name: str, version: str):
    """The model bundle inside registered version ``version`` of ``name`` (its pyfunc's artifact)."""
    import mlflow

    wrapper = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    return wrapper.model


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _move_alias(client, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``, recording the move as version tags on both holders."""
    previous = _holder(client, name, alias)
    now = _now()
    if previous is not None and str(previous.version) == version:
        return
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, f"alias.{alias}.assigned_at", now)
    if previous is not None:
        client.set_model_version_tag(name, previous.version, f"alias.{alias}.removed_at", now)
        client.set_model_version_tag(name, previous.version, f"alias.{alias}.replaced_by", version)


@contextlib.contextmanager
def _in_run(run_id: str):
    """Run ``run_id`` as MLflow's active run for the block: reopened (nested under an active run of
    another id), or the active run itself."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield active
        return
    with mlflow.start_run(run_id=run_id, nested=active is not None) as run:
        yield run


def _version_of_run(client, name: str, run_id: str):
    """The oldest version of ``name`` registered from run ``run_id`` by ``register``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    found = [v for v in found if v.tags.get("source_run_id") == run_id]
    return min(found, key=lambda v: int(v.version)) if found else None


def _log_pyfunc_from(model: str, artifact: str, run_id: str, example: pd.DataFrame, name: str, tmp: str):
    """Download the bundle ``artifact`` of ``run_id`` into ``tmp`` and log it as the pyfunc model ``name``."""
    import mlflow

    from training.pyfunc_models import log_pyfunc

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact, dst_path=tmp)
    return log_pyfunc(model, local, example, name)
