"""Validate raw tracking with Great Expectations: the "validate raw" step of ``tracking_ingest``.

The suite lives in ``conf/expectations/raw_tracking.json`` (its one home).  Each expectation carries
``meta.severity`` and a one-line ``meta.why``:

* **hard** expectations guard the structure later stages rely on (columns, types, non-null keys,
  contiguous frames, and backstops against systematic damage such as a mostly empty coordinate or
  frames that typically lack players); any failure fails the week;
* **soft** expectations measure the anomalies real feeds contain and the anomaly filter removes
  (duplicate frames, dropped player-frames, NaN coordinates, off-field points, speed spikes); they
  warn when their tight thresholds are exceeded.

GX validates pandas tables built here with vectorized pandas:

* ``schema``: the delivered columns and dtypes, without rows;
* ``rows``: keys and coordinates plus derived columns (``nfl_key``, ``player_s``, ``on_field``);
* ``frames``: one row per (game, play, frame) counting players and balls;
* ``plays``: one row per (game, play) with its frame range and ``missing_frames``;
* ``motion`` (only for suites that list it, e.g. the anomaly filter's ``clean_tracking.json``): one
  row per tracking row with its steps from the previous frame of its track.

``validate_tracking`` runs any such suite (values for its ``$PARAMETER`` references given by the
caller); ``validate_raw`` runs the raw one.  Reports go to
``reports_dir/validation/<suite>/season=S/week=W.{json,md}``, each written to a temporary sibling
and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.metadata_types import FailureSeverity

from pipelines import lake
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.field import ANOMALOUS_SPEED, FPS, on_field
from pipelines.ingest import raw_root
from pipelines.schema import TRACKING, file_schema

SUITE_PATH = PROJECT_ROOT / "conf" / "expectations" / "raw_tracking.json"
TARGETS = ("schema", "rows", "frames", "plays")
OPTIONAL_TARGETS = ("motion",)  # built only for suites that list them
# Our two levels, mapped onto GX's own severity so that its results carry them too.
SEVERITIES = {"hard": FailureSeverity.CRITICAL, "soft": FailureSeverity.WARNING}
# Values the suite refers to as {"$PARAMETER": name}: their homes are schema.py and field.py.
PARAMETERS = {
    "tracking_columns": file_schema(TRACKING).names,
    "anomalous_speed": ANOMALOUS_SPEED,
}
# The columns the row, frame and play tables are built from (all other columns only need a dtype).
ROW_INPUTS = ("game_id", "play_id", "nfl_id", "frame_id", "x", "y", "s")


class ValidationError(RuntimeError):
    """A week of raw tracking failed hard expectations (the message lists them), or its partition
    could not be read (the message names the file)."""


@dataclass(frozen=True)
class ValidationResult:
    season: int
    week: int
    success: bool  # no hard expectation failed
    hard_failures: list[dict]  # each: table, expectation, columns, observed, why
    soft_warnings: list[dict]
    counts: dict[str, int]
    json_path: Path
    md_path: Path
    suite: str = "raw_tracking"


def load_suite(path: Path | None = None) -> tuple[dict[str, gx.ExpectationSuite], dict[str, list[str]]]:
    """Read the suite JSON: one ``gx.ExpectationSuite`` per target table, and the severities
    (``severities[table][i]`` belongs to ``suites[table].expectations[i]``)."""
    path = Path(path or SUITE_PATH)
    body = json.loads(path.read_text())
    unknown = set(body["tables"]) - set(TARGETS + OPTIONAL_TARGETS)
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}; "
                         f"validation builds {', '.join(TARGETS + OPTIONAL_TARGETS)}")
    suites, severities = {}, {}
    for table, spec in body["tables"].items():
        configs, levels = [], []
        for i, exp in enumerate(spec["expectations"]):
            meta = exp.get("meta", {})
            if meta.get("severity") not in SEVERITIES or not meta.get("why"):
                raise ValueError(f"{path}: tables.{table}.expectations[{i}] ({exp.get('type')}) needs "
                                 f"meta.severity 'hard' or 'soft' and a meta.why")
            configs.append(ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=meta,
                                                    severity=SEVERITIES[meta["severity"]]))
            levels.append(meta["severity"])
        suites[table] = gx.ExpectationSuite(name=f"{body['name']}.{table}", expectations=configs,
                                            meta={"description": spec.get("description", "")})
        severities[table] = levels
    return suites, severities


def validate_raw(tracking: pa.Table, season: int, week: int, reports_dir: Path) -> ValidationResult:
    """Validate one week of raw tracking and write its JSON and Markdown reports."""
    return validate_tracking(tracking, season, week, reports_dir, SUITE_PATH)


def validate_tracking(tracking: pa.Table, season: int, week: int, reports_dir: Path, suite_path: Path,
                      parameters: dict | None = None) -> ValidationResult:
    """Validate one week of tracking with the suite at ``suite_path`` (named after its file) and
    write its reports; ``parameters`` add to ``PARAMETERS`` for the suite's ``$PARAMETER`` values."""
    suite_name = Path(suite_path).stem
    suites, _ = load_suite(suite_path)
    names = [t for t in TARGETS + OPTIONAL_TARGETS if t in suites]
    tables = _targets(tracking, motion="motion" in suites)
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False)))
    source = context.data_sources.add_pandas(suite_name)
    gx_results = {}
    for name in names:
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        run = gx.ValidationDefinition(data=batch, suite=context.suites.add(suites[name]), name=name)
        gx_results[name] = run.run(batch_parameters={"dataframe": tables[name]},
                                   expectation_parameters={**PARAMETERS, **(parameters or {})}).to_json_dict()

    checks = [_check(name, r, tables[name].columns) for name in names for r in gx_results[name]["results"]]
    hard = [c for c in checks if not c["success"] and c["severity"] == "hard"]
    soft = [c for c in checks if not c["success"] and c["severity"] == "soft"]
    counts = {"rows": len(tables["rows"]), "frames": len(tables["frames"]), "plays": len(tables["plays"]),
              "expectations": len(checks), "hard_failed": len(hard), "soft_failed": len(soft)}
    out = Path(reports_dir) / "validation" / suite_name / f"season={int(season)}"
    result = ValidationResult(int(season), int(week), not hard, hard, soft, counts,
                              out / f"week={int(week)}.json", out / f"week={int(week)}.md", suite_name)
    report = {"suite": suite_name, "season": result.season, "week": result.week,
              "validated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "success": result.success, "counts": counts, "checks": checks, "gx_results": gx_results}
    lake.write_text_atomic(result.json_path, json.dumps(report, indent=1, default=str))
    lake.write_text_atomic(result.md_path, _markdown(result, checks))
    return result


def validate_week(settings: Settings, season: int, week: int, raise_on_failure: bool = True) -> ValidationResult:
    """Validate the raw lake's tracking partition of (season, week); reports under ``lake/reports``."""
    part = lake.partition_dir(raw_root(settings) / "tracking", season, week)
    if not part.is_dir():
        raise FileNotFoundError(f"no raw tracking for season {season} week {week}: {part} does not exist; "
                                "ingest the week first")
    result = validate_raw(_read_partition(part, season, week), season, week, settings.paths.lake / "reports")
    if raise_on_failure:
        raise_for_hard_failures(result)
    return result


def _read_partition(part: Path, season: int, week: int) -> pa.Table:
    """The raw tracking partition ``part``; a missing, cut-off or unreadable Parquet file is a
    ValidationError naming it (the lake's reader would skip a file without a Parquet footer)."""
    import pyarrow.parquet as pq

    again = f"ingest season {season} week {week} again"
    files = sorted(part.glob("*.parquet"))
    if not files:
        raise ValidationError(f"{part}: no Parquet file in the partition; expected {lake.PART_FILE}: {again}")
    for path in files:
        try:
            pq.read_metadata(path)
        except (pa.ArrowException, OSError) as err:
            raise ValidationError(f"{path}: not a readable Parquet file ({err}); expected the file trackflow "
                                  f"ingest wrote: {again}") from None
    try:
        return lake.read_table(part, file_schema(TRACKING))
    except (pa.ArrowException, OSError, KeyError) as err:
        raise ValidationError(f"{part}: the partition cannot be read as raw tracking ({err}): {again}") from None


def format_result(result: ValidationResult) -> str:
    """A short summary for stdout: the verdict, then each failed hard and soft expectation."""
    c = result.counts
    verdict = "passed" if result.success else "FAILED"
    lines = [(f"{_title(result)} season {result.season} week {result.week}: {verdict} "
              f"({c['hard_failed']} hard failures, {c['soft_failed']} soft warnings; "
              f"{c['rows']:,} rows, {c['plays']:,} plays, {c['frames']:,} frames)")]
    lines += [f"  HARD {_describe(f)}" for f in result.hard_failures]
    lines += [f"  soft {_describe(w)}" for w in result.soft_warnings]
    lines.append(f"  report: {result.md_path}")
    return "\n".join(lines)


def raise_for_hard_failures(result: ValidationResult) -> None:
    if not result.success:
        listed = "\n".join(f"  - {_describe(f)}" for f in result.hard_failures)
        raise ValidationError(f"{_title(result)} season {result.season} week {result.week} failed "
                              f"{len(result.hard_failures)} hard expectation(s):\n{listed}\n"
                              f"report: {result.md_path}")


# --- the tables GX validates ------------------------------------------------------------------------

def _targets(tracking: pa.Table, motion: bool = False) -> dict[str, pd.DataFrame]:
    """The tables GX validates, each as narrow as its expectations allow: GX copies and hashes a
    table per check, so unused columns would cost seconds on a week.

    A derived column is only built when its inputs exist and are numeric; otherwise the checks on it
    report it missing, next to the hard failure that names the cause.
    """
    # No rows: pyarrow's types alone decide the dtypes (an int column stays int even where it holds
    # nulls).  Strings become categoricals because GX judges an object column by its values, and
    # an empty one would pass any type check.
    schema = tracking.slice(0, 0).to_pandas(strings_to_categorical=True)
    df = tracking.select([c for c in ROW_INPUTS if c in tracking.column_names]).to_pandas()
    numeric = {c for c in df if pd.api.types.is_numeric_dtype(df[c])}
    rows = df[[c for c in ("game_id", "play_id", "frame_id", "x", "y") if c in df]].copy()
    if "nfl_id" in numeric:
        # The ball (null nfl_id) is one entity for the uniqueness check.
        rows["nfl_key"] = df["nfl_id"].fillna(-1).astype("int64")
        if "s" in numeric:
            rows["player_s"] = df["s"].where(df["nfl_id"].notna())
    if {"x", "y"} <= numeric:
        located = df["x"].notna() & df["y"].notna()  # NaN coordinates are the not-null checks' job
        rows["on_field"] = pd.Series(on_field(df["x"], df["y"]), index=df.index, dtype="boolean").mask(~located)
    tables = {"schema": schema, "rows": rows, "frames": pd.DataFrame(), "plays": pd.DataFrame()}
    if not {"game_id", "play_id", "nfl_id", "frame_id"} <= numeric:
        return tables
    # groupby drops rows with a null key: the not-null checks on the rows report those.
    frames = (df.groupby(["game_id", "play_id", "frame_id"], sort=False)["nfl_id"]
              .agg(players="count", entities="size").reset_index())
    frames["balls"] = frames.pop("entities") - frames["players"]
    plays = (frames.groupby(["game_id", "play_id"], sort=False)["frame_id"]
             .agg(frames="size", min_frame="min", max_frame="max").reset_index())
    plays["missing_frames"] = plays["max_frame"] - plays["min_frame"] + 1 - plays["frames"]
    tables = {**tables, "frames": frames, "plays": plays}
    if motion:
        tables["motion"] = _motion(tracking.select(["time", *ROW_INPUTS]).to_pandas())
    return tables


def _motion(df: pd.DataFrame) -> pd.DataFrame:
    """One row per tracking row, in track order (game, play, entity, frame): ``frame_step`` and
    ``time_step_s`` from the previous row of the same track (null on a track's first row) and, for
    players only (null for the ball), ``player_x``, ``player_y`` and the position-derived
    ``player_speed`` (yd/s) since the previous row."""
    order = ["game_id", "play_id", "nfl_key", "frame_id"]
    df = df.assign(nfl_key=df["nfl_id"].fillna(-1))
    if not _sorted(df, order):  # the clean table is written in this order: the sort is skipped (~0.5 s)
        df = df.sort_values(order)
    track = df[["game_id", "play_id", "nfl_key"]]
    same = (track == track.shift()).all(axis=1)
    player = df["nfl_id"].notna()
    frame_step = df["frame_id"].diff().where(same)
    speed = np.hypot(df["x"].diff(), df["y"].diff()) * FPS / frame_step
    return pd.DataFrame({
        "frame_step": frame_step, "time_step_s": df["time"].diff().dt.total_seconds().where(same),
        "player_x": df["x"].where(player), "player_y": df["y"].where(player),
        "player_speed": speed.where(same & player),
    }).reset_index(drop=True)


def _sorted(df: pd.DataFrame, keys: list[str]) -> bool:
    """Whether the rows are in ascending order of ``keys`` (False where a key holds a null)."""
    if len(df) < 2:
        return True
    tied = np.ones(len(df) - 1, dtype=bool)  # pairs of neighbours equal on the keys so far
    for key in keys:
        values = df[key]
        if values.isna().any() or not pd.api.types.is_numeric_dtype(values):
            return False
        step = np.diff(values.to_numpy(dtype=getattr(values.dtype, "numpy_dtype", values.dtype)))  # nullable ints too
        if (tied & (step < 0)).any():
            return False
        tied &= step == 0
    return True


# --- results and reports ----------------------------------------------------------------------------

def _check(table: str, r: dict, present: pd.Index) -> dict:
    """One GX expectation result, summarised for our report."""
    config = r["expectation_config"]
    kwargs = config["kwargs"]
    names = [kwargs["column"]] if "column" in kwargs else kwargs.get("column_list", [])
    absent = [c for c in names if c not in present]
    # GX's own message for an absent column is obscure (for some checks an IndexError).
    observed = f"not evaluated: no column {absent[0]!r} in the {table} table" if absent else _observed(r)
    return {"table": table, "expectation": config["type"], "columns": ", ".join(names) or None,
            "severity": config["meta"]["severity"], "success": bool(r["success"]),
            "mostly": kwargs.get("mostly"), "observed": observed, "why": config["meta"]["why"]}


def _observed(r: dict) -> str:
    info = r.get("exception_info") or {}
    # GX reports an exception either flat or keyed by the metric that raised it.
    raised = [info] if "raised_exception" in info else list(info.values())
    errors = [e["exception_message"] for e in raised if e.get("raised_exception")]
    if errors:
        return "not evaluated: " + errors[0].splitlines()[0]
    res = r.get("result") or {}
    if "unexpected_count" in res:
        values = [v for v in res.get("partial_unexpected_list") or [] if v is not None][:3]
        sample = ", ".join(json.dumps(v, default=str) for v in values)
        text = (f"{res['unexpected_count']:,} of {res['element_count'] - res.get('missing_count', 0):,} "
                f"unexpected ({res.get('unexpected_percent') or 0:.3g} %)")
        return text + (f", e.g. {sample}" if sample else "")
    value = res.get("observed_value")
    if isinstance(value, list) and "details" in res:  # a column-set check: say what is missing
        missing = res["details"].get("mismatched", {}).get("missing")
        return f"missing {missing}" if missing else f"{len(value)} columns"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _describe(check: dict) -> str:
    where = f"{check['table']}.{check['columns']}" if check["columns"] else check["table"]
    return f"{check['expectation']} [{where}]: {check['observed']} — {check['why']}"


def _markdown(result: ValidationResult, checks: list[dict]) -> str:
    c = result.counts
    verdict = "passed" if result.success else "**FAILED**"
    lines = [f"# {_title(result).capitalize()} validation: season {result.season}, week {result.week}", "",
             (f"Hard checks {verdict}: {c['hard_failed']} hard failures, {c['soft_failed']} soft warnings "
              f"out of {c['expectations']} expectations; {c['rows']:,} rows, {c['plays']:,} plays, "
              f"{c['frames']:,} frames."), "",
             "| table | expectation | column(s) | severity | result | observed | why |",
             "|---|---|---|---|---|---|---|"]
    for ch in checks:
        outcome = "pass" if ch["success"] else ("**FAIL**" if ch["severity"] == "hard" else "warn")
        mostly = f" (mostly {ch['mostly']})" if ch["mostly"] is not None else ""
        cells = [ch["table"], ch["expectation"] + mostly, ch["columns"] or "", ch["severity"], outcome,
                 ch["observed"], ch["why"]]
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in cells) + " |")
    return "\n".join(lines) + "\n"


def _title(result: ValidationResult) -> str:
    return result.suite.replace("_", " ")  # "raw tracking"
