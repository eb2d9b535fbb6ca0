"""The features stage's configuration (conf/features.yaml): read by the Spark job (features.build)
and by the trainers and evaluations, which must not need Spark to import it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.config import PROJECT_ROOT, ConfigError, read_yaml, validation_problems

DEFAULT_FEATURES_CONFIG = PROJECT_ROOT / "conf" / "features.yaml"


class FeaturesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_frames: int = Field(ge=1)
    released_results: list[str]
    eligible_receivers: list[str]
    defensive_backs: list[str]
    target_radius: float = Field(gt=0)
    pressure_radius: float = Field(gt=0)
    deep_depth: float = Field(gt=0)
    observed_frames: int = Field(ge=1)
    future_frames: int = Field(ge=1)


def load_features_config(path: str | Path = DEFAULT_FEATURES_CONFIG) -> FeaturesConfig:
    path = Path(path)
    raw = read_yaml(path, "features config")
    try:
        return FeaturesConfig(**(raw or {}))
    except ValidationError as err:
        raise ConfigError(f"features config {path}:{validation_problems(err)}") from None
