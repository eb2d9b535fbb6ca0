"""The simulated league: teams, rosters with physical and skill ratings, the schedule, and the
game situation of every pass play (down, distance, field position, clock, score).

Rosters depend on the seed only, so a player keeps his ``nfl_id``, name and ratings across seasons;
the schedule depends on (seed, season); everything inside a game on (seed, season, week, game).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines import schema
from pipelines.nfl_calendar import season_opener
from pipelines.field import END_ZONE, FIELD_WIDTH, HASH_HIGH, HASH_LOW, MAX_PLAYER_ACCEL, MAX_PLAYER_SPEED

TEAMS = (
    "ARI", "ATL", "BAL", "BUF", "CAR", "CHI", "CIN", "CLE", "DAL", "DEN", "DET", "GB", "HOU", "IND",
    "JAX", "KC", "LA", "LAC", "LV", "MIA", "MIN", "NE", "NO", "NYG", "NYJ", "PHI", "PIT", "SEA",
    "SF", "TB", "TEN", "WAS",
)  # fmt: skip

# position: (count on the roster, top speed mean/sd yd/s, max acceleration mean yd/s^2,
#            height in, weight lb, jersey number ranges)
POSITIONS = {
    "QB": (3, 8.3, 0.45, 6.6, 75, 222, [(1, 19)]),
    "RB": (3, 9.6, 0.30, 7.6, 70, 212, [(20, 49)]),
    "FB": (1, 8.6, 0.30, 6.8, 72, 245, [(30, 49)]),
    "WR": (6, 9.8, 0.30, 7.8, 72, 200, [(10, 19), (80, 89)]),
    "TE": (3, 9.0, 0.30, 7.0, 77, 250, [(80, 89), (40, 49)]),
    "T": (3, 7.0, 0.25, 5.6, 78, 315, [(60, 79)]),
    "G": (3, 6.9, 0.25, 5.6, 76, 315, [(60, 79)]),
    "C": (2, 6.9, 0.25, 5.6, 75, 305, [(50, 79)]),
    "DE": (4, 8.4, 0.30, 6.8, 76, 265, [(90, 99), (50, 59)]),
    "DT": (3, 7.7, 0.30, 6.3, 75, 305, [(90, 99), (70, 79)]),
    "OLB": (3, 8.9, 0.30, 7.1, 75, 245, [(40, 59), (90, 99)]),
    "ILB": (3, 8.8, 0.30, 7.0, 73, 238, [(40, 59)]),
    "CB": (5, 9.8, 0.30, 7.8, 71, 192, [(20, 39)]),
    "FS": (2, 9.5, 0.30, 7.5, 72, 205, [(20, 49)]),
    "SS": (2, 9.4, 0.30, 7.4, 72, 210, [(20, 49)]),
}
ROSTER_SIZE = sum(spec[0] for spec in POSITIONS.values())

FIRST_NAMES = (
    "Aaron", "Andre", "Antonio", "Brandon", "Brian", "Caleb", "Cameron", "Chris", "Cole", "Corey",
    "Darius", "David", "Deon", "Derek", "Devin", "Dylan", "Eli", "Eric", "Evan", "Isaiah", "Jalen",
    "Jamal", "Jason", "Jaylen", "Jordan", "Josh", "Justin", "Kevin", "Kyle", "Lamar", "Logan",
    "Malik", "Marcus", "Mason", "Matt", "Micah", "Mike", "Nate", "Nick", "Omar", "Patrick", "Quinn",
    "Reggie", "Ryan", "Sam", "Terrell", "Trevor", "Tyler", "Tyrone", "Zach",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Allen", "Bailey", "Banks", "Bell", "Brooks", "Brown", "Carter", "Clark", "Coleman",
    "Collins", "Davis", "Diggs", "Evans", "Fields", "Ford", "Foster", "Gordon", "Graham", "Green",
    "Griffin", "Hall", "Harris", "Hill", "Howard", "Jackson", "James", "Jenkins", "Johnson", "Jones",
    "King", "Lewis", "Martin", "Mitchell", "Moore", "Morgan", "Murphy", "Nelson", "Parker", "Porter",
    "Reed", "Robinson", "Ross", "Sanders", "Scott", "Simmons", "Smith", "Taylor", "Thomas",
    "Turner", "Walker", "Ward", "Washington", "Watson", "White", "Williams", "Wilson", "Wright",
    "Young",
)  # fmt: skip
COLLEGES = (
    "Alabama", "Auburn", "Baylor", "Boise State", "Clemson", "Florida", "Florida State", "Georgia",
    "Iowa", "LSU", "Miami", "Michigan", "Notre Dame", "Ohio State", "Oklahoma", "Oregon",
    "Penn State", "Stanford", "TCU", "Tennessee", "Texas", "Texas A&M", "UCLA", "USC", "Utah",
    "Washington", "Wisconsin",
)  # fmt: skip


@dataclass(frozen=True)
class League:
    """All rosters. Arrays are indexed by roster row; ``team_rows[t]`` lists team t's rows by position."""

    nfl_id: np.ndarray
    team: np.ndarray  # index into TEAMS
    position: np.ndarray  # str
    jersey: np.ndarray
    name: np.ndarray
    height_in: np.ndarray
    weight_lb: np.ndarray
    birth_date: np.ndarray  # datetime64[D]
    college: np.ndarray
    top_speed: np.ndarray  # yd/s
    max_accel: np.ndarray  # yd/s^2
    skill: np.ndarray  # position-specific skill on a logit-like scale, mean 0
    depth: np.ndarray  # 0 = starter, 1 = backup, …

    def rows(self, team: int, position: str) -> np.ndarray:
        """Roster rows of a team at a position, starters first."""
        mask = (self.team == team) & (self.position == position)
        idx = np.flatnonzero(mask)
        return idx[np.argsort(self.depth[idx], kind="stable")]


