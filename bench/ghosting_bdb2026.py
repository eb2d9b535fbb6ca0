"""The ghosting evaluation on the 2026 Big Data Bowl prediction layout: writes the held-out games of
a trained `train ghosting` run (the same split by game) as input_/output_ CSV files from the clean
lake, reads them back through the bdb adapter and prints ADE/FDE/RMSE, the composite scores and the
bars.

    .venv/bin/python -m bench.ghosting_bdb2026 --season 2025 --weeks 1-4 --out /tmp/bdb2026 [--run-id RUN]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evaluation.ghosting_bdb2026 import evaluate_prediction_weeks, write_prediction_week
from pipelines import lake
from pipelines.config import load_settings, parse_weeks
from training.ghosting import load_ghosting_config
from training.ghosting_data import load_ghosting_data
from training.passing import split_by_game
from training.train_ghosting import load_trained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--season", type=int, required=True)
    ap.add_argument("--weeks", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--run-id")
    ap.add_argument("--profile")
    args = ap.parse_args()
    settings = load_settings(args.profile)
    weeks = parse_weeks(args.weeks)
    model, run_id = load_trained(settings, args.run_id)
    cfg = load_ghosting_config()
    data = load_ghosting_data(settings, args.season, weeks, features=model.features)
    test_games = set(np.unique(data.game_id[split_by_game(data.game_id, cfg.split, cfg.seed)["test"]]))
    started = time.perf_counter()
    for week in weeks:
        tracking = lake.read_weeks(settings.paths.lake / "clean" / "tracking", args.season, [week]).to_pandas()
        tracking = tracking[tracking["game_id"].isin(test_games)]
        if tracking.empty:
            continue
        plays = lake.read_weeks(settings.paths.lake / "raw" / "plays", args.season, [week]).to_pandas()
        players = lake.read_weeks(settings.paths.lake / "raw" / "players", args.season, [week]).to_pandas()
        write_prediction_week(tracking, plays, players, args.out, args.season, week)
    print(f"wrote the 2026 layout of {len(test_games)} held-out games in {time.perf_counter() - started:.1f} s → {args.out}")
    written = sorted(int(p.stem.split("_w")[1]) for p in Path(args.out).glob(f"input_{args.season}_w*.csv"))
    ev = evaluate_prediction_weeks(args.out, args.season, written, model, cfg)
    print(f"weeks {written}: {ev.samples} samples (model run {run_id})")
    print(ev.errors.to_markdown(floatfmt=".4f"))
    print(ev.composites.to_markdown(floatfmt=".4f"))
    print("bars: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in ev.bars.items()))

if __name__ == "__main__":
    main()
