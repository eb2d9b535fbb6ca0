"""Training the passing model: data from the passing feature table, a split by game, and one fit
loop shared by the SBP network and its Gaussian twin (same encoder, another head).

    data = load_passing_data(settings, season, weeks, config=cfg)  # tensor, lengths, static features, yards
    split = split_by_game(data.game_id, cfg.split, cfg.seed)
    net, history = fit(PassingNet(...), sbp_loss(cfg.sbp), data, split, cfg, device, checkpoint_dir)

**Static features** are the XGBoost selection's list (``lake/features/selection/passing.json``),
plus the landing point and flight time when the encoder takes landing inputs (``model_features``),
standardized with the training split's mean and standard deviation; a missing value becomes 0 (the
training mean) — the tree baseline sees the same columns, raw, with their NaNs.

**The fit loop**: AdamW, gradient clipping, the learning rate cut by ``lr_decay`` when the validation
loss stalls, early stopping on the validation NLL (the best epoch's weights are kept), a checkpoint
after every epoch (model, optimizer, scheduler, epoch, best, RNG state) from which an interrupted fit resumes and ends with the same weights as an uninterrupted one. On CUDA
the forward pass runs under bf16 autocast; the loss (the distribution's math) runs in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from features.selection import read_selection, selection_path
from features.sequences import load_passing
from pipelines import lake
from pipelines.config import PROJECT_ROOT, Settings, load_section
from pipelines.field import FIELD_WIDTH
from pipelines.schema import N_OFFENSE, N_PLAYERS, SEQ_FEATURES
from training.sbp import SplicedBinnedPareto, num_raw_params, sbp_from_raw
from training.tcn import LANDING_COLUMNS, PassingNet

DEFAULT_TRAINING_CONFIG = PROJECT_ROOT / "conf" / "training.yaml"
TARGET = "yards_gained"


# --- configuration ------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SBPConfig(_Strict):
    lower: int
    upper: int
    tail_alpha: float = Field(gt=0, lt=0.5)
    xi_range: tuple[float, float]
    # the lower tail's own ξ range (sbp_from_raw); None: xi_range, as in the configurations saved with
    # models before it existed
    lower_xi_range: tuple[float, float] | None = None

    @property
    def bins(self) -> int:
        return self.upper - self.lower + 1  # one bin per integer yardage


class NetworkConfig(_Strict):
    channels: int = Field(ge=1)
    kernel_size: int = Field(ge=2)
    hidden: list[int]
    dropout: float = Field(ge=0, lt=1)
    # per-player inputs relative to the pass's landing point (training.tcn.landing_inputs); False in
    # the configurations saved with models before it existed
    landing_inputs: bool = False
    # the width of the shared per-player encoder before the TCN (training.tcn.PlayerSetEncoder); 0: none,
    # as in the configurations saved with models before it existed
    player_set: int = Field(default=0, ge=0)


class OptimizerConfig(_Strict):
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    grad_clip: float = Field(gt=0)
    lr_decay: float = Field(gt=0, le=1)
    lr_decay_patience: int = Field(ge=1)


class SplitConfig(_Strict):
    validation: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)


class XGBoostBaselineConfig(_Strict):
    n_estimators: int = Field(ge=1)
    max_depth: int = Field(ge=1)
    learning_rate: float = Field(gt=0, le=1)
    subsample: float = Field(gt=0, le=1)
    early_stopping_rounds: int = Field(ge=1)


class PassingTrainingConfig(_Strict):
    sbp: SBPConfig
    network: NetworkConfig
    optimizer: OptimizerConfig
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    patience: int = Field(ge=1)
    split: SplitConfig
    seed: int
    device: str
    xgboost: XGBoostBaselineConfig
    augment_mirror: bool = False  # append the training split's mirror images (mirror_plays) before fitting


def load_training_config(path: str | Path = DEFAULT_TRAINING_CONFIG) -> PassingTrainingConfig:
    """The ``passing`` section of ``conf/training.yaml``; errors name the file and the key."""
    return load_section(path, "training config", "passing", PassingTrainingConfig)


# --- data ---------------------------------------------------------------------------------------

@dataclass
class PassingData:
    seq: np.ndarray  # [n, T, 22, 8] float32
    lengths: np.ndarray  # [n] int64
    static_raw: np.ndarray  # [n, F] float64 with NaN: the selected features as stored
    y: np.ndarray  # [n] float32 yards gained
    game_id: np.ndarray  # [n]
    context: pd.DataFrame  # every other column (keys, pass_result, …), row-aligned
    features: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> PassingData:
        """The plays where the boolean mask ``rows`` is set."""
        return PassingData(seq=self.seq[rows], lengths=self.lengths[rows], static_raw=self.static_raw[rows],
                           y=self.y[rows], game_id=self.game_id[rows],
                           context=self.context.loc[rows].reset_index(drop=True), features=list(self.features))


def load_passing_data(settings: Settings, season: lake.Seasons, weeks: list[int], features: list[str] | None = None,
                      config: PassingTrainingConfig | None = None) -> PassingData:
    """The passing feature table of ``weeks`` (of one season or of each of several) with ``features``,
    by default the static features the networks of ``config`` (default: conf/training.yaml) read: the
    selected ones and, with landing inputs, the landing point (``model_features``)."""
    table = lake.read_weeks(settings.paths.lake / "features" / "passing", season, weeks)
    seq, lengths, context = load_passing(table)
    features = features or model_features(read_selection(selection_path(settings, "passing")),
                                          config or load_training_config())
    missing = [c for c in [*features, TARGET] if c not in context.columns]
    if missing:
        raise ValueError(f"passing feature table (season {lake.seasons_label(season)}, weeks {weeks}): no column(s) {missing}; "
                         "rebuild the features or rerun the selection")
    y = context[TARGET].to_numpy(dtype=np.float64)
    if np.isnan(y).any():
        bad = context.loc[np.isnan(y), ["game_id", "play_id"]].head(3).to_dict("records")
        raise ValueError(f"passing feature table: column {TARGET!r} is null for {int(np.isnan(y).sum())} plays, "
                         f"e.g. {bad}")
    return PassingData(seq=seq, lengths=lengths, static_raw=context[features].to_numpy(dtype=np.float64),
                       y=y.astype(np.float32), game_id=context["game_id"].to_numpy(), context=context,
                       features=list(features))


def model_features(selected: list[str], cfg: PassingTrainingConfig) -> list[str]:
    """The static features the networks (and the XGBoost baseline, on the same inputs) read: the
    selection's list, then those of ``LANDING_COLUMNS`` it lacks when the encoder takes landing inputs."""
    if not cfg.network.landing_inputs:
        return list(selected)
    return [*selected, *[c for c in LANDING_COLUMNS if c not in selected]]


