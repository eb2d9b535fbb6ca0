"""Configuration: ``conf/trackflow.yaml`` (defaults + profiles) plus environment overrides, loaded
into typed pydantic models.  This is the one place that knows every path.

Order of precedence (last wins): ``defaults`` → the chosen profile → ``TRACKFLOW__A__B=value``
environment variables.  Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "conf" / "trackflow.yaml"
DEFAULT_PROFILE = "demo"
ENV_PREFIX = "TRACKFLOW__"


class ConfigError(ValueError):
    """A configuration file, profile or override is wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# the shapes parse_weeks / parse_seasons / open_source accept, as JSON-schema patterns for the DAGs'
# params, so that a trigger with a bad value is refused before a run exists (the parsers still check
# that ranges run forwards)
_WEEK = r"(?:0?[1-9]|1\d|2[0-2])"  # 1..22
_SEASON = r"(?:19[2-9]\d|20\d\d|2100)"  # 1920..2100
WEEKS_PATTERN = rf"^\s*{_WEEK}(\s*-\s*{_WEEK})?(\s*,\s*{_WEEK}(\s*-\s*{_WEEK})?)*\s*$"
SEASONS_PATTERN = rf"^\s*{_SEASON}(\s*[-,]\s*{_SEASON})*\s*$"
SOURCE_PATTERN = r"^(synthetic:|bdb:(?!(?:.*/)?\.\.(?:/|$)).+)$"  # no '..' in a bdb: folder


def check_params(params: Mapping[str, Any], declared: Iterable[str], dag_id: str) -> None:
    """Refuse a run's params that its DAG does not declare: Airflow keeps an unknown key of a trigger's
    conf (a typo like 'season' for 'seasons') as a param of its own, and the run would silently use
    the default instead."""
    known = sorted(declared)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"param {', '.join(map(repr, unknown))} is not a param of {dag_id}; "
                         f"expected some of: {', '.join(known)}")


def parse_weeks(spec: str | int | list[int]) -> list[int]:
    """Parse a week selection: ``"1-4"``, ``"1,3,5"``, ``"3"``, ``3`` or ``[1, 2]`` → sorted weeks.

    Weeks must lie in 1..22 (18 regular-season weeks plus the postseason).
    """
    if isinstance(spec, int):
        weeks = [spec]
    elif isinstance(spec, list):
        weeks = [int(w) for w in spec]
    else:
        weeks = []
        for part in str(spec).replace(" ", "").split(","):
            if not part:
                raise ValueError(f"week selection {spec!r} has an empty item; expected e.g. '1-4' or '1,3'")
            lo, sep, hi = part.partition("-")
            try:
                if sep:
                    a, b = int(lo), int(hi)
                    if b < a:
                        raise ValueError(f"week range {part!r} runs backwards; expected low-high")
                    weeks.extend(range(a, b + 1))
                else:
                    weeks.append(int(part))
            except ValueError as err:
                if "backwards" in str(err):
                    raise
                raise ValueError(
                    f"week selection {spec!r}: {part!r} is not a week number or range like '1-4'"
                ) from None
    bad = [w for w in weeks if not 1 <= w <= 22]
    if bad:
        raise ValueError(f"week selection {spec!r}: week {bad[0]} is outside 1..22")
    return sorted(set(weeks))


def parse_seasons(spec: str | int | list[int]) -> list[int]:
    """Parse a season selection: ``"2025"``, ``"2023-2025"``, ``"2024,2025"``, ``2025`` or a list →
    sorted seasons in 1920..2100."""
    if isinstance(spec, int):
        seasons = [spec]
    elif isinstance(spec, (list, tuple)):
        seasons = [int(s) for s in spec]
    else:
        seasons = []
        for part in str(spec).split(","):
            part = part.strip()
            try:
                if "-" in part:
                    a, b = (int(x) for x in part.split("-", 1))
                    if a > b:
                        raise ValueError
                    seasons.extend(range(a, b + 1))
                else:
                    seasons.append(int(part))
            except ValueError:
                raise ValueError(f"season selection {spec!r}: {part!r} is not a season or range like '2023-2025'") from None
    bad = [s for s in seasons if not 1920 <= s <= 2100]
    if bad or not seasons:
        raise ValueError(f"season selection {spec!r}: expected seasons in 1920..2100")
    return sorted(set(seasons))


