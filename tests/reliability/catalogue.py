"""The reliability catalogue: every kind of bad input the project is tried with, where it enters, how
it is provoked and what the message must say; plus the other failure scenarios (crashes, reruns,
concurrency, registry gates) that other test modules check.  ``docs/reliability.md`` renders both
as tables (``render_table``); ``test_bad_input.py`` drives every case and checks the tables are current.

A case is one bad input through one entry point.  The driver (``how``) says how it is provoked:

* ``Cli`` — the ``trackflow`` command line in a subprocess, in a project whose lake already holds a
  good week 1 of season 2025 (ingested from ``{src}``, a small Big Data Bowl folder), after
  ``edit_src`` changed the source folder, ``edit_config`` the configuration file passed with
  ``--config`` and ``edit_lake`` the lake.  Placeholders in ``args``: ``{src}`` (the source folder),
  ``{cfg}`` (a copy of ``conf/trackflow.yaml``), ``{out}`` (a scratch folder outside the project).
* ``DagRun`` — Airflow's own param validation of a trigger's conf (``stage="trigger"``: what the API,
  the UI and ``airflow backfill create`` run), or, for conf that passes it, the DAG's ``plan`` task
  run with the params Airflow resolves (``stage="plan"``).
* ``Registry`` — ``evaluation.registry.load_registered`` on a real MLflow registry (SQLite) holding
  version 1 of ``passing-sbp`` with alias ``challenger``.

Every case must fail (exit code ≠ 0, a refused trigger or a failed task) with a message holding all
of ``expect``, without a traceback, write nothing (the project folder is byte-identical afterwards:
no partition, manifest, report or temporary file), and leave its input (source folder, config
file, lake) byte-identical.  ``fixed`` says what the product needed for the case to pass, when it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests import bdb_files as bdb

# --- drivers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    args: tuple[str, ...]
    exit_code: int = 1
    env: dict[str, str] = field(default_factory=dict)
    edit_src: Callable[[Path], None] | None = None
    edit_config: Callable[[str], str] | None = None
    edit_lake: Callable[[Path], None] | None = None


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    conf: dict
    stage: str = "trigger"  # or "plan"


@dataclass(frozen=True)
class Registry:
    name: str
    alias: str


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    entry: str
    example: str  # how it is provoked, for the docs
    how: Cli | DagRun | Registry
    expect: tuple[str, ...]
    fixed: str = ""  # the product change this case needed ("" = it was already caught well)

    @property
    def outcome(self) -> str:
        if isinstance(self.how, Cli):
            return f"exit {self.how.exit_code}"
        if isinstance(self.how, DagRun):
            return "trigger refused" if self.how.stage == "trigger" else "`plan` task fails"
        return "ValueError"


SOURCE, CLI, CONFIG, DAG, LAKE, MODEL = (
    "source files", "command line", "configuration", "DAG params", "lake files", "model registry and run ids")
ENTRIES = (SOURCE, CLI, CONFIG, DAG, LAKE, MODEL)

INGEST = ("ingest", "--source", "bdb:{src}", "--season", "2025", "--weeks", "1")
RAW_PART = Path("lake/raw/tracking/season=2025/week=1/part-0.parquet")


# --- edits --------------------------------------------------------------------------------------------

def _tracking(fn):
    return lambda folder: bdb.edit_tracking(folder, fn)


def _rename(name: str, to: str):
    return lambda folder: (folder / name).rename(folder / to)


def _write(name: str, text: str):
    return lambda folder: (folder / name).write_text(text)


def _header_only(folder: Path) -> None:
    bdb.edit_tracking(folder, lambda lines: lines[:1])


def _utf16(folder: Path) -> None:
    path = folder / bdb.TRACKING
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-16")


def _latin1_name(folder: Path) -> None:
    path = folder / "players.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = bdb.set_value(lines, "displayName", 5, "José Müller")
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


def _cut_line(number: int, fields: int):
    """Cut the tracking file inside line ``number`` (1-based), after ``fields`` fields (a download cut off)."""
    def edit(folder: Path) -> None:
        path = folder / bdb.TRACKING
        lines = path.read_text().splitlines()
        kept = "\n".join(lines[:number - 1]) + "\n" + ",".join(lines[number - 1].split(",")[:fields])
        path.write_text(kept)
    return edit


def _games_week(week: str):
    return lambda folder: bdb.edit_lines(folder / "games.csv", lambda lines: [
        lines[0], *(bdb.set_value(lines, "week", i, week)[i] for i in range(1, len(lines)))])


def _plays(fn):
    return lambda folder: bdb.edit_lines(folder / "plays.csv", fn)


def _truncate(relative: Path):
    def edit(home: Path) -> None:
        path = home / relative
        body = path.read_bytes()
        path.write_bytes(body[:len(body) // 2])
    return edit


def _profile_key(old: str, new: str):
    """The test profile's ``old`` key spelled ``new`` (it is indented under profiles.test.simulator)."""
    def edit(text: str) -> str:
        head, sep, profiles = text.partition("\nprofiles:")
        test = profiles.index("  test:")
        at = profiles.index(f" {old}:", test)
        return head + sep + profiles[:at] + f" {new}:" + profiles[at + len(old) + 2:]
    return edit


