"""Benchmark: CPU inference of the passing model — batched cost per play and single-play latency.

Goals (issue 5): batched ≤ 0.1 ms per play; one play at a time p99 ≤ 5 ms.  "Inference" is what
scoring a play needs: the network's forward pass, the SBP built from its outputs, the median, the
10 % / 90 % quantiles and the passing score of the actual yards.  The model is the newest finished
`train passing` run of the project home (or an untrained one of the configured size with
`--untrained`: the cost does not depend on the weights); the plays are the passing feature table
of the given weeks, so sequence lengths are the real ones.

    .venv/bin/python bench/passing_inference.py --home /tmp/etl --weeks 1-4 [--threads N] [--untrained] [--bf16]
        [--compiled]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from evaluation.passing_metrics import passing_score
from features.config import load_features_config
from pipelines.config import load_settings, parse_weeks
from training.passing import INFERENCE_BATCH, Standardizer, load_passing_data, load_training_config
from training.passing_model import PassingModel
from training.train_passing import load_trained


def score(model: PassingModel, seq, lengths, static, y, bf16: bool = False, compiled: bool = False) -> np.ndarray:
    return outputs(model, model.raw(seq, lengths, static, batch_size=len(lengths), bf16=bf16, compiled=compiled), y)


def outputs(model: PassingModel, raw: torch.Tensor, y) -> np.ndarray:
    """What scoring reads from the network's outputs: 10/50/90 % quantiles and the passing score."""
    dist = model.distribution_of(raw)
    q = dist.quantile(torch.tensor([0.1, 0.5, 0.9]))
    return np.stack([*q.numpy(), passing_score(dist, y)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", required=True, help="project home whose lake holds the passing features")
    ap.add_argument("--season", type=int, default=2025)
    ap.add_argument("--weeks", default="1-4", help="weeks of passing features to score, e.g. 1-4")
    ap.add_argument("--batch", type=int, default=INFERENCE_BATCH,
                    help="plays per forward pass in the batched measurement (default: the product's)")
    ap.add_argument("--passes", type=int, default=5, help="timed passes over every play in the batched measurement")
    ap.add_argument("--single", type=int, default=3000, help="single-play calls timed for the latency")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--untrained", action="store_true", help="an untrained network of the configured size")
    ap.add_argument("--bf16", action="store_true", help="the forward pass under bfloat16 autocast on the CPU")
    ap.add_argument("--compiled", action="store_true",
                    help="the network through torch.compile (its compilation is the warm-up pass, reported apart)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": args.home})
    weeks = parse_weeks(args.weeks)
    if args.untrained:
        data = load_passing_data(settings, args.season, weeks)
        model = PassingModel.build("sbp", data.features, Standardizer.fit(data.static_raw), load_training_config(),
                                   load_features_config().max_frames)
        source = "untrained"
    else:
        model, run_id = load_trained(settings)
        data = load_passing_data(settings, args.season, weeks, features=model.features)
        source = f"run {run_id}"
    n = len(data)
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · torch {torch.__version__} · "
          f"{torch.get_num_threads()} threads · model: {source} · {n:,} plays, mean length "
          f"{data.lengths.mean():.1f} frames")

    # batched, as `trackflow score passing` does: every play in one call, the network run `--batch`
    # plays at a time (of similar lengths: PassingModel.raw); one pass to warm up, then `--passes`
    # timed, the median reported (a shared VM's neighbours move single passes by ±20 %); the
    # network's share timed apart (the distribution's part is the rest)
    passes = []
    for attempt in range(args.passes + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        raw = model.raw(data.seq, data.lengths, data.static_raw, batch_size=args.batch, bf16=args.bf16,
                        compiled=args.compiled)
        net_wall = time.perf_counter() - t0
        outputs(model, raw, data.y)
        if attempt:
            passes.append((time.perf_counter() - t0, net_wall, time.process_time() - c0))
        elif args.compiled:
            print(f"warm-up pass with the compilation: {time.perf_counter() - t0:.1f} s wall, "
                  f"{time.process_time() - c0:.1f} s CPU")
    wall, net_wall, cpu = np.median(np.array(passes), axis=0)
    walls = sorted(1e3 * p[0] / n for p in passes)
    mode = "".join([", bf16" if args.bf16 else "", ", compiled" if args.compiled else ""])
    print(f"batched ({args.batch}/batch{mode}): {1e3 * wall / n:.4f} ms per play wall, "
          f"median of {len(passes)} passes ({walls[0]:.4f}–{walls[-1]:.4f}; network {1e3 * net_wall / n:.4f}, "
          f"distribution {1e3 * (wall - net_wall) / n:.4f}), {1e3 * cpu / n:.4f} ms CPU ({n / wall:,.0f} plays/s)"
          f"   goal ≤ 0.1 ms")
    if args.bf16:  # what bf16 changes in the outputs, against float32
        full = outputs(model, model.raw(data.seq, data.lengths, data.static_raw, batch_size=args.batch), data.y)
        half = outputs(model, model.raw(data.seq, data.lengths, data.static_raw, batch_size=args.batch, bf16=True),
                       data.y)
        diff = np.abs(half - full)
        print(f"bf16 vs float32 over {n:,} plays: quantiles 10/50/90 % max |Δ| {diff[:3].max():.3f} yd "
              f"(mean {diff[:3].mean():.4f}), passing score max |Δ| {diff[3].max():.3f} (mean {diff[3].mean():.4f})")

    # one play at a time, plays drawn at random
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n, args.single + 50)
    times = []
    for k, i in enumerate(picks):
        rows = slice(i, i + 1)
        t0 = time.perf_counter()
        score(model, data.seq[rows], data.lengths[rows], data.static_raw[rows], data.y[rows], args.bf16,
              args.compiled)
        if k >= 50:  # warm-up calls are not counted
            times.append(time.perf_counter() - t0)
    ms = 1e3 * np.array(times)
    print(f"single play ({args.single} calls): p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, "
          f"max {ms.max():.2f} ms   goal p99 ≤ 5 ms")


if __name__ == "__main__":
    main()
