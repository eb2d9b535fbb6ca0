"""A trained passing network bundled with what using it needs: the standardizer, the feature list,
the configuration and the head (``sbp`` or ``gaussian``).

    model = PassingModel.load(path)                       # a file written by PassingModel.save
    dist = model.distribution(seq, lengths, static_raw)   # SplicedBinnedPareto (or Normal), batch [n]

``static_raw`` holds the selected features *as stored* in the passing table (``model.features``, in
that order, NaN allowed): the bundle standardizes them as in training.  One file per network, so
the scorer, the pyfunc wrapper and the benchmarks load the same thing the trainer wrote.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils import parametrize

from training.passing import (INFERENCE_BATCH, PassingTrainingConfig, Standardizer, by_length, gaussian_distribution,
                              passing_net, sbp_distribution, sbp_outputs, unsort)
from training.tcn import PassingNet

HEADS = ("sbp", "gaussian")
FORMAT_VERSION = 1
# calls of at most this many plays run on one CPU thread: a play's convolutions are too small to
# split, and waking the other threads made the latency jitter (bench/passing_inference.py)
SMALL_CALL = 16


@contextlib.contextmanager
def _one_thread_if(small: bool):
    before = torch.get_num_threads()
    if small and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@dataclass
class PassingModel:
    head: str
    net: PassingNet
    scale: Standardizer
    features: list[str]
    config: PassingTrainingConfig
    max_frames: int
    _frozen: tuple | None = field(default=None, init=False, repr=False, compare=False)  # see _inference_net

    @classmethod
    def build(cls, head: str, features: list[str], scale: Standardizer, config: PassingTrainingConfig,
              max_frames: int) -> PassingModel:
        """A fresh (untrained) network of this head, sized for ``features`` and ``max_frames``."""
        if head not in HEADS:
            raise ValueError(f"passing model head {head!r}: expected one of {HEADS}")
        n_out = sbp_outputs(config.sbp) if head == "sbp" else 2
        return cls(head, passing_net(features, scale, config, n_out, max_frames), scale, list(features), config,
                   max_frames)

    def raw(self, seq, lengths, static_raw, device: torch.device | str = "cpu", batch_size: int = INFERENCE_BATCH,
            bf16: bool | None = None, compiled: bool = False) -> Tensor:
        """The network's unconstrained outputs ``[n, n_out]`` (float32, CPU) for ``n`` plays:
        ``seq [n, T ≤ max_frames, 22, 8]``, ``lengths [n]``, ``static_raw [n, len(features)]``.
        ``bf16``: the forward pass under bfloat16 autocast; None = on CUDA only, as in training.
        ``compiled``: the network run through ``torch.compile`` (fused kernels; needs a C++ compiler
        on the CPU): the first calls compile for tens of seconds, which pays only in a process that
        scores many plays (a service); the same outputs to float rounding."""
        seq, lengths, static = self._inputs(seq, lengths, static_raw)
        if not len(lengths):
            return torch.empty(0, self.net.head[-1].out_features)
        device = torch.device(device)
        bf16 = device.type == "cuda" if bf16 is None else bf16
        net = self._inference_net(device, compiled)
        order, batches = by_length(lengths, batch_size)  # plays of similar length together, padding cut
        out = []
        with (torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16),
              _one_thread_if(device.type == "cpu" and len(lengths) <= SMALL_CALL)):
            for rows, longest in batches:
                out.append(net(self._batch(seq, rows, longest).to(device), lengths[rows].to(device),
                               static[rows].to(device)).float().cpu())
        return unsort(torch.cat(out), order)

    def _inference_net(self, device: torch.device, compiled: bool = False) -> torch.nn.Module:
        """An eval-mode copy of the network on ``device`` whose weight-normed kernels are plain weights
        (computed once, not at every call: for one play, the weight norms and the module walks of
        ``.to()``/``.eval()`` cost about as much as the convolutions).  Made again when a weight
        changes (in-place updates bump a tensor's version) or the device does; ``self.net`` is
        left as it is, so training can go on.  ``compiled``: that copy through ``torch.compile``, made
        once and kept beside it."""
        key = (str(device), tuple((id(p), p._version) for p in self.net.parameters()))
        if self._frozen is None or self._frozen[0] != key:
            # a new network loaded with the weights: deepcopy of the parametrized network failed for a
            # bundle loaded through MLflow's pyfunc; fork_rng: its random initialisation must not move
            # the caller's random stream
            with torch.random.fork_rng(devices=[]):
                net = passing_net(self.features, self.scale, self.config, self.net.head[-1].out_features,
                                  self.max_frames)
            net.load_state_dict(self.net.state_dict())
            net.to(device).eval()
            for module in net.modules():
                if parametrize.is_parametrized(module, "weight"):
                    parametrize.remove_parametrizations(module, "weight")  # keeps the normed weight
            net.requires_grad_(False)
            self._frozen = (key, net, None)
        if compiled and self._frozen[2] is None:  # shapes vary by batch (plays, frames): one dynamic graph
            self._frozen = (*self._frozen[:2], torch.compile(self._frozen[1], dynamic=True))
        return self._frozen[2 if compiled else 1]

    def distribution(self, seq, lengths, static_raw, device: torch.device | str = "cpu",
                     batch_size: int = INFERENCE_BATCH, bf16: bool | None = None,
                     compiled: bool = False) -> torch.distributions.Distribution:
        """The predicted distribution of the yards gained, batch ``[n]``.  Its parameters are valid by
        construction (``sbp_from_raw``, softplus), so torch's argument checks are off: they would
        only add operators to every call."""
        return self.distribution_of(self.raw(seq, lengths, static_raw, device, batch_size, bf16, compiled))

    def distribution_of(self, raw: Tensor) -> torch.distributions.Distribution:
        """The distribution of this head for the network's outputs ``raw`` (``self.raw``)."""
        return (sbp_distribution(raw, self.config.sbp, validate_args=False) if self.head == "sbp"
                else gaussian_distribution(raw, validate_args=False))

    def _inputs(self, seq, lengths, static_raw) -> tuple[np.ndarray, Tensor, Tensor]:
        seq = np.asarray(seq)
        lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
        static_raw = np.asarray(static_raw, dtype=np.float64)
        n = len(lengths)
        if seq.ndim != 4 or seq.shape[0] != n or seq.shape[2:] != (22, 8) or seq.shape[1] > self.max_frames:
            raise ValueError(f"passing model input: the tensor must be [n={n}, T ≤ {self.max_frames}, 22, 8], "
                             f"got {list(seq.shape)}")
        if static_raw.shape != (n, len(self.features)):
            raise ValueError(f"passing model input: static features must be [n={n}, {len(self.features)}] "
                             f"({', '.join(self.features)}), got {list(static_raw.shape)}")
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > seq.shape[1]):
            raise ValueError(f"passing model input: lengths must lie in 1…{seq.shape[1]}, "
                             f"got {int(lengths.min())}…{int(lengths.max())}")
        return seq, torch.from_numpy(lengths), torch.from_numpy(self.scale(static_raw))

    @staticmethod
    def _batch(seq: np.ndarray, rows: Tensor, longest: int) -> Tensor:
        """The batch's plays cut to its longest sequence, as a float32 tensor: copied batch by batch, as
        the whole array (read-only when Arrow-backed) would be a second copy of a season's tensor."""
        return torch.from_numpy(np.ascontiguousarray(seq[rows.numpy(), :longest], dtype=np.float32))

    def save(self, path: str | Path) -> Path:
        """Write the bundle (weights on the CPU) through a temporary sibling."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT_VERSION, "head": self.head, "features": self.features,
                "mean": self.scale.mean, "std": self.scale.std, "config": self.config.model_dump(),
                "max_frames": self.max_frames,
                "weights": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(body, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PassingModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"passing model {path}: no such file")
        try:
            body = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # a truncated or foreign file
            raise ValueError(f"passing model {path}: not a readable model file ({type(err).__name__}: {err})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT_VERSION:
            raise ValueError(f"passing model {path}: expected a trackflow passing model (format {FORMAT_VERSION})")
        model = cls.build(body["head"], body["features"], Standardizer(np.asarray(body["mean"]), np.asarray(body["std"])),
                          PassingTrainingConfig(**body["config"]), int(body["max_frames"]))
        model.net.load_state_dict(body["weights"])
        model.net.eval()
        return model
