"""Benchmark: CPU seconds per play of the Spark anomaly filter + feature job, and the pandas reference.

Goals (issue 4): ≤ 0.05 CPU·s per play for filter + features on ≥ 4 simulated weeks, and ≤ 1.1×
that per-play cost at twice the data.

    .venv/bin/python bench/etl [--weeks 4] [--home DIR]

1. Setup (not timed): the `demo` profile's weeks 1…2N are simulated and ingested into ``--home``
   (kept between runs: a week already ingested there is reused).
2. Spark, N weeks then 2N weeks, each in a fresh worker process that runs what `trackflow filter`
   and `trackflow features` run (``filter_week`` with its clean-table Great Expectations check,
   truth scoring and MLflow logging, then ``build_features``) week after week.  CPU = user + sys of
   the worker and every process under it (the Spark JVM), from its start (interpreter, imports, JVM
   start) to its end, divided by the plays ingested.  The per-stage figures exclude the start.
3. pandas reference (``bench/etl/pandas_filter.py``): the same anomaly rules on the same weeks in a
   worker process; each week's clean rows are checked equal to the Spark job's clean partition.
   It covers the filter only (the features have no pandas twin), so it compares with the Spark
   filter's per-stage figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
SEASON = 2025


def cpu_seconds() -> float:
    """user + sys of this process, its reaped children and its live descendants (the JVM)."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            pass
    return total


def _settings(home: Path):
    from pipelines.config import load_settings

    return load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": str(home)})


# --- workers (run in their own process) ------------------------------------------------------------

def spark_worker(home: Path, weeks: list[int]) -> dict:
    from features.build import build_features
    from pipelines.anomaly_filter import filter_week

    settings = _settings(home)
    stages = {"filter": 0.0, "features": 0.0}
    plays = 0
    for week in weeks:
        before = cpu_seconds()
        report = filter_week(settings, SEASON, week)
        middle = cpu_seconds()
        build_features(settings, SEASON, week)
        stages["filter"] += middle - before
        stages["features"] += cpu_seconds() - middle
        plays += report.plays_in
    return {"plays": plays, "stages": stages}


def pandas_worker(home: Path, weeks: list[int]) -> dict:
    import importlib.util

    import pandas as pd

    from pipelines import lake
    from pipelines.anomaly_filter import load_rules
    from pipelines.schema import TRACKING, file_schema

    spec = importlib.util.spec_from_file_location("pandas_filter", HERE / "pandas_filter.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    settings, rules = _settings(home), load_rules()
    plays, seconds, checking, checked = 0, 0.0, 0.0, []
    for week in weeks:
        before = cpu_seconds()
        raw = ref.read_raw_week(settings, SEASON, week)
        clean, _anomalies = ref.filter_tracking(raw, rules)
        seconds += cpu_seconds() - before
        plays += raw[["game_id", "play_id"]].drop_duplicates().shape[0]
        before = cpu_seconds()
        spark = lake.read_table(lake.partition_dir(settings.paths.lake / "clean" / "tracking", SEASON, week),
                                file_schema(TRACKING)).to_pandas()
        keys = ["game_id", "play_id", "nfl_id", "frame_id"]
        a = clean.sort_values(keys, na_position="first").reset_index(drop=True)
        b = spark.sort_values(keys, na_position="first").reset_index(drop=True)[a.columns]
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=0, atol=1e-9)
            checked.append(True)
        except AssertionError as err:
            print(f"week {week}: pandas and Spark clean rows differ: {str(err)[:300]}", file=sys.stderr)
            checked.append(False)
        checking += cpu_seconds() - before
    return {"plays": plays, "stages": {"filter": seconds}, "same_rows": all(checked), "not_counted": checking}


# --- driver -----------------------------------------------------------------------------------------

def _run_worker(kind: str, home: Path, weeks: list[int]) -> dict:
    """Run a worker in a fresh interpreter (it measures its own whole-process CPU)."""
    started = time.perf_counter()
    proc = psutil.Popen([sys.executable, str(HERE), "--worker", kind, "--home", str(home),
                         "--week-list", ",".join(map(str, weeks))], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{kind} worker failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def _ensure_ingested(home: Path, weeks: list[int]) -> None:
    from pipelines.ingest import ingest_week, manifest_path

    settings = _settings(home)
    for week in weeks:
        if not manifest_path(settings, SEASON, week).is_file():
            started = time.perf_counter()
            manifest = ingest_week(settings, "synthetic:", SEASON, week)
            print(f"(setup: ingested week {week}: {manifest.row_counts['plays']:,} plays in "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=4, help="N: the first run reads weeks 1…N, the second 1…2N")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "trackflow-bench-etl",
                        help="project home of the benchmark's lake (reused between runs)")
    parser.add_argument("--worker", choices=["spark", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--week-list", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        raise SystemExit(_worker_main(args))

    n = args.weeks
    print(f"machine  {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; lake in {args.home}", flush=True)
    _ensure_ingested(args.home, list(range(1, 2 * n + 1)))
    rows = []
    for weeks in (list(range(1, n + 1)), list(range(1, 2 * n + 1))):
        r = _run_worker("spark", args.home, weeks)
        per_play = r["cpu"] / r["plays"]
        rows.append(per_play)
        stage = {k: v / r["plays"] for k, v in r["stages"].items()}
        print(f"spark   weeks 1-{weeks[-1]}: {r['plays']:,} plays, {r['cpu']:.0f} CPU·s in {r['wall']:.0f} s wall "
              f"→ {per_play:.4f} CPU·s/play (filter {stage['filter']:.4f} + features {stage['features']:.4f}, "
              f"start {r['start'] / r['plays']:.4f})", flush=True)
    print(f"spark   per-play cost at twice the data: {rows[1] / rows[0]:.2f}× (goal ≤ 1.1×); "
          f"{n} weeks: {rows[0]:.4f} CPU·s/play (goal ≤ 0.05): {'met' if rows[0] <= 0.05 else 'NOT met'}")
    r = _run_worker("pandas", args.home, list(range(1, n + 1)))
    print(f"pandas  weeks 1-{n}: {r['plays']:,} plays, filter {r['stages']['filter'] / r['plays']:.4f} CPU·s/play "
          f"({r['cpu'] / r['plays']:.4f} with the interpreter start); clean rows equal to Spark's: "
          f"{'yes' if r['same_rows'] else 'NO'}")


def _worker_main(args) -> int:
    weeks = [int(w) for w in args.week_list.split(",")]
    result = spark_worker(args.home, weeks) if args.worker == "spark" else pandas_worker(args.home, weeks)
    # since the process started: interpreter, imports, JVM, every week (the pandas check excluded)
    result["cpu"] = cpu_seconds() - result.pop("not_counted", 0.0)
    result["start"] = result["cpu"] - sum(result["stages"].values())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    main()
