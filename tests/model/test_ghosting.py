"""The ghosting model's pure parts: baselines, metrics, the composite, randomized inputs, the
network and its bundle, counterfactual retargeting and the 2026 layout adapter (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from evaluation import ghosting_metrics as gm
from evaluation.ghosting import bars, composite_table, error_table
from evaluation.ghosting_bdb2026 import evaluate_prediction_weeks, prediction_samples, write_prediction_week
from evaluation.ghosting_counterfactual import TARGET_DEPENDENT, retarget
from pipelines.field import DT, FIELD_LENGTH, FIELD_WIDTH, ngs_angle, rotate_to_left
from training.ghosting import (GhostingNet, constant_acceleration, constant_velocity, limit_acceleration,
                               load_ghosting_config, mse_loss, randomize_inputs, steps)
from training.ghosting_data import frame_suffixes, to_left_to_right, velocity
from training.ghosting_model import GhostingModel
from training.passing import fit

H, K = 10, 3
CFG = load_ghosting_config()


def tracks(n: int, accel: bool = False, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Ghosting rows of ``n`` defenders moving with constant velocity (or constant acceleration) over
    the observed and the future frames, and their true future ``[n, H, 2]``."""
    rng = np.random.default_rng(seed)
    p0 = rng.uniform([20, 5], [100, 48], (n, 2))
    v0 = rng.uniform(-6, 6, (n, 2))
    a = rng.uniform(-3, 3, (n, 2)) if accel else np.zeros((n, 2))
    rows = {}
    for j, sfx in zip(range(K - 1, -1, -1), frame_suffixes(K)):
        t = -j * DT
        p, v = p0 + v0 * t + 0.5 * a * t ** 2, v0 + a * t
        s = np.hypot(v[:, 0], v[:, 1])
        rows |= {f"x_{sfx}": p[:, 0], f"y_{sfx}": p[:, 1], f"vx_{sfx}": v[:, 0], f"vy_{sfx}": v[:, 1], f"s_{sfx}": s,
                 f"a_{sfx}": np.hypot(a[:, 0], a[:, 1]), f"dir_{sfx}": ngs_angle(v[:, 0], v[:, 1]),
                 f"o_{sfx}": ngs_angle(v[:, 0], v[:, 1])}
    t = steps(H)[None, :, None]
    future = p0[:, None] + v0[:, None] * t + 0.5 * a[:, None] * t ** 2
    frame = pd.DataFrame(rows)
    frame["game_id"] = np.arange(n) % 5
    frame["play_id"], frame["nfl_id"] = np.arange(n), 1000 + np.arange(n)
    target = p0 + rng.uniform(-8, 8, (n, 2))
    tv = rng.uniform(-5, 5, (n, 2))
    frame["dx_target"], frame["dy_target"] = target[:, 0] - p0[:, 0], target[:, 1] - p0[:, 1]
    frame["d_target"] = np.hypot(frame["dx_target"], frame["dy_target"])
    frame["cl_target"] = ((v0 - tv) * (target - p0)).sum(axis=1) / frame["d_target"]
    frame["context"] = rng.normal(size=n)
    return frame, future


# --- baselines --------------------------------------------------------------------------------

def test_constant_velocity_is_exact_on_constant_velocity_tracks():
    frame, future = tracks(50)
    np.testing.assert_allclose(constant_velocity(frame, H), future, atol=1e-9)
    np.testing.assert_allclose(constant_acceleration(frame, H), future, atol=1e-9)  # a = 0 here


def test_constant_acceleration_is_exact_on_constant_acceleration_tracks_and_velocity_is_not():
    frame, future = tracks(50, accel=True)
    np.testing.assert_allclose(constant_acceleration(frame, H), future, atol=1e-9)
    assert gm.ade(constant_velocity(frame, H), future) > 0.05


# --- metrics ----------------------------------------------------------------------------------

