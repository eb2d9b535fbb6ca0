"""The passing model bundle: what the trainer saves is what the scorer loads, and bad input is named."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from training.passing import Standardizer, load_training_config, model_features
from training.passing_model import PassingModel
from training.sbp import SplicedBinnedPareto

SELECTED = ["pass_depth", "qb_pressure", "target_separation", "landing_y"]
# the configured network reads the landing point: the two landing columns the selection lacks are added
T, FEATURES = 7, model_features(SELECTED, load_training_config())


@pytest.fixture(scope="module")
def cfg():
    base = load_training_config()
    return base.model_copy(update={"network": base.network.model_copy(update={"channels": 8, "hidden": [16]})})


def test_the_configured_network_reads_the_landing_point_and_needs_its_columns(cfg):
    assert cfg.network.landing_inputs
    assert FEATURES == [*SELECTED, "landing_x", "flight_time"]  # once each, after the selection
    model = PassingModel.build("sbp", FEATURES, Standardizer.fit(_inputs()[2]), cfg, T)
    assert model.net.landing_index == [4, 3, 5]
    with pytest.raises(ValueError, match=r"landing_inputs needs the static feature\(s\) \['landing_x', 'flight_time'\]"):
        PassingModel.build("sbp", SELECTED, Standardizer.fit(_inputs()[2][:, :4]), cfg, T)
    plain = cfg.model_copy(update={"network": cfg.network.model_copy(update={"landing_inputs": False})})
    assert model_features(SELECTED, plain) == SELECTED
    assert PassingModel.build("sbp", SELECTED, Standardizer.fit(_inputs()[2][:, :4]), plain, T).net.landing_index is None


def _unit_scale() -> Standardizer:
    return Standardizer(np.zeros(len(FEATURES)), np.ones(len(FEATURES)))


def _inputs(n=5, seed=0):
    rng = np.random.default_rng(seed)
    static = rng.normal(3, 2, size=(n, len(FEATURES)))
    static[0, 1] = np.nan  # a missing feature is allowed: it becomes the training mean
    return rng.normal(size=(n, T, 22, 8)).astype(np.float32), rng.integers(1, T + 1, n), static


@pytest.mark.parametrize("head", ["sbp", "gaussian"])
def test_saved_model_loads_to_the_same_predictions(tmp_path, cfg, head):
    torch.manual_seed(0)
    scale = Standardizer(mean=np.array([3.0, 2.0, 1.0, 26.0, 60.0, 1.2]), std=np.array([2.0, 1.0, 0.5, 9.0, 12.0, 0.6]))
    model = PassingModel.build(head, FEATURES, scale, cfg, max_frames=T)
    seq, lengths, static = _inputs()
    before = model.raw(seq, lengths, static)
    loaded = PassingModel.load(model.save(tmp_path / "m.pt"))
    assert loaded.features == FEATURES and loaded.head == head and loaded.max_frames == T
    torch.testing.assert_close(loaded.raw(seq, lengths, static), before)
    dist = loaded.distribution(seq, lengths, static)
    assert isinstance(dist, SplicedBinnedPareto if head == "sbp" else torch.distributions.Normal)
    assert dist.batch_shape == (5,)
    # batching does not change the result
    torch.testing.assert_close(loaded.raw(seq, lengths, static, batch_size=2), before)
    assert not list(tmp_path.glob(".*tmp"))


def test_bad_inputs_name_what_was_expected(cfg):
    model = PassingModel.build("sbp", FEATURES, _unit_scale(), cfg, max_frames=T)
    seq, lengths, static = _inputs()
    with pytest.raises(ValueError, match=r"static features must be \[n=5, 6\] \(pass_depth, .*, flight_time\)"):
        model.raw(seq, lengths, static[:, :2])
    with pytest.raises(ValueError, match=r"tensor must be \[n=5, T ≤ 7, 22, 8\]"):
        model.raw(np.zeros((5, T + 1, 22, 8)), lengths, static)
    with pytest.raises(ValueError, match="lengths must lie in 1…7"):
        model.raw(seq, np.zeros(5), static)
    with pytest.raises(ValueError, match="head 'quantile'"):
        PassingModel.build("quantile", FEATURES, _unit_scale(), cfg, max_frames=T)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        PassingModel.load(tmp_path / "missing.pt")
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="cut.pt: not a readable model file"):
        PassingModel.load(tmp_path / "cut.pt")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: expected a trackflow passing model"):
        PassingModel.load(tmp_path / "other.pt")


def test_inference_uses_the_current_weights_and_leaves_the_training_network_as_it_was(cfg):
    """`raw` runs a frozen copy (weight norms computed once): it equals the network's own forward pass,
    follows an in-place weight update (an optimizer step), and the network keeps its weight norm."""
    from torch.nn.utils import parametrize

    torch.manual_seed(0)
    model = PassingModel.build("sbp", FEATURES, _unit_scale(), cfg, max_frames=T)
    seq, lengths, static = _inputs(n=6)

    def direct():
        model.net.eval()
        with torch.no_grad():
            return model.net(torch.from_numpy(seq), *model._inputs(seq, lengths, static)[1:])

    first = direct()
    rng = torch.get_rng_state()
    torch.testing.assert_close(model.raw(seq, lengths, static), first)
    assert torch.equal(torch.get_rng_state(), rng)  # inference draws nothing from the caller's stream
    with torch.no_grad():
        for p in model.net.parameters():
            p.mul_(1.1)
    second = direct()
    assert not torch.allclose(second, first)
    torch.testing.assert_close(model.raw(seq, lengths, static), second)
    assert any(parametrize.is_parametrized(m, "weight") for m in model.net.modules())


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")),
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_the_compiled_network_gives_the_same_outputs_and_follows_new_weights(cfg):
    torch.manual_seed(0)
    model = PassingModel.build("sbp", FEATURES, _unit_scale(), cfg, max_frames=T)
    seq, lengths, static = _inputs(n=6)
    torch.testing.assert_close(model.raw(seq, lengths, static, batch_size=4, compiled=True),
                               model.raw(seq, lengths, static, batch_size=4), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        for p in model.net.parameters():
            p.mul_(1.1)
    torch.testing.assert_close(model.raw(seq, lengths, static, batch_size=4, compiled=True),
                               model.raw(seq, lengths, static, batch_size=4), rtol=1e-4, atol=1e-5)
