"""The NFL calendar: when a season starts and which (season, week) a date belongs to.

The one rule the ingest DAG uses to turn a data interval into a (season, week):

* A season starts on its **opener**, the Thursday after Labor Day (the first Monday of September),
  and belongs to the calendar year it starts in (the 2025 season runs into early 2026).
* Week ``w`` is the seven days starting on the Tuesday ``w - 1`` weeks after the Tuesday before the
  opener (Tuesday to Monday: Thursday, Sunday and Monday games fall in one week).
* A date from March to August belongs to no week (the off-season).
"""

from __future__ import annotations

import datetime as dt

REGULAR_SEASON_WEEKS = 18
MAX_WEEK = 22  # the regular season plus four postseason rounds


def season_opener(season: int) -> dt.date:
    """The Thursday after the first Monday of September (Labor Day)."""
    day = dt.date(season, 9, 1)
    while day.weekday() != 0:
        day += dt.timedelta(days=1)
    return day + dt.timedelta(days=3)


def week_start(season: int, week: int) -> dt.date:
    """The Tuesday that opens week ``week`` of ``season``."""
    return season_opener(season) - dt.timedelta(days=2) + dt.timedelta(weeks=week - 1)


def season_week_of(day: dt.date | dt.datetime) -> tuple[int, int] | None:
    """The (season, week) whose Tuesday-to-Monday span holds ``day``, or None in the off-season."""
    if isinstance(day, dt.datetime):
        day = day.date()
    season = day.year if day.month >= 3 else day.year - 1
    days = (day - week_start(season, 1)).days
    if days < 0:
        return None
    week = days // 7 + 1
    return (season, week) if week <= MAX_WEEK else None


def last_complete_season(day: dt.date | dt.datetime) -> int:
    """The newest season whose postseason is over on ``day`` (what a preseason retraining learns
    from): the season before the one ``day`` falls in or precedes (seasons run March to February)."""
    current = day.year if day.month >= 3 else day.year - 1
    return current - 1