def passing_net(features: list[str], scale: Standardizer, cfg: PassingTrainingConfig, n_out: int, max_frames: int
                ) -> PassingNet:
    """A fresh network for ``features`` (standardized by ``scale``) as ``cfg.network`` describes it."""
    if len(scale.mean) != len(features) or len(scale.std) != len(features):
        raise ValueError(f"passing network: a standardizer of {len(scale.mean)} features for {len(features)} features")
    landing = None
    if cfg.network.landing_inputs:
        missing = [c for c in LANDING_COLUMNS if c not in features]
        if missing:
            raise ValueError(f"passing network: landing_inputs needs the static feature(s) {missing} "
                             "(training.passing.model_features adds them)")
        index = [features.index(c) for c in LANDING_COLUMNS]
        landing = (index, np.asarray(scale.mean)[index], np.asarray(scale.std)[index])
    return PassingNet(n_static=len(features), n_out=n_out, max_len=max_frames, landing=landing,
                      **cfg.network.model_dump(exclude={"landing_inputs"}))


def sample_games(game_id: np.ndarray, max_games: int | None, seed: int) -> np.ndarray:
    """Boolean mask of the rows of ``max_games`` games drawn by ``seed`` (every row when None or when
    there are no more games than that): the retraining DAG's sample limit."""
    games = np.unique(game_id)
    if max_games is None or len(games) <= max_games:
        return np.ones(len(game_id), dtype=bool)
    if max_games < 3:
        raise ValueError(f"max_games {max_games}: the split by game needs at least 3 games")
    kept = np.random.default_rng(seed).choice(games, size=max_games, replace=False)
    return np.isin(game_id, kept)


