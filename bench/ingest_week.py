"""Benchmark: ingest one simulated week (16 games) into the raw lake and validate it.

Goal (issue 3): <= 30 s on the 2-core reference machine.  Two sources are timed:
``synthetic:`` (the simulator generates the week in the same process) and ``bdb:`` (the same week
read back from Big Data Bowl CSV files written beforehand, as a data engineer's real files would be).

    .venv/bin/python bench/ingest_week.py
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from pipelines.config import load_settings
from pipelines.ingest import ingest_week
from pipelines.sources.simulator import simulate_to
from pipelines.validate import validate_week


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="trackflow-bench-ingest-"))
    try:
        settings = load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": str(scratch)})
        print(f"machine      {platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
        _, t_csv = _timed(lambda: simulate_to(settings.simulator, scratch / "bdb", weeks=[1], fmt="bdb", workers=1))
        csv_mb = (scratch / "bdb" / "tracking_week_1.csv").stat().st_size / 2**20
        print(f"(setup: wrote week 1 as BDB CSV, {csv_mb:.0f} MiB, in {t_csv:.1f} s)")
        for source in ("synthetic:", f"bdb:{scratch / 'bdb'}"):
            manifest, t_ingest = _timed(lambda: ingest_week(settings, source, 2025, 1))
            result, t_valid = _timed(lambda: validate_week(settings, 2025, 1))
            rows = manifest.row_counts["tracking"]
            print(f"{source.split(':')[0] + ':':<11}  ingest {t_ingest:5.1f} s + validate {t_valid:4.1f} s "
                  f"= {t_ingest + t_valid:5.1f} s for {rows:,} rows, {manifest.row_counts['plays']:,} plays "
                  f"(validation {'passed' if result.success else 'FAILED'}); goal <= 30 s: "
                  f"{'met' if t_ingest + t_valid <= 30 else 'NOT met'}")
        print(f"peak RSS     {psutil.Process().memory_info().rss / 2**30:.2f} GiB (this process, at the end)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
