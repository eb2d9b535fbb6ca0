"""Registration: gates → pyfunc model logged into the training run → new registered version →
``challenger``, and ``champion`` only for a better model on the same evaluation set; the registered
model loads by alias in a fresh process.  Real MLflow (SQLite store under tmp), real PyTorch bundles,
a tiny passing and ghosting feature table in a tmp lake (no Spark)."""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from evaluation.gates import GateFailed, check_gates
from evaluation.passing_metrics import nll
from evaluation.registry import (
    CHALLENGER,
    CHAMPION,
    REGISTERED_NAMES,
    load_registered,
    register,
)
from features.build import N_PLAYERS, SEQ_FEATURES
from pipelines import lake
from pipelines.config import load_settings
from pipelines.field import DT, ngs_angle
from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run
from training import train_ghosting, train_passing
from training.ghosting import load_ghosting_config
from training.ghosting_data import frame_suffixes
from training.ghosting_model import GhostingModel
from training.passing import Standardizer, load_training_config
from training.passing_model import PassingModel
from training.pyfunc_models import predict_passing

SEASON, WEEKS = 2025, (1, 2)
T = 6  # frames of the tiny passing tensor (the model's max_frames)
PASSING_FEATURES = ["pass_depth", "qb_pressure", "target_separation"]
GHOSTING_FEATURES = ["d_target", "closing"]
H, K = 10, 3

# metrics a training run logs that pass every default gate
GOOD_PASSING_METRICS = {"test.sbp.nll": 2.5, "test.gaussian.nll": 3.4, "test.sbp.pit_ks": 0.03,
                        "test.sbp.coverage_90": 0.9, "test.sbp.mae_median": 5.8, "test.gaussian.mae_median": 6.5,
                        "test.xgboost.mae_median": 5.7}
GOOD_GHOSTING_METRICS = {"test.model.ade": 0.4, "test.constant_velocity.ade": 1.0, "composite.observed": -0.2,
                         "composite.model": -0.18}


# --- a tiny project -----------------------------------------------------------------------------

def project_settings(home: Path):
    return load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": str(home)})


def perturbed(model, scale: float, seed: int):
    """A copy of ``model`` whose network weights carry Gaussian noise of ``scale`` (a worse model)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return out


def passing_model(seed: int = 0) -> PassingModel:
    base = load_training_config()
    # about scoring and registering, not the encoder: three features, no landing point
    cfg = base.model_copy(update={"network": base.network.model_copy(update={"channels": 8, "hidden": [16],
                                                                      "landing_inputs": False})})
    torch.manual_seed(seed)
    scale = Standardizer(mean=np.array([12.0, 4.0, 2.0]), std=np.array([8.0, 2.0, 1.5]))
    return PassingModel.build("sbp", PASSING_FEATURES, scale, cfg, max_frames=T)


def passing_plays(truth: PassingModel, n_per_week: int = 24, seed: int = 1) -> pd.DataFrame:
    """Plays of WEEKS as the passing feature table stores them (``tensor`` flat, right-padded), with
    yards drawn from ``truth``'s predicted distribution, so ``truth`` has the best NLL on them."""
    rng = np.random.default_rng(seed)
    n = n_per_week * len(WEEKS)
    seq = rng.normal(size=(n, T, N_PLAYERS, len(SEQ_FEATURES))).astype(np.float32)
    lengths = rng.integers(2, T + 1, n)
    for i, length in enumerate(lengths):
        seq[i, length:] = 0.0
    static = np.column_stack([rng.uniform(0, 30, n), rng.uniform(0, 8, n), rng.uniform(0, 5, n)])
    static[3, 1] = np.nan  # a missing feature: the bundle standardizes it to the training mean
    dist = truth.distribution(seq, lengths, static)
    yards = dist.sample(generator=torch.Generator().manual_seed(seed)).double().numpy()
    frame = pd.DataFrame(static, columns=PASSING_FEATURES)
    frame["week"] = np.repeat(WEEKS, n_per_week)
    frame["game_id"] = 2025090000 + np.arange(n) // 6
    frame["play_id"] = 100 + np.arange(n)
    frame["seq_len"] = lengths.astype(np.int32)
    frame["yards_gained"] = yards
    frame["tensor"] = list(seq.reshape(n, -1))
    return frame