def split_by_game(game_id: np.ndarray, split: SplitConfig, seed: int) -> dict[str, np.ndarray]:
    """Boolean masks ``train``/``validation``/``test``: whole games, drawn by ``seed``; each split
    gets at least one game (so at least three games are needed)."""
    games = np.unique(game_id)
    if len(games) < 3:
        raise ValueError(f"split by game needs at least 3 games, got {len(games)}: ingest more weeks")
    order = np.random.default_rng(seed).permutation(games)
    n_test = max(1, round(len(games) * split.test))
    n_val = max(1, round(len(games) * split.validation))
    if n_test + n_val >= len(games):
        n_test, n_val = 1, 1
    test, val = set(order[:n_test]), set(order[n_test:n_test + n_val])
    in_test, in_val = np.isin(game_id, list(test)), np.isin(game_id, list(val))
    return {"train": ~in_test & ~in_val, "validation": in_val, "test": in_test}


@dataclass(frozen=True)
class Standardizer:
    """Feature-wise (x − mean) / std fitted on the training rows; NaN → 0 after scaling."""
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        with np.errstate(invalid="ignore"):
            mean = np.nan_to_num(np.nanmean(x, axis=0))
            std = np.nan_to_num(np.nanstd(x, axis=0))
        return cls(mean=mean, std=np.where(std > 1e-9, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - self.mean) / self.std).astype(np.float32)


# --- mirror augmentation ------------------------------------------------------------------------

# The mirror across the field's long axis: y → FIELD_WIDTH − y, x unchanged.  Plays are already
# turned to move left→right (features.build), and football is symmetric across that axis, so a
# mirrored play is another valid play with the same yards gained.
#
# The sequence tensor's channels (pipelines.schema.SEQ_FEATURES), per valid player-frame:
#   x, vx, ax   unchanged
#   y           FIELD_WIDTH − y
#   vy, ay      negated
#   dir, o      (180° − θ) mod 360: NGS angles run clockwise from +y, (vx, vy) = s·(sin θ, cos θ);
#               sin(180° − θ) = sin θ and cos(180° − θ) = −cos θ, so vx is kept and vy negated
# Padding frames (t ≥ seq_len) and absent player-frames (all-zero rows) stay zero.
_CHANNEL_MIRROR = {"x": "keep", "y": "reflect", "vx": "keep", "vy": "negate", "ax": "keep", "ay": "negate",
                   "dir": "angle", "o": "angle"}

# Every candidate static feature (features.build.play_features and the play context): "keep" is
# invariant under the mirror, "reflect" maps v → FIELD_WIDTH − v, "negate" maps v → −v.  A feature
# not listed here makes mirror_plays refuse: a new feature must be classified, never guessed.
STATIC_MIRROR: dict[str, str] = {
    # situation: no lateral component
    **dict.fromkeys(["down", "yards_to_go", "quarter", "game_clock_s", "half_clock_s", "score_diff",
                     "pass_rushers", "defenders_in_box", "goal_distance", "los_x"], "keep"),
    # along the field (x, depths past the line), times, speeds, distances, counts: invariant
    **dict.fromkeys(["qb_depth_snap", "qb_drop_depth", "qb_depth_release", "target_depth", "pass_depth",
                     "landing_x", "target_vx", "time_to_throw", "flight_time", "qb_max_speed",
                     "qb_speed_release", "target_speed", "offense_speed_mean", "defense_speed_mean",
                     "qb_pressure", "target_separation", "target_qb_distance", "air_distance",
                     "receivers_separation_mean", "receivers_separation_min", "receivers_separation_max",
                     "defense_ball_distance_mean", "box_count_snap", "deep_defenders_snap", "defenders_near_qb",
                     "defenders_near_target", "receivers_beyond_sticks", "receivers_deep"], "keep"),
    # closing speeds: dot products of relative velocity and offset, both mirrored → invariant
    **dict.fromkeys(["qb_pressure_closing", "target_separation_closing"], "keep"),
    # formation_width = max y − min y of the eligible receivers: the span is kept
    "formation_width": "keep",
    # min(y, FIELD_WIDTH − y): the two sidelines swap, the minimum is kept
    "target_sideline_distance": "keep",
    # the ball's y where the pass arrives: a y-coordinate
    "landing_y": "reflect",
}
_STATIC_KINDS = ("keep", "reflect", "negate")