def make_league(seed: int) -> League:
    """Deterministic rosters for 32 teams from the seed alone."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    cols: dict[str, list] = {k: [] for k in (
        "nfl_id", "team", "position", "jersey", "name", "height_in", "weight_lb", "birth_date",
        "college", "top_speed", "max_accel", "skill", "depth")}  # fmt: skip
    for t in range(len(TEAMS)):
        used_numbers: set[int] = set()
        for p_idx, (pos, (count, v_mean, v_sd, a_mean, h, w, ranges)) in enumerate(POSITIONS.items()):
            for k in range(count):
                cols["nfl_id"].append(40000 + t * 100 + len([x for x in cols["team"] if x == t]))
                cols["team"].append(t)
                cols["position"].append(pos)
                choices = [n for lo, hi in ranges for n in range(lo, hi + 1) if n not in used_numbers]
                number = int(rng.choice(choices))
                used_numbers.add(number)
                cols["jersey"].append(number)
                cols["name"].append(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
                cols["height_in"].append(int(round(rng.normal(h, 1.5))))
                cols["weight_lb"].append(int(round(rng.normal(w, 0.06 * w))))
                born = np.datetime64("1992-01-01") + int(rng.integers(0, 365 * 12))
                cols["birth_date"].append(born)
                cols["college"].append(str(rng.choice(COLLEGES)))
                # starters are a little faster and better than backups
                # below the physical limits with headroom: the sideline braking adds to the acceleration
                cols["top_speed"].append(float(np.clip(rng.normal(v_mean + 0.1 * (k == 0), v_sd), 6.0,
                                                       MAX_PLAYER_SPEED - 0.4)))
                cols["max_accel"].append(float(np.clip(rng.normal(a_mean, 0.35), 4.5, 0.75 * MAX_PLAYER_ACCEL)))
                cols["skill"].append(float(rng.normal(0.15 * (k == 0), 0.3)))
                cols["depth"].append(k)
    return League(**{k: np.array(v) for k, v in cols.items()})


def players_table(league: League) -> pa.Table:
    return pa.table(
        {
            "nfl_id": league.nfl_id.astype(np.int64),
            "display_name": league.name.astype(str),
            "position": league.position.astype(str),
            "height_in": league.height_in.astype(np.int32),
            "weight_lb": league.weight_lb.astype(np.int32),
            "birth_date": league.birth_date.astype("datetime64[D]"),
            "college_name": league.college.astype(str),
        },
        schema=schema.PLAYERS,
    )


@dataclass(frozen=True)
class Game:
    game_id: int
    season: int
    week: int
    index: int  # 0-based within the week
    home: int  # team index
    visitor: int
    date: dt.date
    kickoff_utc: dt.datetime
    kickoff_eastern: str


def week_games(seed: int, season: int, week: int, games_per_week: int) -> list[Game]:
    """The week's games: a seeded round robin (circle method) over the 32 teams."""
    rng = np.random.default_rng([seed, season, 0x5EED])
    order = rng.permutation(len(TEAMS))
    n = len(order)
    fixed, rotating = order[0], list(order[1:])
    shift = (week - 1) % (n - 1)
    rotating = rotating[shift:] + rotating[:shift]
    circle = [fixed, *rotating]
    pairs = [(circle[i], circle[n - 1 - i]) for i in range(n // 2)]
    opener = season_opener(season)
    slots = [("20:20:00", 0), ("13:00:00", 3), ("16:25:00", 3), ("20:20:00", 3), ("20:15:00", 4)]
    games = []
    for g, (a, b) in enumerate(pairs[:games_per_week]):
        home, visitor = (a, b) if (week + g) % 2 == 0 else (b, a)
        eastern, day_offset = slots[0] if g == 0 else slots[-1] if g == games_per_week - 1 and g > 1 else (
            slots[1] if g % 2 else slots[2])
        date = opener + dt.timedelta(days=7 * (week - 1) + day_offset)
        hh, mm, _ = (int(v) for v in eastern.split(":"))
        # Eastern daylight time is UTC-4 through early November; close enough for a simulator.
        kickoff = dt.datetime(date.year, date.month, date.day, hh, mm, tzinfo=dt.timezone.utc) + dt.timedelta(hours=4)
        game_id = int(f"{date:%Y%m%d}{g:02d}")
        games.append(Game(game_id, season, week, g, int(home), int(visitor), date, kickoff, eastern))
    return games


def games_table(games: list[Game]) -> pa.Table:
    return pa.table(
        {
            "game_id": [g.game_id for g in games],
            "season": [g.season for g in games],
            "week": [g.week for g in games],
            "game_date": [g.date for g in games],
            "game_time_eastern": [g.kickoff_eastern for g in games],
            "home_team": [TEAMS[g.home] for g in games],
            "visitor_team": [TEAMS[g.visitor] for g in games],
        },
        schema=schema.GAMES,
    )


@dataclass
class Situations:
    """The game situation of each pass play of one game (arrays of length P, in game order)."""

    play_id: np.ndarray
    offense: np.ndarray  # team index
    defense: np.ndarray
    quarter: np.ndarray
    game_clock_s: np.ndarray
    down: np.ndarray
    yards_to_go: np.ndarray
    los_x: np.ndarray  # line of scrimmage in the offense-moves-right frame (10 = own goal line)
    ball_y: np.ndarray
    offense_score: np.ndarray
    defense_score: np.ndarray
    moves_right: np.ndarray  # bool: play_direction == "right"
    start_offset_s: np.ndarray  # seconds from kickoff to the play's first frame


def game_situations(rng: np.random.Generator, game: Game, plays_per_team: tuple[int, int]) -> Situations:
    """Down, distance, field position, clock and score for every pass play of a game."""
    n_home = int(rng.integers(plays_per_team[0], plays_per_team[1] + 1))
    n_away = int(rng.integers(plays_per_team[0], plays_per_team[1] + 1))
    offense = np.array([game.home] * n_home + [game.visitor] * n_away)
    # possessions alternate in drives: spread each team's plays over the game, then sort by time
    game_time = np.concatenate([np.sort(rng.uniform(0, 3600, n_home)), np.sort(rng.uniform(0, 3600, n_away))])
    order = np.argsort(game_time, kind="stable")
    offense, game_time = offense[order], game_time[order]
    p = len(offense)
    defense = np.where(offense == game.home, game.visitor, game.home)
    quarter = np.minimum(game_time // 900, 3).astype(int) + 1
    game_clock_s = (900 - (game_time - (quarter - 1) * 900)).astype(int)

    down = rng.choice([1, 2, 3, 4], size=p, p=[0.38, 0.33, 0.27, 0.02])
    to_go = np.where(
        down == 1,
        np.where(rng.random(p) < 0.9, 10, rng.integers(1, 10, p)),
        np.clip(np.round(rng.gamma(2.2, 3.4, p)), 1, 25),
    ).astype(int)
    from_own_goal = np.round(6 + 88 * rng.beta(2.0, 1.8, p))  # yards from the offense's goal line
    room = 100 - from_own_goal
    to_go = np.minimum(to_go, room).astype(int)  # goal to go
    los_x = END_ZONE + from_own_goal
    ball_y = rng.choice([HASH_LOW, FIELD_WIDTH / 2, HASH_HIGH], size=p, p=[0.4, 0.2, 0.4])

    # scores: each team's scoring events at random times, 7 or 3 points
    scores = {}
    for team in (game.home, game.visitor):
        k = rng.poisson(3.0)
        times = np.sort(rng.uniform(0, 3600, k))
        points = rng.choice([7, 3], size=k, p=[0.62, 0.38])
        scores[team] = (times, np.cumsum(points))

    def score_at(team: int, t: np.ndarray) -> np.ndarray:
        times, cum = scores[team]
        idx = np.searchsorted(times, t, side="right")
        return np.where(idx > 0, np.concatenate([[0], cum])[idx], 0)

    off_score = np.where(offense == game.home, score_at(game.home, game_time), score_at(game.visitor, game_time))
    def_score = np.where(offense == game.home, score_at(game.visitor, game_time), score_at(game.home, game_time))
    # the home team attacks +x in quarters 1 and 3 (teams switch ends each quarter)
    home_right = (quarter % 2) == 1
    moves_right = np.where(offense == game.home, home_right, ~home_right)
    play_id = 50 + np.cumsum(rng.integers(25, 90, p))
    return Situations(
        play_id=play_id.astype(np.int64), offense=offense, defense=defense, quarter=quarter,
        game_clock_s=game_clock_s, down=down, yards_to_go=to_go, los_x=los_x.astype(float),
        ball_y=ball_y, offense_score=off_score, defense_score=def_score, moves_right=moves_right,
        start_offset_s=game_time,
    )

