"""Configuration: profiles, environment overrides, absolute paths and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG, PROJECT_ROOT, ConfigError, load_settings, parse_weeks


def test_profiles_differ_where_they_say(tmp_path):
    test, demo, season = (load_settings(p, environ={}) for p in ("test", "demo", "season"))
    assert test.simulator.games_per_week < demo.simulator.games_per_week == 16
    assert demo.simulator.week_list == [1, 2]
    assert season.simulator.week_list == list(range(1, 18))
    assert test.simulator.seed == demo.simulator.seed  # only what a profile names changes


def test_default_profile_is_demo_or_the_environment():
    assert load_settings(environ={}).profile == "demo"
    assert load_settings(environ={"TRACKFLOW_PROFILE": "test"}).profile == "test"


def test_paths_are_absolute_and_under_the_project_by_default():
    s = load_settings("demo", environ={})
    assert s.paths.home == PROJECT_ROOT
    for name in ("lake", "simulated", "mlflow_db", "mlflow_artifacts", "airflow_home"):
        value = getattr(s.paths, name)
        assert value.is_absolute() and PROJECT_ROOT in value.parents
    assert s.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT}/mlflow/mlflow.db"
    assert s.mlflow_artifact_root.startswith("file:///")


def test_environment_overrides_nested_keys_with_types(tmp_path):
    s = load_settings("demo", environ={
        "TRACKFLOW__SIMULATOR__SEED": "7",
        "TRACKFLOW__PATHS__HOME": str(tmp_path),
        "TRACKFLOW__SIMULATOR__ANOMALIES__PLAY_RATE": "0.05",
    })
    assert s.simulator.seed == 7 and s.simulator.anomalies.play_rate == 0.05
    assert s.paths.lake == tmp_path.resolve() / "lake"
    assert s.config_hash() != load_settings("demo", environ={}).config_hash()


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"TRACKFLOW__SIMULATOR__SEEED": "1"}, "'seeed'"),
        ({"TRACKFLOW__SIMULATOR__SEED": "many"}, "simulator.seed"),
        ({"TRACKFLOW__SIMULATOR__GAMES_PER_WEEK": "17"}, "simulator.games_per_week"),
        ({"TRACKFLOW__SIMULATOR__WEEKS": "3-1"}, "simulator.weeks"),
        ({"TRACKFLOW__SIMULATOR__ANOMALIES__KINDS": "{teleportation: 1}"}, "teleportation"),
        ({"TRACKFLOW__SPARKS__MASTER": "local"}, "'sparks'"),
        ({"TRACKFLOW__SPARK__CONF": "{executor.memory: 4g}"}, "spark."),
    ],
)
def test_a_wrong_key_or_type_names_the_key(environ, needle):
    with pytest.raises(ConfigError) as err:
        load_settings("demo", environ=environ)
    assert needle in str(err.value)


def test_a_typo_in_the_file_names_the_key_and_the_file(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["profiles"]["demo"]["simulator"]["game_per_week"] = 4
    path = tmp_path / "conf" / "trackflow.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_settings("demo", config_file=path, environ={})
    assert "'game_per_week'" in str(err.value) and str(path) in str(err.value)


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="profile 'prod' is not in .*known profiles: demo, season, test"):
        load_settings("prod", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("demo", config_file=tmp_path / "nope.yaml", environ={})


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("defaults: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings("demo", config_file=path, environ={})


@pytest.mark.parametrize(("spec", "weeks"), [("1-4", [1, 2, 3, 4]), ("1,3,5", [1, 3, 5]), ("3", [3]),
                                              (" 2 - 3 ", [2, 3]), ([2, 1], [1, 2]), (5, [5])])
def test_parse_weeks(spec, weeks):
    assert parse_weeks(spec) == weeks


@pytest.mark.parametrize(("spec", "needle"), [("0", "outside 1..22"), ("4-2", "backwards"), ("a", "not a week"),
                                              ("1,,2", "empty item"), ("1-30", "outside 1..22")])
def test_parse_weeks_rejects(spec, needle):
    with pytest.raises(ValueError, match=needle):
        parse_weeks(spec)


def test_config_file_is_the_committed_one():
    assert DEFAULT_CONFIG == Path(PROJECT_ROOT, "conf", "trackflow.yaml") and DEFAULT_CONFIG.is_file()


@pytest.mark.parametrize("spec, ok", [("3", True), ("1-4", True), ("1,3, 5-6", True), ("three", False),
                                      ("1-", False), ("", False)])
def test_the_dags_weeks_pattern_accepts_what_parse_weeks_reads(spec, ok):
    import re

    from pipelines.config import WEEKS_PATTERN, parse_weeks

    assert bool(re.match(WEEKS_PATTERN, spec)) is ok
    if ok:
        assert parse_weeks(spec)


@pytest.mark.parametrize("spec, ok", [("2025", True), ("2023-2025", True), ("2024, 2025", True), ("25", False),
                                      ("2025-", False), ("twenty", False)])
def test_the_dags_seasons_pattern_accepts_what_parse_seasons_reads(spec, ok):
    import re

    from pipelines.config import SEASONS_PATTERN, parse_seasons

    assert bool(re.match(SEASONS_PATTERN, spec)) is ok
    if ok:
        assert parse_seasons(spec)