def write_passing_table(settings, plays: pd.DataFrame) -> None:
    write_table(settings, "passing", plays, "tensor")


def ghosting_model(seed: int = 0) -> GhostingModel:
    frame, _ = defenders(8, seed=seed)
    torch.manual_seed(seed)
    return GhostingModel.fitted(frame, GHOSTING_FEATURES, load_ghosting_config(), K, H)


def defenders(n: int, seed: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """Ghosting-table rows of ``n`` defenders moving at constant velocity over the observed frames."""
    rng = np.random.default_rng(seed)
    p0, v0 = rng.uniform([20, 5], [100, 48], (n, 2)), rng.uniform(-6, 6, (n, 2))
    rows = {}
    for j, sfx in zip(range(K - 1, -1, -1), frame_suffixes(K)):
        p = p0 - v0 * j * DT
        s = np.hypot(v0[:, 0], v0[:, 1])
        rows |= {f"x_{sfx}": p[:, 0], f"y_{sfx}": p[:, 1], f"vx_{sfx}": v0[:, 0], f"vy_{sfx}": v0[:, 1], f"s_{sfx}": s,
                 f"a_{sfx}": np.zeros(n), f"o_{sfx}": ngs_angle(v0[:, 0], v0[:, 1]),
                 f"dir_{sfx}": ngs_angle(v0[:, 0], v0[:, 1])}
    frame = pd.DataFrame(rows)
    frame["d_target"], frame["closing"] = rng.uniform(1, 15, n), rng.normal(0, 2, n)
    return frame, p0


def ghosting_samples(truth: GhostingModel, n_per_week: int = 16) -> pd.DataFrame:
    """Samples of WEEKS as the ghosting feature table stores them, whose future is ``truth``'s own
    prediction (``truth`` has ADE 0 on them)."""
    frame, _ = defenders(n_per_week * len(WEEKS))
    n = len(frame)
    frame["week"] = np.repeat(WEEKS, n_per_week)
    frame["game_id"] = 2025090000 + np.arange(n) // 8
    frame["play_id"] = 100 + np.arange(n) // 4
    frame["nfl_id"] = 40000 + np.arange(n) % 4
    frame["future_xy"] = list(truth.predict(frame).reshape(n, -1).astype(np.float32))
    return frame


def write_ghosting_table(settings, samples: pd.DataFrame) -> None:
    write_table(settings, "ghosting", samples, "future_xy")


def write_table(settings, name: str, rows: pd.DataFrame, list_column: str) -> None:
    """``rows`` as the feature table ``name``'s week partitions, ``list_column`` as float32 lists."""
    root = settings.paths.lake / "features" / name
    for week, part in rows.groupby("week"):
        folder = lake.partition_dir(root, SEASON, int(week))
        folder.mkdir(parents=True, exist_ok=True)
        body = part.drop(columns=["week"]).reset_index(drop=True)
        table = pa.Table.from_pandas(body.drop(columns=[list_column]), preserve_index=False).append_column(
            list_column, pa.array([v.tolist() for v in body[list_column]], pa.list_(pa.float32())))
        pq.write_table(table, folder / lake.PART_FILE)


def training_run(settings, kind: str, bundle, keys: pd.DataFrame, metrics: dict[str, float]) -> str:
    """A finished run laid out as ``train passing`` / ``train ghosting`` leave it: stage tag, test
    metrics, the model bundle and the evaluation set (the trainers' own artifact names)."""
    t = train_passing if kind == "passing" else train_ghosting
    model_file = t.MODEL_FILES["sbp"] if kind == "passing" else t.MODEL_FILE
    with start_run(settings, RETRAINING_EXPERIMENT, f"train {kind} (test)",
                   tags={"stage": f"train_{kind}"}) as run:
        mlflow.log_metrics(metrics)
        # as many test plays as a real evaluation: the PIT gate's small-sample allowance stays below its bound
        mlflow.log_param("plays.test" if kind == "passing" else "samples.test", 2000)
        with tempfile.TemporaryDirectory() as tmp:
            bundle.save(Path(tmp) / model_file)
            keys[list(t.EVALUATION_KEYS)].to_parquet(Path(tmp) / t.EVALUATION_SET_FILE, index=False)
            mlflow.log_artifacts(tmp, artifact_path=t.ARTIFACT_DIR)
    return run.info.run_id


def passing_input(plays: pd.DataFrame, rows: slice, padded: bool = False) -> pd.DataFrame:
    """Pyfunc input for some plays: features, flat sequence (valid frames only unless ``padded``),
    length and yards."""
    part = plays.iloc[rows].reset_index(drop=True)
    frame = part[PASSING_FEATURES].copy()
    frame["sequence"] = [np.asarray(v, dtype=np.float64)[:None if padded else n * N_PLAYERS * len(SEQ_FEATURES)].tolist()
                         for v, n in zip(part["tensor"], part["seq_len"])]
    frame["sequence_length"] = part["seq_len"].astype(np.int64)
    frame["yards_gained"] = part["yards_gained"]
    return frame


# --- the registered project (built once: five registrations) ------------------------------------

@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    settings = project_settings(tmp_path_factory.mktemp("registry"))
    good = passing_model()
    mid, bad = perturbed(good, 0.1, seed=11), perturbed(good, 0.5, seed=12)
    plays = passing_plays(good)
    write_passing_table(settings, plays)
    test_keys = plays.assign(season=SEASON).iloc[::2]  # every other play of both weeks
    ghost_good = ghosting_model()
    ghost_bad = perturbed(ghost_good, 0.2, seed=13)
    samples = ghosting_samples(ghost_good)
    write_ghosting_table(settings, samples)
    ghost_keys = samples.assign(season=SEASON).iloc[1::2]

    out = {"settings": settings, "plays": plays, "samples": samples, "bundles": {"good": good, "mid": mid, "bad": bad},
           "ghost_bundles": {"good": ghost_good, "bad": ghost_bad}, "runs": {}, "registrations": {}}
    for label, bundle in (("mid", mid), ("bad", bad), ("good", good)):  # champion, worse challenger, better challenger
        run_id = training_run(settings, "passing", bundle, test_keys, GOOD_PASSING_METRICS)
        report = check_gates(settings, "passing", run_id)
        out["runs"][label] = run_id
        out["registrations"][label] = register(settings, "passing", run_id, report, tags={"trigger": f"test {label}"})
    for label, bundle in (("bad", ghost_bad), ("good", ghost_good)):
        run_id = training_run(settings, "ghosting", bundle, ghost_keys, GOOD_GHOSTING_METRICS)
        out["runs"][f"ghost_{label}"] = run_id
        # the second one from inside another active run, as a DAG task with its own run may call it
        with start_run(settings, RETRAINING_EXPERIMENT, "register (test)") if label == "good" \
                else contextlib.nullcontext() as outer:
            out["registrations"][f"ghost_{label}"] = register(settings, "ghosting", run_id,
                                                              check_gates(settings, "ghosting", run_id))
            if outer is not None:
                out["outer"] = (outer.info.run_id, mlflow.active_run().info.run_id)
    return out


def _version(settings, name: str, version: str):
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return mlflow.MlflowClient().get_model_version(name, version)


def test_first_registration_becomes_champion_with_its_gates_and_evaluation_as_tags(registered):
    first = registered["registrations"]["mid"]
    assert (first.name, first.version, first.model_uri) == ("passing-sbp", "1", "models:/passing-sbp/1")
    assert first.champion_moved and first.previous_champion is None and first.champion_value is None
    assert first.evaluation_rows == len(registered["plays"]) // 2 and np.isfinite(first.value)
    mv = _version(registered["settings"], "passing-sbp", "1")
    tags = mv.tags
    assert tags["validation_status"] == "passed" and tags["source_run_id"] == registered["runs"]["mid"]
    assert tags["trigger"] == "test mid" and tags["gates.profile"] == "demo"
    assert float(tags["gate.pit_ks"]) == pytest.approx(0.03) and tags["gate.pit_ks.threshold"] == "<= 0.05"
    assert tags["gate.coverage_90.threshold"] == "in [0.85, 0.95]"
    assert float(tags["evaluation.sbp_nll"]) == pytest.approx(first.value, rel=1e-5)
    assert "alias.champion.assigned_at" in tags and "alias.challenger.assigned_at" in tags
    assert "no champion before" in tags["champion_comparison"]
    # the value is the SBP's NLL of the actual yards on exactly the evaluation plays (every other play)
    plays = registered["plays"].iloc[::2]
    dist = registered["bundles"]["mid"].distribution(np.stack(plays["tensor"].to_numpy()).reshape(-1, T, 22, 8),
                                                     plays["seq_len"].to_numpy(), plays[PASSING_FEATURES].to_numpy())
    assert first.value == pytest.approx(nll(dist, plays["yards_gained"].to_numpy()), rel=1e-6)
    assert mv.run_id == registered["runs"]["mid"]
    # the pyfunc model was logged into the training run itself
    experiment = mlflow.get_experiment_by_name(RETRAINING_EXPERIMENT).experiment_id
    logged = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                         filter_string=f"source_run_id = '{registered['runs']['mid']}'")
    assert [m.name for m in logged] == ["passing-sbp"]


