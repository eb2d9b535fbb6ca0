"""The pyfunc wrappers' input contract and outputs, in process (the registry tests load them from
the registry in a fresh process): bad input is a ValueError naming the column or row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from evaluation.passing_metrics import passing_score
from tests.model.test_registry import (
    PASSING_FEATURES,
    H,
    T,
    defenders,
    ghosting_model,
    passing_input,
    passing_model,
    passing_plays,
)
from training.pyfunc_models import (
    ghosting_columns,
    passing_example,
    passing_inputs,
    predict_ghosting,
    predict_passing,
    signature_for,
)


@pytest.fixture(scope="module")
def passing():
    model = passing_model()
    return model, passing_plays(model, n_per_week=4)


def test_passing_output_is_the_bundles_distribution_summarised(passing):
    model, plays = passing
    frame = passing_input(plays, slice(0, 6))
    out = predict_passing(model, frame)
    seq = np.stack([np.asarray(v) for v in plays["tensor"].iloc[:6]]).reshape(6, T, 22, 8)
    dist = model.distribution(seq, plays["seq_len"].iloc[:6].to_numpy(), plays[PASSING_FEATURES].iloc[:6].to_numpy())
    np.testing.assert_allclose(out["predicted_median"], dist.median.double().numpy(), rtol=1e-6)
    q = dist.quantile(torch.tensor([0.1, 0.9], dtype=dist.dtype)).double().numpy()
    np.testing.assert_allclose(out[["predicted_q10", "predicted_q90"]].to_numpy().T, q, rtol=1e-6)
    np.testing.assert_allclose(out["passing_score"], passing_score(dist, plays["yards_gained"].iloc[:6].to_numpy()),
                               rtol=1e-6)
    # the lake's padded layout, nested [T][22][8] lists and integer lengths as floats give the same output
    pd.testing.assert_frame_equal(predict_passing(model, passing_input(plays, slice(0, 6), padded=True)), out)
    nested = frame.assign(sequence=[np.asarray(s).reshape(-1, 22, 8).tolist() for s in frame["sequence"]],
                          sequence_length=frame["sequence_length"].astype(float))
    pd.testing.assert_frame_equal(predict_passing(model, nested), out)
    # the index is kept: rows line up with the caller's
    shifted = frame.set_index(pd.Index([10, 11, 12, 13, 14, 15]))
    assert list(predict_passing(model, shifted).index) == [10, 11, 12, 13, 14, 15]


def test_passing_score_is_nan_only_where_yards_are_missing(passing):
    model, plays = passing
    frame = passing_input(plays, slice(0, 4))
    frame.loc[2, "yards_gained"] = np.nan
    out = predict_passing(model, frame)
    assert np.isnan(out.loc[2, "passing_score"]) and out.drop(index=2)["passing_score"].between(0, 100).all()
    assert predict_passing(model, frame.drop(columns=["yards_gained"]))["passing_score"].isna().all()
    assert predict_passing(model, frame.iloc[:0]).empty


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["qb_pressure"]), r"no column\(s\) \['qb_pressure'\]; expected columns: pass_depth"),
    (lambda f: f.drop(columns=["sequence"]), r"no column\(s\) \['sequence'\]"),
    (lambda f: f.assign(sequence_length=[2, 0, 3]),
     rf"row 1: column 'sequence_length' is 0; expected a whole number of frames in 1…{T}"),
    (lambda f: f.assign(sequence_length=[2, T + 1, 3]), rf"row 1: column 'sequence_length' is {T + 1}"),
    (lambda f: f.assign(sequence_length=[2, 2.5, 3]), r"row 1: column 'sequence_length' is 2.5"),
    (lambda f: f.assign(sequence=[[0.0] * 176 * 2, [0.0] * 175, [0.0] * 176 * 3]),
     r"row 1: column 'sequence' holds 175 values; expected sequence_length \(2\) × 22 × 8 = 352 values"),
    (lambda f: f.assign(sequence=[[0.0] * 176 * 2, [0.0] * 176, [0.0] * 176 * 3]), r"row 1: .* holds 176 values"),
    (lambda f: f.assign(sequence=[[0.0] * 352, None, [0.0] * 528]), r"row 1: column 'sequence' is missing"),
    (lambda f: f.assign(pass_depth=[1.0, "deep", 3.0]), r"row 1: column 'pass_depth' holds 'deep'; expected a number"),
])
def test_bad_passing_input_names_the_column_or_row(passing, change, message):
    model, plays = passing
    frame = passing_input(plays, slice(0, 3)).assign(sequence_length=[2, 2, 3])
    frame["sequence"] = [s[:n * 176] for s, n in zip(frame["sequence"], frame["sequence_length"])]
    passing_inputs(model, frame)  # the unchanged frame is fine
    with pytest.raises(ValueError, match=message):
        predict_passing(model, change(frame))
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        predict_passing(model, frame.to_dict("records"))


def test_signature_requires_every_input_but_the_yards(passing):
    model, plays = passing
    seq = np.stack([np.asarray(v) for v in plays["tensor"].iloc[:3]]).reshape(3, T, 22, 8)
    static = plays[PASSING_FEATURES].iloc[:3].to_numpy().copy()
    static[0, 0] = np.nan  # inference alone would make pass_depth optional
    example = passing_example(model, seq, plays["seq_len"].iloc[:3].to_numpy(), static, plays["yards_gained"].iloc[:3])
    assert [len(s) for s in example["sequence"]] == [n * 176 for n in plays["seq_len"].iloc[:3]]
    signature = signature_for(example, predict_passing(model, example), optional=("yards_gained",))
    assert {c.name: c.required for c in signature.inputs.inputs} == {
        **{f: True for f in PASSING_FEATURES}, "sequence": True, "sequence_length": True, "yards_gained": False}
    assert signature.outputs.input_names() == ["predicted_median", "predicted_q10", "predicted_q90", "expected_yards",
                                               "passing_score"]


def test_ghosting_output_is_the_bundles_prediction_per_frame():
    model = ghosting_model()
    frame, _ = defenders(5)
    out = predict_ghosting(model, frame)
    xy = model.predict(frame)
    assert list(out.columns) == [f"x_{k}" for k in range(1, H + 1)] + [f"y_{k}" for k in range(1, H + 1)]
    np.testing.assert_allclose(out[[f"x_{k}" for k in range(1, H + 1)]].to_numpy(), xy[:, :, 0])
    np.testing.assert_allclose(out[[f"y_{k}" for k in range(1, H + 1)]].to_numpy(), xy[:, :, 1])
    assert ghosting_columns(model)[:8] == ["x_m2", "y_m2", "vx_m2", "vy_m2", "s_m2", "a_m2", "o_m2", "dir_m2"]
    assert ghosting_columns(model)[-2:] == ["d_target", "closing"]
    # a context feature may be missing (NaN: the training mean), a release position may not
    gaps = frame.copy()
    gaps.loc[1, "closing"] = np.nan
    assert np.isfinite(predict_ghosting(model, gaps).to_numpy()).all()
    gaps.loc[3, "y_0"] = np.nan
    with pytest.raises(ValueError, match=r"row 3: column 'y_0' is NaN; the release frame's position and velocity"):
        predict_ghosting(model, gaps)
    with pytest.raises(ValueError, match=r"no column\(s\) \['vx_m1'\]"):
        predict_ghosting(model, frame.drop(columns=["vx_m1"]))
    with pytest.raises(ValueError, match=r"row 0: column 'closing' holds 'fast'; expected a number"):
        predict_ghosting(model, frame.assign(closing=["fast"] + [0.0] * 4))