def test_ade_fde_rmse_against_hand_computed_values():
    true = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0]],    # errors 5 then 1
                     [[0.0, 0.0], [6.0, 8.0]]])   # errors 0 then 10
    assert gm.ade(pred, true) == pytest.approx(((5 + 1) / 2 + (0 + 10) / 2) / 2)
    assert gm.fde(pred, true) == pytest.approx((1 + 10) / 2)
    np.testing.assert_allclose(gm.ade(pred, true, reduction="none"), [3.0, 5.0])
    mse_x, mse_y = (9 + 0 + 0 + 36) / 4, (16 + 1 + 0 + 64) / 4
    assert gm.rmse_bdb(pred, true) == pytest.approx(np.sqrt(0.5 * (mse_x + mse_y)))
    with pytest.raises(ValueError, match=r"\[n, H, 2\]"):
        gm.ade(pred, true[:, :1])


def _straight(start, velocity_, n_steps=H):
    t = np.arange(n_steps + 1)[:, None] * DT
    return np.asarray(start, float) + np.asarray(velocity_, float) * t


def implied_acceleration(frame: pd.DataFrame, future: np.ndarray) -> np.ndarray:
    """``[n, H]`` |a| (yd/s²) of each predicted frame from the positions, the first from the reported
    release velocity: second differences at 10 Hz."""
    p0, v0 = frame[["x_0", "y_0"]].to_numpy(float), frame[["vx_0", "vy_0"]].to_numpy(float)
    v = np.concatenate([v0[:, None], np.diff(np.concatenate([p0[:, None], future], axis=1), axis=1) / DT], axis=1)
    a = np.diff(v, axis=1) / DT
    return np.hypot(a[..., 0], a[..., 1])


def test_limit_acceleration_bounds_every_frame_and_keeps_feasible_paths():
    a_max = CFG.network.max_acceleration
    k = np.arange(1, H + 1)[None, :, None]
    # within the bound (constant acceleration at 0.9·a_max; zero = constant velocity): unchanged
    a = 0.9 * a_max * np.array([[0.6, -0.8], [1.0, 0.0]])[:, None, :]
    feasible = a * DT ** 2 * k * (k + 1) / 2  # v_k = v₀ + k·a·Δt, p_k = p_{k−1} + v_k·Δt
    np.testing.assert_allclose(limit_acceleration(feasible, a_max), feasible, rtol=0, atol=1e-12)
    assert (limit_acceleration(np.zeros((3, H, 2)), a_max) == 0).all()
    # a jump to 2·a_max·Δt of velocity: a_max in frame 1, the rest caught up in frame 2, then steady
    jump = np.zeros((1, H, 2))
    jump[0, :, 0] = 2 * a_max * DT * DT * np.arange(1, H + 1)
    out = limit_acceleration(jump, a_max)[0, :, 0]
    np.testing.assert_allclose(out, a_max * DT ** 2 * (1 + 2 * np.arange(H)), atol=1e-12)
    # anything at all: never above the bound, and the wild ones at it
    wild = np.random.default_rng(0).normal(0, 30, (500, H, 2))
    frame, _ = tracks(500)
    acc = implied_acceleration(frame, constant_velocity(frame, H) + limit_acceleration(wild, a_max))
    assert acc.max() <= a_max + 1e-9 and acc.min() > 0.99 * a_max


def test_composite_signs_closing_fleeing_and_standing():
    c = CFG.composite
    receiver = _straight([50, 20], [5, 0])[None]           # runs to (55, 20)
    towards = _straight([45, 20], [10, 0])[None]           # ends at the receiver's final spot
    away = _straight([45, 20], [-8, 0])[None]
    still = _straight([45, 20], [0, 0])[None]
    terms = {name: gm.composite_terms(p, receiver, c.top_speed, c.speed_limit) for name, p in
             (("towards", towards), ("away", away), ("still", still))}
    assert terms["towards"]["closing"][0] == pytest.approx(-10 / c.top_speed)  # closed 10 yd in 1 s
    assert terms["away"]["closing"][0] == pytest.approx(8 / c.top_speed)
    assert terms["still"]["closing"][0] == 0.0 and terms["still"]["effort"][0] == 0.0
    assert terms["away"]["effort"][0] == pytest.approx(8 / c.top_speed)
    w = CFG.composite.weights.model_dump()
    score = {k: gm.composite(p, receiver, c.top_speed, c.speed_limit, w)
             for k, p in (("towards", towards), ("away", away), ("still", still))}
    assert score["towards"] < score["still"] == 0.0 < score["away"]
    # effort earns credit only while closing: fleeing scores exactly its closing term
    assert score["away"] == pytest.approx(w["closing"] * 8 / c.top_speed)
    assert score["towards"] == pytest.approx(-w["closing"] * 10 / c.top_speed - w["effort"] * 10 / c.top_speed)


