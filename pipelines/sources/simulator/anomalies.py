"""Tracking anomalies injected at known rates, with a truth table of every corrupted key.

Each chosen play gets one anomaly of one kind; the kinds are the failure modes seen in real
player-tracking feeds (see ``pipelines.schema.ANOMALY_KINDS``).  The truth table has one row per
affected (game, play, nfl_id, frame); ``nfl_id`` is null when a whole frame is affected.
Anomalies touch players only, never the ball, and never a play's first or last two frames, so that
a one-frame glitch always has neighbours to be judged against.
"""

from __future__ import annotations

import numpy as np

from pipelines.field import FIELD_LENGTH, FIELD_WIDTH


def inject(rng: np.random.Generator, cols: dict[str, np.ndarray], play_starts: np.ndarray,
           play_rate: float, kinds: dict[str, float]) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Corrupt ``cols`` (one game's rows, grouped by play then player then frame) in place of a copy.

    ``play_starts`` holds the first row of each play and, last, the number of rows.
    Returns the corrupted columns and the truth rows.
    """
    names = [k for k, w in kinds.items() if w > 0]
    weights = np.array([kinds[k] for k in names], float)
    n_plays = len(play_starts) - 1
    chosen = np.flatnonzero(rng.random(n_plays) < play_rate) if names else np.array([], int)
    truth: dict[str, list] = {"game_id": [], "play_id": [], "nfl_id": [], "frame_id": [], "kind": []}
    if len(chosen) == 0:
        return cols, truth
    cols = {k: v.copy() for k, v in cols.items()}
    keep = np.ones(len(cols["frame_id"]), bool)
    duplicate: list[np.ndarray] = []

    def record(rows: np.ndarray, kind: str, whole_frame: bool = False) -> None:
        for r in rows:
            truth["game_id"].append(int(cols["game_id"][r]))
            truth["play_id"].append(int(cols["play_id"][r]))
            truth["nfl_id"].append(None if whole_frame else int(cols["nfl_id"][r]))
            truth["frame_id"].append(int(cols["frame_id"][r]))
            truth["kind"].append(kind)

    for i in chosen:
        lo, hi = play_starts[i], play_starts[i + 1]
        frames = cols["frame_id"][lo:hi]
        n_frames = int(frames.max())
        is_player = cols["nfl_id"][lo:hi] >= 0
        players = np.unique(cols["nfl_id"][lo:hi][is_player])
        player = players[rng.integers(0, len(players))]
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
        run = int(rng.integers(1, 4))
        first = int(rng.integers(3, max(4, n_frames - run - 1)))
        span = np.arange(first, min(first + run, n_frames - 1))
        rows = lo + np.flatnonzero((cols["nfl_id"][lo:hi] == player) & np.isin(frames, span))
        if kind == "off_field":
            if rng.random() < 0.5:
                cols["y"][rows] = np.round(FIELD_WIDTH + rng.uniform(1.0, 5.0) if rng.random() < 0.5 else -rng.uniform(1.0, 5.0), 2)
            else:
                cols["x"][rows] = np.round(FIELD_LENGTH + rng.uniform(1.0, 5.0) if rng.random() < 0.5 else -rng.uniform(1.0, 5.0), 2)
            record(rows, kind)
        elif kind == "speed_spike":
            cols["s"][rows] = np.round(rng.uniform(13.0, 25.0, len(rows)), 2)
            record(rows, kind)
        elif kind == "teleport":
            row = rows[:1]  # one frame jumps away and back: two impossible speeds
            # jump towards the middle of the field (give or take 60°), so the point stays on it
            to_mid = np.arctan2(FIELD_WIDTH / 2 - cols["y"][row], FIELD_LENGTH / 2 - cols["x"][row])
            angle = to_mid + rng.uniform(-np.pi / 3, np.pi / 3)
            jump = rng.uniform(2.5, 5.0)
            cols["x"][row] = np.round(cols["x"][row] + jump * np.cos(angle), 2)
            cols["y"][row] = np.round(cols["y"][row] + jump * np.sin(angle), 2)
            record(row, kind)
        elif kind == "duplicate_frame":
            frame = span[0]
            rows = lo + np.flatnonzero(frames == frame)
            duplicate.append(rows)
            record(rows[:1], kind, whole_frame=True)
        elif kind == "dropped_player_frames":
            keep[rows] = False
            record(rows, kind)
        elif kind == "nan_coordinates":
            cols["x"][rows] = np.nan
            cols["y"][rows] = np.nan
            record(rows, kind)

    order = np.flatnonzero(keep)
    if duplicate:
        order = np.sort(np.concatenate([order, *duplicate]), kind="stable")  # copies sit beside the originals
    return {k: v[order] for k, v in cols.items()}, truth
