"""A trained ghosting network bundled with what using it needs: the two standardizers (observed
sequence channels, context features), the feature list, the configuration and the shapes.

    model = GhostingModel.load(path)              # a file written by GhostingModel.save
    xy = model.predict(frame)                     # [n, H, 2] positions (left→right, yards)

``frame`` holds ghosting-table columns (the observed ``x_m2 … dir_0`` and ``model.features``, NaN
allowed in the features: they become the training mean).  One file, so the trainer, ``trackflow
ghost`` and the benchmarks load the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from training.ghosting import (SEQ_CHANNELS, GhostingNet, GhostingTensors, GhostingTrainingConfig,
                               constant_velocity, limit_acceleration, load_ghosting_config, sequence_inputs, steps)
from training.passing import Standardizer

# 2: the config holds network.max_acceleration (predictions are limited to it). A format-1 file has the
# same weights' meaning and is read with the bound of the current conf/training.yaml.
FORMAT_VERSION = 2


@dataclass
class GhostingModel:
    net: GhostingNet
    seq_scale: Standardizer
    static_scale: Standardizer
    features: list[str]
    config: GhostingTrainingConfig
    observed_frames: int
    horizon: int

    @classmethod
    def build(cls, features: list[str], seq_scale: Standardizer, static_scale: Standardizer,
              config: GhostingTrainingConfig, observed_frames: int, horizon: int) -> GhostingModel:
        net = GhostingNet(n_seq=len(SEQ_CHANNELS), n_static=len(features), horizon=horizon,
                          **config.network.model_dump(exclude={"max_acceleration"}))
        return cls(net, seq_scale, static_scale, list(features), config, observed_frames, horizon)

    @classmethod
    def fitted(cls, frame: pd.DataFrame, features: list[str], config: GhostingTrainingConfig,
               observed_frames: int, horizon: int) -> GhostingModel:
        """A fresh network whose standardizers are fitted on ``frame`` (the training rows)."""
        seq = sequence_inputs(frame, observed_frames)
        return cls.build(features, Standardizer.fit(seq.reshape(-1, seq.shape[-1])),
                         Standardizer.fit(frame[features].to_numpy(dtype=np.float64)), config,
                         observed_frames, horizon)

    def tensors(self, frame: pd.DataFrame, future: np.ndarray | None = None) -> GhostingTensors:
        """Inputs of ``frame``; with ``future`` [n, H, 2], the residual targets (future − constant velocity)."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(f"ghosting model input: no column(s) {missing}")
        seq = sequence_inputs(frame, self.observed_frames)
        seq = self.seq_scale(seq.reshape(-1, seq.shape[-1])).reshape(seq.shape)
        static = self.static_scale(frame[self.features].to_numpy(dtype=np.float64))
        y = None if future is None else np.asarray(future, dtype=np.float64) - constant_velocity(frame, self.horizon)
        return GhostingTensors(seq, static, y, self.horizon)

    def predict(self, frame: pd.DataFrame, device: torch.device | str = "cpu", batch_size: int = 2048) -> np.ndarray:
        """``[n, H, 2]`` predicted positions (float64): constant velocity + the network's residual,
        limited to ``config.network.max_acceleration`` (``training.ghosting.limit_acceleration``)."""
        data = self.tensors(frame)
        device = torch.device(device)
        self.net.to(device).eval()
        out = []
        with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                                    enabled=device.type == "cuda"):
            for seq, lengths, static, _ in data.batches(batch_size):
                out.append(self.net(seq.to(device), lengths.to(device), static.to(device)).float().cpu())
        raw = torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, 2 * self.horizon))
        residual = limit_acceleration(raw.reshape(len(frame), self.horizon, 2), self.config.network.max_acceleration)
        return constant_velocity(frame, self.horizon) + residual

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT_VERSION, "kind": "ghosting", "features": self.features,
                "seq_mean": self.seq_scale.mean, "seq_std": self.seq_scale.std,
                "mean": self.static_scale.mean, "std": self.static_scale.std,
                "config": self.config.model_dump(), "observed_frames": self.observed_frames,
                "horizon": self.horizon, "weights": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(body, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GhostingModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ghosting model {path}: no such file")
        try:
            body = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # a truncated or foreign file
            raise ValueError(f"ghosting model {path}: not a readable model file ({type(err).__name__}: {err})") from None
        if not isinstance(body, dict) or body.get("kind") != "ghosting" or body.get("format") not in (1, FORMAT_VERSION):
            raise ValueError(f"ghosting model {path}: expected a trackflow ghosting model (format {FORMAT_VERSION})")
        config = body["config"]
        if body["format"] == 1:  # before the acceleration bound: the current configuration's
            config = {**config, "network": {**config["network"],
                                            "max_acceleration": load_ghosting_config().network.max_acceleration}}
        model = cls.build(body["features"], Standardizer(np.asarray(body["seq_mean"]), np.asarray(body["seq_std"])),
                          Standardizer(np.asarray(body["mean"]), np.asarray(body["std"])),
                          GhostingTrainingConfig(**config), int(body["observed_frames"]), int(body["horizon"]))
        model.net.load_state_dict(body["weights"])
        model.net.eval()
        return model


__all__ = ["GhostingModel", "steps"]
