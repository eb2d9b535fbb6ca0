"""Benchmark: simulate one full season (17 weeks x 16 games = 272 games) and print throughput and memory.

Goal (issue 2): <= 3 minutes and <= 4 GiB on the 2-core reference machine.  Peak memory is the
largest sum of resident memory over this process and its worker processes, sampled every 0.1 s.

    .venv/bin/python bench/simulate_season.py [--workers N] [--weeks 1-17] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pipelines.config import load_settings, parse_weeks
from pipelines.sources.simulator import simulate_to


class PeakMemory:
    """Samples the resident memory of this process tree in a background thread."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--weeks", default="1-17", help="weeks to simulate (default 1-17: a full season)")
    parser.add_argument("--keep", type=Path, help="write here and keep the output (default: a temporary folder)")
    args = parser.parse_args()

    sim = load_settings("season").simulator
    weeks = parse_weeks(args.weeks)
    out = args.keep or Path(tempfile.mkdtemp(prefix="trackflow-bench-"))
    try:
        with PeakMemory() as mem:
            started = time.perf_counter()
            cpu0 = psutil.Process().cpu_times()
            results = simulate_to(sim, out, weeks=weeks, workers=args.workers)
            wall = time.perf_counter() - started
        plays = sum(r.plays.num_rows for r in results)
        rows = sum(r.tracking_rows for r in results)
        size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
        games = len(weeks) * sim.games_per_week
        print(f"machine      {platform.machine()}, {os.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
        print(f"simulated    {games} games, {plays:,} pass plays, {rows:,} tracking rows, {len(weeks)} weeks, "
              f"{args.workers} workers")
        print(f"wall time    {wall:.1f} s   ({plays / wall:.0f} plays/s, {rows / wall / 1e6:.2f} M rows/s)")
        print(f"peak memory  {mem.peak / 2**30:.2f} GiB (this process and its workers)")
        print(f"parquet      {size / 2**20:.0f} MiB on disk")
        print(f"main-process CPU {sum(psutil.Process().cpu_times()[:2]) - sum(cpu0[:2]):.1f} s")
        goal = wall <= 180 and mem.peak <= 4 * 2**30
        print(f"goal (<= 180 s, <= 4 GiB): {'met' if goal else 'NOT met'}")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
