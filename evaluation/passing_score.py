"""The passing score: every released pass play scored under the trained SBP model, and the scores
aggregated per passer per game, per season and per split.

    plays = score_plays(model, data, model_run_id)           # one row per play (pure)
    tables = aggregate(plays, players)                       # by_passer_game / _season / _split (pure)
    result = score_passing(settings, season=2025, weeks=[1, 2])   # the stage: lake + MLflow

**The score of a play** is ``evaluation.passing_metrics.passing_score(dist, y, mode="mid")``: 100 times
the mid-PIT of the actual yards ``y`` under the play's predicted distribution ``F``,

    score = 100 · (F(y − ½) + F(y + ½)) / 2.

*Standardization.*  ``F`` is the model's distribution for *that* play's situation (coverage,
pressure, separation, down, distance…), so the score is the outcome's percentile among the outcomes
the model expected there: 50 is a median result for the situation, 90 a result that only one play
in ten of that kind beats.  A 6-yard gain on 3rd-and-15 and on 1st-and-10 land on different scores,
and plays of any depth, game state or pressure are on one 0–100 scale; no further rescaling is
applied.  *Ties.*  Yards are integers and incompletions a point mass at 0, so ``y`` stands for its
rounding cell ``[y − ½, y + ½]`` and the score takes the middle of the CDF's jump over that cell
(the mid-PIT) rather than a random point in it: the same play always gets the same score, every
incompletion of one prediction scores the same, and the score never decreases with more yards.
For a calibrated model the mean score over many plays is exactly 50 (the mid-PIT has mean ½ for
integer outcomes too; only its spread is smaller than a uniform's), so a passer's ``score_mean``
above 50 says his plays beat their predictions on average.

The model scores plays it may have been trained on (``train passing`` splits the same weeks by
game): their scores are in-sample.  Splits (under pressure, time to throw, deep passes) are defined
in ``conf/scoring.yaml``; the statistics of the aggregates are documented at ``aggregate``.

**Lake.**  ``lake/scores/passing/plays/season=S/week=W/`` holds the scored plays of a week (schema
``pipelines.schema.PASSING_SCORE_PLAYS``); after any week is scored, the three aggregate tables
``lake/scores/passing/{by_passer_game,by_passer_season,by_passer_split}/season=S/`` are recomputed
from *all* scored plays of the season in the lake, so they always agree with the plays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import torch
from pydantic import BaseModel, ConfigDict, model_validator

from evaluation.passing_metrics import passing_score
from pipelines import lake
from pipelines.config import PROJECT_ROOT, Settings, load_section
from pipelines.schema import (PASSING_SCORE_BY_PASSER_GAME, PASSING_SCORE_BY_PASSER_SEASON,
                              PASSING_SCORE_BY_PASSER_SPLIT, PASSING_SCORE_PLAYS, PASSING_SCORE_SPLITS)

DEFAULT_SCORING_CONFIG = PROJECT_ROOT / "conf" / "scoring.yaml"
AGGREGATE_SCHEMAS = {"by_passer_game": PASSING_SCORE_BY_PASSER_GAME,
                     "by_passer_season": PASSING_SCORE_BY_PASSER_SEASON,
                     "by_passer_split": PASSING_SCORE_BY_PASSER_SPLIT}
QUANTILE_LEVELS = {"predicted_q10": 0.1, "predicted_q90": 0.9}
# Features are differences of positions published to 0.01 yd: a bound must not depend on the last
# bit of a subtraction (45.37 − 25.37 = 19.999999999999996 is a 20-yard pass).
BOUND_TOLERANCE = 1e-6
# The per-play facts copied from the passing feature table (besides the split measures).
_PLAY_COLUMNS = ["game_id", "play_id", "season", "week", "passer_nfl_id", "target_nfl_id", "pass_result",
                 "yards_gained", "qb_pressure", "time_to_throw", "pass_depth"]


# --- configuration ------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitRule(_Strict):
    """A play is in the split when ``min ≤ column ≤ max`` (either bound may be left out)."""
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> SplitRule:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min:g} <= {self.column} <= {self.max:g}"
        return f"{self.column} >= {self.min:g}" if self.min is not None else f"{self.column} <= {self.max:g}"


class PassingSplits(_Strict):
    under_pressure: SplitRule
    long_time_to_throw: SplitRule
    deep_pass: SplitRule


# the split names are also the boolean columns of the plays table: one list, checked here
assert tuple(PassingSplits.model_fields) == PASSING_SCORE_SPLITS, "conf splits and schema splits differ"


class PassingScoreConfig(_Strict):
    splits: PassingSplits


def load_scoring_config(path: str | Path = DEFAULT_SCORING_CONFIG) -> PassingScoreConfig:
    """The ``passing`` section of ``conf/scoring.yaml`` (its only key); errors name the file and the key."""
    return load_section(path, "scoring config", "passing", PassingScoreConfig, sole=True)


# --- scoring plays (pure) -----------------------------------------------------------------------

def split_flags(context: pd.DataFrame, splits: PassingSplits) -> pd.DataFrame:
    """One boolean column per split (``PASSING_SCORE_SPLITS``), row-aligned with ``context``;
    a null measure is in no split."""
    out = {}
    for name in PASSING_SCORE_SPLITS:
        rule: SplitRule = getattr(splits, name)
        if rule.column not in context.columns:
            raise ValueError(f"split {name!r}: the passing feature table has no column {rule.column!r} "
                             "(conf/scoring.yaml)")
        value = pd.to_numeric(context[rule.column], errors="coerce").to_numpy(dtype=np.float64)
        inside = ~np.isnan(value)
        if rule.min is not None:
            inside &= value >= rule.min - BOUND_TOLERANCE
        if rule.max is not None:
            inside &= value <= rule.max + BOUND_TOLERANCE
        out[name] = inside
    return pd.DataFrame(out, index=context.index)


def score_plays(model, data, run_id: str, config: PassingScoreConfig | None = None) -> pd.DataFrame:
    """One row per play of ``data`` (a ``training.passing.PassingData`` read with ``model.features``)
    in ``PASSING_SCORE_PLAYS``'s columns: keys, passer and target, the outcome, the predicted median,
    10 % and 90 % quantiles and mean (``expected_yards``, NaN where a tail makes it infinite), the
    passing score, the split flags and their measures, and ``run_id`` (the model's training run)."""
    if model.head != "sbp":
        raise ValueError(f"the passing score needs the SBP model, got head {model.head!r}")
    if data.features and list(data.features) != list(model.features):
        raise ValueError(f"passing data holds features {list(data.features)}, the model expects "
                         f"{list(model.features)}: read it with features=model.features")
    splits = (config or load_scoring_config()).splits
    ctx = data.context.reset_index(drop=True)
    missing = [c for c in _PLAY_COLUMNS if c not in ctx.columns]
    if missing:
        raise ValueError(f"passing feature table: no column(s) {missing}; rebuild the features")
    plays = ctx[_PLAY_COLUMNS].copy()
    for column in ("passer_nfl_id", "target_nfl_id"):
        plays[column] = plays[column].astype("Int64")  # ids stay integers where some are null
    plays["yards_gained"] = plays["yards_gained"].astype("int32")
    n = len(plays)
    if n:
        dist = model.distribution(data.seq, data.lengths, data.static_raw)
        with torch.no_grad():
            median = dist.median.double().numpy()
            quantiles = dist.quantile(torch.tensor(list(QUANTILE_LEVELS.values()), dtype=dist.dtype)).double().numpy()
            mean = dist.mean.double().numpy()
        score = passing_score(dist, data.y, mode="mid")
    else:
        median, quantiles, mean, score = np.empty(0), np.empty((len(QUANTILE_LEVELS), 0)), np.empty(0), np.empty(0)
    plays["predicted_median"] = median
    for i, column in enumerate(QUANTILE_LEVELS):
        plays[column] = quantiles[i]
    plays["expected_yards"] = np.where(np.isfinite(mean), mean, np.nan)
    plays["passing_score"] = score
    plays = pd.concat([plays, split_flags(ctx, splits)], axis=1)
    plays["model_run_id"] = run_id
    return plays[PASSING_SCORE_PLAYS.names]


# --- aggregates (pure) --------------------------------------------------------------------------

def _stats(plays: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The statistics of ``aggregate`` per group of ``keys`` (a null passer is a group of its own)."""
    score = plays["passing_score"]
    work = plays.assign(
        _above_50=(score > 50).astype(float), _above_80=(score > 80).astype(float),
        _below_20=(score < 20).astype(float),
        _complete=plays["pass_result"].eq("C").astype(float), _intercepted=plays["pass_result"].eq("IN").astype(float),
        _yards=plays["yards_gained"].astype(float), _over=plays["yards_gained"] - plays["expected_yards"])
    out = work.groupby(keys, dropna=False, sort=True).agg(
        plays=("passing_score", "size"), score_mean=("passing_score", "mean"),
        score_median=("passing_score", "median"), score_sd=("passing_score", "std"),
        share_above_50=("_above_50", "mean"), share_above_80=("_above_80", "mean"),
        share_below_20=("_below_20", "mean"), completion_rate=("_complete", "mean"),
        interception_rate=("_intercepted", "mean"), yards_mean=("_yards", "mean"),
        predicted_median_mean=("predicted_median", "mean"), expected_yards_mean=("expected_yards", "mean"),
        yards_over_expected=("_over", "mean"), pass_depth_mean=("pass_depth", "mean"),
    ).reset_index()
    out["score_se"] = out["score_sd"] / np.sqrt(out["plays"])
    return out


def _with_names(table: pd.DataFrame, players: pd.DataFrame | None) -> pd.DataFrame:
    if players is None or players.empty:
        return table.assign(passer_name=pd.Series([None] * len(table), index=table.index, dtype=object))
    # a player's row repeats across the season's weeks: one name per id (the last one given)
    names = (players[["nfl_id", "display_name"]].dropna(subset=["nfl_id"])
             .drop_duplicates("nfl_id", keep="last")
             .rename(columns={"nfl_id": "passer_nfl_id", "display_name": "passer_name"}))
    names["passer_nfl_id"] = names["passer_nfl_id"].astype("Int64")
    out = table.merge(names, on="passer_nfl_id", how="left")
    out["passer_name"] = out["passer_name"].astype(object).where(out["passer_name"].notna(), None)
    return out


def aggregate(plays: pd.DataFrame, players: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The scored plays (``score_plays``' columns, any number of weeks and seasons) per passer:

    * ``by_passer_game``: per (season, passer, game), with the game's week as ``game_week``;
    * ``by_passer_season``: per (season, passer), with the number of ``games``;
    * ``by_passer_split``: per (season, passer, split), a row where the passer has plays in the
      split, with ``share_of_passer_plays`` (its plays / his season's plays) and
      ``score_mean_vs_season`` (its ``score_mean`` minus his season's).

    Every row has ``passer_name`` (``players``' ``display_name`` for ``nfl_id``, e.g. the raw players
    table; null without one) and these statistics of its plays:

    ``plays``; ``score_mean``, ``score_median``, ``score_sd`` (sample standard deviation, NaN for one
    play) and ``score_se`` (``score_sd / √plays``, the standard error of ``score_mean``: compare
    passers' means in units of it, not by rank alone); ``share_above_50``, ``share_above_80``,
    ``share_below_20`` (shares of plays scoring > 50, > 80, < 20); ``completion_rate`` and
    ``interception_rate`` (``pass_result`` C and IN); ``yards_mean`` (actual yards gained),
    ``predicted_median_mean``, ``expected_yards_mean`` (the mean of the predicted means) and
    ``yards_over_expected`` (mean of yards − expected yards; plays with an infinite expectation
    left out); ``pass_depth_mean`` (air yards where the ball arrived).

    Plays without a passer (no QB in the tracking at the snap) form a group with a null
    ``passer_nfl_id``, so the plays of ``by_passer_season`` sum to the plays given.  Rows are
    sorted by their keys; columns are in the order of the tables' schemas in ``pipelines.schema``.
    """
    plays = plays.copy()
    plays["passer_nfl_id"] = plays["passer_nfl_id"].astype("Int64")
    game = _stats(plays, ["season", "passer_nfl_id", "game_id"])
    weeks = (plays.groupby(["season", "passer_nfl_id", "game_id"], dropna=False, sort=True)["week"].first()
             .rename("game_week").reset_index())
    game = game.merge(weeks, on=["season", "passer_nfl_id", "game_id"], how="left")
    season = _stats(plays, ["season", "passer_nfl_id"])
    games = (plays.groupby(["season", "passer_nfl_id"], dropna=False, sort=True)["game_id"].nunique()
             .rename("games").reset_index())
    season = season.merge(games, on=["season", "passer_nfl_id"], how="left")
    parts = []
    for name in PASSING_SCORE_SPLITS:
        part = _stats(plays[plays[name].astype(bool)], ["season", "passer_nfl_id"])
        parts.append(part.assign(split=name))
    split = pd.concat(parts, ignore_index=True) if parts else _stats(plays.iloc[:0], ["season", "passer_nfl_id"])
    overall = season[["season", "passer_nfl_id", "plays", "score_mean"]].rename(
        columns={"plays": "_season_plays", "score_mean": "_season_score_mean"})
    split = split.merge(overall, on=["season", "passer_nfl_id"], how="left")
    split["share_of_passer_plays"] = split["plays"] / split["_season_plays"]
    split["score_mean_vs_season"] = split["score_mean"] - split["_season_score_mean"]
    split["split"] = pd.Categorical(split["split"], categories=list(PASSING_SCORE_SPLITS))
    split = split.sort_values(["season", "passer_nfl_id", "split"], na_position="last", kind="stable")
    split["split"] = split["split"].astype(str)
    out = {}
    for name, table in (("by_passer_game", game), ("by_passer_season", season), ("by_passer_split", split)):
        schema = AGGREGATE_SCHEMAS[name]
        out[name] = _with_names(table, players)[schema.names].reset_index(drop=True)
    return out


def leaders(by_passer_season: pd.DataFrame, top: int, min_plays: int) -> pd.DataFrame:
    """The ``top`` passers of ``by_passer_season`` by mean score among those with at least
    ``min_plays`` scored plays (a mean over a handful of plays says little: a backup's single
    completion would lead), ties by more plays; plays without a passer are left out."""
    if min_plays < 1 or top < 0:
        raise ValueError(f"leaders: min_plays must be ≥ 1 and top ≥ 0, got min_plays={min_plays}, top={top}")
    eligible = by_passer_season[by_passer_season["passer_nfl_id"].notna()
                                & (by_passer_season["plays"] >= min_plays)]
    return eligible.sort_values(["score_mean", "plays"], ascending=False, kind="stable").head(top)


# --- the stage ----------------------------------------------------------------------------------

@dataclass
class PassingScoreRun:
    run_id: str  # this scoring run in MLflow
    model_run_id: str  # the training run whose model scored the plays
    season: int
    plays_scored: dict[int, int]  # week → plays scored now
    season_plays: int  # every scored play of the season in the lake (what the aggregates hold)
    model_run_ids: list[str]  # the models behind the season's scored plays (more than one: mixed)
    paths: dict[str, Path]  # table → the partition written (plays: one per week, as plays.W)
    by_passer_season: pd.DataFrame


def scores_root(settings: Settings) -> Path:
    return settings.paths.lake / "scores" / "passing"


def score_passing(settings: Settings, season: int, weeks: list[int], run_id: str | None = None,
                  config: PassingScoreConfig | None = None) -> PassingScoreRun:
    """Score ``weeks`` of ``season`` with the SBP model of ``run_id`` (default: the newest finished
    ``train passing`` run), write their plays and the season's recomputed aggregates to the lake,
    and log one MLflow run (experiment ``trackflow/preseason-retraining``, tag
    ``stage=score_passing``; nested when a run is active) with the aggregates as tables."""
    import mlflow

    from pipelines.mlflow_runs import RETRAINING_EXPERIMENT, start_run
    from training.passing import load_passing_data
    from training.train_passing import load_trained

    cfg = config or load_scoring_config()
    features_root = settings.paths.lake / "features" / "passing"
    missing = [w for w in weeks if not lake.partition_dir(features_root, season, w).is_dir()]
    if missing:  # before the model is loaded or anything is written
        raise FileNotFoundError(f"passing feature table {features_root}: no partition for season {season} "
                                f"week(s) {missing} ({lake.partition_dir(features_root, season, missing[0])}); "
                                f"run `trackflow prepare --season {season} --weeks {','.join(map(str, missing))}` first")
    model, model_run_id = load_trained(settings, run_id)
    root = scores_root(settings)
    weeks_label = f"w{weeks[0]}-{weeks[-1]}" if len(weeks) > 1 else f"w{weeks[0]}"
    with start_run(settings, RETRAINING_EXPERIMENT, f"score passing {season} {weeks_label}",
                   tags={"stage": "score_passing", "season": str(season), "weeks": ",".join(map(str, weeks)),
                         "model_run_id": model_run_id},
                   nested=mlflow.active_run() is not None) as run:
        mlflow.log_params({"model_run_id": model_run_id, "season": season, "weeks": ",".join(map(str, weeks)),
                           "score_mode": "mid",
                           **{f"split.{name}": getattr(cfg.splits, name).describe() for name in PASSING_SCORE_SPLITS}})
        plays_scored, paths = {}, {}
        for week in weeks:  # a week at a time: a season's tensors need not fit in memory together
            data = load_passing_data(settings, season, [week], features=model.features)
            plays = score_plays(model, data, model_run_id, cfg)
            paths[f"plays.{week}"] = lake.write_partition(pa.Table.from_pandas(plays, preserve_index=False),
                                                          root / "plays", PASSING_SCORE_PLAYS, season, week)
            plays_scored[week] = len(plays)
        season_plays = read_scored_plays(settings, season)
        tables = aggregate(season_plays, read_players(settings, season))
        for name, table in tables.items():
            paths[name] = lake.write_partition(pa.Table.from_pandas(table, preserve_index=False), root / name,
                                               AGGREGATE_SCHEMAS[name], season)
        model_run_ids = sorted(season_plays["model_run_id"].unique())
        mlflow.log_metrics(_summary_metrics(season_plays, tables, sum(plays_scored.values())))
        mlflow.set_tag("season_model_run_ids", ",".join(model_run_ids))
        for name, table in tables.items():
            mlflow.log_table(table, artifact_file=f"passing_score/{name}.json")
        return PassingScoreRun(run_id=run.info.run_id, model_run_id=model_run_id, season=season,
                               plays_scored=plays_scored, season_plays=len(season_plays),
                               model_run_ids=model_run_ids, paths=paths, by_passer_season=tables["by_passer_season"])


def read_scored_plays(settings: Settings, season: int) -> pd.DataFrame:
    """Every scored play of ``season`` in the lake (all weeks), ids as nullable integers."""
    root = scores_root(settings) / "plays"
    if not lake.partition_dir(root, season).is_dir():
        return pd.DataFrame({f.name: pd.Series(dtype=object) for f in PASSING_SCORE_PLAYS})
    table = lake.read_table(root, PASSING_SCORE_PLAYS, filter=ds.field("season") == season)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def read_players(settings: Settings, season: int) -> pd.DataFrame | None:
    """``nfl_id, display_name`` from the raw players table of ``season`` (every ingested week; the
    latest week's row wins), or None when the season has none."""
    from pipelines.ingest import raw_root

    root = raw_root(settings) / "players"
    weeks = sorted(int(p.name.removeprefix("week=")) for p in lake.partition_dir(root, season).glob("week=*")
                   if p.is_dir())
    if not weeks:
        return None
    table = lake.read_weeks(root, season, weeks, columns=["nfl_id", "display_name"])
    frame = table.to_pandas().sort_values("week", kind="stable")
    return frame.drop_duplicates("nfl_id", keep="last")[["nfl_id", "display_name"]].reset_index(drop=True)


def _summary_metrics(plays: pd.DataFrame, tables: dict[str, pd.DataFrame], scored_now: int) -> dict[str, float]:
    """The run's headline numbers: the season's plays, passers and score distribution, split shares."""
    score = plays["passing_score"].astype(float)
    out = {"plays_scored": float(scored_now), "season_plays": float(len(plays)),
           "passers": float(tables["by_passer_season"]["passer_nfl_id"].notna().sum())}
    if len(plays):
        out |= {"score_mean": float(score.mean()), "score_median": float(score.median()),
                "share_above_50": float((score > 50).mean()),
                **{f"split.{name}.share": float(plays[name].astype(bool).mean()) for name in PASSING_SCORE_SPLITS}}
    return out
