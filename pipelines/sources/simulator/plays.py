"""Batched physics of the pass plays of one game.

All plays of a game advance together, frame by frame, as arrays of shape (plays, 22 players, 2).
Each player is a point mass: every frame a behaviour gives a desired velocity, the acceleration
towards it is capped by the player's ``max_accel`` and the speed by his ``top_speed`` (both below the
physical limits in :mod:`pipelines.field`), and the position integrates the velocity exactly, so the
reported ``s, a, dis, dir`` agree with the positions.  Players slow down before a sideline or end
line, so nobody leaves the field except through an injected anomaly.

The simulation works in the offense-moves-right frame; :mod:`.season` rotates "left" plays.

Entity slots: 0 QB, 1-5 eligible receivers, 6-10 offensive line (left to right);
11-14 defensive line (left to right), 15-21 the back seven.  The ball is kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.field import DT, END_ZONE, FIELD_LENGTH, FIELD_WIDTH, ngs_angle
from pipelines.schema import TRUTH_QUANTILE_LEVELS
from pipelines.sources.simulator import outcomes
from pipelines.sources.simulator.league import League, Situations

N_PLAYERS = 22
QB, ELIGIBLE, OLINE, DLINE, BACK7 = 0, slice(1, 6), slice(6, 11), slice(11, 15), slice(15, 22)
MAX_FRAMES = 300  # 30 s: a bound no simulated play reaches (the longest run is ~10 s)

# behaviours
B_QB, B_ROUTE, B_PROTECT, B_RUSH, B_MAN, B_ZONE = range(6)

# events, in Big Data Bowl spelling (index 0 = no event)
EVENTS = (
    None, "line_set", "ball_snap", "pass_forward", "pass_arrived", "pass_outcome_caught",
    "pass_outcome_incomplete", "pass_outcome_interception", "tackle", "out_of_bounds", "touchdown",
    "qb_sack",
)  # fmt: skip
EV = {name: i for i, name in enumerate(EVENTS)}

# routes: stem (forward, outward) in yards from the alignment, break direction (forward, outward),
# and whether the receiver settles (sits down) after the stem instead of running on.
ROUTES = {
    "go": ((40.0, 0.0), (1.0, 0.0), False),
    "slant": ((2.5, 0.0), (1.0, -1.0), False),
    "quick_out": ((5.0, 0.0), (-0.05, 1.0), False),
    "out": ((11.0, 0.0), (-0.1, 1.0), False),
    "dig": ((12.0, 0.0), (0.0, -1.0), False),
    "hitch": ((5.5, 0.0), (-1.0, 0.0), True),
    "curl": ((11.0, 0.0), (-0.7, -0.7), True),
    "post": ((11.0, 0.0), (1.0, -0.6), False),
    "corner": ((11.0, 0.0), (1.0, 0.75), False),
    "cross": ((4.0, 0.0), (0.15, -1.0), False),
    "seam": ((30.0, 0.0), (1.0, 0.0), False),
    "flat": ((1.0, 3.5), (0.25, 1.0), False),
    "checkdown": ((3.0, 1.0), (-0.3, 0.3), True),
    "screen": ((-1.5, 1.5), (-0.2, 1.0), True),
    "wheel": ((1.0, 5.0), (1.0, 0.15), False),
}
ROUTE_MENU = {  # route weights by position
    "WR": {"go": 10, "slant": 12, "quick_out": 8, "out": 10, "dig": 12, "hitch": 10, "curl": 11,
           "post": 8, "corner": 6, "cross": 10, "screen": 2},
    "TE": {"block": 30, "seam": 12, "flat": 15, "curl": 15, "cross": 15, "out": 8, "hitch": 5},
    "RB": {"block": 33, "flat": 27, "checkdown": 30, "screen": 4, "wheel": 6},
    "FB": {"block": 60, "flat": 40},
}  # fmt: skip
DEEP_ROUTES = {"go", "post", "corner", "seam", "dig", "out", "curl"}
COVERAGES = {"cover0": 0.04, "cover1": 0.30, "cover2": 0.16, "cover3": 0.32, "cover4": 0.12, "man2": 0.06}
PERSONNEL = {"11": (0.68, ["RB", "TE", "WR", "WR", "WR"]), "12": (0.20, ["RB", "TE", "TE", "WR", "WR"]),
             "21": (0.12, ["RB", "FB", "TE", "WR", "WR"])}  # fmt: skip


def _norm(v):
    # x*x + y*y, not (v * v).sum(-1): the same float64 values (a two-term sum has one rounding
    # either way) without a reduction over a length-2 axis, which cost ~20 % of the simulation
    x, y = v[..., 0], v[..., 1]
    return np.sqrt(x * x + y * y)


def _unit(v):
    n = _norm(v)[..., None]
    return np.where(n > 1e-9, v / np.maximum(n, 1e-9), 0.0)


def _toward(p, target, speed, gain=None):
    """Desired velocity from p to target at ``speed``; with ``gain`` it slows down on arrival."""
    d = target - p
    dist = _norm(d)
    sp = speed if gain is None else np.minimum(speed, gain * dist)
    return _unit(d) * sp[..., None]


def _track(p, target, target_vel, speed, gain=3.0):
    """Desired velocity to follow a moving point: match its velocity and close the gap."""
    v = target_vel + gain * (target - p)
    n = _norm(v)
    return v * np.minimum(1.0, speed / np.maximum(n, 1e-9))[..., None]


@dataclass
class PlayBatch:
    """Everything fixed at the snap, plus the running state, for the P plays of a game."""

    sit: Situations
    roster_row: np.ndarray  # (P, 22) roster index of each slot
    vmax: np.ndarray  # (P, 22)
    amax: np.ndarray
    skill: np.ndarray
    behaviour: np.ndarray  # (P, 22) B_*
    align: np.ndarray  # (P, 22, 2) pre-snap spots
    stem: np.ndarray  # (P, 22, 2) route stem points (route runners)
    brk: np.ndarray  # (P, 22, 2) unit break directions
    settle: np.ndarray  # (P, 22) bool
    route_delay: np.ndarray  # (P, 22) frames after the snap before the route starts
    man_of: np.ndarray  # (P, 22) receiver slot a man defender covers (or -1)
    landmark: np.ndarray  # (P, 22, 2) zone landmark
    zone_radius: np.ndarray  # (P, 22)
    block_of: np.ndarray  # (P, 22) rusher slot a protector blocks (or -1)
    win_time: np.ndarray  # (P, 22) seconds after the snap a rusher beats his block (inf: never)
    react: np.ndarray  # (P, 22) reaction delay in frames for defenders
    effort: np.ndarray  # (P, 22) share of top speed used in pursuit
    pref: np.ndarray  # (P, 5) QB's fixed preference noise per eligible
    snap_f: np.ndarray  # (P,) frame index of the snap
    t_plan: np.ndarray  # (P,) the QB's planned time to throw, s
    t_max: np.ndarray  # (P,) latest release, s
    shotgun: np.ndarray  # (P,) bool
    coverage: list
    off_personnel: list
    def_personnel: list
    route_name: np.ndarray  # (P, 5) object
    # running state, filled by simulate_batch
    info: dict = field(default_factory=dict)


def setup_plays(rng: np.random.Generator, sit: Situations, league: League, presnap: tuple[int, int]) -> PlayBatch:
    """Personnel, formation, routes, coverage and hidden traits for every play of a game."""
    p = len(sit.play_id)
    rows = np.zeros((p, N_PLAYERS), dtype=np.int64)
    behaviour = np.zeros((p, N_PLAYERS), dtype=np.int64)
    align = np.zeros((p, N_PLAYERS, 2))
    stem = np.zeros((p, N_PLAYERS, 2))
    brk = np.zeros((p, N_PLAYERS, 2))
    settle = np.zeros((p, N_PLAYERS), dtype=bool)
    route_delay = np.zeros((p, N_PLAYERS), dtype=np.int64)
    man_of = np.full((p, N_PLAYERS), -1)
    landmark = np.zeros((p, N_PLAYERS, 2))
    zone_radius = np.zeros((p, N_PLAYERS))
    block_of = np.full((p, N_PLAYERS), -1)
    win_time = np.full((p, N_PLAYERS), np.inf)
    route_name = np.full((p, 5), "", dtype=object)
    shotgun = rng.random(p) < 0.65
    coverage, off_pers, def_pers = [], [], []

    def pick(team, pos, k, rotation=0.25):
        """k distinct players of a position: the starters, unless a rotation brings a backup in."""
        cands = league.rows(team, pos)
        chosen = list(cands[:k])
        if len(cands) > k and rng.random() < rotation:
            chosen[int(rng.integers(0, k))] = cands[k + int(rng.integers(0, len(cands) - k))]
        return np.array(chosen)

    for i in range(p):
        off, de = sit.offense[i], sit.defense[i]
        L, yb = sit.los_x[i], sit.ball_y[i]
        room = 110.0 - L
        names = list(PERSONNEL)
        pers = names[rng.choice(len(names), p=[PERSONNEL[n][0] for n in names])]
        off_pers.append(pers)
        roles = PERSONNEL[pers][1]
        # --- offense rows
        rows[i, 0] = pick(off, "QB", 1, rotation=0.02)[0]
        wr = iter(pick(off, "WR", roles.count("WR")))
        te = iter(pick(off, "TE", roles.count("TE")))
        elig_rows = []
        for r in roles:
            elig_rows.append(next(wr) if r == "WR" else next(te) if r == "TE" else pick(off, r, 1)[0])
        rows[i, 1:6] = elig_rows
        tackles, guards = pick(off, "T", 2), pick(off, "G", 2)
        rows[i, 6:11] = [tackles[0], guards[0], pick(off, "C", 1)[0], guards[1], tackles[1]]
        # --- formation (offense moves +x)
        align[i, 0] = (L - (5.0 if shotgun[i] else 1.3), yb)
        align[i, 6:11, 0] = L - 0.8
        align[i, 6:11, 1] = yb + np.array([-2.6, -1.3, 0.0, 1.3, 2.6])
        align[i, 8, 0] = L - 0.5  # the center holds the ball
        strong = 1.0 if rng.random() < 0.5 else -1.0  # the side of the slot / first TE
        wr_spots = [(-1.0, rng.uniform(11, 16)), (1.0, rng.uniform(11, 16)), (strong, rng.uniform(4.5, 8))]
        n_wr = n_te = 0
        for j, r in enumerate(roles):
            s = 1 + j
            if r == "WR":
                side, off_y = wr_spots[n_wr]
                n_wr += 1
                align[i, s] = (L - (0.8 if rng.random() < 0.5 else 1.5), yb + side * off_y)
            elif r == "TE":
                side = strong if n_te == 0 else -strong
                n_te += 1
                align[i, s] = (L - 1.0, yb + side * 3.9)
            elif r == "FB":
                align[i, s] = (L - 4.5, yb)
            else:  # RB
                align[i, s] = (L - 5.2, yb + 1.6 * (-strong)) if shotgun[i] else (L - 7.0, yb)
        align[i, :11, 1] = np.clip(align[i, :11, 1], 1.5, FIELD_WIDTH - 1.5)
        # --- routes
        long_yardage = sit.yards_to_go[i] >= 8 and sit.down[i] >= 2
        for j, r in enumerate(roles):
            s = 1 + j
            menu = dict(ROUTE_MENU[r])
            if long_yardage:
                menu = {k: w * (1.6 if k in DEEP_ROUTES else 1.0) for k, w in menu.items()}
            keys = list(menu)
            w = np.array([menu[k] for k in keys], float)
            name = keys[rng.choice(len(keys), p=w / w.sum())]
            route_name[i, j] = name
            if name == "block":
                behaviour[i, s] = B_PROTECT
                continue
            behaviour[i, s] = B_ROUTE
            (fwd, out), (bf, bo), sett = ROUTES[name]
            outward = np.sign(align[i, s, 1] - yb) or (1.0 if rng.random() < 0.5 else -1.0)
            depth_scale = rng.uniform(0.75, 1.1)
            fwd = fwd * depth_scale if fwd > 0 else fwd
            target_x = min(align[i, s, 0] + fwd, L + room + 8.0, FIELD_LENGTH - 2.0)
            stem[i, s] = (target_x, np.clip(align[i, s, 1] + outward * out, 2.0, FIELD_WIDTH - 2.0))
            d = np.array([bf, bo * outward])
            brk[i, s] = d / np.linalg.norm(d)
            settle[i, s] = sett
            route_delay[i, s] = int(rng.integers(8, 14)) if name in ("checkdown", "wheel") and r in ("RB", "FB") else 0
        # --- defense rows
        nickel = rng.random() < (0.75 if pers == "11" else 0.3)
        def_pers.append("nickel" if nickel else "base")
        ends, tackles = pick(de, "DE", 2), pick(de, "DT", 2)
        dl = [ends[0], tackles[0], tackles[1], ends[1]]
        olb = pick(de, "OLB", 2)
        lbs = [pick(de, "ILB", 1)[0], olb[0]] + ([] if nickel else [olb[1]])
        cbs = list(pick(de, "CB", 3 if nickel else 2))
        saf = [pick(de, "FS", 1)[0], pick(de, "SS", 1)[0]]
        back7 = lbs + cbs + saf
        kinds = ["LB"] * len(lbs) + ["CB"] * len(cbs) + ["S", "S"]
        rows[i, 11:15] = dl
        rows[i, 15:22] = back7
        align[i, 11:15, 0] = L + 0.9
        align[i, 11:15, 1] = yb + np.array([-3.6, -1.1, 1.1, 3.6]) + rng.normal(0, 0.2, 4)
        behaviour[i, 11:15] = B_RUSH
        # --- coverage
        cov_names = list(COVERAGES)
        cov = cov_names[rng.choice(len(cov_names), p=list(COVERAGES.values()))]
        coverage.append(cov)
        receivers = [1 + j for j in range(5)]
        wrs = sorted([s for s in receivers if roles[s - 1] == "WR"], key=lambda s: -abs(align[i, s, 1] - yb))
        others = [s for s in receivers if roles[s - 1] != "WR"]
        cb_slots = [15 + k for k, kd in enumerate(kinds) if kd == "CB"]
        lb_slots = [15 + k for k, kd in enumerate(kinds) if kd == "LB"]
        s_slots = [15 + k for k, kd in enumerate(kinds) if kd == "S"]
        blitzers: list[int] = []
        if cov in ("cover0", "cover1", "man2"):
            cover_men = cb_slots + s_slots[1:] + lb_slots if cov == "cover1" else (
                cb_slots + s_slots + lb_slots if cov == "cover0" else cb_slots + lb_slots)
            deep = [] if cov == "cover0" else (s_slots[:1] if cov == "cover1" else s_slots)
            targets = wrs + others
            for slot, rec in zip(cover_men, targets):
                behaviour[i, slot] = B_MAN
                man_of[i, slot] = rec
            spare = [s for s in cover_men[len(targets):]]
            for k, slot in enumerate(deep):
                behaviour[i, slot] = B_ZONE
                landmark[i, slot] = (L + 14.0, FIELD_WIDTH / 2 if len(deep) == 1 else (13.3 if k == 0 else 40.0))
                zone_radius[i, slot] = 12.0
            blitz_p = 0.9 if cov == "cover0" else 0.35
            for slot in spare:
                if rng.random() < blitz_p and len(blitzers) < 2:
                    blitzers.append(slot)
                else:
                    behaviour[i, slot] = B_ZONE
                    landmark[i, slot] = (L + 7.0, yb)
                    zone_radius[i, slot] = 7.0
        else:
            lm = {
                "cover2": [("deep", 14, 13.3), ("deep", 14, 40.0), ("flat", 5, 7), ("flat", 5, 46.3),
                           ("hook", 8, yb - 5), ("hook", 8, yb + 5), ("hook", 9, yb)],
                "cover3": [("deep", 13, 9), ("deep", 15, FIELD_WIDTH / 2), ("deep", 13, 44.3), ("flat", 7, 12),
                           ("flat", 7, 41.3), ("hook", 8, yb - 4), ("hook", 8, yb + 4)],
                "cover4": [("deep", 12, 7), ("deep", 13, 20), ("deep", 13, 33.3), ("deep", 12, 46.3),
                           ("flat", 6, 12), ("hook", 8, yb), ("flat", 6, 41.3)],
            }[cov]
            # deep zones to the fastest (CBs and safeties), underneath to the rest
            by_speed = sorted(range(15, 22), key=lambda s: -league.top_speed[rows[i, s]])
            deep_spots = [z for z in lm if z[0] == "deep"]
            under_spots = [z for z in lm if z[0] != "deep"]
            order = by_speed[: len(deep_spots)] + by_speed[len(deep_spots):]
            spots = deep_spots + under_spots
            if rng.random() < 0.15:  # a zone blitz: one underneath defender rushes
                blitzers.append(order[-1])
            for slot, (kind, depth, yy) in zip(order, spots):
                if slot in blitzers:
                    continue
                behaviour[i, slot] = B_ZONE
                landmark[i, slot] = (L + depth, np.clip(yy, 3.0, FIELD_WIDTH - 3.0))
                zone_radius[i, slot] = 10.0 if kind == "deep" else 6.5
        for slot in blitzers:
            behaviour[i, slot] = B_RUSH
        # --- defensive alignment
        for slot in range(15, 22):
            b = behaviour[i, slot]
            if b == B_MAN:
                rec = man_of[i, slot]
                cushion = rng.uniform(1.0, 7.0) if kinds[slot - 15] == "CB" else rng.uniform(3.0, 6.0)
                shade = -np.sign(align[i, rec, 1] - yb) * 0.7
                align[i, slot] = (L + cushion, align[i, rec, 1] + shade)
            elif b == B_ZONE:
                lx, ly = landmark[i, slot]
                align[i, slot] = (L + min(lx - L, rng.uniform(5, 12)) if lx - L > 10 else L + rng.uniform(3.5, 6),
                                  ly + rng.normal(0, 1.0))
            else:  # blitzer
                align[i, slot] = (L + rng.uniform(2.5, 4.5), yb + rng.uniform(-3, 3))
        align[i, 15:22, 1] = np.clip(align[i, 15:22, 1], 1.0, FIELD_WIDTH - 1.0)
        # --- protection: OL (left to right) on DL (left to right); the center and blocking backs pick up
        rushers = [11, 12, 13, 14] + blitzers
        for ol_slot, dl_slot in zip([6, 7, 9, 10], [11, 12, 13, 14]):
            block_of[i, ol_slot] = dl_slot
        helpers = [8] + [1 + j for j in range(5) if behaviour[i, 1 + j] == B_PROTECT]
        for k, helper in enumerate(helpers):
            block_of[i, helper] = blitzers[k] if k < len(blitzers) else rushers[1 + k % 2]
        behaviour[i, 6:11] = B_PROTECT
        for slot in rushers:
            unblocked = slot in blitzers and slot not in block_of[i]
            base = 1.2 if slot in blitzers else 3.3
            win_time[i, slot] = rng.lognormal(np.log(base * (0.8 if unblocked else 1.0)), 0.33) - 0.25 * league.skill[rows[i, slot]]
        behaviour[i, 0] = B_QB

    vmax = league.top_speed[rows]
    amax = league.max_accel[rows]
    skill = league.skill[rows]
    react = np.clip(np.round(rng.uniform(2, 5, (p, N_PLAYERS)) - 1.2 * skill), 1, 6).astype(np.int64)
    effort = rng.uniform(0.85, 1.0, (p, N_PLAYERS))
    pref = rng.normal(0.0, 0.35, (p, 5))
    snap_f = rng.integers(presnap[0], presnap[1] + 1, p)
    quick = np.array([any(n in ("screen", "slant", "quick_out", "hitch") for n in r) for r in route_name])
    t_plan = rng.lognormal(np.log(2.95), 0.17, p) - 0.15 * quick - 0.15 * league.skill[rows[:, 0]]
    t_plan = np.clip(t_plan, 1.3, 4.2)
    t_max = rng.uniform(4.3, 4.9, p)
    return PlayBatch(
        sit=sit, roster_row=rows, vmax=vmax, amax=amax, skill=skill, behaviour=behaviour, align=align,
        stem=stem, brk=brk, settle=settle, route_delay=route_delay, man_of=man_of, landmark=landmark,
        zone_radius=zone_radius, block_of=block_of, win_time=win_time, react=react, effort=effort,
        pref=pref, snap_f=snap_f, t_plan=t_plan, t_max=t_max, shotgun=shotgun, coverage=coverage,
        off_personnel=off_pers, def_personnel=def_pers, route_name=route_name,
    )


@dataclass
class SimResult:
    pos: np.ndarray  # (T, P, 22, 2) offense-moves-right frame
    vel: np.ndarray  # (T, P, 22, 2)
    ori: np.ndarray  # (T, P, 22) NGS degrees
    ball: np.ndarray  # (T, P, 2)
    event: np.ndarray  # (T, P) index into EVENTS
    n_frames: np.ndarray  # (P,)
    pass_result: np.ndarray  # (P,) "C" | "I" | "IN" | "S"
    yards: np.ndarray  # (P,) int
    target_slot: np.ndarray  # (P,) eligible slot 1..5 or -1
    truth: dict  # per-play truth arrays


def simulate_batch(rng: np.random.Generator, b: PlayBatch) -> SimResult:
    """Run every play of the batch from the first frame to the end of the play."""
    sit = b.sit
    P = len(sit.play_id)
    ar = np.arange(P)
    T = MAX_FRAMES
    pos = np.zeros((T, P, N_PLAYERS, 2))
    vel = np.zeros((T, P, N_PLAYERS, 2))
    ori = np.zeros((T, P, N_PLAYERS))
    ball = np.zeros((T, P, 2))
    event = np.zeros((T, P), dtype=np.int8)

    L = sit.los_x
    yb = sit.ball_y
    offense = np.arange(N_PLAYERS) < 11
    is_def = ~offense
    beh = b.behaviour
    pos[0] = b.align
    ori[0] = np.where(offense, 90.0, 270.0)[None, :] + rng.normal(0, 8, (P, N_PLAYERS))
    ball[0] = np.stack([L - 0.1, yb], axis=1)
    drop_spot = np.stack([L - np.where(b.shotgun, 7.5, 7.0), yb], axis=1)

    # per-play state
    released = np.zeros(P, bool)
    sacked = np.zeros(P, bool)
    release_f = np.full(P, -1)
    arrival_f = np.full(P, -1)
    end_event_f = np.full(P, -1)
    end_f = np.full(P, T - 1)
    target = np.full(P, -1)
    land = np.zeros((P, 2))
    rel_point = np.zeros((P, 2))
    passed_stem = np.zeros((P, N_PLAYERS), bool)
    result = np.full(P, "", dtype=object)
    yards = np.zeros(P, dtype=np.int64)
    carrier = np.full(P, -1)  # slot with the ball after the catch / interception
    end_point = np.zeros((P, 2))
    end_kind = np.zeros(P, dtype=np.int8)
    in_play = np.zeros((P, N_PLAYERS), bool)
    pressure_at_release = np.full(P, np.nan)
    tprobs = np.full((P, 5), np.nan)
    truth_pc = np.full(P, np.nan)
    truth_pint = np.full(P, np.nan)
    truth_pbreak = np.full(P, np.nan)
    truth_q = np.full((P, len(TRUTH_QUANTILE_LEVELS)), -999, dtype=np.int64)
    truth_ey = np.full(P, np.nan)
    truth_sep = np.full(P, np.nan)
    truth_air = np.full(P, np.nan)
    route_runner = beh == B_ROUTE
    rusher = beh == B_RUSH
    eligible_runner = route_runner[:, 1:6]
    pressured_at_release = np.zeros(P)

    event[0] = EV["line_set"]
    event[b.snap_f, ar] = EV["ball_snap"]
    jitter = rng.normal(0, 0.12, (T, P, N_PLAYERS, 2))
    sample_u = rng.random((P, 4))
    acc_offset = rng.normal(0, 1.0, (P, 2))

    for f in range(1, T):
        p_now = pos[f - 1]
        v_now = vel[f - 1]
        active = f <= end_f
        if not active.any():
            break
        t = (f - b.snap_f) * DT  # seconds since the snap
        pre_snap = t <= 0
        pre_release = (~pre_snap) & (~released) & (~sacked)
        qb = p_now[:, 0]

        # ---------------- decisions before the behaviours: sack, release
        rush_d = np.where(rusher, _norm(p_now - qb[:, None]), np.inf)
        nearest_rush = rush_d.min(1)
        new_sack = pre_release & (nearest_rush < 0.9)
        if new_sack.any():
            sacked |= new_sack
            event[f, new_sack] = EV["qb_sack"]
            end_event_f[new_sack] = f
            end_f[new_sack] = np.minimum(f + rng.integers(5, 9, new_sack.sum()), T - 1)
            result[new_sack] = "S"
            yards[new_sack] = np.round(qb[new_sack, 0] - L[new_sack]).astype(int)
            pre_release &= ~new_sack
        if pre_release.any():
            rec = p_now[:, 1:6]
            d_def = _norm(rec[:, :, None, :] - p_now[:, None, 11:, :]).min(-1)  # (P, 5)
            depth = rec[..., 0] - L[:, None]
            need = (sit.down >= 3)[:, None] & (depth >= sit.yards_to_go[:, None])
            # the QB's read: open receivers near the sticks first, deep ones only when well open
            util = np.minimum(d_def, 3.5) - 0.12 * np.abs(depth - 2.0) - 0.15 * np.clip(depth - 12.0, 0, None) + 1.0 * need + b.pref
            util = np.where(eligible_runner, util, -np.inf)
            best = util.max(1)
            thr = 2.6 - 1.6 * (t - b.t_plan)
            # under pressure he gets rid of it most of the time, else he tries to escape (and may be sacked)
            hurried = (nearest_rush < 2.3) & (rng.random(P) < 0.65)
            throw = pre_release & (t >= 1.0) & (((t >= b.t_plan) & (best >= thr)) | hurried | (t >= b.t_max))
            throw &= np.isfinite(best)
            if throw.any():
                idx = np.flatnonzero(throw)
                z = util[idx] / 0.55
                z = z - z.max(1, keepdims=True)
                pr = np.where(np.isfinite(z), np.exp(z), 0.0)
                pr /= pr.sum(1, keepdims=True)
                tprobs[idx] = pr
                pick_ = (pr.cumsum(1) < sample_u[idx, 0:1]).sum(1)
                tgt = 1 + np.minimum(pick_, 4)
                target[idx] = tgt
                released[idx] = True
                release_f[idx] = f
                event[f, idx] = EV["pass_forward"]
                pressure_at_release[idx] = nearest_rush[idx]
                pressured_at_release[idx] = (nearest_rush[idx] < 2.5).astype(float)
                # aim where the receiver will be, with a throw error that grows with distance and pressure
                rp, rv = p_now[idx, tgt], v_now[idx, tgt]
                aim = rp.copy()
                for _ in range(3):
                    dist = _norm(aim - qb[idx])
                    speed = np.clip(17.0 + 0.12 * dist, 14.0, 21.0)
                    aim = rp + rv * (dist / speed)[:, None]
                dist = _norm(aim - qb[idx])
                sigma = np.clip(0.35 + 0.025 * dist + 0.5 * pressured_at_release[idx]
                                - 0.15 * b.skill[idx, 0], 0.2, None)
                landing = aim + acc_offset[idx] * sigma[:, None]
                landing[:, 0] = np.clip(landing[:, 0], 1.0, FIELD_LENGTH - 1.0)
                landing[:, 1] = np.clip(landing[:, 1], 0.8, FIELD_WIDTH - 0.8)
                land[idx] = landing
                rel_point[idx] = qb[idx]
                dist = _norm(landing - qb[idx])
                flight = np.maximum(3, np.round(dist / np.clip(17.0 + 0.12 * dist, 14.0, 21.0) / DT)).astype(int)
                arrival_f[idx] = f + flight
                truth_air[idx] = landing[:, 0] - L[idx]
                # who can make a play on the ball: can reach the landing spot soon after it arrives
                d_land = _norm(p_now[idx] - landing[:, None, :])
                can = d_land <= b.vmax[idx] * (flight[:, None] * DT + 1.5) + 2.0
                in_play[idx] = can & is_def[None, :]
                pre_release &= ~throw

        in_flight = released & (f <= arrival_f)
        arrived = released & (f == arrival_f)
        after_arrival = released & (f > arrival_f)

        # ---------------- outcome at arrival (truth computed from the same quantities as the draw)
        if arrived.any():
            idx = np.flatnonzero(arrived)
            tgt = target[idx]
            rp = p_now[idx, tgt]
            d_all = _norm(p_now[idx, 11:] - rp[:, None, :])
            near = d_all.argmin(1)
            sep = d_all[np.arange(len(idx)), near]
            dvel = v_now[idx, 11 + near]
            closing = np.clip((dvel * _unit(rp - p_now[idx, 11 + near])).sum(1), 0, None)
            reach = _norm(rp - land[idx])
            air = _norm(land[idx] - rel_point[idx])
            pc = outcomes.completion_probability(
                sep, reach, air, pressured_at_release[idx], b.skill[idx, 0], b.skill[idx, tgt], b.skill[idx, 11 + near])
            pint = (1 - pc) * outcomes.interception_given_incomplete(sep, b.skill[idx, 11 + near])
            depth = rp[:, 0] - L[idx]
            room = 110.0 - L[idx]
            n5 = (d_all < 5.0).sum(1)
            pmf_c, pbreak = outcomes.completed_yards_pmf(depth, room, sep, closing, v_now[idx, tgt, 0], n5)
            pmf = outcomes.yards_distribution(pc, pmf_c)
            truth_pc[idx], truth_pint[idx], truth_pbreak[idx] = pc, pint, pbreak
            truth_q[idx] = outcomes.pmf_quantiles(pmf, TRUTH_QUANTILE_LEVELS)
            truth_ey[idx] = (pmf * outcomes.YARDS_GRID[None, :]).sum(1)
            truth_sep[idx] = sep
            u = sample_u[idx, 1]
            complete = u < pc
            intercepted = (~complete) & (u < pc + pint)
            gained = outcomes.sample_from_pmf(rng, pmf_c)
            event[f, idx] = EV["pass_arrived"]
            out_f = np.minimum(f + 1, T - 1)
            for k, i in enumerate(idx):
                if complete[k]:
                    result[i] = "C"
                    carrier[i] = tgt[k]
                    yards[i] = gained[k]
                    event[out_f, i] = EV["pass_outcome_caught"]
                    if gained[k] >= room[k]:
                        end_point[i] = (110.0 + rng.uniform(1.0, 4.0), rp[k, 1] + rng.normal(0, 2.0))
                        end_kind[i] = EV["touchdown"]
                    else:
                        lateral = rng.normal(0, 0.25 * abs(gained[k] - depth[k]) + 0.5)
                        end_point[i] = (L[i] + gained[k] + rng.uniform(-0.4, 0.4), rp[k, 1] + lateral)
                        end_kind[i] = EV["tackle"]
                elif intercepted[k]:
                    result[i] = "IN"
                    carrier[i] = 11 + near[k]
                    yards[i] = 0
                    event[out_f, i] = EV["pass_outcome_interception"]
                    ret = rng.gamma(1.4, 5.0)
                    end_point[i] = (max(p_now[i, 11 + near[k], 0] - ret, END_ZONE - 3.0), rp[k, 1] + rng.normal(0, 3.0))
                    end_kind[i] = EV["touchdown"] if end_point[i, 0] < END_ZONE else EV["tackle"]
                else:
                    result[i] = "I"
                    yards[i] = 0
                    event[out_f, i] = EV["pass_outcome_incomplete"]
                    end_f[i] = min(out_f + int(rng.integers(6, 11)), T - 1)
                if carrier[i] >= 0:
                    ey = end_point[i, 1]
                    if ey < 1.2 or ey > FIELD_WIDTH - 1.2:
                        end_kind[i] = EV["out_of_bounds"]
                    end_point[i, 1] = np.clip(ey, 0.7, FIELD_WIDTH - 0.7)

        # ---------------- behaviours → desired velocity
        vdes = np.zeros((P, N_PLAYERS, 2))
        vm = b.vmax
        # pre-snap: stand in the set position with a little sway
        vdes_pre = _toward(p_now, b.align, np.full((P, N_PLAYERS), 1.0), gain=2.0) + jitter[f]
        # QB: drop, then hold the pocket and slide away from a close rusher
        qb_target = drop_spot.copy()
        settled = t > 1.6
        qb_target[settled, 0] += 1.0
        near_rusher = np.where(rusher, _norm(p_now - qb[:, None]), np.inf).argmin(1)
        esc = _unit(qb - p_now[ar, near_rusher]) * 3.0
        qb_target = np.where((nearest_rush < 3.5)[:, None] & settled[:, None], qb + esc, qb_target)
        v_qb = _toward(qb, qb_target, np.minimum(vm[:, 0], np.where(settled, 4.0, 6.5)), gain=3.0)
        # route runners
        started = (t[:, None] * 10 >= b.route_delay)
        to_stem = b.stem - p_now
        passed_stem |= (_norm(to_stem) < 1.0) | ((to_stem[..., 0] < 0.3) & (b.stem[..., 0] > b.align[..., 0] + 2))
        # receivers gear down into sharp breaks (plant and cut) and run through gentle ones
        sharp = b.brk[..., 0] < 0.5
        stem_speed = np.where(sharp, np.minimum(vm * 0.95, 4.0 + 1.6 * _norm(to_stem)), vm * 0.95)
        v_stem = _toward(p_now, b.stem, stem_speed)
        v_break = np.where(b.settle[..., None],
                           _toward(p_now, b.stem + b.brk * 1.5, vm * 0.6, gain=2.5),
                           b.brk * (vm * 0.93)[..., None])
        v_route = np.where(passed_stem[..., None], v_break, v_stem)
        v_route = np.where(started[..., None], v_route, _toward(p_now, b.align, np.full((P, N_PLAYERS), 1.0), gain=2.0))
        # protectors: stay between their rusher and the QB until he wins, then lose the block
        bslot = np.maximum(b.block_of, 0)
        their = p_now[ar[:, None], bslot]
        guard = their + _unit(qb[:, None] - their) * 1.0
        beaten = (t[:, None] >= b.win_time[ar[:, None], bslot])
        v_prot = np.where(beaten[..., None], v_now * 0.5, _toward(p_now, guard, vm * 0.8, gain=4.0))
        v_prot = np.where((b.block_of >= 0)[..., None], v_prot, _toward(p_now, qb[:, None] + [1.5, 0], vm * 0.5, gain=2))
        # rushers: push the pocket until they win, then go for the QB
        won = t[:, None] >= b.win_time
        lead_qb = qb + v_now[:, 0] * 0.3
        v_rush = _toward(p_now, lead_qb[:, None], np.where(won, vm, np.where(b.win_time < 2.0, 2.5, 0.9)))
        # man coverage: follow where the receiver was `react` frames ago, extrapolated
        lag = np.maximum(f - 1 - b.react, 0)
        mslot = np.maximum(b.man_of, 0)
        seen_p = pos[lag, ar[:, None], mslot]
        seen_v = vel[lag, ar[:, None], mslot]
        # the cushion shrinks as the receiver closes, so a defender in off coverage backpedals rather
        # than steps towards the line of scrimmage
        cushion = np.clip(b.align[..., 0] - L[:, None] - 2.0 * np.clip(t, 0, None)[:, None], 0.2, 7.0)
        man_target = seen_p + seen_v * ((b.react * DT) + 0.25)[..., None]
        man_target[..., 0] += cushion + 0.5
        v_man = _track(p_now, man_target, seen_v, vm * b.effort)
        # zone: sit in the landmark, squeeze towards the nearest receiver in the zone
        rec_seen = pos[np.maximum(f - 1 - b.react, 0)[:, :, None], ar[:, None, None], np.arange(1, 6)[None, None, :]]
        d_rec = _norm(rec_seen - b.landmark[:, :, None, :])  # (P, 22, 5)
        d_rec = np.where(eligible_runner[:, None, :], d_rec, np.inf)
        nearest_rec = d_rec.argmin(-1)
        has_rec = d_rec.min(-1) < b.zone_radius
        rec_pos = rec_seen[ar[:, None], np.arange(N_PLAYERS)[None, :], nearest_rec]
        rec_vel = vel[np.maximum(f - 1 - b.react, 0), ar[:, None], 1 + nearest_rec]
        zt = np.where(has_rec[..., None], b.landmark + 0.8 * (rec_pos - b.landmark), b.landmark)
        deep = b.zone_radius >= 10
        zt[..., 0] = np.where(deep & has_rec, np.maximum(zt[..., 0], rec_pos[..., 0] + 1.5), zt[..., 0])
        v_zone = _track(p_now, zt, np.where(has_rec[..., None], 0.8 * rec_vel, 0.0), vm * 0.9 * b.effort, gain=2.5)

        by_beh = np.select(
            [beh[..., None] == k for k in (B_QB, B_ROUTE, B_PROTECT, B_RUSH, B_MAN, B_ZONE)],
            [np.broadcast_to(v_qb[:, None], vdes.shape), v_route, v_prot, v_rush, v_man, v_zone],
        )
        vdes = np.where(pre_snap[:, None, None], vdes_pre, by_beh)

        # after the release
        if released.any():
            fl = in_flight[:, None]
            # the target runs to the landing spot to be there when the ball is
            rem = np.maximum((arrival_f - f) * DT, DT)
            tgt_slot = np.maximum(target, 0)
            rp = p_now[ar, tgt_slot]
            need_speed = np.minimum(vm[ar, tgt_slot], _norm(land - rp) / rem * 1.1 + 0.5)
            v_tgt = _toward(rp, land, need_speed, gain=4.0)
            # defenders in the play go for the ball after their reaction time
            reacted = (f - release_f[:, None]) >= b.react
            v_def_ball = _toward(p_now, land[:, None], vm * b.effort)
            v_def_jog = _toward(p_now, land[:, None], vm * 0.45, gain=1.0)
            v_def_post = np.where(in_play[..., None], v_def_ball, v_def_jog)
            v_after = np.where((is_def[None, :] & reacted)[..., None], v_def_post, vdes)
            v_after[:, 0] = v_now[:, 0] * 0.5  # the QB stops after the throw
            v_after[:, 6:11] = v_now[:, 6:11] * 0.6
            v_after[ar, tgt_slot] = v_tgt
            vdes = np.where((fl & released[:, None])[..., None], v_after, vdes)

            # after the catch / interception: the carrier runs to where he is brought down, the other
            # side pursues him, his teammates follow the play
            run = after_arrival & (carrier >= 0) & (end_event_f < 0)
            if run.any():
                cs = np.maximum(carrier, 0)
                cp, cv = p_now[ar, cs], v_now[ar, cs]
                dist_end = _norm(end_point - cp)
                v_car = _toward(cp, end_point, np.minimum(vm[ar, cs] * b.effort[ar, cs], np.sqrt(8.0 * dist_end) + 2.0))
                chasers = np.where(offense[None, :], carrier[:, None] >= 11, carrier[:, None] < 11)
                lead = cp[:, None] + cv[:, None] * np.clip(_norm(p_now - cp[:, None]) / 9.0, 0, 1.0)[..., None]
                v_chase = _toward(p_now, lead, vm * b.effort)
                v_follow = _toward(p_now, cp[:, None], vm * 0.45, gain=0.8)
                v_run = np.where(chasers[..., None], v_chase, v_follow)
                v_run[ar, cs] = v_car
                vdes = np.where(run[:, None, None], v_run, vdes)
                # the end of the run: reaching the spot (or the goal line)
                reached = run & np.where(end_kind == EV["touchdown"],
                                         np.where(carrier < 11, cp[:, 0] >= 110.0, cp[:, 0] <= END_ZONE),
                                         dist_end < 0.6)
                stuck = run & ((f - arrival_f) * DT > 12.0)
                reached = (reached | stuck) & (f >= arrival_f + 2)  # one event a frame: the outcome comes first
                if reached.any():
                    event[f, reached] = end_kind[reached]
                    end_event_f[reached] = f
                    end_f[reached] = np.minimum(f + rng.integers(4, 8, reached.sum()), T - 1)
            ended = released & (((end_event_f >= 0) & (f > end_event_f)) | ((carrier < 0) & after_arrival))
            vdes = np.where(ended[:, None, None], v_now * 0.55, vdes)
        if sacked.any():
            vdes = np.where((sacked & (f > end_event_f))[:, None, None], v_now * 0.5, vdes)

        # ---------------- integrate within the physical limits
        vdes = _respect_walls(p_now, vdes)
        acc = (vdes - v_now) / DT
        an = _norm(acc)
        acc *= np.minimum(1.0, b.amax / np.maximum(an, 1e-9))[..., None]
        v_new = v_now + acc * DT
        sp = _norm(v_new)
        v_new *= np.minimum(1.0, b.vmax / np.maximum(sp, 1e-9))[..., None]
        v_new = _respect_walls(p_now, v_new)  # the cap again on what the legs could do
        p_new = p_now + v_new * DT
        clamped = np.stack([np.clip(p_new[..., 0], 0.05, FIELD_LENGTH - 0.05), np.clip(p_new[..., 1], 0.05, FIELD_WIDTH - 0.05)], -1)
        v_new = np.where((clamped != p_new), (clamped - p_now) / DT, v_new)
        p_new = clamped
        still = ~active
        pos[f] = np.where(still[:, None, None], p_now, p_new)
        vel[f] = np.where(still[:, None, None], 0.0, v_new)
        # orientation: face the play; moving fast, face the way you run
        look = np.where(released[:, None, None] & ~after_arrival[:, None, None], land[:, None], ball[f - 1][:, None])
        look = np.where(pre_release[:, None, None] & is_def[None, :, None], qb[:, None], look)
        look_dir = ngs_angle(look[..., 0] - p_new[..., 0], look[..., 1] - p_new[..., 1])
        run_dir = ngs_angle(v_new[..., 0], v_new[..., 1])
        off_pre = (pre_release | pre_snap)[:, None] & offense[None, :]
        want = np.where(_norm(v_new) > 3.0, run_dir, look_dir)
        want = np.where(off_pre & (beh != B_ROUTE), 90.0, want)
        turn = (want - ori[f - 1] + 180.0) % 360.0 - 180.0
        ori[f] = np.mod(ori[f - 1] + np.clip(turn, -40, 40) + rng.normal(0, 1.5, (P, N_PLAYERS)), 360.0)

        # ---------------- the ball
        bpos = ball[f - 1].copy()
        snap_age = f - b.snap_f
        bpos = np.where(((snap_age >= 0) & (snap_age < 4))[:, None],
                        ball[f - 1] + (p_new[:, 0] + [0.3, 0.0] - ball[f - 1]) / np.maximum(4 - snap_age, 1)[:, None], bpos)
        held = (snap_age >= 4) & ~released
        bpos = np.where(held[:, None], p_new[:, 0] + [0.3, 0.0], bpos)
        fl_frac = np.clip((f - release_f) / np.maximum(arrival_f - release_f, 1), 0, 1)[:, None]
        bpos = np.where(in_flight[:, None], rel_point + (land - rel_point) * fl_frac, bpos)
        with_carrier = after_arrival & (carrier >= 0)
        bpos = np.where(with_carrier[:, None], p_new[ar, np.maximum(carrier, 0)], bpos)
        loose = after_arrival & (carrier < 0)
        drift = (ball[f - 1] - ball[np.maximum(f - 2, 0)]) * 0.35
        bpos = np.where(loose[:, None], ball[f - 1] + drift, bpos)
        bpos[:, 0] = np.clip(bpos[:, 0], 0.0, FIELD_LENGTH)
        bpos[:, 1] = np.clip(bpos[:, 1], 0.0, FIELD_WIDTH)
        ball[f] = np.where(active[:, None], bpos, ball[f - 1])

    n_frames = end_f + 1
    truth = dict(
        coverage=np.array(b.coverage, dtype=object), off_personnel=np.array(b.off_personnel, dtype=object),
        def_personnel=np.array(b.def_personnel, dtype=object), snap_frame=b.snap_f + 1,
        release_frame=np.where(release_f >= 0, release_f + 1, -1), arrival_frame=np.where(arrival_f >= 0, arrival_f + 1, -1),
        time_to_throw_s=np.where(release_f >= 0, (release_f - b.snap_f) * DT, np.nan), air_yards=truth_air,
        separation_at_arrival=truth_sep, pressure_at_release=pressure_at_release, p_complete=truth_pc,
        p_interception=truth_pint, p_breakaway=truth_pbreak, expected_yards=truth_ey, quantiles=truth_q,
        target_probs=tprobs, eligible_runner=eligible_runner,
    )
    return SimResult(pos=pos, vel=vel, ori=ori, ball=ball, event=event, n_frames=n_frames,
                     pass_result=result, yards=yards, target_slot=target, truth=truth)


def _respect_walls(p, vdes, brake=2.5, margin=0.4):
    """Cap the velocity towards each boundary so that a player can still stop before it."""
    out = vdes.copy()
    for axis, hi in ((0, FIELD_LENGTH), (1, FIELD_WIDTH)):
        room_hi = np.clip(hi - margin - p[..., axis], 0.0, None)
        room_lo = np.clip(p[..., axis] - margin, 0.0, None)
        out[..., axis] = np.minimum(out[..., axis], np.sqrt(2 * brake * room_hi))
        out[..., axis] = np.maximum(out[..., axis], -np.sqrt(2 * brake * room_lo))
    return out
