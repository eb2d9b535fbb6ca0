"""Injected anomalies: the truth table says exactly what is wrong in the data, and nothing else is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines import lake, schema
from pipelines.config import load_settings
from pipelines.field import ANOMALOUS_SPEED, FIELD_LENGTH, FIELD_WIDTH
from pipelines.schema import ANOMALY_KINDS
from pipelines.sources.simulator import simulate_to

KEY = ["game_id", "play_id", "nfl_id", "frame_id"]


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory):
    """Four small games with every second play corrupted, so that every kind occurs many times."""
    sim = load_settings("test", environ={}).simulator
    sim = sim.model_copy(update={"anomalies": sim.anomalies.model_copy(update={"play_rate": 0.5})})
    out = tmp_path_factory.mktemp("corrupted")
    simulate_to(sim, out, weeks=[1, 2], workers=1)
    return (lake.read_table(out / "tracking", schema.TRACKING).to_pandas(),
            lake.read_table(out / "truth/anomalies", schema.TRUTH_ANOMALIES).to_pandas())


@pytest.fixture(scope="module")
def tracking(corrupted) -> pd.DataFrame:
    return corrupted[0]


@pytest.fixture(scope="module")
def truth(corrupted) -> pd.DataFrame:
    return corrupted[1]


def _rows(tracking, truth, kind):
    keys = truth[truth.kind == kind][KEY]
    return keys, tracking.merge(keys, on=KEY)


def test_default_rate_is_about_one_percent_of_plays(two_weeks):
    truth = two_weeks["truth/anomalies"].to_pandas()
    rate = truth.groupby(["game_id", "play_id"]).ngroups / two_weeks["plays"].num_rows
    assert 0.004 < rate < 0.02


def test_every_kind_occurs_once_per_corrupted_play(truth, tracking):
    plays = truth.groupby(["game_id", "play_id"]).kind.nunique()
    assert (plays == 1).all()  # one kind per corrupted play
    assert set(truth.kind) == set(ANOMALY_KINDS)
    all_plays = tracking.groupby(["game_id", "play_id"]).ngroups
    assert 0.35 < len(plays) / all_plays < 0.65  # the configured rate, 0.5


def test_off_field_points_are_off_the_field(tracking, truth):
    keys, rows = _rows(tracking, truth, "off_field")
    assert len(rows) == len(keys) > 0
    on = rows.x.between(0, FIELD_LENGTH) & rows.y.between(0, FIELD_WIDTH)
    assert not on.any()


def test_speed_spikes_report_impossible_speeds(tracking, truth):
    keys, rows = _rows(tracking, truth, "speed_spike")
    assert len(rows) == len(keys) > 0 and (rows.s > ANOMALOUS_SPEED).all()


def test_teleports_jump_further_than_anyone_can_run(tracking, truth):
    keys, here = _rows(tracking, truth, "teleport")
    assert len(keys) == len(here) > 0
    before = tracking.merge(keys.assign(frame_id=keys.frame_id - 1), on=KEY)
    jump = np.hypot(here.x.to_numpy() - before.x.to_numpy(), here.y.to_numpy() - before.y.to_numpy())
    assert (jump * 10 > ANOMALOUS_SPEED).all()


def test_nan_coordinates_are_nan(tracking, truth):
    keys, rows = _rows(tracking, truth, "nan_coordinates")
    assert len(rows) == len(keys) > 0 and rows.x.isna().all() and rows.y.isna().all()


def test_dropped_player_frames_are_missing(tracking, truth):
    keys, rows = _rows(tracking, truth, "dropped_player_frames")
    assert len(keys) > 0 and rows.empty
    # and the player is there on the other frames of the play
    for k in keys.drop_duplicates(["game_id", "play_id", "nfl_id"]).itertuples(index=False):
        mine = tracking[(tracking.game_id == k.game_id) & (tracking.play_id == k.play_id) & (tracking.nfl_id == k.nfl_id)]
        assert len(mine) > 0


def test_duplicate_frames_are_delivered_twice(tracking, truth):
    keys = truth[truth.kind == "duplicate_frame"]
    assert len(keys) > 0 and keys.nfl_id.isna().all()
    for k in keys.itertuples(index=False):
        frame = tracking[(tracking.game_id == k.game_id) & (tracking.play_id == k.play_id) & (tracking.frame_id == k.frame_id)]
        assert len(frame) == 46 and frame.duplicated(keep=False).all()


def test_nothing_is_wrong_outside_the_truth_table(tracking, truth):
    bad_plays = truth[["game_id", "play_id"]].drop_duplicates().assign(bad=True)
    t = tracking.merge(bad_plays, on=["game_id", "play_id"], how="left")
    clean = t[t.bad.isna()]
    assert clean[["x", "y"]].notna().all().all()
    assert clean.x.between(0, FIELD_LENGTH).all() and clean.y.between(0, FIELD_WIDTH).all()
    assert not clean.duplicated(KEY).any()
    assert clean[clean.nfl_id.notna()].s.max() <= ANOMALOUS_SPEED
    frames = clean.groupby(["game_id", "play_id", "frame_id"]).size()
    assert (frames == 23).all()
