"""The ``trackflow`` command line.  Every command calls the same stage functions the DAGs call."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import pyarrow as pa
import typer
import yaml

from pipelines.config import ConfigError, Settings, load_settings, parse_weeks

app = typer.Typer(
    help="trackflow: a training pipeline for player-tracking models (simulate, ingest, train, register).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    parquet = "parquet"
    bdb = "bdb"


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def main(
    ctx: typer.Context,
    profile: Optional[str] = typer.Option(
        None, "--profile", "-p", envvar="TRACKFLOW_PROFILE",
        help="Configuration profile from conf/trackflow.yaml: test, demo (default) or season.",
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", envvar="TRACKFLOW_CONFIG", help="Configuration file (default: conf/trackflow.yaml).",
    ),
) -> None:
    try:
        ctx.obj = load_settings(profile=profile, config_file=config)
    except ConfigError as err:
        typer.echo(f"trackflow: configuration error: {err}", err=True)
        raise typer.Exit(2) from None


def _weeks_option(value: Optional[str]) -> Optional[list[int]]:
    if value is None:
        return None
    try:
        return parse_weeks(value)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--weeks") from None


def _run_id_option(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from pipelines.mlflow_runs import check_run_id

    try:
        return check_run_id(value)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--run-id") from None


# the season/weeks options of every stage command
Season = Annotated[int, typer.Option(help="Season, e.g. 2025.", min=1920, max=2100)]
Weeks = Annotated[str, typer.Option(help="Weeks: a range '1-4', a list '1,3' or one week '2'.", callback=_weeks_option)]


@app.command()
def simulate(
    ctx: typer.Context,
    season: Optional[int] = typer.Option(None, help="Season to simulate (default: simulator.season).", min=1920, max=2100),
    weeks: Optional[str] = typer.Option(
        None, help="Weeks: a range '1-4', a list '1,3' or one week '2' (default: simulator.weeks).",
        callback=_weeks_option,
    ),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: paths.simulated)."),
    fmt: OutputFormat = typer.Option(
        OutputFormat.parquet, "--format",
        help="parquet: canonical tables partitioned season=/week=; bdb: Big Data Bowl 2023 CSV files.",
    ),
    seed: Optional[int] = typer.Option(None, help="Random seed (default: simulator.seed).", min=0),
    games_per_week: Optional[int] = typer.Option(None, help="Games per week, 1-16.", min=1, max=16),
    workers: Optional[int] = typer.Option(None, help="Processes simulating weeks in parallel (0 = one per core).", min=0),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of text."),
) -> None:
    """Simulate season tracking data (the synthetic: source) and print a summary.

    Writes tracking, plays, games and players plus the ground truth (truth/plays, truth/anomalies).
    """
    from pipelines.sources.simulator import simulate_to
    from pipelines.summary import format_summary, play_summary

    settings = _settings(ctx)
    sim = settings.simulator
    changes = {k: v for k, v in {"seed": seed, "games_per_week": games_per_week}.items() if v is not None}
    if changes:
        sim = sim.model_copy(update=changes)
    out = out or settings.paths.simulated
    started = time.perf_counter()
    results = simulate_to(sim, out, season=season, weeks=weeks, fmt=fmt.value, workers=workers)
    elapsed = time.perf_counter() - started
    summary = play_summary(
        pa.concat_tables([r.plays for r in results]),
        pa.concat_tables([r.truth_plays for r in results]),
        pa.concat_tables([r.truth_anomalies for r in results]),
        tracking_rows=sum(r.tracking_rows for r in results),
    )
    summary.update(seconds=round(elapsed, 1), out=str(Path(out).resolve()), format=fmt.value)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    weeks_done = ",".join(str(r.week) for r in results)
    typer.echo(f"Simulated season {results[0].season}, weeks {weeks_done} (profile {settings.profile}, "
               f"seed {sim.seed}) in {elapsed:.1f} s → {Path(out).resolve()} [{fmt.value}]")
    typer.echo(format_summary(summary))


@app.command()
def ingest(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
    source: Optional[str] = typer.Option(
        None, help="Source URI: synthetic: (the simulator) or bdb:/path/to/folder (default: ingest.source)."),
    validate: bool = typer.Option(True, help="Validate each ingested week with the Great Expectations raw suite."),
) -> None:
    """Ingest weeks from a source into the raw lake (partitioned season=/week=, with a manifest per week)."""
    from pipelines.ingest import ingest_week
    from pipelines.sources import SourceError

    from pipelines.sources import open_source

    settings = _settings(ctx)
    uri = source or settings.ingest.source
    try:
        typer.echo(f"source: {open_source(uri, settings).describe()} → {settings.paths.lake / 'raw'}")
    except SourceError as err:
        typer.echo(f"trackflow ingest: {err}", err=True)
        raise typer.Exit(1) from None
    failed = False
    for week in weeks:
        started = time.perf_counter()
        try:
            manifest = ingest_week(settings, uri, season, week)
        except SourceError as err:
            typer.echo(f"trackflow ingest: {err}", err=True)
            raise typer.Exit(1) from None
        counts = ", ".join(f"{k} {v:,}" for k, v in manifest.row_counts.items())
        typer.echo(f"season {season} week {week}: {counts} ({time.perf_counter() - started:.1f} s) "
                   f"hash {manifest.content_hash[:12]}")
        for note in manifest.notes:
            typer.echo(f"  note: {note}")
        if validate:
            failed |= not _validate(settings, season, week, "ingest")
    if failed:
        raise typer.Exit(1)


def _validate(settings: Settings, season: int, week: int, command: str = "validate") -> bool:
    from pipelines.validate import format_result, validate_week

    with _stage_errors(command):  # a missing or unreadable partition: one line, exit 1
        result = validate_week(settings, season, week, raise_on_failure=False)
    typer.echo(format_result(result))
    return result.success


@app.command()
def validate(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
) -> None:
    """Validate ingested raw tracking with the Great Expectations suite (reports under lake/reports/validation)."""
    settings = _settings(ctx)
    ok = [_validate(settings, season, week) for week in weeks]
    if not all(ok):
        raise typer.Exit(1)


@contextmanager
def _stage_errors(command: str, *also: type[Exception]):
    """A stage's expected failures (missing input, bad config, a failed data check, and ``also``)
    as one line and exit 1."""
    from pipelines.validate import ValidationError

    try:
        yield
    except (FileNotFoundError, ConfigError, ValidationError, *also) as err:
        typer.echo(f"trackflow {command}: {err}", err=True)
        raise typer.Exit(1) from None


@app.command("filter")
def filter_(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
) -> None:
    """Filter anomalies out of raw tracking with Spark (rules in conf/anomaly_rules.yaml) into lake/clean."""
    from pipelines.anomaly_filter import filter_week, format_report

    settings = _settings(ctx)
    for week in weeks:
        with _stage_errors("filter"):
            typer.echo(format_report(filter_week(settings, season, week)))


@app.command()
def features(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
) -> None:
    """Build the passing and ghosting feature tables with Spark (lake/features/{passing,ghosting})."""
    from features.build import build_features

    settings = _settings(ctx)
    for week in weeks:
        started = time.perf_counter()
        with _stage_errors("features"):
            out = build_features(settings, season, week)
        typer.echo(f"season {season} week {week}: passing {out['passing']['rows']:,} rows, ghosting "
                   f"{out['ghosting']['rows']:,} rows ({time.perf_counter() - started:.1f} s) → "
                   f"{settings.paths.lake / 'features'}")


@app.command()
def prepare(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
) -> None:
    """Filter anomalies, then build both feature tables: what tracking_ingest runs after validation, in one command."""
    filter_(ctx, season, weeks)
    features(ctx, season, weeks)


class FeatureModel(str, Enum):
    passing = "passing"
    ghosting = "ghosting"


@app.command()
def select(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
    model: list[FeatureModel] = typer.Option(
        [FeatureModel.passing, FeatureModel.ghosting], help="Model(s) to select features for (repeatable)."),
) -> None:
    """Rank feature columns by XGBoost gain (conf/feature_selection.yaml), write the list the trainers read, log to MLflow."""
    from features.selection import SelectionError, run_selection

    settings = _settings(ctx)
    for name in (m.value for m in model):
        with _stage_errors("select", SelectionError):
            done = run_selection(settings, name, season, weeks)
        selected = done.selection.selected
        top = ", ".join(selected[:8]) + (" …" if len(selected) > 8 else "")
        typer.echo(f"{name}: {len(selected)} of {len(done.selection.importances)} features ({top}); "
                   f"holdout {done.selection.holdout} → {done.path} (MLflow run {done.run_id})")


train_app = typer.Typer(help="Train a model (the passing SBP model, the ghosting trajectory model) and its baselines.",
                         no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("passing")
def train_passing_command(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
    epochs: Optional[int] = typer.Option(None, min=1, help="Maximum epochs (default: conf/training.yaml)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda[:N] (default: conf/training.yaml)."),
) -> None:
    """Train the SBP passing model, its Gaussian twin and the XGBoost baseline in one MLflow run; print the test table."""
    from training.train_passing import train_passing

    settings = _settings(ctx)
    # ValueError: data or a setting that cannot be used (too few games, no CUDA); the message names it
    with _stage_errors("train passing", ValueError):
        result = train_passing(settings, season, weeks, device=device, max_epochs=epochs, progress=True)
    typer.echo(result.metrics.to_markdown(floatfmt=".4f"))
    typer.echo(f"plays {result.split_plays}; epochs {result.epochs}; MLflow run {result.run_id}")
    typer.echo("bars: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result.bars.items()))


@train_app.command("ghosting")
def train_ghosting_command(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
    epochs: Optional[int] = typer.Option(None, min=1, help="Maximum epochs (default: conf/training.yaml)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda[:N] (default: conf/training.yaml)."),
) -> None:
    """Train the defender trajectory (ghosting) model with its constant-velocity and constant-acceleration baselines in one MLflow run; print ADE/FDE/RMSE, the composite scores and the bars."""
    from training.train_ghosting import train_ghosting

    settings = _settings(ctx)
    # ValueError: data or a setting that cannot be used (too few games, no CUDA); the message names it
    with _stage_errors("train ghosting", ValueError):
        result = train_ghosting(settings, season, weeks, device=device, max_epochs=epochs, progress=True)
    typer.echo(result.errors.to_markdown(floatfmt=".4f"))
    typer.echo(result.composites.to_markdown(floatfmt=".4f"))
    typer.echo(f"samples {result.split_samples}; epochs {result.epochs}; MLflow run {result.run_id}")
    typer.echo("bars: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result.bars.items()))


score_app = typer.Typer(help="Score plays with a trained model (the passing score).", no_args_is_help=True)
app.add_typer(score_app, name="score")


@score_app.command("passing")
def score_passing_command(
    ctx: typer.Context,
    season: Season,
    weeks: Weeks,
    run_id: Optional[str] = typer.Option(
        None, "--run-id", help="MLflow run of `train passing` whose SBP model scores the plays "
                               "(default: the newest finished one).", callback=_run_id_option),
    top: int = typer.Option(10, min=0, help="Passers to print, by mean score (0: none)."),
    min_plays: int = typer.Option(20, min=1, help="Printed passers need at least this many scored plays "
                                                  "(the Parquet and MLflow tables keep every passer)."),
) -> None:
    """Score each play 0–100 (the CDF of its yards under the predicted SBP), aggregate per passer per game, season and split (conf/scoring.yaml) into lake/scores/passing, log to MLflow."""
    from evaluation.passing_score import leaders, score_passing

    settings = _settings(ctx)
    # ValueError: no trained run, a bad run id, or data the model cannot read; the message names it
    with _stage_errors("score passing", ValueError):
        result = score_passing(settings, season, weeks, run_id=run_id)
    for week, plays in result.plays_scored.items():
        typer.echo(f"season {season} week {week}: {plays:,} plays scored → {result.paths[f'plays.{week}']}")
    typer.echo(f"season {season}: {result.season_plays:,} scored plays aggregated → "
               f"{result.paths['by_passer_season'].parent.parent}/{{by_passer_game,by_passer_season,by_passer_split}}")
    if len(result.model_run_ids) > 1:
        typer.echo(f"note: the season's scored plays come from {len(result.model_run_ids)} models "
                   f"({', '.join(result.model_run_ids)}); rescore all its weeks to compare passers on one model")
    if top:
        table = leaders(result.by_passer_season, top, min_plays)
        passers = int(result.by_passer_season["passer_nfl_id"].notna().sum())
        columns = ["passer_name", "passer_nfl_id", "games", "plays", "score_mean", "score_se", "score_median",
                   "share_above_50", "yards_over_expected"]
        typer.echo(f"top {len(table)} passers by mean score, of the {passers} with scored plays "
                   f"(at least {min_plays} plays to be listed):")
        if len(table):
            typer.echo(table[columns].to_markdown(index=False, floatfmt=".2f"))
    typer.echo(f"model run {result.model_run_id}; MLflow run {result.run_id}")


@app.command()
def ghost(
    ctx: typer.Context,
    game: int = typer.Option(..., help="game_id of the play."),
    play: int = typer.Option(..., help="play_id of the play."),
    out: Path = typer.Option(..., help="PNG file for the field plot."),
    target: Optional[int] = typer.Option(None, help="nfl_id of one eligible receiver to draw (default: all of them)."),
    run_id: Optional[str] = typer.Option(
        None, "--run-id", help="MLflow run of `train ghosting` (default: the newest finished one).",
        callback=_run_id_option),
) -> None:
    """Counterfactual targets: the defensive backs' predicted paths as if each eligible receiver had been targeted; a table and a plot of the field."""
    from evaluation.ghosting_counterfactual import counterfactual_play, draw_play
    from training.train_ghosting import load_trained

    settings = _settings(ctx)
    # ValueError: no trained run, an unknown play, a receiver who is not eligible; the message names it
    with _stage_errors("ghost", ValueError):
        model, model_run = load_trained(settings, run_id)
        cf = counterfactual_play(settings, model, game, play, target=target)
        out.parent.mkdir(parents=True, exist_ok=True)
        draw_play(cf, out, target=target)
    table = cf.table if target is None else cf.table[cf.table["receiver_nfl_id"] == target]
    typer.echo(f"game {game} play {play} (season {cf.season} week {cf.week}): {len(cf.samples)} defensive backs, "
               f"{len(cf.receivers)} eligible receivers; model run {model_run}")
    typer.echo(table.to_markdown(index=False, floatfmt=".3f"))
    typer.echo(f"→ {out}")


