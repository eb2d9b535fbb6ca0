"""Mirror augmentation of the passing plays (training.passing.mirror_plays): a mirror across the
field's long axis on a hand-built play — channels, slot order, static features, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import SEQ_FEATURES
from pipelines.field import FIELD_WIDTH, ngs_angle, unit_from_ngs_angle
from training.passing import (STATIC_MIRROR, PassingData, concat_plays, load_training_config, mirror_plays,
                              mirrorable)

T, LEN = 5, 4  # frames in the tensor, valid frames of the play (one padding frame)
C = {name: i for i, name in enumerate(SEQ_FEATURES)}
FEATURES = ["landing_y", "target_sideline_distance", "pass_depth", "formation_width", "target_vx"]


def _play(seed=0) -> np.ndarray:
    """One play [T, 22, 8] in build.py's slot order: the QB in slot 0, the offense (1–10) and the
    defense (11–21) by ascending (y, x) at the snap (frame 0), with one exact tie in y in each group.
    Each player's x is unique, so x identifies him across slots."""
    rng = np.random.default_rng(seed)
    seq = np.zeros((T, 22, 8), np.float32)
    snap_y = np.empty(22)
    snap_y[0] = 25.0
    snap_y[1:11] = np.sort(rng.uniform(2, 51, 10))
    snap_y[11:] = np.sort(rng.uniform(2, 51, 11))
    snap_y[5] = snap_y[4]  # ties: x breaks them
    snap_y[16] = snap_y[15]
    snap_x = rng.uniform(20, 60, 22)
    for lo, hi in ((1, 11), (11, 22)):  # within a y tie, ascending x
        for i in range(lo, hi - 1):
            if snap_y[i] == snap_y[i + 1] and snap_x[i] > snap_x[i + 1]:
                snap_x[i], snap_x[i + 1] = snap_x[i + 1], snap_x[i]
    for t in range(LEN):
        s = rng.uniform(0.5, 8, 22)
        d = rng.uniform(0, 360, 22)
        ux, uy = unit_from_ngs_angle(d)
        seq[t, :, C["x"]] = snap_x + 0.3 * t
        seq[t, :, C["y"]] = snap_y + 0.1 * t * (t > 0)
        seq[t, :, C["vx"]], seq[t, :, C["vy"]] = s * ux, s * uy
        seq[t, :, C["ax"]], seq[t, :, C["ay"]] = rng.normal(0, 2, 22), rng.normal(0, 2, 22)
        seq[t, :, C["dir"]] = d
        seq[t, :, C["o"]] = rng.uniform(0, 360, 22)
    seq[2, 7] = 0  # a player-frame cleaned away: stays absent
    return seq


def _data(n=3, **context) -> PassingData:
    seq = np.stack([_play(i) for i in range(n)])
    static = np.array([[10.0, 3.5, 12.0, 30.0, -1.5], [40.0, 13.3, 5.0, 20.0, 2.0], [np.nan, 1.0, np.nan, 25.0, 0.0]])[:n]
    ctx = pd.DataFrame({"game_id": np.arange(n) + 100, "play_id": np.arange(n) + 1, "snap_frame": 11,
                        "release_frame": 11 + LEN - 1, **context})
    for j, f in enumerate(FEATURES):
        ctx[f] = static[:, j]
    return PassingData(seq=seq, lengths=np.full(n, LEN, np.int64), static_raw=static,
                       y=np.arange(n, dtype=np.float32) + 4, game_id=ctx["game_id"].to_numpy(), context=ctx,
                       features=list(FEATURES))


def _angle_close(a, b, atol=1e-3):
    return np.allclose((np.asarray(a, np.float64) - b + 180) % 360 - 180, 0, atol=atol)