def test_a_worse_challenger_gets_challenger_but_not_champion(registered):
    first, worse = registered["registrations"]["mid"], registered["registrations"]["bad"]
    assert worse.version == "2" and not worse.champion_moved
    assert worse.previous_champion == "1" and worse.champion_value == pytest.approx(first.value)  # same set, same model
    assert worse.value > worse.champion_value
    assert worse.aliases == [CHALLENGER]
    tags = _version(registered["settings"], "passing-sbp", "2").tags
    assert "v1 stays champion" in tags["champion_comparison"] and f"{worse.value:.6g}" in tags["champion_comparison"]
    assert "alias.champion.assigned_at" not in tags
    # the first version lost the challenger alias, and that move is recorded on it
    assert "alias.challenger.removed_at" in _version(registered["settings"], "passing-sbp", "1").tags


def test_a_better_challenger_moves_champion_and_the_move_is_recorded(registered):
    first, better = registered["registrations"]["mid"], registered["registrations"]["good"]
    assert better.version == "3" and better.champion_moved and better.previous_champion == "1"
    assert better.value < better.champion_value == pytest.approx(first.value)
    assert better.aliases == [CHALLENGER, CHAMPION]
    settings = registered["settings"]
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("passing-sbp", CHAMPION).version) == "3"
    old = _version(settings, "passing-sbp", "1")
    assert old.aliases == [] and old.tags["alias.champion.replaced_by"] == "3"
    assert "alias.champion.removed_at" in old.tags
    assert "champion moves from v1 to v3" in old.tags["alias.champion.removed_reason"]
    assert "no champion before" in old.tags["champion_comparison"]  # its own registration's comparison stays
    assert "alias.challenger.removed_at" in _version(settings, "passing-sbp", "2").tags