def test_composite_speed_penalty_only_above_the_limit():
    c = CFG.composite
    receiver = _straight([80, 20], [0, 0])[None]
    legal = _straight([60, 20], [12.0, 0])[None]                   # 12 yd/s: no penalty
    fast = _straight([60, 20], [14.0, 0])[None]                    # 14 yd/s: 1.5 yd/s over, 1 s
    assert gm.composite_terms(legal, receiver, c.top_speed, c.speed_limit)["speed"][0] == 0.0
    over = gm.composite_terms(fast, receiver, c.top_speed, c.speed_limit)["speed"][0]
    assert over == pytest.approx((14.0 - c.speed_limit) * 1.0 / c.top_speed)
    w = CFG.composite.weights.model_dump()
    assert (gm.composite(fast, receiver, c.top_speed, c.speed_limit, w)
            - gm.composite(legal, receiver, c.top_speed, c.speed_limit, w)) > 0  # faster closing, still worse


def test_composite_ignores_samples_without_a_receiver_path():
    c = CFG.composite
    receiver = np.stack([_straight([50, 20], [5, 0]), np.full((H + 1, 2), np.nan)])
    path = np.stack([_straight([45, 20], [10, 0])] * 2)
    w = CFG.composite.weights.model_dump()
    per = gm.composite(path, receiver, c.top_speed, c.speed_limit, w, reduction="none")
    assert np.isfinite(per[0]) and np.isnan(per[1])
    assert gm.composite(path, receiver, c.top_speed, c.speed_limit, w) == pytest.approx(per[0])


def test_bars_read_the_tables():
    frame, future = tracks(40, accel=True)
    errors = error_table({"model": future + 0.01, "constant_velocity": constant_velocity(frame, H),
                          "constant_acceleration": constant_acceleration(frame, H)}, future)
    p0 = frame[["x_0", "y_0"]].to_numpy()
    receiver = gm.with_release(p0, future) + np.array([3.0, 0.0])
    comp = composite_table({"observed": future, "model": future, "randomized": future + 5.0}, p0, receiver, CFG.composite)
    met = bars(errors, comp, CFG.bars)
    assert met["ade_at_most_0.7x_constant_velocity"] and met["composite_model_within_30pct_of_observed"]
    assert list(comp.index) == ["observed", "model", "randomized"] and comp.loc["model", "samples"] == 40


# --- left→right and randomized inputs -----------------------------------------------------------

def test_left_to_right_matches_the_field_rotation():
    x, y, angle = np.array([10.0, 30.0]), np.array([5.0, 40.0]), np.array([90.0, 300.0])
    lx, ly, la = to_left_to_right(np.array(["left", "right"]), x, y, angle)
    rx, ry, ra = rotate_to_left(x[:1], y[:1], angle[:1])
    assert (lx[0], ly[0], la[0]) == (rx[0], ry[0], ra[0]) == (FIELD_LENGTH - 10, FIELD_WIDTH - 5, 270.0)
    assert (lx[1], ly[1], la[1]) == (30.0, 40.0, 300.0)
    vx, vy = velocity(np.array([2.0]), np.array([90.0]))
    np.testing.assert_allclose([vx[0], vy[0]], [2.0, 0.0], atol=1e-12)


