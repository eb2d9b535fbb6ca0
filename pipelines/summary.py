"""Headline figures of a set of pass plays: what `make run` prints and what the realism tests check."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def play_summary(plays: pa.Table, truth_plays: pa.Table | None = None,
                 truth_anomalies: pa.Table | None = None, tracking_rows: int | None = None) -> dict:
    """Completion, interception and sack rates, yards per attempt, yards percentiles and more.

    Attempts exclude sacks, as NFL passing statistics do.
    """
    result = np.array(plays.column("pass_result").to_pylist(), dtype=object)
    yards = plays.column("yards_gained").to_numpy(zero_copy_only=False).astype(float)
    attempts = result != "S"
    completed = result == "C"
    comp_yards = yards[completed]
    out = {
        "plays": int(plays.num_rows),
        "games": int(len(pc.unique(plays.column("game_id")))),
        "attempts": int(attempts.sum()),
        "completion_rate": float(completed.sum() / max(attempts.sum(), 1)),
        "interception_rate": float((result == "IN").sum() / max(attempts.sum(), 1)),
        "sack_rate": float((result == "S").sum() / max(len(result), 1)),
        "yards_per_attempt": float(yards[attempts].mean()) if attempts.any() else float("nan"),
        "completed_yards_p50": float(np.percentile(comp_yards, 50)) if len(comp_yards) else float("nan"),
        "completed_yards_p90": float(np.percentile(comp_yards, 90)) if len(comp_yards) else float("nan"),
        "completed_yards_p99": float(np.percentile(comp_yards, 99)) if len(comp_yards) else float("nan"),
        "completed_yards_min": float(comp_yards.min()) if len(comp_yards) else float("nan"),
        "completed_yards_max": float(comp_yards.max()) if len(comp_yards) else float("nan"),
    }
    if tracking_rows is not None:
        out["tracking_rows"] = int(tracking_rows)
    if truth_plays is not None:
        ttt = truth_plays.column("time_to_throw_s").drop_null().to_numpy()
        if len(ttt):
            out["time_to_throw_p05"] = float(np.percentile(ttt, 5))
            out["time_to_throw_p50"] = float(np.percentile(ttt, 50))
            out["time_to_throw_p95"] = float(np.percentile(ttt, 95))
    if truth_anomalies is not None:
        plays_per_kind = {}
        for kind in set(truth_anomalies.column("kind").to_pylist()):
            rows = truth_anomalies.filter(pc.equal(truth_anomalies.column("kind"), kind))
            plays_per_kind[kind] = len(set(zip(rows.column("game_id").to_pylist(), rows.column("play_id").to_pylist())))
        out["anomalous_plays"] = dict(sorted(plays_per_kind.items()))
        out["anomaly_rows"] = int(truth_anomalies.num_rows)
    return out


def format_summary(s: dict) -> str:
    """A short human-readable block."""
    lines = [
        f"games {s['games']:,}   pass plays {s['plays']:,}   attempts {s['attempts']:,}"
        + (f"   tracking rows {s['tracking_rows']:,}" if "tracking_rows" in s else ""),
        f"completion {s['completion_rate']:.1%}   interception {s['interception_rate']:.1%}   "
        f"sack {s['sack_rate']:.1%}   yards/attempt {s['yards_per_attempt']:.2f}",
        f"completed-pass yards: p50 {s['completed_yards_p50']:.0f}  p90 {s['completed_yards_p90']:.0f}  "
        f"p99 {s['completed_yards_p99']:.0f}  min {s['completed_yards_min']:.0f}  max {s['completed_yards_max']:.0f}",
    ]
    if "time_to_throw_p50" in s:
        lines.append(f"snap-to-release s: p05 {s['time_to_throw_p05']:.1f}  p50 {s['time_to_throw_p50']:.1f}  "
                     f"p95 {s['time_to_throw_p95']:.1f}")
    if "anomalous_plays" in s:
        kinds = ", ".join(f"{k} {v}" for k, v in s["anomalous_plays"].items()) or "none"
        n = sum(s["anomalous_plays"].values())
        lines.append(f"injected anomalies: {n} plays ({s['anomaly_rows']} rows) — {kinds}")
    return "\n".join(lines)
