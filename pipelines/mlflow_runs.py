"""MLflow: the one place that points MLflow at this project's store and opens runs with the
standard tags (see DESIGN.md, "MLflow conventions").

The backend is SQLite at ``paths.mlflow_db`` with artifacts under ``paths.mlflow_artifacts``, both
absolute, so runs started from any working folder land in the same store.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pipelines.config import PROJECT_ROOT, Settings

T = TypeVar("T")

INGEST_EXPERIMENT = "trackflow/ingest"
RETRAINING_EXPERIMENT = "trackflow/preseason-retraining"


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
    location = f"{settings.mlflow_artifact_root}/{name.replace('/', '_')}"
    return client.create_experiment(name, artifact_location=location)


@contextlib.contextmanager
def start_run(settings: Settings, experiment: str, run_name: str, tags: dict[str, str] | None = None,
              nested: bool = False) -> Iterator:
    """An MLflow run with the standard tags: git sha, config hash and profile, plus ``tags``."""
    mlflow = use_store(settings)
    standard = {"git_sha": git_sha(), "config_hash": settings.config_hash(), "profile": settings.profile}
    with mlflow.start_run(experiment_id=experiment_id(settings, experiment), run_name=run_name,
                          tags={**standard, **(tags or {})}, nested=nested) as run:
        yield run


def load_run_artifact(settings: Settings, stage: str, artifact: str, load: Callable[[Path], T],
                      run_id: str | None = None) -> tuple[T, str]:
    """``(load(a local copy of artifact), run id)`` from run ``run_id``, or from the newest finished
    run of the retraining experiment tagged ``stage`` (e.g. ``train_passing``) when it is None.
    A missing run or artifact is a ValueError that says what to run."""
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