def _default_value(key: str, value: str):
    def edit(text: str) -> str:
        lines = text.splitlines()
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        lines[i] = f"{indent}{key}: {value}"
        return "\n".join(lines) + "\n"
    return edit


# --- the catalogue ------------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # source files: `trackflow ingest --source bdb:FOLDER --season 2025 --weeks 1`
    Case("missing-file", "missing file", SOURCE, "the week's `tracking_week_1.csv` is not in the folder",
         Cli(INGEST, edit_src=_rename(bdb.TRACKING, "tracking_week_3.csv")),
         ("no tracking file for week 1", "expected tracking_week_1.csv", "weeks present: [3]")),
    Case("empty-file", "empty file", SOURCE, "`tracking_week_1.csv` has 0 bytes",
         Cli(INGEST, edit_src=_write(bdb.TRACKING, "")),
         ("tracking_week_1.csv: the file is empty", "expected a header line")),
    Case("header-only", "header without rows", SOURCE, "`tracking_week_1.csv` holds its header line only",
         Cli(INGEST, edit_src=_header_only),
         ("tracking_week_1.csv: a header but no rows", "expected at least one data row")),
    Case("missing-column", "missing column", SOURCE, "column `dis` removed from `tracking_week_1.csv`",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.drop_column(lines, "dis"))),
         ("not a known Big Data Bowl layout", "bdb2023 lacks columns dis in tracking_week_1.csv")),
    Case("missing-column-plays", "missing column", SOURCE, "column `passResult` removed from `plays.csv`",
         Cli(INGEST, edit_src=_plays(lambda lines: bdb.drop_column(lines, "passResult"))),
         ("plays.csv: column passResult missing",)),
    Case("unknown-layout", "unknown layout", SOURCE, "the tracking file renamed `positions_1.csv`",
         Cli(INGEST, edit_src=_rename(bdb.TRACKING, "positions_1.csv")),
         ("not a known Big Data Bowl layout", "bdb2023 lacks a tracking_week_{N}.csv file",
          "bdb2026 lacks an input_{season}_w{NN}.csv file")),
    Case("non-numeric-coordinate", "non-numeric coordinate", SOURCE, "`y` = `12x5` on line 8",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.set_value(lines, "y", 7, "12x5"))),
         ("tracking_week_1.csv line 8, column 'y': '12x5' is not a number",)),
    Case("nan-key", "NaN key", SOURCE, "`playId` = `NaN` on line 6",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.set_value(lines, "playId", 5, "NaN"))),
         ("tracking_week_1.csv line 6, column 'playId': nan is not a whole number",)),
    Case("empty-key", "empty key", SOURCE, "`frameId` = `NA` on line 6",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.set_value(lines, "frameId", 5, "NA"))),
         ("tracking_week_1.csv line 6, column 'frameId': empty; expected a number",)),
    Case("negative-frame", "negative frame id", SOURCE, "`frameId` = `-3` on line 6",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.set_value(lines, "frameId", 5, "-3"))),
         ("tracking_week_1.csv line 6, column 'frameId': -3 is not a frame number; expected 1 or more",),
         fixed="ingested, then failed GX validation with the bad week already in the raw lake; now refused "
               "by the reader (frame ids count from 1)"),
    Case("duplicated-key", "duplicated key", SOURCE,
         "line 11 repeated at the end with another `x` (same game, play, nflId, frame)",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.duplicate_with(lines, 10, "x", "99.99"))),
         ("duplicated key (game_id=2025090400, play_id=112, nfl_id=", "of line 11 with other values",
          "expected one row per key")),
    Case("wrong-delimiter", "wrong delimiter", SOURCE, "`tracking_week_1.csv` separated by `;`",
         Cli(INGEST, edit_src=_tracking(lambda lines: [line.replace(",", ";") for line in lines])),
         ("tracking_week_1.csv: the header has one column", "expected comma-separated column names",
          "is the delimiter ';' or a tab?")),
    Case("utf16", "wrong encoding (UTF-16)", SOURCE, "`tracking_week_1.csv` saved as UTF-16",
         Cli(INGEST, edit_src=_utf16),
         ("tracking_week_1.csv: the file is UTF-16 encoded; expected UTF-8 text",),
         fixed="a traceback (UnicodeDecodeError); now named"),
    Case("latin1", "wrong encoding (Latin-1 bytes)", SOURCE, "`players.csv` saved as Latin-1 (`José Müller`)",
         Cli(INGEST, edit_src=_latin1_name),
         ("players.csv line 6: bytes", "are not UTF-8; expected UTF-8 text", "Latin-1"),
         fixed="a traceback (UnicodeDecodeError) or 'not readable as CSV' without a line; now the line"),
    Case("cut-off-csv", "cut-off file (truncated CSV)", SOURCE, "`tracking_week_1.csv` ends inside line 101",
         Cli(INGEST, edit_src=_cut_line(101, 6)),
         ("tracking_week_1.csv line 101: 6 fields, expected 17 as in the header", "is the file cut off"),
         fixed="'CSV parse error' without a line number; now the line and the field counts"),
    Case("bad-timestamp", "unparseable timestamp", SOURCE, "`time` = `yesterday` on line 11",
         Cli(INGEST, edit_src=_tracking(lambda lines: bdb.set_value(lines, "time", 10, "yesterday"))),
         ("tracking_week_1.csv line 11, column 'time': 'yesterday' is not a timestamp",)),
    Case("games-other-week", "file of another week", SOURCE, "`games.csv` puts the games in week 3; week 1 asked",
         Cli(INGEST, edit_src=_games_week("3")),
         ("games.csv: game 2025090400 is in week 3; expected week 1 as asked",)),
    # command line arguments
    Case("week-out-of-range", "week out of range", CLI, "`trackflow ingest --weeks 30`",
         Cli(("ingest", "--source", "bdb:{src}", "--season", "2025", "--weeks", "30"), exit_code=2),
         ("--weeks", "week 30 is outside 1..22")),
    Case("weeks-backwards", "week range backwards", CLI, "`trackflow ingest --weeks 4-2`",
         Cli(("ingest", "--source", "bdb:{src}", "--season", "2025", "--weeks", "4-2"), exit_code=2),
         ("--weeks", "week range '4-2' runs backwards; expected low-high")),
    Case("season-not-a-number", "season not a number", CLI, "`trackflow ingest --season twenty`",
         Cli(("ingest", "--source", "bdb:{src}", "--season", "twenty", "--weeks", "1"), exit_code=2),
         ("'--season'", "valid integer")),
    Case("partition-traversal-cli", "path traversal in a partition parameter", CLI,
         "`trackflow ingest --weeks ../../etc`",
         Cli(("ingest", "--source", "bdb:{src}", "--season", "2025", "--weeks", "../../etc"), exit_code=2),
         ("--weeks", "'../../etc' is not a week number")),
    Case("source-traversal-cli", "path traversal in a source URI", CLI, "`trackflow ingest --source bdb:FOLDER/../..`",
         Cli(("ingest", "--source", "bdb:{src}/../..", "--season", "2025", "--weeks", "1")),
         ("'..' in the folder", "expected the folder itself"),
         fixed="the folder was resolved and read (an unknown-layout error at best); now '..' is refused"),
    Case("source-missing-folder", "missing folder", CLI, "`trackflow ingest --source bdb:FOLDER/nope`",
         Cli(("ingest", "--source", "bdb:{src}/nope", "--season", "2025", "--weeks", "1")),
         ("nope does not exist or is not a folder",)),
    Case("unknown-scheme", "unknown source scheme", CLI, "`trackflow ingest --source s3://bucket/week1`",
         Cli(("ingest", "--source", "s3://bucket/week1", "--season", "2025", "--weeks", "1")),
         ("unknown source 's3://bucket/week1'", "expected one of: synthetic:, bdb:<folder>")),
    # configuration
    Case("config-typo", "config typo", CONFIG, "`games_per_wek: 2` in the test profile of `--config FILE`",
         Cli(("--config", "{cfg}", *INGEST), exit_code=2,
             edit_config=_profile_key("games_per_week", "games_per_wek")),
         ("configuration error", "profile 'test'", "unknown key 'games_per_wek'", "known keys: anomalies")),
    Case("env-typo", "config typo (environment)", CONFIG, "`TRACKFLOW__SIMULATOR__SEEDS=1`",
         Cli(INGEST, exit_code=2, env={"TRACKFLOW__SIMULATOR__SEEDS": "1"}),
         ("environment (TRACKFLOW__…).simulator: unknown key 'seeds'", "known keys: anomalies")),
    Case("config-wrong-type", "config value of the wrong type", CONFIG, "`seed: forty-two` in `--config FILE`",
         Cli(("--config", "{cfg}", *INGEST), exit_code=2, edit_config=_default_value("seed", "forty-two")),
         ("profile 'test'", "simulator.seed: Input should be a valid integer", "(got 'forty-two')")),
    Case("yaml-python-tag", "YAML with a Python object tag", CONFIG,
         "`seed: !!python/object/apply:os.system [...]` in `--config FILE`",
         Cli(("--config", "{cfg}", *INGEST), exit_code=2,
             edit_config=_default_value("seed", '!!python/object/apply:os.system ["touch pwned"]')),
         ("is not valid YAML", "could not determine a constructor", "python/object/apply:os.system")),
    Case("unknown-profile", "unknown profile", CONFIG, "`trackflow --profile prod ingest …`",
         Cli(("--profile", "prod", *INGEST), exit_code=2),
         ("profile 'prod' is not in", "known profiles: demo, season, test")),
    Case("missing-config", "missing config file", CONFIG, "`trackflow --config nope.yaml ingest …`",
         Cli(("--config", "{out}/nope.yaml", *INGEST), exit_code=2),
         ("config file", "nope.yaml does not exist")),
    # DAG params: Airflow's validation of a trigger's conf, then the plan task
    Case("dag-weeks-not-weeks", "weeks not a week selection", DAG, 'tracking_ingest `{"weeks": "three"}`',
         DagRun("tracking_ingest", {"weeks": "three"}),
         ("Invalid input for param weeks", "'three' does not match")),
    Case("dag-week-out-of-range", "week out of range", DAG, 'tracking_ingest `{"weeks": "30"}`',
         DagRun("tracking_ingest", {"weeks": "30"}),
         ("Invalid input for param weeks", "'30' does not match"),
         fixed="the run was created and its plan task failed; now the trigger is refused (pattern 1..22)"),
    Case("dag-season-not-a-number", "season not a number", DAG, 'tracking_ingest `{"season": "twenty"}`',
         DagRun("tracking_ingest", {"season": "twenty"}),
         ("Invalid input for param season", "'twenty' is not of type")),
    Case("dag-seasons-not-seasons", "season not a number", DAG, 'preseason_retraining `{"seasons": "20x5"}`',
         DagRun("preseason_retraining", {"seasons": "20x5"}),
         ("Invalid input for param seasons", "'20x5' does not match")),
    Case("dag-source-traversal", "path traversal in a source URI", DAG,
         'tracking_ingest `{"source": "bdb:/data/../../etc"}`',
         DagRun("tracking_ingest", {"source": "bdb:/data/../../etc"}),
         ("Invalid input for param source", "'bdb:/data/../../etc' does not match"),
         fixed="accepted by the param's pattern; now refused at the trigger (and by the source reader)"),
    Case("dag-partition-traversal", "path traversal in a partition parameter", DAG,
         'tracking_ingest `{"weeks": "1/../../etc"}`',
         DagRun("tracking_ingest", {"weeks": "1/../../etc"}),
         ("Invalid input for param weeks", "'1/../../etc' does not match")),
    Case("dag-unknown-profile", "unknown profile", DAG, 'preseason_retraining `{"profile": "prod"}`',
         DagRun("preseason_retraining", {"profile": "prod"}),
         ("Invalid input for param profile", "'prod' is not one of")),
    Case("dag-param-typo", "param typo", DAG, 'preseason_retraining `{"season": 2024}` (the param is `seasons`)',
         DagRun("preseason_retraining", {"season": 2024}, stage="plan"),
         ("param 'season' is not a param of preseason_retraining",
          "expected some of: device, epochs, max_games, profile, seasons, source, weeks"),
         fixed="Airflow keeps an unknown conf key as a param: the run trained on the default seasons; "
               "now the plan task fails naming it"),
    # lake files
    Case("truncated-parquet", "truncated Parquet", LAKE, "raw `part-0.parquet` of week 1 cut in half; "
         "`trackflow validate --season 2025 --weeks 1`",
         Cli(("validate", "--season", "2025", "--weeks", "1"), edit_lake=_truncate(RAW_PART)),
         ("tracking/season=2025/week=1/part-0.parquet: not a readable Parquet file",
          "ingest season 2025 week 1 again"),
         fixed="the lake reader skipped the file, then a KeyError traceback; now the file is named"),
    Case("missing-partition", "missing partition", LAKE, "`trackflow validate --season 2025 --weeks 2` (not ingested)",
         Cli(("validate", "--season", "2025", "--weeks", "2")),
         ("no raw tracking for season 2025 week 2", "ingest the week first"),
         fixed="a FileNotFoundError traceback; now one line"),
    # model registry and run ids
    Case("alias-missing", "model alias that does not exist", MODEL, "`load_registered(settings, 'passing-sbp', "
         "'champion')` when only `challenger` is set",
         Registry("passing-sbp", "champion"),
         ("registered model 'passing-sbp' has no version with alias 'champion'", "its aliases: challenger (version 1)"),
         fixed="the message did not say which aliases there are"),
    Case("model-missing", "registered model that does not exist", MODEL,
         "`load_registered(settings, 'passing-sbq')`",
         Registry("passing-sbq", "champion"),
         ("registered model 'passing-sbq' has no version with alias 'champion'",
          "no model 'passing-sbq' is registered (registered: passing-sbp)")),
    Case("run-id-traversal", "path traversal in a run id", MODEL,
         "`trackflow ghost --run-id ../../etc/passwd …`",
         Cli(("ghost", "--game", "2025090400", "--play", "112", "--out", "{out}/play.png",
              "--run-id", "../../etc/passwd"), exit_code=2),
         ("--run-id", "run id '../../etc/passwd' is not an MLflow run id", "expected letters, digits, '_' or '-'"),
         fixed="went to the store, which answered 'Run with id=.. not found'; now refused as an argument (and "
               "by pipelines.mlflow_runs.load_run_artifact)"),
)

