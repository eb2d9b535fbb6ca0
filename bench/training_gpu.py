"""Benchmark: the models' training on a GPU — the passing model's throughput (plays/s) and time to
converge, the ghosting model's time to converge and its test error.

Issue 5 asks for both on a GPU machine, on 50,000 plays.  The GPU machine this project is lent has
no Java, Spark or MLflow and takes at most 64 MiB of data along, so the benchmark has two steps:

``pack`` (where the lake is): the passing data of the given weeks as ``train_passing`` reads it
(the selected static features, the snap→release tensors) into one compressed ``.npz``: ragged (valid
frames only), the tensor channels as integers in hundredths (yards, yd/s, yd/s², degrees — the
resolution of NGS tracking data; the rounding moves no value by more than 0.005), delta-coded along
the frames.  Eight demo weeks (9,468 plays) take 58 MB (zlib; the tracking jitter leaves little to compress).

``pack-ghosting``: the ghosting samples of the given weeks (the ghosting table's rows as
``load_ghosting_data`` gives them, their observed futures) into a Parquet file and an ``.npy`` file.

``run`` (on the GPU machine): unpack, split by game, add the training plays' mirror images and
standardize exactly as ``train_passing`` does (``training.passing.training_tensors``), then

1. throughput: plays per second of ``training.passing.fit`` — forward (bf16 autocast on CUDA), SBP
   NLL, backward, gradient clipping, AdamW, the validation pass — on a training set of ``--plays``
   rows: the real training plays and their mirror images, repeated until the count is reached (the
   cost of a step does not depend on whether two rows are the same play).  Variants: batch size;
   the data resident on the GPU (``fit``'s default) or copied per batch (the previous behaviour);
2. time to converge: ``fit`` with the configured early stopping (patience, max epochs) on the real
   training split and on the ``--plays``-row set; the wall time, epochs and best validation NLL.
   Repeated rows make an epoch of the ``--plays`` set worth more than one of distinct plays, so its
   time to converge is a lower bound for 50,000 distinct plays; the per-epoch time is exact.

``run-ghosting``: as ``train_ghosting`` does (split by game, standardizers fitted on the training
rows, ``fit`` with the configured early stopping), then ADE on the test samples against constant
velocity — the same code path as on the CPU, on CUDA with bf16 autocast.

    .venv/bin/python bench/training_gpu.py pack --home /tmp/etl --weeks 1-8 --out .gpu/passing.npz
    .venv/bin/python bench/training_gpu.py pack-ghosting --home /tmp/etl --weeks 1-8 --out .gpu/ghosting
    python3 bench/training_gpu.py run --pack .gpu/passing.npz --plays 50000      # on the GPU machine
    python3 bench/training_gpu.py run-ghosting --pack .gpu/ghosting
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder

from pipelines.schema import SEQ_FEATURES  # noqa: E402
from training import passing  # noqa: E402
from training.passing import (PassingData, Tensors, fit, load_training_config, resolve_device, sbp_loss,  # noqa: E402
                              training_tensors)
from training.passing_model import PassingModel  # noqa: E402

ANGLES = [SEQ_FEATURES.index("dir"), SEQ_FEATURES.index("o")]
CONTEXT = ["game_id", "play_id", "snap_frame", "release_frame"]


# --- pack / unpack --------------------------------------------------------------------------------

def pack(home: str, season: str, weeks: str, out: Path) -> None:
    from pipelines.config import load_settings, parse_seasons, parse_weeks
    from training.passing import load_passing_data

    settings = load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": home})
    data = load_passing_data(settings, parse_seasons(season), parse_weeks(weeks))
    valid = np.arange(data.seq.shape[1])[None, :] < data.lengths[:, None]
    frames = data.seq[valid].astype(np.float64)  # [Σ lengths, 22, 8], plays one after another
    frames[..., ANGLES] -= 180.0  # degrees in [0, 360) → ±180: hundredths fit in int16
    hundredths = np.round(frames * 100)
    if np.abs(hundredths).max() > np.iinfo(np.int16).max:
        raise SystemExit(f"pack: a tensor value beyond ±327.67 in {home}: cannot store it in hundredths")
    q = hundredths.astype(np.int16)
    # delta along the frames (int16 arithmetic wraps, and so does the cumulative sum that undoes it)
    delta = np.diff(q, axis=0, prepend=np.zeros_like(q[:1]))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, delta=delta, lengths=data.lengths, static_raw=data.static_raw, y=data.y,
                        context=data.context[CONTEXT].to_numpy(np.int64), features=np.array(data.features),
                        max_frames=np.int64(data.seq.shape[1]))
    print(f"packed {len(data):,} plays ({int(data.lengths.sum()):,} frames, {len(data.features)} features) "
          f"into {out}: {out.stat().st_size / 1e6:.1f} MB")


def unpack(path: Path) -> tuple[PassingData, int]:
    z = np.load(path)
    frames = np.cumsum(z["delta"], axis=0, dtype=np.int16).astype(np.float32) / np.float32(100)
    frames[..., ANGLES] += 180.0
    frames[..., ANGLES] %= 360.0
    lengths = z["lengths"]
    max_frames = int(z["max_frames"])
    seq = np.zeros((len(lengths), max_frames, *frames.shape[1:]), dtype=np.float32)
    valid = np.arange(max_frames)[None, :] < lengths[:, None]
    seq[valid] = frames
    # absent players were all-zero rows: keep them so (dir/o decoded to 180 ± 180 → 0 or 360 → 0)
    context = pd.DataFrame(z["context"], columns=CONTEXT)
    features = [str(f) for f in z["features"]]
    for j, f in enumerate(features):
        context[f] = z["static_raw"][:, j]
    data = PassingData(seq=seq, lengths=lengths, static_raw=z["static_raw"], y=z["y"], game_id=context["game_id"].to_numpy(),
                       context=context, features=features)
    return data, max_frames


def repeat_to(t: Tensors, n: int) -> Tensors:
    rows = torch.arange(n) % len(t)
    return Tensors(t.seq[rows], t.lengths[rows], t.static[rows], t.y[rows])


# --- measurements -----------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_fit(data: PassingData, max_frames: int, scale, train: Tensors, validation: Tensors, cfg,
              device: torch.device, resident: bool = True, compile_net: bool = False
              ) -> tuple[float, list[dict], list[float]]:
    """Wall seconds, history and per-epoch seconds (each with its validation pass) of one ``fit`` of
    a fresh SBP network, seeded as train_passing does.  ``compile_net``: through ``torch.compile``."""
    share = passing.DEVICE_DATA_SHARE
    passing.DEVICE_DATA_SHARE = share if resident else 0.0
    try:
        torch.manual_seed(cfg.seed)
        model = PassingModel.build("sbp", data.features, scale, cfg, max_frames)
        net = torch.compile(model.net) if compile_net else model.net
        marks = []

        def mark(epoch, row):
            sync(device)
            marks.append(time.perf_counter())

        sync(device)
        t0 = time.perf_counter()
        _, history = fit(net, sbp_loss(cfg.sbp), train, validation, cfg, device, on_epoch=mark)
        sync(device)
        return time.perf_counter() - t0, history, list(np.diff([t0, *marks]))
    finally:
        passing.DEVICE_DATA_SHARE = share


def check_distribution(device: torch.device, cfg) -> dict[str, float]:
    """The SBP's log_prob, cdf and icdf on ``device`` (float32) against float64 on the CPU, for random
    parameters and values; ``sample`` draws on the device and inside the support."""
    from training.passing import sbp_distribution
    from training.sbp import sbp_from_raw

    g = torch.Generator().manual_seed(0)
    raw = torch.randn(4096, cfg.sbp.bins + 4, generator=g, dtype=torch.float64) * 2
    y = torch.randint(-15, 80, (4096,), generator=g).double()
    u = torch.rand(4096, generator=g, dtype=torch.float64).clamp(0.001, 0.999)
    ref = sbp_from_raw(raw, cfg.sbp.lower, cfg.sbp.upper, cfg.sbp.tail_alpha, xi_range=tuple(cfg.sbp.xi_range),
                       lower_xi_range=cfg.sbp.lower_xi_range)
    dev = sbp_distribution(raw.float().to(device), cfg.sbp)  # float32, as in training
    out = {}
    for name, v in (("log_prob", y), ("cdf", y), ("icdf", u)):
        a, b = getattr(dev, name)(v.float().to(device)).double().cpu(), getattr(ref, name)(v)
        both = torch.isfinite(a) & torch.isfinite(b)  # log_prob is −inf beyond a bounded tail
        out[f"{name}_max_abs_diff"] = float((a - b)[both].abs().max())
        out[f"{name}_finite_mismatches"] = int((torch.isfinite(a) != torch.isfinite(b)).sum())
    draw = dev.sample(torch.Size([8]))
    out["sample_device"] = str(draw.device)
    out["sample_finite"] = bool(torch.isfinite(draw).all())
    return out


def run(args) -> None:
    device = resolve_device(args.device)
    cfg = load_training_config()
    if args.max_epochs:
        cfg = cfg.model_copy(update={"max_epochs": args.max_epochs})
    data, max_frames = unpack(Path(args.pack))
    split, scale, tensors, mirrored = training_tensors(data, cfg)
    train, validation = tensors["train"], tensors["validation"]
    big = repeat_to(train, args.plays)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name}) · torch {torch.__version__} · {os.cpu_count()} CPUs · "
          f"{len(data):,} plays packed · train {len(train):,} rows ({mirrored:,} mirror images) · validation "
          f"{len(validation):,} · test {int(split['test'].sum()):,} · mean length {data.lengths.mean():.1f} frames")
    results: dict = {"device": str(device), "device_name": name, "torch": torch.__version__, "plays": args.plays,
                     "train_rows": len(train), "validation_rows": len(validation), "throughput": [], "converge": []}
    results["distribution"] = check_distribution(device, cfg)
    print("  SBP on the device vs float64 on the CPU:", json.dumps(results["distribution"]))

    # 1. throughput: a warm-up fit, then `epochs` epochs per variant (patience high: no early stop);
    # plays/s from the median epoch after the first (the first holds the data's copy to the GPU and,
    # compiled, the compilation)
    timed_fit(data, max_frames, scale, repeat_to(train, 4096), validation,
              cfg.model_copy(update={"max_epochs": 1}), device)
    variants = [(b, r, False) for b in args.batches for r in ([True, False] if device.type == "cuda" else [True])]
    variants += [(b, True, True) for b in args.compile_batches]
    for batch, resident, compiled in variants:
        c = cfg.model_copy(update={"max_epochs": args.epochs, "patience": 10_000, "batch_size": batch})
        try:
            wall, history, epoch_s = timed_fit(data, max_frames, scale, big, validation, c, device, resident, compiled)
        except Exception as err:  # an exploratory variant (torch.compile) may fail on a machine: say so, go on
            print(f"  throughput batch {batch:5d} compiled={compiled}: failed: {type(err).__name__}: {err}")
            continue
        steady = float(np.median(epoch_s[1:] or epoch_s))
        row = {"batch": batch, "resident": resident, "compiled": compiled, "epochs": len(history), "wall_s": wall,
               "epoch_s": epoch_s, "plays_per_s": len(big) / steady, "s_per_epoch": steady,
               "last_train_nll": history[-1]["train_nll"]}
        results["throughput"].append(row)
        how = ("compiled" if compiled else "resident") if resident else "copied  "
        print(f"  throughput batch {batch:5d} {how}: {row['plays_per_s']:9,.0f} plays/s  {steady:.2f} s per "
              f"{len(big):,}-row epoch (first epoch {epoch_s[0]:.2f} s)")

    # 2. time to converge with the configured early stopping
    for label, t in (("real training split", train), (f"{len(big):,} rows", big)):
        for attempt in range(args.repeat):
            wall, history, _ = timed_fit(data, max_frames, scale, t, validation, cfg, device)
            best = min(history, key=lambda r: r["validation_nll"])
            row = {"set": label, "rows": len(t), "attempt": attempt, "wall_s": wall, "epochs": len(history),
                   "best_epoch": best["epoch"], "best_validation_nll": best["validation_nll"],
                   "validation_nll": [r["validation_nll"] for r in history]}
            results["converge"].append(row)
            print(f"  converge on {label} ({len(t):,} rows, batch {cfg.batch_size}): {wall:.1f} s, "
                  f"{len(history)} epochs (best {best['epoch']}: validation NLL {best['validation_nll']:.4f})")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def pack_ghosting(home: str, season: str, weeks: str, out: Path) -> None:
    from pipelines.config import load_settings, parse_seasons, parse_weeks
    from training.ghosting_data import load_ghosting_data

    settings = load_settings("demo", environ={"TRACKFLOW__PATHS__HOME": home})
    data = load_ghosting_data(settings, parse_seasons(season), parse_weeks(weeks))
    out.mkdir(parents=True, exist_ok=True)
    data.frame.to_parquet(out / "frame.parquet", compression="zstd")
    np.save(out / "future.npy", data.future)
    (out / "meta.json").write_text(json.dumps({"features": data.features, "observed_frames": data.observed_frames}))
    print(f"packed {len(data):,} ghosting samples ({len(data.features)} features) into {out}")


def run_ghosting(args) -> None:
    from evaluation.ghosting_metrics import ade
    from training.ghosting import constant_velocity, load_ghosting_config, mse_loss
    from training.ghosting_model import GhostingModel
    from training.passing import split_by_game

    device = resolve_device(args.device)
    cfg = load_ghosting_config()
    if args.max_epochs:
        cfg = cfg.model_copy(update={"max_epochs": args.max_epochs})
    folder = Path(args.pack)
    frame, future = pd.read_parquet(folder / "frame.parquet"), np.load(folder / "future.npy")
    meta = json.loads((folder / "meta.json").read_text())
    split = split_by_game(frame["game_id"].to_numpy(), cfg.split, cfg.seed)
    horizon = future.shape[1]
    rows = []
    for attempt in range(args.repeat):
        torch.manual_seed(cfg.seed)
        model = GhostingModel.fitted(frame[split["train"]], meta["features"], cfg, meta["observed_frames"], horizon)
        train = model.tensors(frame[split["train"]], future[split["train"]])
        validation = model.tensors(frame[split["validation"]], future[split["validation"]])
        sync(device)
        t0 = time.perf_counter()
        _, history = fit(model.net, mse_loss, train, validation, cfg, device)
        sync(device)
        wall = time.perf_counter() - t0
        test = frame[split["test"]].reset_index(drop=True)
        pred = model.predict(test, device)
        true = future[split["test"]]
        row = {"attempt": attempt, "wall_s": wall, "epochs": len(history), "train_samples": len(train),
               "samples_per_s": len(train) * len(history) / wall, "test_ade": float(ade(pred, true)),
               "constant_velocity_ade": float(ade(constant_velocity(test, horizon), true)),
               "best_validation_mse": min(r["validation_nll"] for r in history)}
        rows.append(row)
        print(f"  ghosting on {device}: {len(train):,} training samples, {wall:.1f} s, {len(history)} epochs "
              f"({row['samples_per_s']:,.0f} samples/s incl. validation), test ADE {row['test_ade']:.3f} yd "
              f"(constant velocity {row['constant_velocity_ade']:.3f})")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("pack", help="write the passing data of a project home into one .npz")
    p.add_argument("--home", required=True, help="project home whose lake holds the passing features + selection")
    p.add_argument("--season", default="2025")
    p.add_argument("--weeks", default="1-8")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="time fit on the packed plays")
    r.add_argument("--pack", required=True)
    r.add_argument("--plays", type=int, default=50_000, help="rows of the throughput / large-set training set")
    r.add_argument("--batches", type=int, nargs="+", default=[128, 512, 2048], help="batch sizes of the throughput runs")
    r.add_argument("--compile-batches", type=int, nargs="*", default=[], help="batch sizes of torch.compile runs")
    r.add_argument("--epochs", type=int, default=3, help="epochs per throughput variant")
    r.add_argument("--repeat", type=int, default=1, help="converge runs per set (2: checks run-to-run spread)")
    r.add_argument("--max-epochs", type=int, default=0, help="cap of the converge runs (0: the configured one)")
    r.add_argument("--device", default="auto", help="auto, cuda or cpu")
    r.add_argument("--out", help="write the figures as JSON here")
    g = sub.add_parser("pack-ghosting", help="write the ghosting samples of a project home into a folder")
    g.add_argument("--home", required=True, help="project home whose lake holds the ghosting features + selection")
    g.add_argument("--season", default="2025")
    g.add_argument("--weeks", default="1-8")
    g.add_argument("--out", type=Path, required=True)
    rg = sub.add_parser("run-ghosting", help="train the ghosting model on the packed samples")
    rg.add_argument("--pack", required=True, help="folder written by pack-ghosting")
    rg.add_argument("--repeat", type=int, default=1)
    rg.add_argument("--max-epochs", type=int, default=0, help="cap of the epochs (0: the configured one)")
    rg.add_argument("--device", default="auto", help="auto, cuda or cpu")
    rg.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()
    {"pack": lambda: pack(args.home, args.season, args.weeks, args.out),
     "pack-ghosting": lambda: pack_ghosting(args.home, args.season, args.weeks, args.out),
     "run": lambda: run(args), "run-ghosting": lambda: run_ghosting(args)}[args.step]()


if __name__ == "__main__":
    main()