def test_ghosting_champion_moves_to_the_model_with_the_lower_ade(registered):
    bad, good = registered["registrations"]["ghost_bad"], registered["registrations"]["ghost_good"]
    assert bad.name == REGISTERED_NAMES["ghosting"] == "ghosting-db" and bad.metric == "ade"
    assert bad.champion_moved and bad.version == "1"
    assert good.champion_moved and good.previous_champion == "1" and good.value < 1e-4 < good.champion_value
    assert good.aliases == [CHALLENGER, CHAMPION]
    # registered from inside another run: that run stays the active one; the training run is closed again
    outer, active_after = registered["outer"]
    assert active_after == outer
    client = mlflow.MlflowClient()
    trained = client.get_run(registered["runs"]["ghost_good"])
    assert trained.info.status == "FINISHED" and "mlflow.parentRunId" not in trained.data.tags
    assert str(client.get_model_version("ghosting-db", good.version).run_id) == registered["runs"]["ghost_good"]


def test_registered_models_load_by_alias_in_a_fresh_process_and_predict(registered, tmp_path):
    settings, plays, samples = registered["settings"], registered["plays"], registered["samples"]
    inputs = passing_input(plays, slice(0, 5))
    inputs.loc[1, "yards_gained"] = np.nan  # no outcome for this play: no score
    inputs.to_parquet(tmp_path / "passing_in.parquet")
    ghost_in = samples.drop(columns=["future_xy", "week", "game_id", "play_id", "nfl_id"]).iloc[:4]
    ghost_in.to_parquet(tmp_path / "ghosting_in.parquet")
    script = """
import json, sys
import mlflow, pandas as pd
out = sys.argv[1]
passing = mlflow.pyfunc.load_model("models:/passing-sbp@champion")
frame = pd.read_parquet(out + "/passing_in.parquet")
passing.predict(frame).to_parquet(out + "/passing_out.parquet")
passing.predict(frame.drop(columns=["yards_gained"])).to_parquet(out + "/passing_noyards.parquet")
ghosting = mlflow.pyfunc.load_model("models:/ghosting-db@champion")
ghosting.predict(pd.read_parquet(out + "/ghosting_in.parquet")).to_parquet(out + "/ghosting_out.parquet")
inputs = passing.metadata.get_input_schema()
print(json.dumps({"inputs": {c.name: c.required for c in inputs.inputs},
                  "example": passing.metadata.saved_input_example_info is not None}))
"""
    env = {"MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-", str(tmp_path)], input=script, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads(done.stdout.strip().splitlines()[-1])
    assert meta["inputs"] == {**{f: True for f in PASSING_FEATURES}, "sequence": True, "sequence_length": True,
                              "yards_gained": False}
    assert meta["example"]

    out = pd.read_parquet(tmp_path / "passing_out.parquet")
    assert list(out.columns) == ["predicted_median", "predicted_q10", "predicted_q90", "expected_yards", "passing_score"]
    champion = registered["bundles"]["good"]  # version 3 holds champion
    expected = predict_passing(champion, inputs)
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-6)
    dist = champion.distribution(np.stack([np.asarray(v) for v in plays["tensor"].iloc[:5]]).reshape(5, T, 22, 8),
                                 plays["seq_len"].iloc[:5].to_numpy(), plays[PASSING_FEATURES].iloc[:5].to_numpy())
    np.testing.assert_allclose(out["predicted_median"], dist.median.double().numpy(), rtol=1e-6)
    assert (out["predicted_q10"] <= out["predicted_median"]).all()
    assert (out["predicted_median"] <= out["predicted_q90"]).all()
    assert np.isnan(out.loc[1, "passing_score"]) and out.drop(index=1)["passing_score"].between(0, 100).all()
    assert pd.read_parquet(tmp_path / "passing_noyards.parquet")["passing_score"].isna().all()

    ghost = pd.read_parquet(tmp_path / "ghosting_out.parquet")
    assert list(ghost.columns) == [f"x_{k}" for k in range(1, 11)] + [f"y_{k}" for k in range(1, 11)]
    truth = np.stack(samples["future_xy"].iloc[:4].to_numpy()).reshape(4, H, 2)  # the champion's own paths
    np.testing.assert_allclose(ghost[[f"x_{k}" for k in range(1, 11)]].to_numpy(), truth[:, :, 0], atol=1e-4)
    np.testing.assert_allclose(ghost[[f"y_{k}" for k in range(1, 11)]].to_numpy(), truth[:, :, 1], atol=1e-4)