def _static_mirror_kinds(features: list[str]) -> list[str]:
    unknown = [f for f in features if f not in STATIC_MIRROR]
    if unknown:
        raise ValueError(f"mirror augmentation: no mirror rule for static feature(s) {unknown}; classify them "
                         "in training.passing.STATIC_MIRROR (keep / reflect / negate)")
    kinds = [STATIC_MIRROR[f] for f in features]
    assert all(k in _STATIC_KINDS for k in kinds)
    return kinds


def mirrorable(data: PassingData) -> np.ndarray:
    """Boolean mask of the plays whose slot order ``mirror_plays`` can rebuild: the snap is frame 0 of
    the tensor (the play was not cut to ``max_frames``), all 22 slots are filled at it, and the slots
    follow features.build's rule as this code reads it (one QB in slot 0, offense slots 1–10 and
    defense 11–21 each ascending in (y, x) at the snap)."""
    if data.context is None or not {"snap_frame", "release_frame"} <= set(data.context.columns):
        raise ValueError("mirror augmentation: the play context needs snap_frame and release_frame "
                         "to find the snap in the tensor")
    snap_in = (data.context["release_frame"] - data.context["snap_frame"] + 1).to_numpy() == data.lengths
    at_snap = data.seq[:, 0]
    filled = (at_snap != 0).any(-1).all(-1)
    x, y = at_snap[..., SEQ_FEATURES.index("x")], at_snap[..., SEQ_FEATURES.index("y")]
    ordered = np.ones(len(data), dtype=bool)
    for lo, hi in _SORTED_GROUPS:
        gx, gy = x[:, lo:hi], y[:, lo:hi]
        step_y, step_x = np.diff(gy, axis=1), np.diff(gx, axis=1)
        ordered &= ((step_y > 0) | ((step_y == 0) & (step_x >= 0))).all(1)
    return snap_in & filled & ordered


# slot groups that features.build orders by (y, x) at the snap; slot 0 (the QB) stays first
_SORTED_GROUPS = ((1, N_OFFENSE), (N_OFFENSE, N_PLAYERS))


def mirror_plays(data: PassingData) -> PassingData:
    """The mirror images of ``data``'s plays (same yards, same keys): tensor channels, slot order and
    static features as the tables above say.  Refuses (ValueError) a static feature without a mirror
    rule and a play whose slot order it cannot rebuild (see ``mirrorable``)."""
    kinds = _static_mirror_kinds(data.features)
    ok = mirrorable(data)
    if not ok.all():
        bad = data.context.loc[~ok, ["game_id", "play_id"]].head(3).to_dict("records")
        raise ValueError(f"mirror augmentation: {int((~ok).sum())} play(s) without a rebuildable slot order "
                         f"(snap cut off, an empty slot or slots out of order), e.g. {bad}; mirror "
                         "data.take(mirrorable(data)) instead")
    seq = data.seq.astype(np.float64)
    T = seq.shape[1]
    present = (np.arange(T)[None, :, None] < data.lengths[:, None, None]) & (data.seq != 0).any(-1)
    out = seq.copy()
    for c, name in enumerate(SEQ_FEATURES):
        rule = _CHANNEL_MIRROR[name]
        if rule == "reflect":
            out[..., c] = FIELD_WIDTH - seq[..., c]
        elif rule == "negate":
            out[..., c] = -seq[..., c]
        elif rule == "angle":
            out[..., c] = np.mod(180.0 - seq[..., c], 360.0)
    out = np.where(present[..., None], out, 0.0).astype(np.float32)
    out[..., [SEQ_FEATURES.index("dir"), SEQ_FEATURES.index("o")]] %= np.float32(360.0)  # 360.0 after rounding → 0
    # the slot order: the ordering rule applied to the mirrored snap frame (y reversed, x breaks ties)
    perm = np.broadcast_to(np.arange(out.shape[2]), (len(data), out.shape[2])).copy()
    xi, yi = SEQ_FEATURES.index("x"), SEQ_FEATURES.index("y")
    for lo, hi in _SORTED_GROUPS:
        perm[:, lo:hi] = lo + np.lexsort((out[:, 0, lo:hi, xi], out[:, 0, lo:hi, yi]), axis=-1)
    out = np.take_along_axis(out, perm[:, None, :, None], axis=2)

    static = data.static_raw.copy()
    for j, kind in enumerate(kinds):
        if kind == "reflect":
            static[:, j] = FIELD_WIDTH - static[:, j]
        elif kind == "negate":
            static[:, j] = -static[:, j]
    context = data.context.reset_index(drop=True).copy()
    for j, f in enumerate(data.features):
        if f in context.columns:
            context[f] = static[:, j]
    return PassingData(seq=out, lengths=data.lengths.copy(), static_raw=static, y=data.y.copy(),
                       game_id=data.game_id.copy(), context=context, features=list(data.features))