# the kinds issue 8 names: each must be in the catalogue
REQUIRED_KINDS = (
    "missing file", "empty file", "missing column", "unknown layout", "non-numeric coordinate", "NaN key",
    "duplicated key", "negative frame id", "week out of range", "season not a number",
    "path traversal in a source URI", "path traversal in a partition parameter", "truncated Parquet",
    "wrong delimiter", "wrong encoding (UTF-16)", "wrong encoding (Latin-1 bytes)", "config typo",
    "model alias that does not exist",
)


# --- other scenarios -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A failure scenario another test module provokes: ``tests`` name the test functions that check
    it (``path::function``), each of which must exist; ``tried`` and ``caught`` count its variants
    and ``lost`` the rows or files lost (must be 0)."""
    name: str
    tried: int
    caught: int
    lost: int
    tests: tuple[str, ...]


# crash kill of ingest / of features, rerun idempotency, concurrent backfill, registry gate safety…:
# list them here and regenerate docs/reliability.md (python -m tests.reliability.render_table --write)
OTHER_SCENARIOS: tuple[Scenario, ...] = (
    Scenario('crash: `trackflow ingest` SIGKILLed mid-write, re-run', tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_crash_safety.py::test_ingest_killed_mid_write_leaves_whole_partitions_and_the_rerun_equals_an_uninterrupted_run',)),
    Scenario('crash: `trackflow features` (Spark) SIGKILLed mid-write, re-run', tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_crash_safety.py::test_features_killed_mid_write_leave_whole_partitions_and_the_rerun_equals_an_uninterrupted_run',)),
    Scenario("crash: writer killed between the fallback swap's two renames", tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_crash_safety.py::test_a_writer_killed_between_the_two_renames_of_the_fallback_swap_loses_nothing',)),
    Scenario('rerun: the same `tracking_ingest` DAG run twice', tried=1, caught=1, lost=0,
             tests=('tests/e2e/test_tracking_ingest_dag.py::test_the_same_run_again_rewrites_identical_partitions',)),
    Scenario('rerun: register task twice for one training run; the same retraining DAG run again', tried=2, caught=2, lost=0,
             tests=('tests/reliability/test_registry_safety.py::test_the_register_task_run_twice_for_one_training_run_leaves_one_version', 'tests/reliability/test_registry_safety.py::test_the_same_dag_run_again_registers_no_second_version',)),
    Scenario('concurrency: two `trackflow ingest` backfilling the same week at once', tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_concurrency.py::test_two_overlapping_ingests_of_the_same_week_end_with_one_whole_week',)),
    Scenario('concurrency: two writers of one partition at once', tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_concurrency.py::test_a_second_writer_of_a_partition_waits_for_the_first_and_the_partition_ends_whole',)),
    Scenario('registry: three registrations racing (two challengers, one retry)', tried=1, caught=1, lost=0,
             tests=('tests/reliability/test_registry_safety.py::test_racing_registrations_end_with_the_best_champion_and_one_version_per_run',)),
    Scenario('registry: a failing gate through the DAG stages (both models)', tried=3, caught=3, lost=0,
             tests=('tests/reliability/test_registry_safety.py::test_a_failing_gate_moves_no_alias_of_any_model_through_the_dag_stages',)),
)
