"""MLflow: the one place that points MLflow at this project's store and opens runs with the
standard tags (see DESIGN.md, "MLflow conventions").

The backend is SQLite at ``paths.mlflow_db`` with artifacts under ``paths.mlflow_artifacts``, both
absolute, so runs started from any working folder land in the same store.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pipelines.config import PROJECT_ROOT, Settings

T = TypeVar("T")

INGEST_EXPERIMENT = "trackflow/ingest"
RETRAINING_EXPERIMENT = "trackflow/preseason-retraining"
# tags a retraining (parent) run hands to every run nested under it (see ``under_parent``)
INHERITED_TAGS = ("data_manifest_hash", "seasons", "weeks", "airflow.dag_id", "airflow.run_id", "device")

# (parent run id, inherited tags) while a stage runs under a retraining run: a DAG task runs each
# stage in its own process, so the parent is named here rather than found as MLflow's active run
_PARENT: contextvars.ContextVar[tuple[str, dict[str, str]] | None] = contextvars.ContextVar("parent", default=None)


def git_sha() -> str:
    """The checked-out commit (with '-dirty' when the tree has changes), or 'unknown' outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def use_store(settings: Settings):
    """Point the mlflow module at the project's tracking store; returns the mlflow module."""
    import mlflow

    if settings.mlflow_is_local:
        settings.paths.mlflow_db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return mlflow


def experiment_id(settings: Settings, name: str) -> str:
    """The id of experiment ``name``, created with an artifact location under the project's root."""
    mlflow = use_store(settings)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # the project's store keeps artifacts under paths.mlflow_artifacts; a tracking server decides itself
    location = f"{settings.mlflow_artifact_root}/{name.replace('/', '_')}" if settings.mlflow_is_local else None
    return client.create_experiment(name, artifact_location=location)


def standard_tags(settings: Settings) -> dict[str, str]:
    return {"git_sha": git_sha(), "config_hash": settings.config_hash(), "profile": settings.profile}


@contextlib.contextmanager
def start_run(settings: Settings, experiment: str, run_name: str, tags: dict[str, str] | None = None,
              nested: bool = False) -> Iterator:
    """An MLflow run with the standard tags: git sha, config hash and profile, plus ``tags``.

    Inside ``under_parent(…)`` with no active run, the run is a child of that parent and carries
    its inherited tags (the run's own ``tags`` win, e.g. its device)."""
    mlflow = use_store(settings)
    parent = _PARENT.get()
    inherited, parent_id = {}, None
    if parent is not None and mlflow.active_run() is None:
        parent_id, inherited = parent
    with mlflow.start_run(experiment_id=experiment_id(settings, experiment), run_name=run_name,
                          tags={**standard_tags(settings), **inherited, **(tags or {})}, nested=nested,
                          parent_run_id=parent_id) as run:
        yield run


@contextlib.contextmanager
def under_parent(settings: Settings, parent_run_id: str) -> Iterator[dict[str, str]]:
    """Runs started with ``start_run`` in this block nest under ``parent_run_id`` and inherit its
    ``INHERITED_TAGS``; yields those tags."""
    mlflow = use_store(settings)
    try:
        parent = mlflow.MlflowClient().get_run(parent_run_id)
    except Exception as err:  # an unknown id
        raise ValueError(f"retraining run {parent_run_id!r} is not in {settings.mlflow_tracking_uri}: "
                         f"{type(err).__name__}") from None
    tags = {k: v for k, v in parent.data.tags.items() if k in INHERITED_TAGS}
    token = _PARENT.set((parent_run_id, tags))
    try:
        yield tags
    finally:
        _PARENT.reset(token)


def log_lake_input(table_root: Path, season: int | list[int], weeks: list[int], context: str = "training") -> str:
    """Record on the active run that it read ``weeks`` of a lake table (``mlflow.log_input``): the
    source is the table's folder, the digest a sha256 over the partitions' files (the same rows give
    the same digest, so runs that trained on the same data can be found by it).  Returns the digest."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    from pipelines.lake import partition_dir, season_list, seasons_label

    h = hashlib.sha256()
    for s, week in ((s, w) for s in season_list(season) for w in weeks):
        for path in sorted(partition_dir(table_root, s, week).rglob("*.parquet")):
            h.update(f"{s}/{week}/{path.name}".encode())
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    digest = h.hexdigest()[:16]
    label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    name = f"{table_root.parent.name}/{table_root.name} {seasons_label(season)} {label}"
    mlflow.log_input(MetaDataset(LocalArtifactDatasetSource(str(table_root)), name=name, digest=digest),
                     context=context, tags={"seasons": ",".join(map(str, season_list(season))),
                                            "weeks": ",".join(map(str, weeks))})
    return digest


RUN_ID_PATTERN = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")  # MLflow's own rule for a run id


def check_run_id(run_id: str, what: str = "run id") -> str:
    """``run_id`` if it can be an MLflow run id, else a ValueError naming it (a path such as
    ``../x`` never reaches the store or its artifact folders)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"{what} {run_id!r} is not an MLflow run id; expected letters, digits, '_' or '-' "
                         "(an MLflow run id is usually 32 hexadecimal characters)")
    return run_id


def load_run_artifact(settings: Settings, stage: str, artifact: str, load: Callable[[Path], T],
                      run_id: str | None = None) -> tuple[T, str]:
    """``(load(a local copy of artifact), run id)`` from run ``run_id``, or from the newest finished
    run of the retraining experiment tagged ``stage`` (e.g. ``train_passing``) when it is None.
    A missing run or artifact is a ValueError that says what to run."""
    if run_id is not None:
        check_run_id(run_id)
    mlflow = use_store(settings)
    command = stage.replace("_", " ")
    if run_id is None:
        runs = mlflow.search_runs(experiment_names=[RETRAINING_EXPERIMENT], output_format="list",
                                  filter_string=f"tags.stage = '{stage}' and attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            raise ValueError(f"no finished '{command}' run in experiment {RETRAINING_EXPERIMENT!r} of "
                             f"{settings.mlflow_tracking_uri}: run `trackflow {command}` first")
        run_id = runs[0].info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact, dst_path=tmp)
        except Exception as err:  # an unknown run id, or a run without the artifact
            first = str(err).splitlines()[0] if str(err) else ""
            raise ValueError(f"run {run_id!r}: no artifact '{artifact}' ({type(err).__name__}: {first})") from None
        return load(Path(path)), run_id