def concat_plays(a: PassingData, b: PassingData) -> PassingData:
    """The plays of ``a`` then those of ``b`` (same features)."""
    if a.features != b.features:
        raise ValueError("concat_plays: the two sets have different features")
    return PassingData(seq=np.concatenate([a.seq, b.seq]), lengths=np.concatenate([a.lengths, b.lengths]),
                       static_raw=np.concatenate([a.static_raw, b.static_raw]), y=np.concatenate([a.y, b.y]),
                       game_id=np.concatenate([a.game_id, b.game_id]),
                       context=pd.concat([a.context, b.context], ignore_index=True), features=list(a.features))


def training_tensors(data: PassingData, cfg: PassingTrainingConfig
                     ) -> tuple[dict[str, np.ndarray], Standardizer, dict[str, Tensors], int]:
    """What the networks train and are scored on: the split by game (boolean masks over ``data``),
    the standardizer of the static features, the tensors of each split and the number of mirror
    images added to the training split (``cfg.augment_mirror``)."""
    split = split_by_game(data.game_id, cfg.split, cfg.seed)
    train_rows, mirrored = split["train"], 0
    if cfg.augment_mirror:
        # the training split only (validation and test stay the observed plays), appended after the
        # originals; the networks train on both, the XGBoost baseline on the originals only (so the
        # baseline stays the baseline of issue 5's bar)
        train = data.take(split["train"])
        extra = mirror_plays(train.take(mirrorable(train)))
        mirrored = len(extra)
        fit_data = concat_plays(train, extra)
        train_rows = np.ones(len(fit_data), dtype=bool)
    else:
        fit_data = data
    # the standardizer is fitted on the rows the networks train on (with the mirror: originals and
    # mirror images): only landing_y differs, and its mean is then exactly the field's centre line,
    # so a mirror image's standardized landing_y is the original's negated
    scale = Standardizer.fit(fit_data.static_raw[train_rows])
    tensors = {name: Tensors.of(data, rows, scale) for name, rows in split.items() if name != "train"}
    tensors["train"] = Tensors.of(fit_data, train_rows, scale)
    return split, scale, tensors, mirrored


# --- losses -------------------------------------------------------------------------------------

def sbp_distribution(raw: Tensor, cfg: SBPConfig, validate_args: bool | None = None) -> SplicedBinnedPareto:
    return sbp_from_raw(raw.float(), cfg.lower, cfg.upper, cfg.tail_alpha, xi_range=tuple(cfg.xi_range),
                        validate_args=validate_args, lower_xi_range=cfg.lower_xi_range)


def sbp_outputs(cfg: SBPConfig) -> int:
    return num_raw_params(cfg.bins)


