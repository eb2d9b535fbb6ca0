"""The Spark anomaly filter with the real (local) Spark on two simulated test weeks in which 30 % of
the plays carry an injected anomaly, scored against the simulator's truth; plus a crafted week in
which each play carries one hand-made edit with a known outcome."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from pipelines import lake, schema
from pipelines.anomaly_filter import (
    ACTIONS,
    ANOMALIES,
    RULES,
    RULES_PATH,
    filter_week,
    format_report,
    load_rules,
    score_against_truth,
    validate_clean,
)
from pipelines.config import ConfigError, load_settings
from pipelines.field import ANOMALOUS_SPEED, FIELD_WIDTH
from pipelines.ingest import raw_root
from pipelines.schema import ANOMALY_KINDS
from pipelines.sources.simulator import simulate_week
from tests.spark.lakes import ingested
from pipelines.validate import ValidationError

SEASON, WEEKS = 2025, (1, 2)
CRAFTED, SURPLUS_POLICY = 3, 4  # weeks written by hand into the raw lake (no truth)
PLAY = ["game_id", "play_id"]
KEYS = ["game_id", "play_id", "nfl_id", "frame_id"]
F = 10  # the frame the crafted edits touch: players are moving, neighbours exist


def _env(home: Path, rate: str) -> dict[str, str]:
    return {"TRACKFLOW__PATHS__HOME": str(home), "TRACKFLOW__SIMULATOR__ANOMALIES__PLAY_RATE": rate}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return ingested(tmp_path_factory, "filter", "0.3", list(WEEKS))


@pytest.fixture(scope="module")
def reports(settings, spark):
    return {week: filter_week(settings, SEASON, week) for week in WEEKS}


def _read(settings, table: str, table_schema: pa.Schema, week: int) -> pd.DataFrame:
    root = raw_root(settings) / "tracking" if table == "raw/tracking" else settings.paths.lake / table
    return lake.read_table(lake.partition_dir(root, SEASON, week), schema.file_schema(table_schema)).to_pandas()


def _plays(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(map(tuple, df[PLAY].drop_duplicates().to_numpy()))


@pytest.fixture(scope="module")
def uncorrupted(settings) -> pd.DataFrame:
    """Week 1 simulated without anomalies.  The simulator's physics does not depend on the anomaly
    rate (the injection draws last), so these are the rows the corrupted ones should have been."""
    sim = load_settings("test", environ=_env(settings.paths.home, "0")).simulator
    return simulate_week(sim, SEASON, 1)["tracking"].to_pandas()


@pytest.fixture(scope="module")
def outputs(settings, reports):
    """Per week: the raw, clean, anomalies and truth tables as written."""
    return {week: {"raw": _read(settings, "raw/tracking", schema.TRACKING, week),
                   "clean": _read(settings, "clean/tracking", schema.TRACKING, week),
                   "anomalies": _read(settings, "clean/anomalies", ANOMALIES, week),
                   "truth": _read(settings, "truth/anomalies", schema.TRUTH_ANOMALIES, week)} for week in WEEKS}


# --- rules ---------------------------------------------------------------------------------------

def test_rules_have_reasons_and_the_documented_defaults():
    rules = load_rules()
    assert all(getattr(rules, r).why.strip() for r in RULES)
    assert rules.speed.max_speed == rules.jump.max_speed == ANOMALOUS_SPEED
    assert {r: getattr(rules, r).policy for r in RULES} == {
        "duplicate_key": "repair", "nan_coordinates": "repair", "off_field": "repair", "speed": "drop_play",
        "jump": "repair", "time_order": "drop_play", "incomplete_frame": "drop_play"}
    assert rules.params()["off_field.tolerance_yd"] == 1.0 and "off_field.why" not in rules.params()


@pytest.mark.parametrize("edit, message", [
    (("speed", "policy", "repair"), "rules.speed.policy"),  # no exact fix for a wrong speed
    (("incomplete_frame", "policy", "drop_track"), "rules.incomplete_frame.policy"),
    (("off_field", "tolerance", 1.0), "rules.off_field.tolerance: Extra inputs"),
    (("jump", "max_speed", -1), "rules.jump.max_speed"),
])
def test_rule_errors_name_the_key(tmp_path, edit, message):
    body = yaml.safe_load(RULES_PATH.read_text())
    rule, key, value = edit
    body["rules"][rule][key] = value
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_rules(path)


# --- the simulated weeks ---------------------------------------------------------------------------

@pytest.mark.parametrize("week", WEEKS)
def test_injected_anomalies_are_caught_and_clean_plays_kept(settings, outputs, reports, week):
    out, score = outputs[week], reports[week].score
    injected, flagged, kept = _plays(out["truth"]), _plays(out["anomalies"]), _plays(out["clean"])
    clean_plays = _plays(out["raw"]) - injected
    assert len(injected) > 30 and len(clean_plays) > 80
    recall = len(injected & flagged) / len(injected)
    removed = len(clean_plays - kept) / len(clean_plays)
    assert recall >= 0.99 and removed <= 0.005
    # the scoring function agrees with this independent count
    assert (score.anomalous_plays, score.caught, score.clean_plays) == (
        len(injected), len(injected & flagged), len(clean_plays))
    assert score.recall == pytest.approx(recall) and score.false_positive_rate == pytest.approx(removed)
    assert score.clean_plays_flagged == len(clean_plays & flagged)
    assert score_against_truth(settings, SEASON, week) == score


def test_every_kind_is_caught(outputs, reports):
    injected = dict.fromkeys(ANOMALY_KINDS, 0)
    for week in WEEKS:
        truth, flagged = outputs[week]["truth"], _plays(outputs[week]["anomalies"])
        for kind, rows in truth.groupby("kind"):
            plays = _plays(rows)
            assert plays <= flagged, f"week {week}: {kind} missed in {sorted(plays - flagged)}"
            assert reports[week].score.by_kind[kind] == {"plays": len(plays), "caught": len(plays)}
            injected[kind] += len(plays)
    assert min(injected.values()) >= 5, injected


def test_clean_partitions_read_back_with_the_canonical_schemas(settings, reports):
    for table, table_schema in (("tracking", schema.TRACKING), ("anomalies", ANOMALIES)):
        root = settings.paths.lake / "clean" / table
        back = lake.read_table(root, table_schema)
        assert back.schema == table_schema and sorted(set(back["week"].to_pylist())) == list(WEEKS)
        season = lake.partition_dir(root, SEASON)
        assert sorted(p.name for p in season.iterdir()) == [f"week={w}" for w in WEEKS]  # no temporary siblings
        assert all(sorted(p.name for p in part.iterdir()) == [lake.PART_FILE] for part in season.iterdir())
    clean = lake.read_table(settings.paths.lake / "clean" / "tracking", schema.TRACKING).to_pandas()
    assert clean.equals(clean.sort_values(["week", *KEYS], na_position="first", ignore_index=True))
    assert reports[1].rows_out == (clean["week"] == 1).sum()


def test_clean_suite_passed_and_fails_on_raw_data(settings, reports, tmp_path):
    for week in WEEKS:
        assert json.loads(Path(reports[week].paths["validation"]).with_suffix(".json").read_text())["success"]
    raw = lake.partition_dir(raw_root(settings) / "tracking", SEASON, 1)
    elsewhere = load_settings("test", environ={"TRACKFLOW__PATHS__HOME": str(tmp_path)})  # for its report
    with pytest.raises(ValidationError) as err:
        validate_clean(elsewhere, raw, SEASON, 1, load_rules())
    for why in ("rule duplicate_key", "rule nan_coordinates", "rule speed", "rule incomplete_frame", "rule jump"):
        assert why in str(err.value)


def test_repairs_restore_the_uncorrupted_positions(outputs, uncorrupted):
    out = outputs[1]
    repaired = out["anomalies"].query("action == 'repair' and rule != 'duplicate_key'")[KEYS].drop_duplicates()
    assert len(repaired) >= 5
    both = out["clean"].merge(uncorrupted, on=KEYS, suffixes=("", "_true"), how="left")
    assert len(both) == len(out["clean"]) and both["x_true"].notna().all()
    error = np.hypot(both["x"] - both["x_true"], both["y"] - both["y_true"])
    is_repaired = both.set_index(KEYS).index.isin(repaired.set_index(KEYS).index)
    assert error[is_repaired].max() < 0.1  # yd: the midpoint of the neighbours
    assert (error[~is_repaired] == 0).all()  # every other kept row is as delivered


def test_anomaly_rows_name_a_rule_and_the_action(outputs):
    for out in outputs.values():
        anomalies = out["anomalies"]
        assert set(anomalies["rule"]) <= set(RULES) and set(anomalies["action"]) <= set(ACTIONS)
        assert not anomalies.duplicated(KEYS + ["rule"]).any()
        dropped = _plays(out["raw"]) - _plays(out["clean"])
        assert dropped == _plays(anomalies[anomalies["action"] == "drop_play"])
        assert not dropped & _plays(anomalies[anomalies["action"] == "repair"])
        frames = anomalies[anomalies["rule"] == "incomplete_frame"]
        assert frames["nfl_id"].isna().all() and (frames["action"] == "drop_play").all()


def test_report_json_and_mlflow_run(settings, reports):
    report = reports[1]
    assert report.plays_in == report.plays_out + report.plays_dropped and report.plays_repaired > 0
    assert sum(c["plays_dropped"] > 0 for c in report.rules.values()) >= 4
    written = json.loads(Path(report.paths["report"]).read_text())
    assert written["rows_in"] == report.rows_in and written["score"]["recall"] == report.score.recall
    assert Path(report.paths["report"]) == settings.paths.lake / "reports/anomalies/season=2025/week=1.json"
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    run = mlflow.get_run(report.mlflow_run_id)
    assert run.info.run_name == "filter 2025 w1"
    assert mlflow.get_experiment(run.info.experiment_id).name == "trackflow/ingest"
    assert run.data.params["jump.policy"] == "repair" and run.data.params["speed.max_speed"] == "12.5"
    assert run.data.metrics["truth.recall"] == report.score.recall
    assert run.data.metrics["plays_dropped"] == report.plays_dropped
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["week=1.json"]
    text = format_report(report)
    assert f"{report.plays_in:,} plays in" in text and "recall" in text and "incomplete_frame" in text


def test_missing_week_is_refused(settings):
    with pytest.raises(FileNotFoundError, match="ingest the week first"):
        filter_week(settings, SEASON, 17)


# --- a crafted week: one hand-made edit per play ---------------------------------------------------

def _mover(play: pd.DataFrame) -> int:
    """A player well inside the field at frame F, so that a 3-yd jump stays on it."""
    at = play[(play["frame_id"] == F) & play["nfl_id"].notna()]
    inside = at[at["x"].between(20, 100) & at["y"].between(10, FIELD_WIDTH - 10)]
    return int(inside["nfl_id"].min())


def _set(play, nfl_id, frames, **values):
    """Set (or map) ``values`` on the rows of ``nfl_id`` (None: the ball) in ``frames``."""
    who = play["nfl_id"].isna() if nfl_id is None else play["nfl_id"] == nfl_id
    rows = who & play["frame_id"].isin(frames)
    for column, value in values.items():
        play.loc[rows, column] = value(play.loc[rows, column]) if callable(value) else value
    return play


def _copy_row(play, nfl_id, **changes):
    row = play[(play["nfl_id"] == nfl_id) & (play["frame_id"] == F)].assign(**changes)
    return pd.concat([play, row])


def _surplus_track(play, nfl_id):
    track = play[play["nfl_id"] == nfl_id].assign(nfl_id=9_999_999)
    return _set(pd.concat([play, track]), 9_999_999, [F], s=13.0)


# edit -> (what it does to the play and its mover, play kept?, rules that fire)
EDITS = {
    "untouched": (lambda p, n: p, True, set()),
    "inside_tolerance": (lambda p, n: _set(p, n, range(1, 999), y=FIELD_WIDTH + 0.9), True, set()),
    "off_field": (lambda p, n: _set(p, n, range(1, 999), y=FIELD_WIDTH + 1.5), False, {"off_field"}),
    "fast_ball": (lambda p, n: _set(p, None, [F], s=30.0), True, set()),  # the ball may fly
    "nan_once": (lambda p, n: _set(p, n, [F], x=np.nan, y=np.nan), True, {"nan_coordinates"}),
    "nan_twice": (lambda p, n: _set(p, n, [F, F + 1], x=np.nan, y=np.nan), False, {"nan_coordinates"}),
    "teleport": (lambda p, n: _set(p, n, [F], x=lambda x: x + 3.0), True, {"jump"}),
    # a jump without the jump back is no one-frame glitch: repairing frame F would move a good frame
    "two_frame_shift": (lambda p, n: _set(p, n, [F, F + 1], x=lambda x: x + 3.0), False, {"jump"}),
    "shift": (lambda p, n: _set(p, n, range(F, 999), x=lambda x: x + 3.0), False, {"jump"}),
    "exact_copy": (lambda p, n: _copy_row(p, n), True, {"duplicate_key"}),
    "conflicting_copy": (lambda p, n: _copy_row(p, n, o=lambda d: d["o"] + 1.0), False, {"duplicate_key"}),
    "clock_stalls": (lambda p, n: _set(p, n, [F], time=lambda t: t - pd.Timedelta(milliseconds=100)),
                     False, {"time_order"}),
    "speed": (lambda p, n: _set(p, n, [F], s=ANOMALOUS_SPEED + 0.5), False, {"speed"}),
    "frame_missing": (lambda p, n: p[p["frame_id"] != F], False, {"incomplete_frame"}),
    "surplus_track": (_surplus_track, False, {"speed"}),
}



@pytest.fixture(scope="module")
def crafted(settings, spark, uncorrupted):
    """The crafted week filtered twice (the second run must write the same bytes), and once more as
    another week with the speed rule set to drop_track."""
    week = uncorrupted
    plays = list(week[PLAY].drop_duplicates().head(len(EDITS)).itertuples(index=False))
    edited, movers = [], {}
    for (name, (edit, _, _)), (game_id, play_id) in zip(EDITS.items(), plays, strict=True):
        play = week[(week["game_id"] == game_id) & (week["play_id"] == play_id)].copy()
        movers[name] = (game_id, play_id, _mover(play))
        edited.append(edit(play, movers[name][2]))
    table = pa.Table.from_pandas(pd.concat(edited), preserve_index=False)
    for w in (CRAFTED, SURPLUS_POLICY):
        lake.write_partition(table, raw_root(settings) / "tracking", schema.TRACKING, SEASON, w)

    def files(w):
        return {t: (lake.partition_dir(settings.paths.lake / "clean" / t, SEASON, w) / lake.PART_FILE).read_bytes()
                for t in ("tracking", "anomalies")}

    rules = load_rules()
    surplus_rules = rules.model_copy(update={"speed": rules.speed.model_copy(update={"policy": "drop_track"})})
    first = filter_week(settings, SEASON, CRAFTED)
    first_files = files(CRAFTED)
    second = filter_week(settings, SEASON, CRAFTED)
    surplus = filter_week(settings, SEASON, SURPLUS_POLICY, surplus_rules)
    return {"movers": movers, "reports": (first, second, surplus), "files": (first_files, files(CRAFTED)),
            "out": {w: (_read(settings, "clean/tracking", schema.TRACKING, w),
                        _read(settings, "clean/anomalies", ANOMALIES, w)) for w in (CRAFTED, SURPLUS_POLICY)}}


@pytest.mark.parametrize("name", EDITS)
def test_crafted_edit(crafted, name):
    _, expect_kept, expect_rules = EDITS[name]
    game_id, play_id, mover = crafted["movers"][name]
    clean, anomalies = crafted["out"][CRAFTED]
    play = clean[(clean["game_id"] == game_id) & (clean["play_id"] == play_id)]
    fired = anomalies[(anomalies["game_id"] == game_id) & (anomalies["play_id"] == play_id)]
    assert (len(play) > 0) == expect_kept
    assert set(fired["rule"]) == expect_rules
    assert set(fired["action"]) <= ({"repair"} if expect_kept else {"drop_play"})
    if name in ("nan_once", "teleport"):  # one row repaired: the midpoint of its neighbours
        assert fired[KEYS].values.tolist() == [[game_id, play_id, mover, F]]
        track = play[play["nfl_id"] == mover].set_index("frame_id")
        for c in ("x", "y"):
            assert track.loc[F, c] == pytest.approx((track.loc[F - 1, c] + track.loc[F + 1, c]) / 2)
        step = track.loc[F, ["x", "y"]] - track.loc[F - 1, ["x", "y"]]
        assert track.loc[F, "dis"] == pytest.approx(np.hypot(*step))
    if expect_kept:
        assert play.groupby("frame_id").size().eq(23).all()


def test_crafted_week_has_no_truth_and_a_rerun_writes_the_same_bytes(crafted):
    first, second, _ = crafted["reports"]
    assert first.score is None and second.score is None
    assert crafted["files"][0] == crafted["files"][1]
    assert first.rules == second.rules and first.rows_out == second.rows_out


def test_drop_track_keeps_a_play_only_when_the_track_was_surplus(crafted):
    clean, anomalies = crafted["out"][SURPLUS_POLICY]
    kept = _plays(clean)
    for name, expect_kept, expect_rules in (("surplus_track", True, {"speed"}),
                                            ("speed", False, {"speed", "incomplete_frame"})):
        game_id, play_id, _ = crafted["movers"][name]
        fired = anomalies[(anomalies["game_id"] == game_id) & (anomalies["play_id"] == play_id)]
        assert ((game_id, play_id) in kept) == expect_kept
        assert set(fired["rule"]) == expect_rules
        assert set(fired["action"]) == ({"drop_track"} if expect_kept else {"drop_play"})
    assert 9_999_999 not in set(clean["nfl_id"])