def _match(original: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """For each slot of the mirrored play, the original slot of the same player (by his unique x)."""
    ox, mx = original[0, :, C["x"]], mirrored[0, :, C["x"]]
    where = np.array([int(np.flatnonzero(ox == v)[0]) for v in mx])
    assert sorted(where) == list(range(22))
    return where


def test_mirroring_twice_gives_back_the_plays():
    data = _data()
    back = mirror_plays(mirror_plays(data))
    assert np.array_equal(back.lengths, data.lengths) and np.array_equal(back.y, data.y)
    for c, name in enumerate(SEQ_FEATURES):
        if name in ("dir", "o"):
            assert _angle_close(back.seq[..., c], data.seq[..., c]), name
        else:
            np.testing.assert_allclose(back.seq[..., c], data.seq[..., c], atol=1e-4, err_msg=name)
    np.testing.assert_allclose(back.static_raw, data.static_raw)  # NaN where NaN


def test_channels_map_as_a_mirror_across_the_long_axis():
    data = _data()
    m = mirror_plays(data)
    for p in range(len(data)):
        src = data.seq[p][:, _match(data.seq[p], m.seq[p])]  # the original players in the mirrored slots
        got = m.seq[p]
        valid = np.zeros((T, 22), bool)
        valid[:LEN] = True
        valid &= (src != 0).any(-1)
        for name in ("x", "vx", "ax"):
            np.testing.assert_array_equal(got[valid][:, C[name]], src[valid][:, C[name]])
        np.testing.assert_allclose(got[valid][:, C["y"]], FIELD_WIDTH - src[valid][:, C["y"]], atol=1e-5)
        np.testing.assert_array_equal(got[valid][:, C["vy"]], -src[valid][:, C["vy"]])
        np.testing.assert_array_equal(got[valid][:, C["ay"]], -src[valid][:, C["ay"]])
        for name in ("dir", "o"):
            assert _angle_close(got[valid][:, C[name]], 180.0 - src[valid][:, C[name]]), name
            assert ((got[..., C[name]] >= 0) & (got[..., C[name]] < 360)).all()
        # the mirrored direction still gives the mirrored velocity (the field's own conversions)
        s = np.hypot(got[valid][:, C["vx"]], got[valid][:, C["vy"]])
        ux, uy = unit_from_ngs_angle(got[valid][:, C["dir"]])
        np.testing.assert_allclose(s * ux, got[valid][:, C["vx"]], atol=1e-3)
        np.testing.assert_allclose(s * uy, got[valid][:, C["vy"]], atol=1e-3)
        assert _angle_close(ngs_angle(got[valid][:, C["vx"]], got[valid][:, C["vy"]]), got[valid][:, C["dir"]])
        # padding frames and the absent player-frame stay zero
        assert not got[LEN:].any() and not got[~valid].any()
        assert (~valid[:LEN]).sum() == 1


def test_slot_order_follows_the_build_rule_after_the_mirror():
    data = _data()
    m = mirror_plays(data)
    for p in range(len(data)):
        snap = m.seq[p, 0]
        assert snap[0, C["x"]] == data.seq[p, 0, 0, C["x"]]  # the QB stays in slot 0
        for lo, hi in ((1, 11), (11, 22)):  # build.py's key: (y, x) at the snap, ascending
            key = list(zip(snap[lo:hi, C["y"]].tolist(), snap[lo:hi, C["x"]].tolist()))
            assert key == sorted(key), (p, lo)
        where = _match(data.seq[p], m.seq[p])
        assert set(where[1:11]) == set(range(1, 11)) and set(where[11:]) == set(range(11, 22))  # sides kept
        assert where[1] == 10 and where[11] == 21  # the rightmost player became the leftmost
    assert mirrorable(m).all()


def test_static_features_map_by_their_rule():
    data = _data()
    m = mirror_plays(data)
    j = FEATURES.index("landing_y")
    np.testing.assert_allclose(m.static_raw[:, j], FIELD_WIDTH - data.static_raw[:, j])  # NaN stays NaN
    assert np.isnan(m.static_raw[2, j])
    other = [i for i in range(len(FEATURES)) if i != j]
    np.testing.assert_array_equal(m.static_raw[:, other], data.static_raw[:, other])
    np.testing.assert_array_equal(m.context["landing_y"].to_numpy(), m.static_raw[:, j])
    assert (m.context["game_id"] == data.context["game_id"]).all()  # same game: same split
    assert STATIC_MIRROR["landing_y"] == "reflect" and STATIC_MIRROR["target_vx"] == "keep"


def test_an_unknown_static_feature_is_refused():
    data = _data()
    data.features = [*FEATURES[:-1], "target_vy"]
    with pytest.raises(ValueError, match="target_vy"):
        mirror_plays(data)


def test_a_play_whose_slot_order_cannot_be_rebuilt_is_refused():
    data = _data()
    data.context.loc[1, "snap_frame"] = 0  # cut to max_frames: the snap is not in the tensor
    data.seq[2, 0, 21] = 0  # an empty slot at the snap
    assert mirrorable(data).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="2 play"):
        mirror_plays(data)
    assert len(mirror_plays(data.take(mirrorable(data)))) == 1
    shuffled = _data()
    shuffled.seq[0, :, [3, 4]] = shuffled.seq[0, :, [4, 3]]  # offense out of y order
    assert mirrorable(shuffled).tolist() == [False, True, True]


def test_concat_and_the_config_flag():
    data = _data()
    both = concat_plays(data, mirror_plays(data))
    assert len(both) == 2 * len(data) and len(both.context) == 2 * len(data)
    assert isinstance(load_training_config().augment_mirror, bool)