def sbp_loss(cfg: SBPConfig) -> Callable[[Tensor, Tensor], Tensor]:
    # validate_args=False: the parameters are valid by construction (sbp_from_raw) and the yards are
    # finite; the checks would read a flag back from the GPU at every step and stall it
    # training_log_prob: a play beyond a bounded tail's predicted end adds a finite loss whose
    # gradient pulls the end out to it (log_prob would add inf and no gradient, and a validation
    # NLL of inf would leave early stopping blind)
    def loss(raw: Tensor, y: Tensor) -> Tensor:
        return -sbp_distribution(raw, cfg, validate_args=False).training_log_prob(y.float()).mean()
    return loss


def gaussian_distribution(raw: Tensor, validate_args: bool | None = None) -> torch.distributions.Normal:
    raw = raw.float()
    return torch.distributions.Normal(raw[..., 0], nn.functional.softplus(raw[..., 1]) + 1e-3,
                                      validate_args=validate_args)


def gaussian_loss(raw: Tensor, y: Tensor) -> Tensor:
    return -gaussian_distribution(raw, validate_args=False).log_prob(y.float()).mean()


# --- the fit loop -------------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error naming the setting."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training device {name!r}: CUDA is not available on this machine (use auto or cpu)")
    return device


@dataclass
class Tensors:
    seq: Tensor
    lengths: Tensor
    static: Tensor
    y: Tensor

    @classmethod
    def of(cls, data: PassingData, rows: np.ndarray, scale: Standardizer) -> Tensors:
        # sequences only as long as the longest in the split: a TCN is padding-invariant
        longest = int(data.lengths[rows].max()) if rows.any() else 1
        return cls(torch.from_numpy(np.ascontiguousarray(data.seq[rows][:, :longest])),
                   torch.from_numpy(data.lengths[rows]), torch.from_numpy(scale(data.static_raw[rows])),
                   torch.from_numpy(data.y[rows]))

    def __len__(self) -> int:
        return len(self.y)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.seq, self.lengths, self.static, self.y))

    def to(self, device: torch.device) -> Tensors:
        return Tensors(self.seq.to(device), self.lengths.to(device), self.static.to(device), self.y.to(device))

    def batches(self, size: int, order: Tensor | None = None):
        index = (order if order is not None else torch.arange(len(self))).to(self.seq.device)
        for start in range(0, len(self), size):
            i = index[start:start + size]
            yield self.seq[i], self.lengths[i], self.static[i], self.y[i]


def by_length(lengths: Tensor, size: int) -> tuple[Tensor, list[tuple[Tensor, int]]]:
    """Batches of at most ``size`` rows for inference, the rows sorted by sequence length (stable):
    ``(order, [(rows, longest), …])``.  A causal TCN read at each play's last step ignores the
    padding, so each batch is cut to its own longest sequence: with plays of every length in a
    batch, about 40 % of the convolutions would run over padding (demo weeks 1–8: mean 27.7 frames,
    longest 48)."""
    lengths = lengths.cpu()
    order = torch.argsort(lengths, stable=True)
    return order, [(order[start:start + size], int(lengths[order[start:start + size]].max()))
                   for start in range(0, len(order), size)]


# plays per forward pass at inference: on the 2-core dev machine 256 ran ~1.5–1.9x faster per play than
# 1,024 (a batch's activations then stay nearer the CPU's caches; docs/benchmarks.md)
INFERENCE_BATCH = 256


def predict(net: nn.Module, data: Tensors, device: torch.device, batch_size: int = INFERENCE_BATCH) -> Tensor:
    """The network's raw outputs for every row (float32, on the CPU), in the rows' order."""
    net.eval()
    order, batches = by_length(data.lengths, batch_size)
    out = []
    with torch.no_grad(), _autocast(device):
        for rows, longest in batches:
            rows = rows.to(data.seq.device)
            out.append(net(data.seq[rows, :longest].to(device), data.lengths[rows].to(device),
                           data.static[rows].to(device)).float())
    return unsort(torch.cat(out).cpu(), order)