def test_load_registered_and_bad_input_through_the_registered_model(registered):
    settings, plays = registered["settings"], registered["plays"]
    model = load_registered(settings, "passing", CHALLENGER)
    good = passing_input(plays, slice(0, 3))
    expected = predict_passing(registered["bundles"]["good"], good)
    pd.testing.assert_frame_equal(model.predict(good), expected, check_exact=False, rtol=1e-6)
    # padded to max_frames (the lake's own layout) gives the same predictions
    pd.testing.assert_frame_equal(model.predict(passing_input(plays, slice(0, 3), padded=True)), expected,
                                  check_exact=False, rtol=1e-6)
    short = good.copy()
    short.at[2, "sequence"] = short.at[2, "sequence"][:-5]
    with pytest.raises(ValueError, match=r"row 2: column 'sequence' holds \d+ values; expected sequence_length"):
        model.predict(short)
    with pytest.raises(Exception, match="qb_pressure"):  # MLflow's schema check names the missing column
        model.predict(good.drop(columns=["qb_pressure"]))
    with pytest.raises(ValueError, match="no version with alias 'champion'"):
        load_registered(settings, "no-such-model")
    ghost = load_registered(settings, "ghosting-db")
    assert ghost.predict(registered["samples"].iloc[:2]).shape == (2, 2 * H)