class PathsConfig(_Strict):
    home: Path | None = Field(None, description="Project folder; relative paths resolve against it.")
    lake: Path = Path("lake")
    simulated: Path = Path("data/simulated")
    mlflow_db: Path = Path("mlflow/mlflow.db")
    mlflow_artifacts: Path = Path("mlflow/artifacts")
    airflow_home: Path = Path(".airflow")


class AnomalyConfig(_Strict):
    play_rate: float = Field(0.01, ge=0.0, le=1.0)
    kinds: dict[str, float]

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, float]) -> dict[str, float]:
        from pipelines.schema import ANOMALY_KINDS

        for name, weight in kinds.items():
            if name not in ANOMALY_KINDS:
                raise ValueError(f"unknown anomaly kind {name!r}; known kinds: {', '.join(ANOMALY_KINDS)}")
            if weight < 0:
                raise ValueError(f"anomaly kind {name!r} has a negative weight {weight}")
        if kinds and sum(kinds.values()) <= 0:
            raise ValueError("anomaly kind weights must not all be zero")
        return kinds


class SimulatorConfig(_Strict):
    seed: int = Field(ge=0)
    season: int = Field(ge=1920, le=2100)
    weeks: str
    games_per_week: int = Field(ge=1, le=16)
    pass_plays_per_team: tuple[int, int]
    presnap_frames: tuple[int, int]
    anomalies: AnomalyConfig
    workers: int = Field(ge=0)

    @field_validator("weeks", mode="before")
    @classmethod
    def _weeks(cls, value: Any) -> str:
        parse_weeks(value)  # raises with the reason
        return value if isinstance(value, str) else ",".join(str(w) for w in parse_weeks(value))

    @field_validator("pass_plays_per_team", "presnap_frames")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"expected [low, high] with 1 <= low <= high, got {list(value)}")
        return value

    @property
    def week_list(self) -> list[int]:
        return parse_weeks(self.weeks)


class SparkConfig(_Strict):
    master: str = "local[*]"
    driver_memory: str = Field("4g", pattern=r"^[0-9]+[kmgt]?$")
    shuffle_partitions: int = Field(8, ge=1)
    conf: dict[str, str | int | float | bool] = {}

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, conf: dict) -> dict:
        bad = [k for k in conf if not k.startswith("spark.")]
        if bad:
            raise ValueError(f"Spark settings start with 'spark.': {bad[0]!r}")
        return conf


class IngestConfig(_Strict):
    source: str = "synthetic:"


class MlflowConfig(_Strict):
    tracking_uri: str | None = Field(None, pattern=r"^(https?|databricks|postgresql|mysql|sqlite)[:+]")