runs_app = typer.Typer(help="Look at retraining runs in the project's MLflow store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("compare")
def runs_compare(
    ctx: typer.Context,
    last: int = typer.Option(5, "--last", min=1, help="How many of the newest retraining runs to show."),
) -> None:
    """A table of the newest retraining runs: what they trained on, their status and headline test metrics."""
    from evaluation.summary import compare_runs

    table = compare_runs(_settings(ctx), last)
    if table.empty:
        typer.echo("no retraining runs yet: run `make run` (or `trackflow airflow dags test preseason_retraining`)")
        return
    typer.echo(table.to_markdown(index=False, floatfmt=".4f", missingval="–"))


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Optional[str] = typer.Argument(None, help="Retraining (parent) run id (default: the newest)."),
) -> None:
    """One retraining run: its metric tables, stages, registered versions and where its artifacts are."""
    from evaluation.summary import retraining_summary

    with _stage_errors("runs show", ValueError):
        typer.echo(retraining_summary(_settings(ctx), run_id))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def airflow(ctx: typer.Context) -> None:
    """Run the airflow CLI with this project's AIRFLOW_HOME and dags/ (e.g. trackflow airflow dags test tracking_ingest 2025-09-10)."""
    from pipelines.airflow_env import run_airflow

    raise typer.Exit(run_airflow(_settings(ctx), list(ctx.args)))


