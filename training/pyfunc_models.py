"""MLflow pyfunc wrappers of the two model bundles, so that a registered model scores plain
DataFrames: ``mlflow.pyfunc.load_model("models:/passing-sbp@champion").predict(frame)``.

Each wrapper loads its bundle (``training.passing_model.PassingModel`` /
``training.ghosting_model.GhostingModel``) from ``context.artifacts`` and does nothing the bundle
does not: the registered model predicts exactly what the trainer evaluated.  The loading
environment must be able to import this project (``pip install -e .``; the wrappers are pickled by
reference).

**Passing** (``PassingSBPPyfunc``), one row per play:

=================== ============================================================================
input column        meaning
=================== ============================================================================
*model.features*    the selected static features as stored in ``lake/features/passing``, as
                    floats (NaN allowed: it becomes the training mean; MLflow's schema check
                    refuses int64 for these double columns: ``.astype(float)``); the signature
                    lists them
``sequence``        the snap→release tensor ``[T, 22, 8]`` (frames × player slots × channels, as
                    ``features.build`` orders them) flattened row-major to one list of floats:
                    ``sequence_length·176`` values, or more when padded after the last valid frame
                    (the lake's ``tensor`` column, ``max_frames·176`` values, is accepted as is).
                    A flat list because MLflow signatures type it as one ``Array(double)``.
``sequence_length`` the number of valid frames, 1 … the model's ``max_frames``
``yards_gained``    optional: the actual yards; gives ``passing_score`` (NaN where missing)
=================== ============================================================================

Output, one row per input row (same index): ``predicted_median``, the quantile columns of
``evaluation.passing_score.QUANTILE_LEVELS`` (``predicted_q10``, ``predicted_q90``),
``expected_yards`` (the mean; NaN where a heavy tail makes it infinite) and ``passing_score``
(0–100, the mid-PIT of ``yards_gained``; NaN without it).  The same definitions as
``evaluation.passing_score.score_plays``.

**Ghosting** (``GhostingPyfunc``), one row per (play, defensive back) as in
``lake/features/ghosting``: the observed-frame columns ``{x,y,vx,vy,s,a,o,dir}_{m2,m1,0}`` (left→right
coordinates of ``features.build``, NaN not allowed in the release frame's position and velocity)
and the model's context features (NaN allowed).  Output: ``x_1 … x_H`` then ``y_1 … y_H`` (``H`` = 10),
the predicted positions 0.1 … 1.0 s after the release, in the same coordinates.

Bad input (a missing column, a sequence of the wrong length, a non-numeric value) is a ValueError
that names the column or row and what was expected.
"""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from pipelines.schema import N_PLAYERS, SEQ_FEATURES

PASSING_ARTIFACT = "sbp_model"  # key of the bundle in context.artifacts
GHOSTING_ARTIFACT = "ghosting_model"
SEQUENCE = "sequence"
SEQUENCE_LENGTH = "sequence_length"
YARDS = "yards_gained"
CELL = N_PLAYERS * len(SEQ_FEATURES)  # values per frame: 22 slots × 8 channels


# --- passing --------------------------------------------------------------------------------------

class PassingSBPPyfunc(mlflow.pyfunc.PythonModel):
    """The SBP passing network: play rows → predicted median, quantiles, mean and passing score."""

    def load_context(self, context):
        from training.passing_model import PassingModel

        self.model = PassingModel.load(context.artifacts[PASSING_ARTIFACT])
        if self.model.head != "sbp":
            raise ValueError(f"PassingSBPPyfunc: {context.artifacts[PASSING_ARTIFACT]} holds a {self.model.head!r} "
                             "network, expected 'sbp'")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_passing(self.model, model_input)