def test_registering_the_same_run_again_reuses_its_version(registered):
    settings = registered["settings"]
    client = mlflow.MlflowClient()
    versions = len(client.search_model_versions("name = 'passing-sbp'"))
    run_id = registered["runs"]["bad"]  # version 2: the challenger lost to the champion
    again = register(settings, "passing", run_id, check_gates(settings, "passing", run_id), tags={"retry": "1"})
    assert again.version == "2" and len(client.search_model_versions("name = 'passing-sbp'")) == versions
    assert not again.champion_moved and again.previous_champion == "3" and again.value > again.champion_value
    assert client.get_model_version("passing-sbp", "2").tags["retry"] == "1"
    assert str(client.get_model_version_by_alias("passing-sbp", CHAMPION).version) == "3"
    # the challenger alias returned to it, and that move is recorded like any other
    assert str(client.get_model_version_by_alias("passing-sbp", CHALLENGER).version) == "2"
    assert client.get_model_version("passing-sbp", "3").tags["alias.challenger.replaced_by"] == "2"
    run_id = registered["runs"]["good"]  # the champion itself: nothing to compare, nothing moves
    champion = register(settings, "passing", run_id, check_gates(settings, "passing", run_id))
    assert champion.version == "3" and not champion.champion_moved and champion.aliases == [CHALLENGER, CHAMPION]


def test_a_failed_gate_report_raises_and_moves_no_alias(registered):
    settings = registered["settings"]
    run_id = training_run(settings, "passing", registered["bundles"]["good"], registered["plays"].assign(season=SEASON)
                          .iloc[:4], {**GOOD_PASSING_METRICS, "test.sbp.pit_ks": 0.2})
    with pytest.raises(GateFailed, match=r"pit_ks: 0.2 .* must be <= 0.05"):
        check_gates(settings, "passing", run_id)
    report = check_gates(settings, "passing", run_id, raise_on_failure=False)
    client = mlflow.MlflowClient()
    before = {v.version: (sorted(v.aliases), dict(v.tags)) for v in client.search_model_versions("name = 'passing-sbp'")}
    with pytest.raises(GateFailed, match=f"run {run_id} failed 1 of 4 gate"):
        register(settings, "passing", run_id, report)
    after = {v.version: (sorted(v.aliases), dict(v.tags)) for v in client.search_model_versions("name = 'passing-sbp'")}
    assert after == before  # no new version, no alias moved
    with pytest.raises(ValueError, match="gate report is for the passing model of run"):
        register(settings, "passing", registered["runs"]["good"], report)


def test_evaluation_rows_missing_from_the_feature_table_are_refused_before_anything_is_registered(registered):
    settings = registered["settings"]
    keys = registered["plays"].assign(season=SEASON).iloc[:3].copy()
    keys.loc[keys.index[0], "play_id"] = 99999
    run_id = training_run(settings, "passing", registered["bundles"]["good"], keys, GOOD_PASSING_METRICS)
    versions = len(mlflow.MlflowClient().search_model_versions("name = 'passing-sbp'"))
    with pytest.raises(ValueError, match=r"1 of 3 evaluation rows are not in the feature table.*99999"):
        register(settings, "passing", run_id, check_gates(settings, "passing", run_id))
    assert len(mlflow.MlflowClient().search_model_versions("name = 'passing-sbp'")) == versions