@app.command()
def ui(
    ctx: typer.Context,
    port: int = typer.Option(5000, min=1, max=65535, envvar="MLFLOW_UI_PORT", help="Port of the MLflow UI."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (127.0.0.1: this machine only)."),
) -> None:
    """Serve the MLflow UI over this project's store (the runs, nested runs, artifacts and registry of every stage)."""
    import os
    import sys

    settings = _settings(ctx)
    if not settings.mlflow_is_local:
        typer.echo(f"runs are tracked on {settings.mlflow_tracking_uri} (mlflow.tracking_uri): open its UI there")
        return
    settings.paths.mlflow_db.parent.mkdir(parents=True, exist_ok=True)
    typer.echo(f"MLflow UI on http://{host}:{port} over {settings.mlflow_tracking_uri} (Ctrl-C stops it)")
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    os.execv(mlflow_cli, [mlflow_cli, "server", "--backend-store-uri", settings.mlflow_tracking_uri,
                          "--default-artifact-root", settings.mlflow_artifact_root, "--host", host, "--port", str(port)])


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Print the effective configuration (profile and environment overrides applied, paths absolute)."""
    settings = _settings(ctx)
    body = settings.model_dump(mode="json")
    body["derived"] = {
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "mlflow_artifact_root": settings.mlflow_artifact_root,
        "config_hash": settings.config_hash(),
    }
    typer.echo(yaml.safe_dump(body, sort_keys=False))


if __name__ == "__main__":  # pragma: no cover
    app()
