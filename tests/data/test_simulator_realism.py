"""The simulator's headline statistics on two simulated weeks match NFL passing (issue targets)."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.summary import play_summary


@pytest.fixture(scope="module")
def summary(two_weeks):
    return play_summary(two_weeks["plays"], two_weeks["truth/plays"], two_weeks["truth/anomalies"],
                        two_weeks["tracking"].num_rows)


@pytest.fixture(scope="module")
def plays_df(two_weeks):
    plays = two_weeks["plays"].to_pandas()
    truth = two_weeks["truth/plays"].to_pandas()
    return plays.merge(truth, on=["game_id", "play_id", "season", "week"], validate="one_to_one")


def test_volume_two_weeks_of_sixteen_games(summary, two_weeks):
    assert summary["games"] == 32
    per_team_game = two_weeks["plays"].group_by(["game_id", "possession_team"]).aggregate([("play_id", "count")])
    counts = per_team_game.column("play_id_count").to_numpy()
    assert counts.min() >= 35 and counts.max() <= 45


def test_completion_interception_and_yards_per_attempt(summary):
    assert 0.60 <= summary["completion_rate"] <= 0.68
    assert 0.015 <= summary["interception_rate"] <= 0.035
    assert 6.0 <= summary["yards_per_attempt"] <= 8.0


def test_completed_pass_yards_distribution(summary):
    assert 7 <= summary["completed_yards_p50"] <= 11
    assert summary["completed_yards_p99"] >= 40
    assert summary["completed_yards_min"] < 0  # screens and flats tackled behind the line


def test_snap_to_release_time(summary):
    assert 2.4 <= summary["time_to_throw_p50"] <= 3.0
    assert summary["time_to_throw_p05"] >= 1.2
    assert summary["time_to_throw_p95"] <= 5.0


def test_completion_falls_with_tighter_separation_and_pressure(plays_df):
    att = plays_df[plays_df.pass_result != "S"]
    done = att.pass_result == "C"
    tight, open_ = att.separation_at_arrival < 1.5, att.separation_at_arrival > 3.0
    assert done[tight].mean() + 0.15 < done[open_].mean()
    pressured = att.pressure_at_release < 2.0
    clean = att.pressure_at_release > 4.0
    assert done[pressured].mean() + 0.03 < done[clean].mean()
    # and the truth the draw used says the same, play by play
    assert np.corrcoef(np.log(att.separation_at_arrival.clip(0.3)), att.p_complete)[0, 1] > 0.5


def test_yards_after_catch_depend_on_separation_and_have_a_heavy_right_tail(plays_df):
    comp = plays_df[plays_df.pass_result == "C"]
    yac = comp.yards_gained - comp.air_yards
    roomy = comp.separation_at_arrival > 4.0
    tight = comp.separation_at_arrival < 1.5
    assert yac[roomy].mean() > yac[tight].mean() + 2.0
    q50, q90, q99 = np.percentile(yac, [50, 90, 99])
    # a Gaussian has q99 - q50 = 1.8 (q90 - q50); breakaways make the right tail much longer
    assert (q99 - q50) > 2.2 * (q90 - q50)


def test_true_yards_distributions_are_asymmetric_and_heavy_tailed(plays_df):
    att = plays_df[plays_df.pass_result != "S"]
    upper = att.yards_q95 - att.yards_q50
    lower = att.yards_q50 - att.yards_q05
    assert (upper != lower).mean() > 0.9  # asymmetric almost always (a Gaussian never is)
    assert (upper > lower).mean() > 0.5 and (upper - lower).mean() > 2.0  # mostly skewed to the right
    # tail length against the interquartile range, far beyond a Gaussian's 1.645 / 0.674 * 0.5 ≈ 1.22
    iqr = (att.yards_q75 - att.yards_q25).clip(lower=1)
    assert np.median(upper / iqr) > 1.3


def test_ground_truth_is_complete(plays_df):
    att = plays_df[plays_df.pass_result != "S"]
    assert att.p_complete.between(0, 1).all()
    assert att.target_nfl_id.notna().all()
    sums = att.target_probs.map(lambda p: float(np.sum(p)))
    assert np.allclose(sums, 1.0, atol=1e-4)
    # the target was one of the candidates, picked with a positive probability
    ok = [t in list(c) for t, c in zip(att.target_nfl_id, att.target_candidates)]
    assert all(ok)
    assert set(plays_df.coverage) >= {"cover1", "cover2", "cover3", "cover4"}
    sacks = plays_df[plays_df.pass_result == "S"]
    assert len(sacks) > 0 and sacks.target_nfl_id.isna().all() and (sacks.yards_gained <= 0).mean() > 0.9


def test_defensive_backs_react_after_the_release(two_weeks, plays_df):
    """After a reaction delay the defensive backs near the ball close on the landing spot; some are
    out of the play."""
    players = two_weeks["players"].to_pandas()
    dbs = players.nfl_id[players.position.isin(["CB", "FS", "SS"])].tolist()
    passes = plays_df[plays_df.pass_result.isin(["C", "I"])][["game_id", "play_id", "release_frame", "arrival_frame"]]
    t = two_weeks["tracking"].filter(pc.field("nfl_id").isin(dbs) | pc.field("nfl_id").is_null()).to_pandas()
    t = t.merge(passes, on=["game_id", "play_id"])
    ball = t[t.nfl_id.isna() & (t.frame_id == t.arrival_frame)][["game_id", "play_id", "x", "y"]]
    t = t[t.nfl_id.notna()].merge(ball, on=["game_id", "play_id"], suffixes=("", "_land"))
    t["d"] = np.hypot(t.x - t.x_land, t.y - t.y_land)
    t["k"] = t.frame_id - t.release_frame

    def dist_at(k):
        return t[t.k == k].set_index(["game_id", "play_id", "nfl_id"]).d

    d0, d1, d6, d7 = dist_at(0), dist_at(1), dist_at(6), dist_at(7)
    early = (d0 - d1).groupby(level=[0, 1]).max()  # best closing in the first 0.1 s
    later = (d6 - d7).groupby(level=[0, 1]).max()  # best closing 0.6 s after the release
    assert later.median() > early.median() + 0.2  # they react, with a delay
    nearest_closes = d0.groupby(level=[0, 1]).min() > t[t.frame_id == t.arrival_frame].groupby(["game_id", "play_id"]).d.min()
    assert nearest_closes.mean() > 0.7
    out_of_play = t[t.frame_id == t.arrival_frame].groupby(["game_id", "play_id"]).d.max() > 15
    assert 0.2 < out_of_play.mean() < 1.0
