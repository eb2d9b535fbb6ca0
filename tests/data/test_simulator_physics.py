"""Physical plausibility and internal consistency of the simulated tracking (clean plays)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.field import ANOMALOUS_SPEED, FIELD_LENGTH, FIELD_WIDTH, MAX_PLAYER_ACCEL, MAX_PLAYER_SPEED, ngs_angle

BDB_EVENTS = {
    "line_set", "ball_snap", "pass_forward", "pass_arrived", "pass_outcome_caught", "pass_outcome_incomplete",
    "pass_outcome_interception", "tackle", "out_of_bounds", "touchdown", "qb_sack",
}
OUTCOMES = {"pass_outcome_caught", "pass_outcome_incomplete", "pass_outcome_interception"}


@pytest.fixture(scope="module")
def clean(two_weeks) -> pd.DataFrame:
    """Tracking rows of the plays without an injected anomaly, sorted by entity and frame."""
    t = two_weeks["tracking"].to_pandas()
    bad = two_weeks["truth/anomalies"].to_pandas()[["game_id", "play_id"]].drop_duplicates()
    t = t.merge(bad.assign(bad=True), on=["game_id", "play_id"], how="left")
    t = t[t.bad.isna()].drop(columns="bad")
    return t.sort_values(["game_id", "play_id", "nfl_id", "frame_id"], na_position="last").reset_index(drop=True)


@pytest.fixture(scope="module")
def steps(clean) -> pd.DataFrame:
    """Frame-to-frame steps of every player (not the ball), from the second frame on."""
    p = clean[clean.nfl_id.notna()].copy()
    g = p.groupby(["game_id", "play_id", "nfl_id"], sort=False)
    p["dx"], p["dy"] = g.x.diff(), g.y.diff()
    return p[p.dx.notna()]


def test_some_plays_are_clean_and_most_are(two_weeks, clean):
    plays = two_weeks["plays"].num_rows
    clean_plays = clean.groupby(["game_id", "play_id"]).ngroups
    assert 0.95 * plays < clean_plays < plays


def test_players_within_speed_and_acceleration_limits(clean):
    players = clean[clean.nfl_id.notna()]
    assert players.s.max() <= MAX_PLAYER_SPEED == 11.0
    assert players.a.max() <= MAX_PLAYER_ACCEL == 10.0
    assert players.s.max() > 9.0  # and they do run: the limit is not met by standing still


def test_every_point_on_the_field_and_never_missing(clean):
    assert clean[["x", "y", "s", "a", "dis"]].notna().all().all()
    assert clean.x.between(0, FIELD_LENGTH).all() and clean.y.between(0, FIELD_WIDTH).all()


def test_eleven_against_eleven_plus_the_ball_on_every_frame(clean):
    per_frame = clean.groupby(["game_id", "play_id", "frame_id"]).agg(
        rows=("club", "size"), ball=("nfl_id", lambda s: s.isna().sum()), clubs=("club", "nunique"))
    assert (per_frame.rows == 23).all() and (per_frame.ball == 1).all() and (per_frame.clubs == 3).all()
    per_club = clean[clean.nfl_id.notna()].groupby(["game_id", "play_id", "frame_id", "club"]).nfl_id.nunique()
    assert (per_club == 11).all()


def test_dis_equals_the_distance_between_frames(steps):
    gap = (steps.dis - np.hypot(steps.dx, steps.dy)).abs()
    assert gap.max() <= 0.01


def test_speed_agrees_with_the_positions(steps):
    # positions are published to 0.01 yd, so a one-frame speed is only known to about ±0.15 yd/s
    assert (steps.s - np.hypot(steps.dx, steps.dy) * 10).abs().max() <= 0.2


def test_dir_is_the_direction_of_motion_in_the_ngs_convention(steps):
    moving = steps[steps.s > 1.0]
    motion = ngs_angle(moving.dx.to_numpy(), moving.dy.to_numpy())
    diff = np.abs((moving.dir.to_numpy() - motion + 180.0) % 360.0 - 180.0)
    assert diff.max() <= 5.0
    assert moving.o.between(0, 360, inclusive="left").all()


def test_ball_has_no_orientation_or_direction(clean):
    ball = clean[clean.nfl_id.isna()]
    assert (ball.club == "football").all() and ball.o.isna().all() and ball.dir.isna().all()
    assert ball.jersey_number.isna().all()


def test_events_in_big_data_bowl_spelling_and_order(clean, two_weeks):
    ev = clean[clean.nfl_id.isna() & clean.event.notna()][["game_id", "play_id", "frame_id", "event"]]
    assert set(ev.event) <= BDB_EVENTS
    plays = two_weeks["plays"].to_pandas().set_index(["game_id", "play_id"])
    by_play = ev.groupby(["game_id", "play_id"]).event.apply(list)
    for key, events in by_play.items():
        result = plays.loc[key, "pass_result"]
        assert events[0] == "line_set" and events[1] == "ball_snap", events
        if result == "S":
            assert events[2:] == ["qb_sack"], events
            continue
        assert events[2:4] == ["pass_forward", "pass_arrived"], events
        assert len(OUTCOMES & set(events)) == 1
        if result == "C":
            assert events[4] == "pass_outcome_caught" and events[5] in {"tackle", "out_of_bounds", "touchdown"}
        elif result == "I":
            assert events[4:] == ["pass_outcome_incomplete"]
        else:
            assert events[4] == "pass_outcome_interception"


def test_play_direction_is_where_the_offense_goes(clean, two_weeks):
    plays = two_weeks["plays"].to_pandas()[["game_id", "play_id", "possession_team"]]
    snap = clean[(clean.event == "ball_snap") & clean.nfl_id.notna()].merge(plays, on=["game_id", "play_id"])
    snap["side"] = np.where(snap.club == snap.possession_team, "off", "def")
    mean_x = snap.pivot_table(index=["game_id", "play_id", "play_direction"], columns="side", values="x").reset_index()
    right = mean_x.play_direction == "right"
    assert (mean_x.off[right] < mean_x["def"][right]).all()
    assert (mean_x.off[~right] > mean_x["def"][~right]).all()
    assert 0.3 < right.mean() < 0.7


def test_no_speed_above_the_anomaly_threshold_without_an_anomaly(steps):
    assert (np.hypot(steps.dx, steps.dy) * 10).max() < ANOMALOUS_SPEED