def unsort(sorted_rows: Tensor, order: Tensor) -> Tensor:
    """Rows computed in ``order`` put back in their original places."""
    out = torch.empty_like(sorted_rows)
    out[order] = sorted_rows
    return out


# the most of the GPU's free memory that training data may take to stay on the device (0: never)
DEVICE_DATA_SHARE = 0.5


def on_device(data: Tensors, device: torch.device) -> Tensors:
    """``data`` moved to a CUDA ``device`` once, when it takes at most ``DEVICE_DATA_SHARE`` of the free
    device memory (else left on the CPU and copied per batch).  A step of this small network takes a few
    milliseconds on a GPU, so a host-to-device copy and its synchronisation per batch are a large
    part of it (bench/passing_gpu.py measures both)."""
    if device.type != "cuda":
        return data
    free, _ = torch.cuda.mem_get_info(device)
    return data.to(device) if data.nbytes() <= DEVICE_DATA_SHARE * free else data


def _autocast(device: torch.device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def fit(net: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], train: Tensors, validation: Tensors,
        cfg: PassingTrainingConfig, device: torch.device, checkpoint: Path | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None, progress: bool = False,
        ) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train ``net`` with early stopping on the validation loss; returns the best epoch's weights and
    the per-epoch history.  With ``checkpoint`` (a file), resumes from it when it exists."""
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    net.to(device)
    # fused on CUDA: one kernel for the whole update instead of several per parameter tensor
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optimizer.lr, weight_decay=cfg.optimizer.weight_decay,
                            fused=device.type == "cuda")
    # a smaller step once the validation loss stalls: the last epochs before early stopping refine
    sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.optimizer.lr_decay,
                                                        patience=cfg.optimizer.lr_decay_patience)
             if cfg.optimizer.lr_decay < 1 else None)
    state = {"epoch": 0, "best": math.inf, "best_epoch": 0, "history": [],
             "best_weights": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
    gen = torch.Generator().manual_seed(cfg.seed)
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        net.load_state_dict(saved["weights"])
        opt.load_state_dict(saved["optimizer"])
        if sched is not None:
            sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
    epochs = range(state["epoch"], cfg.max_epochs)
    train, validation = on_device(train, device), on_device(validation, device)
    bar = tqdm(epochs, desc=type(net).__name__, disable=not progress, leave=False)
    for epoch in bar:
        if epoch - state["best_epoch"] >= cfg.patience and state["history"]:
            break
        net.train()
        # the epoch's loss is summed on the device: reading it back every step would wait for the GPU
        total, n = torch.zeros((), device=device), 0
        for seq, lengths, static, y in train.batches(cfg.batch_size, torch.randperm(len(train), generator=gen)):
            seq, lengths, static, y = seq.to(device), lengths.to(device), static.to(device), y.to(device)
            with _autocast(device):
                raw = net(seq, lengths, static)
            loss = loss_fn(raw, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg.optimizer.grad_clip)
            opt.step()
            total, n = total + loss.detach().float() * len(y), n + len(y)
        val_loss = float(loss_fn(predict(net, validation, device), validation.y.cpu()))
        row = {"epoch": epoch + 1, "train_nll": float(total) / max(n, 1), "validation_nll": val_loss,
               "lr": opt.param_groups[0]["lr"]}
        state["history"].append(row)
        if val_loss < state["best"]:
            state.update(best=val_loss, best_epoch=epoch + 1,
                         best_weights={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
        state["epoch"] = epoch + 1
        if sched is not None:
            sched.step(val_loss)
        bar.set_postfix(train=f"{row['train_nll']:.3f}", val=f"{val_loss:.3f}")
        if on_epoch:
            on_epoch(epoch + 1, row)
        if checkpoint is not None:
            _save(checkpoint, {"weights": net.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict() if sched else None, "state": state,
                               "generator": gen.get_state(), "torch_rng": torch.get_rng_state()})
    net.load_state_dict(state["best_weights"])
    return net, state["history"]


def _save(path: Path, body: dict) -> None:
    """Write a checkpoint through a temporary sibling: a crash leaves the previous one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(body, tmp)
    tmp.replace(path)