def passing_inputs(model, frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(seq [n, T, 22, 8] float32, lengths [n], static_raw [n, F], yards [n] or None)`` of the
    pyfunc input ``frame``; ValueError naming the column or row when it does not fit."""
    frame = _frame(frame, "passing model")
    _require(frame, [*model.features, SEQUENCE, SEQUENCE_LENGTH], "passing model")
    n = len(frame)
    static = _numeric(frame, model.features, "passing model")
    lengths = _lengths(frame, model.max_frames)
    seq = np.zeros((n, int(lengths.max()) if n else 1, N_PLAYERS, len(SEQ_FEATURES)), dtype=np.float32)
    for i, (label, value, length) in enumerate(zip(frame.index, frame[SEQUENCE], lengths)):
        flat = _row_sequence(value, label)
        if flat.size % CELL or flat.size < length * CELL:
            raise ValueError(f"passing model input: row {_label(label)!r}: column {SEQUENCE!r} holds {flat.size} "
                             f"values; expected {SEQUENCE_LENGTH} ({length}) × 22 × 8 = {length * CELL} values (or more, "
                             f"padded to a whole number of {CELL}-value frames)")
        seq[i, :length] = flat[:length * CELL].reshape(length, N_PLAYERS, len(SEQ_FEATURES))
    yards = _numeric(frame, [YARDS], "passing model")[:, 0] if YARDS in frame.columns else None
    return seq, lengths, static, yards


def predict_passing(model, frame) -> pd.DataFrame:
    """The pyfunc output (module docstring) of the SBP ``model`` (a ``PassingModel``) for ``frame``."""
    import torch

    from evaluation.passing_metrics import passing_score
    from evaluation.passing_score import QUANTILE_LEVELS

    seq, lengths, static, yards = passing_inputs(model, frame)
    n = len(lengths)
    out = pd.DataFrame(index=_frame(frame, "passing model").index)
    columns = ["predicted_median", *QUANTILE_LEVELS, "expected_yards", "passing_score"]
    if not n:
        return out.assign(**{c: np.empty(0) for c in columns})
    dist = model.distribution(seq, lengths, static)
    with torch.no_grad():
        out["predicted_median"] = dist.median.double().numpy()
        q = dist.quantile(torch.tensor(list(QUANTILE_LEVELS.values()), dtype=dist.dtype)).double().numpy()
        for i, column in enumerate(QUANTILE_LEVELS):
            out[column] = q[i]
        mean = dist.mean.double().numpy()
    out["expected_yards"] = np.where(np.isfinite(mean), mean, np.nan)
    score = np.full(n, np.nan)
    if yards is not None:
        known = ~np.isnan(yards)
        if known.any():
            score[known] = passing_score(dist, np.where(known, yards, 0.0), mode="mid")[known]
    out["passing_score"] = score
    return out[columns]


def passing_example(model, seq, lengths, static_raw, yards=None) -> pd.DataFrame:
    """Pyfunc input rows built from arrays (as ``training.passing.load_passing_data`` gives them):
    each ``sequence`` holds its valid frames only."""
    seq, lengths = np.asarray(seq), np.asarray(lengths).astype(np.int64)
    frame = pd.DataFrame(np.asarray(static_raw, dtype=np.float64), columns=list(model.features))
    frame[SEQUENCE] = [seq[i, :lengths[i]].astype(np.float64).ravel().tolist() for i in range(len(lengths))]
    frame[SEQUENCE_LENGTH] = lengths
    if yards is not None:
        frame[YARDS] = np.asarray(yards, dtype=np.float64)
    return frame


# --- ghosting -------------------------------------------------------------------------------------

class GhostingPyfunc(mlflow.pyfunc.PythonModel):
    """The defensive-back trajectory network: ghosting rows → positions of the next H frames."""

    def load_context(self, context):
        from training.ghosting_model import GhostingModel

        self.model = GhostingModel.load(context.artifacts[GHOSTING_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_ghosting(self.model, model_input)


def ghosting_columns(model) -> list[str]:
    """The input columns of the ghosting pyfunc: observed frames (oldest first), then the features."""
    from training.ghosting_data import OBSERVED, frame_suffixes

    observed = [f"{c}_{s}" for s in frame_suffixes(model.observed_frames) for c in OBSERVED]
    return [*observed, *[f for f in model.features if f not in observed]]


def ghosting_output_columns(horizon: int) -> list[str]:
    return [f"x_{k}" for k in range(1, horizon + 1)] + [f"y_{k}" for k in range(1, horizon + 1)]


def predict_ghosting(model, frame) -> pd.DataFrame:
    """The pyfunc output (module docstring) of ``model`` (a ``GhostingModel``) for ``frame``."""
    frame = _frame(frame, "ghosting model")
    columns = ghosting_columns(model)
    _require(frame, columns, "ghosting model")
    values = _numeric(frame, columns, "ghosting model")
    release = [c for c in ("x_0", "y_0", "vx_0", "vy_0") if c in columns]
    bad = np.isnan(values[:, [columns.index(c) for c in release]])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"ghosting model input: row {_label(frame.index[row])!r}: column {release[col]!r} is NaN; the "
                         f"release frame's position and velocity ({', '.join(release)}) are required")
    clean = frame.copy()
    clean[columns] = values  # numbers, whatever dtype they came in
    xy = model.predict(clean) if len(clean) else np.zeros((0, model.horizon, 2))
    return pd.DataFrame(np.concatenate([xy[:, :, 0], xy[:, :, 1]], axis=1),
                        columns=ghosting_output_columns(model.horizon), index=frame.index)


# --- signatures and logging -----------------------------------------------------------------------

def signature_for(example: pd.DataFrame, output: pd.DataFrame, optional: tuple[str, ...] = ()):
    """``infer_signature(example, output)`` with every input column required except ``optional``
    (inference would make any column with a NaN in the example optional)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    inferred = infer_signature(example, output)
    inputs = Schema([ColSpec(c.type, c.name, required=c.name not in optional) for c in inferred.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def log_pyfunc(kind: str, bundle: str | Path, example: pd.DataFrame, name: str):
    """Log the ``kind`` ("passing" or "ghosting") bundle file as a pyfunc model ``name`` into the
    active run, with a signature inferred from ``example`` (a few real input rows) and the example;
    returns MLflow's ``ModelInfo``."""
    from training.ghosting_model import GhostingModel
    from training.passing_model import PassingModel

    if kind == "passing":
        model, wrapper, key, optional = PassingModel.load(bundle), PassingSBPPyfunc(), PASSING_ARTIFACT, (YARDS,)
        output = predict_passing(model, example)
    elif kind == "ghosting":
        model, wrapper, key, optional = GhostingModel.load(bundle), GhostingPyfunc(), GHOSTING_ARTIFACT, ()
        example = example[ghosting_columns(model)]
        output = predict_ghosting(model, example)
    else:
        raise ValueError(f"pyfunc: kind {kind!r} is not 'passing' or 'ghosting'")
    return mlflow.pyfunc.log_model(name=name, python_model=wrapper, artifacts={key: str(bundle)},
                                   signature=signature_for(example, output, optional), input_example=example,
                                   pip_requirements=pip_requirements())


def pip_requirements() -> list[str]:
    """The libraries the wrappers import, pinned to the versions installed here (given explicitly:
    MLflow's inference would load the model in a subprocess).  The project itself must be
    importable where the model is loaded."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("mlflow", "torch", "numpy", "pandas", "pyarrow", "pydantic", "pyyaml", "scipy"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out


# --- input checks ---------------------------------------------------------------------------------

def _label(label):
    """A row label as the caller wrote it (``1``, not ``np.int64(1)``)."""
    return label.item() if isinstance(label, np.generic) else label


def _frame(frame, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} input: expected a pandas DataFrame, one row per sample, got {type(frame).__name__}")
    return frame


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} input: no column(s) {missing}; expected columns: {', '.join(columns)}")


def _numeric(frame: pd.DataFrame, columns: list[str], what: str) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        try:
            out[:, j] = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError):
            coerced = pd.to_numeric(frame[column], errors="coerce")
            row = frame.index[(coerced.isna() & frame[column].notna()).to_numpy()][0]
            raise ValueError(f"{what} input: row {_label(row)!r}: column {column!r} holds {frame[column].loc[row]!r}; "
                             "expected a number") from None
    return out


def _lengths(frame: pd.DataFrame, max_frames: int) -> np.ndarray:
    raw = _numeric(frame, [SEQUENCE_LENGTH], "passing model")[:, 0]
    for label, value in zip(frame.index, raw):
        if not (math.isfinite(value) and value == int(value) and 1 <= value <= max_frames):
            raise ValueError(f"passing model input: row {_label(label)!r}: column {SEQUENCE_LENGTH!r} is {value:g}; "
                             f"expected a whole number of frames in 1…{max_frames}")
    return raw.astype(np.int64)


def _row_sequence(value, label) -> np.ndarray:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"passing model input: row {_label(label)!r}: column {SEQUENCE!r} is missing; expected a "
                         "list of floats (the [T, 22, 8] tensor flattened)")
    try:
        return np.asarray(value, dtype=np.float32).ravel()
    except (ValueError, TypeError):
        raise ValueError(f"passing model input: row {_label(label)!r}: column {SEQUENCE!r} is not a list of "
                         "numbers") from None