class RetrainingConfig(_Strict):
    """Defaults of the preseason_retraining DAG (its params override them)."""
    seasons: str | None = None
    weeks: str = "1-18"
    max_games: int | None = Field(None, ge=3)
    epochs: int | None = Field(None, ge=1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")

    @field_validator("weeks", mode="before")
    @classmethod
    def _weeks(cls, value: Any) -> str:
        parse_weeks(value)
        return value if isinstance(value, str) else ",".join(str(w) for w in parse_weeks(value))

    @field_validator("seasons", mode="before")
    @classmethod
    def _seasons(cls, value: Any) -> str | None:
        if value is None:
            return None
        return ",".join(str(s) for s in parse_seasons(value))


class Settings(_Strict):
    profile: str
    config_file: Path
    paths: PathsConfig
    simulator: SimulatorConfig
    spark: SparkConfig
    ingest: IngestConfig
    retraining: RetrainingConfig = RetrainingConfig()
    mlflow: MlflowConfig = MlflowConfig()

    @model_validator(mode="after")
    def _absolute_paths(self) -> "Settings":
        home = self.paths.home or self.config_file.resolve().parent.parent
        home = Path(home).expanduser().resolve()
        resolved = {
            name: (value if value.is_absolute() else home / value).resolve()
            for name, value in self.paths.model_dump(exclude={"home"}).items()
        }
        object.__setattr__(self, "paths", PathsConfig(home=home, **resolved))
        return self

    # --- derived locations: computed here so that no other module builds them -----------------
    @property
    def mlflow_tracking_uri(self) -> str:
        """``mlflow.tracking_uri`` (a tracking server or database), else the SQLite file under paths."""
        return self.mlflow.tracking_uri or f"sqlite:///{self.paths.mlflow_db}"

    @property
    def mlflow_is_local(self) -> bool:
        """True for the project's own SQLite store, whose artifacts live under ``paths.mlflow_artifacts``."""
        return self.mlflow.tracking_uri is None

    @property
    def mlflow_artifact_root(self) -> str:
        return self.paths.mlflow_artifacts.as_uri()

    def config_hash(self) -> str:
        """A short, stable hash of the effective settings (paths excluded), for run tags."""
        body = self.model_dump(mode="json", exclude={"paths", "config_file"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def read_yaml(path: Path, what: str) -> Any:
    """Safely load a YAML file (no Python objects); errors name ``what`` and the file."""
    try:
        with open(path, encoding="utf-8") as f:  # a stream: YAML's error marks name the file
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path} is not valid YAML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, no permission, not UTF-8
        raise ConfigError(f"{what} {path} cannot be read: {err}; expected a UTF-8 YAML file") from None


def load_section(path: str | Path, what: str, section: str, model: type[BaseModel], sole: bool = False):
    """``model`` built from the ``section`` mapping of a YAML file (``what`` names the file in errors);
    errors name the file and the key.  With ``sole`` any other top-level key is an error too."""
    path = Path(path)
    body = read_yaml(path, what)
    if not isinstance(body, dict) or section not in body:
        raise ConfigError(f"{what} {path}: expected a mapping with a {section!r} section")
    unknown = sorted(set(body) - {section})
    if sole and unknown:
        raise ConfigError(f"{what} {path}: unknown key(s) {unknown}; known keys: {section}")
    values = body[section] or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{what} {path}: section {section!r} must be a mapping, got {values!r}")
    try:
        return model(**values)
    except ValidationError as err:
        raise ConfigError(f"{what} {path}:{validation_problems(err, section + '.')}") from None


def validation_problems(err: ValidationError, prefix: str = "") -> str:
    """pydantic's errors as one indented line per key: ``prefix.key: message (got value)``."""
    lines = []
    for e in err.errors():
        got = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
        lines.append(f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}{got}")
    return "\n  " + "\n  ".join(lines)


def _deep_merge(base: dict, override: dict, where: str) -> dict:
    out = dict(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(base))}")
        if isinstance(value, dict) and isinstance(base[key], dict) and key != "kinds":
            out[key] = _deep_merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def env_overrides(environ: dict[str, str], prefix: str = ENV_PREFIX) -> dict:
    """The ``PREFIX…A__B=value`` variables of ``environ`` as a nested mapping ``{a: {b: value}}``
    (values parsed as YAML; empty = null)."""
    tree: dict = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(prefix):
            continue
        keys = [k.lower() for k in name[len(prefix):].split("__")]
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        try:
            node[keys[-1]] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"environment variable {name}: {raw!r} is not a value") from None
    return tree


def load_settings(
    profile: str | None = None,
    config_file: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Load the settings for ``profile`` (default: ``TRACKFLOW_PROFILE`` or ``demo``).

    ``config_file`` defaults to ``TRACKFLOW_CONFIG`` or the project's ``conf/trackflow.yaml``.
    """
    environ = dict(os.environ if environ is None else environ)
    path = Path(config_file or environ.get("TRACKFLOW_CONFIG") or DEFAULT_CONFIG)
    profile = profile or environ.get("TRACKFLOW_PROFILE") or DEFAULT_PROFILE
    raw = read_yaml(path, "config file")
    if not isinstance(raw, dict) or not isinstance(raw.get("defaults"), dict):
        raise ConfigError(f"config file {path}: expected a mapping with a 'defaults' section")
    unknown_sections = set(raw) - {"defaults", "profiles"}
    if unknown_sections:
        raise ConfigError(f"config file {path}: unknown top-level key {sorted(unknown_sections)[0]!r}; "
                          "expected 'defaults' and 'profiles'")
    profiles = raw.get("profiles") or {}
    if profile not in profiles:
        raise ConfigError(f"profile {profile!r} is not in {path}; known profiles: {', '.join(sorted(profiles))}")
    merged = _deep_merge(raw["defaults"], profiles[profile] or {}, f"{path} profile {profile!r}")
    merged = _deep_merge(merged, env_overrides(environ), f"environment ({ENV_PREFIX}…)")
    try:
        return Settings(profile=profile, config_file=path.resolve(), **merged)
    except ValidationError as err:
        raise ConfigError(f"config file {path}, profile {profile!r}:{validation_problems(err)}") from None