def test_randomize_inputs_is_seeded_keeps_speeds_and_stays_consistent():
    frame, _ = tracks(400)
    refs = pd.DataFrame({f"ref_{r}_{c}": frame[f"{c}_0"] + 5.0 for r in ("qb", "ball", "opp") for c in "xy"})
    for c in ("qb", "ball", "opp"):
        frame[f"cl_{c}"] = 0.0
    frame["speed_to_landing"], frame["dx_landing"], frame["dy_landing"] = frame["vx_0"], 10.0, 0.0  # landing in +x
    a, mask = randomize_inputs(frame, refs, 0.25, seed=7)
    b, mask_b = randomize_inputs(frame, refs, 0.25, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert (mask == mask_b).all() and mask.sum() == 100
    untouched = frame.columns
    pd.testing.assert_frame_equal(a.loc[~mask, untouched], frame.loc[~mask, untouched])
    assert not np.allclose(a.loc[mask, "dir_0"], frame.loc[mask, "dir_0"])
    for sfx in frame_suffixes(K):
        np.testing.assert_allclose(np.hypot(a[f"vx_{sfx}"], a[f"vy_{sfx}"]), frame[f"s_{sfx}"], atol=1e-9)
        np.testing.assert_allclose(a[f"vx_{sfx}"], a[f"s_{sfx}"] * np.sin(np.radians(a[f"dir_{sfx}"])), atol=1e-9)
    # the release position is kept, the history is turned with the velocity (constant velocity stays exact)
    np.testing.assert_allclose(a[["x_0", "y_0"]], frame[["x_0", "y_0"]])
    np.testing.assert_allclose(a["x_m1"], a["x_0"] - a["vx_0"] * DT, atol=1e-9)
    np.testing.assert_allclose(a["y_m2"], a["y_0"] - 2 * a["vy_0"] * DT, atol=1e-9)
    # the closing speed to the target follows the new velocity
    v_rel_change = ((a["vx_0"] - frame["vx_0"]) * frame["dx_target"]
                    + (a["vy_0"] - frame["vy_0"]) * frame["dy_target"]) / frame["d_target"]
    np.testing.assert_allclose(a["cl_target"], frame["cl_target"] + v_rel_change, atol=1e-9)
    np.testing.assert_allclose(a["speed_to_landing"], a["vx_0"], atol=1e-9)  # landing straight ahead in +x
    assert (randomize_inputs(frame, refs, 0.25, seed=8)[1] != mask).any()


# --- the network, training and the bundle --------------------------------------------------------

def _model(frame):
    cfg = CFG.model_copy(update={"max_epochs": 2, "batch_size": 64})
    torch.manual_seed(cfg.seed)
    return GhostingModel.fitted(frame, ["context", "d_target"], cfg, K, H), cfg


def test_network_shapes_and_a_fresh_network_predicts_constant_velocity():
    frame, future = tracks(30, accel=True)
    model, _ = _model(frame)
    t = model.tensors(frame, future)
    assert tuple(t.seq.shape) == (30, K, 10) and tuple(t.static.shape) == (30, 2) and tuple(t.y.shape) == (30, H, 2)
    raw = model.net(t.seq, t.lengths, t.static)
    assert tuple(raw.shape) == (30, 2 * H)
    np.testing.assert_allclose(model.predict(frame), constant_velocity(frame, H), atol=1e-6)
    # the residual target is exactly future − constant velocity
    np.testing.assert_allclose(t.y.numpy(), future - constant_velocity(frame, H), atol=1e-5)
    assert float(mse_loss(torch.zeros(30, 2 * H), t.y)) == pytest.approx(float((t.y ** 2).mean()))
    assert isinstance(model.net, GhostingNet)


def test_predictions_never_exceed_the_acceleration_bound_even_from_extreme_inputs():
    a_max = CFG.network.max_acceleration
    frame, _ = tracks(300, seed=5)
    refs = pd.DataFrame({f"ref_{r}_{c}": frame[f"{c}_0"] + 5.0 for r in ("qb", "ball", "opp") for c in "xy"})
    for c in ("qb", "ball", "opp"):
        frame[f"cl_{c}"] = 0.0
    frame["speed_to_landing"], frame["dx_landing"], frame["dy_landing"] = 0.0, 10.0, 0.0
    model, _ = _model(frame)
    with torch.no_grad():  # a network far from constant velocity: residuals of many yards
        model.net.head.weight.normal_(0, 5.0)
        model.net.head.bias.normal_(0, 5.0)
    turned, _ = randomize_inputs(frame, refs, 1.0, seed=1)  # every defender turned to a random direction
    fast = frame.copy()
    for sfx in frame_suffixes(K):  # at 12 yd/s
        for c in ("vx", "vy", "s"):
            fast[f"{c}_{sfx}"] = frame[f"{c}_{sfx}"] * 12.0 / frame["s_0"]
    for inputs in (frame, turned, fast):
        acc = implied_acceleration(inputs, model.predict(inputs))
        assert acc.max() <= a_max + 1e-6 and acc.max() > 0.99 * a_max  # the bound is reached, never passed
        # the network alone (constant velocity + its raw residual) would go far beyond it
        t = model.tensors(inputs)
        raw = model.net(t.seq, t.lengths, t.static).detach().numpy()
        assert implied_acceleration(inputs, constant_velocity(inputs, H) + raw.reshape(-1, H, 2)).max() > 3 * a_max


def test_training_is_seeded_and_the_bundle_round_trips(tmp_path):
    frame, future = tracks(300, accel=True, seed=3)
    runs = []
    for _ in range(2):
        model, cfg = _model(frame)
        t = model.tensors(frame, future)
        _, history = fit(model.net, mse_loss, t, t, cfg, torch.device("cpu"))
        runs.append((model, history))
    (a, ha), (b, hb) = runs
    assert ha == hb and len(ha) == 2 and ha[-1]["validation_nll"] < ha[0]["train_nll"]
    np.testing.assert_array_equal(a.predict(frame), b.predict(frame))
    loaded = GhostingModel.load(a.save(tmp_path / "g.pt"))
    np.testing.assert_allclose(loaded.predict(frame), a.predict(frame), atol=1e-6)
    assert loaded.features == ["context", "d_target"]
    assert loaded.config.network.max_acceleration == CFG.network.max_acceleration
    # a format-1 file (before the bound) is read with the bound of the current configuration
    body = torch.load(tmp_path / "g.pt", weights_only=False)
    assert body["format"] == 2
    old = {**body, "format": 1, "config": {**body["config"], "network": {
        k: v for k, v in body["config"]["network"].items() if k != "max_acceleration"}}}
    torch.save(old, tmp_path / "g1.pt")
    np.testing.assert_allclose(GhostingModel.load(tmp_path / "g1.pt").predict(frame), a.predict(frame), atol=1e-6)
    torch.save({**body, "format": 3}, tmp_path / "g3.pt")
    with pytest.raises(ValueError, match=r"expected a trackflow ghosting model \(format 2\)"):
        GhostingModel.load(tmp_path / "g3.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable model file"):
        GhostingModel.load(tmp_path / "bad.pt")


# --- counterfactual retargeting ------------------------------------------------------------------

def test_retarget_reproduces_the_inputs_of_the_actual_target():
    frame, _ = tracks(4)
    frame["los_x"], frame["flight_time"] = 40.0, 1.2
    receiver = {"x": 60.0, "y": 30.0, "vx": 4.0, "vy": -1.0, "s": np.hypot(4.0, 1.0)}
    defense = pd.DataFrame({"x": frame["x_0"], "y": frame["y_0"], "vx": frame["vx_0"], "vy": frame["vy_0"]})
    out = retarget(frame, receiver, (70.0, 25.0), (35.0, 26.0), defense, target_radius=2.0)
    assert set(TARGET_DEPENDENT) <= set(out.columns)
    dx, dy = 60.0 - frame["x_0"], 30.0 - frame["y_0"]
    np.testing.assert_allclose(out["d_target"], np.hypot(dx, dy))
    np.testing.assert_allclose(out["cl_target"], ((frame["vx_0"] - 4.0) * dx + (frame["vy_0"] + 1.0) * dy) / np.hypot(dx, dy))
    assert out["target_depth"].iloc[0] == 20.0 and out["target_sideline_distance"].iloc[0] == pytest.approx(23.3)
    assert out["pass_depth"].iloc[0] == 30.0 and out["air_distance"].iloc[0] == pytest.approx(np.hypot(35, 1))
    np.testing.assert_allclose(out["speed_needed_to_landing"], np.hypot(70 - frame["x_0"], 25 - frame["y_0"]) / 1.2)
    np.testing.assert_allclose(frame["x_0"], out["x_0"])  # the defender's own state is untouched


# --- the 2026 prediction layout -------------------------------------------------------------------

def _canonical_plays(direction: str):
    """Two plays of 22 players moving at constant velocity, in the delivered orientation."""
    rows, plays, positions = [], [], []
    offense = ["QB", "WR", "WR", "WR", "TE", "RB", "T", "T", "G", "G", "C"]
    defense = ["CB", "CB", "FS", "SS", "CB", "ILB", "ILB", "OLB", "DE", "DE", "DT"]
    rng = np.random.default_rng(1)
    for play in (1, 2):
        for i, pos in enumerate(offense + defense):
            nid = play * 100 + i
            positions.append({"nfl_id": nid, "position": pos})
            p, v = rng.uniform([30, 10], [80, 43]), rng.uniform(-5, 5, 2)
            for f in range(1, 41):
                q = p + v * (f - 1) * DT
                event = {5: "ball_snap", 20: "pass_forward", 33: "pass_arrived"}.get(f)
                rows.append({"game_id": 7, "play_id": play, "nfl_id": nid, "frame_id": f, "club": "AAA" if i < 11 else "BBB",
                             "play_direction": direction, "x": q[0], "y": q[1], "s": np.hypot(*v), "a": 0.0,
                             "dir": ngs_angle(v[0], v[1]), "o": ngs_angle(v[0], v[1]), "event": event})
        for f in range(1, 41):
            rows.append({"game_id": 7, "play_id": play, "nfl_id": None, "frame_id": f, "club": "football",
                         "play_direction": direction, "x": 60.0, "y": 25.0, "s": 0.0, "a": 0.0, "dir": None, "o": None,
                         "event": None})
        plays.append({"game_id": 7, "play_id": play, "target_nfl_id": play * 100 + 1, "possession_team": "AAA",
                      "absolute_yardline": 45.0})
    return pd.DataFrame(rows), pd.DataFrame(plays), pd.DataFrame(positions).drop_duplicates("nfl_id")


@pytest.mark.parametrize("direction", ["right", "left"])
def test_prediction_layout_adapter_on_written_fixture_files(tmp_path, direction):
    tracking, plays, positions = _canonical_plays(direction)
    inp, out = write_prediction_week(tracking, plays, positions, tmp_path, 2025, 1)
    assert inp.name == "input_2025_w01.csv" and out.name == "output_2025_w01.csv"
    s = prediction_samples(tmp_path, 2025, 1)
    assert len(s.frame) == 2 * 5 and s.future.shape == (10, H, 2) and s.target_path.shape == (10, H + 1, 2)  # 5 DBs a play
    np.testing.assert_allclose(constant_velocity(s.frame, H), s.future, atol=1e-9)  # constant-velocity fixture
    assert np.isfinite(s.target_path).all()
    # left→right: every release position equals the canonical one turned as the features turn it
    rel = tracking[(tracking["frame_id"] == 20) & tracking["nfl_id"].isin(s.frame["nfl_id"])].sort_values("nfl_id")
    ex, ey = to_left_to_right(rel["play_direction"].to_numpy(), rel["x"], rel["y"])
    got = s.frame.sort_values("nfl_id")
    np.testing.assert_allclose(got["x_0"], ex)
    np.testing.assert_allclose(got["y_0"], ey)
    assert (s.frame["los_x"] == (45.0 if direction == "right" else FIELD_LENGTH - 45.0)).all()
    ev = evaluate_prediction_weeks(tmp_path, 2025, [1])
    assert ev.errors.loc["constant_velocity", "ade"] == pytest.approx(0.0, abs=1e-9) and ev.samples == 10


def test_the_ghosting_config_section_is_strict(tmp_path):
    import yaml

    from pipelines.config import ConfigError
    from training.passing import DEFAULT_TRAINING_CONFIG

    body = yaml.safe_load(DEFAULT_TRAINING_CONFIG.read_text())
    body["ghosting"]["network"]["hiden"] = 3
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match=r"ghosting\.network\.hiden"):
        load_ghosting_config(path)
    path.write_text(yaml.safe_dump({"passing": body["passing"]}))
    with pytest.raises(ConfigError, match="'ghosting' section"):
        load_ghosting_config(path)
