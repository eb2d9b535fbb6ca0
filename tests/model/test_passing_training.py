"""The passing fit loop on a small synthetic problem: it learns, keeps the best epoch, resumes from a
checkpoint to the same weights, and splits by game."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.passing import (PassingData, Standardizer, Tensors, fit, gaussian_loss, load_training_config,
                              predict, sbp_distribution, sbp_loss, sbp_outputs, split_by_game)
from training.tcn import PassingNet

T = 6


def _data(n=600, seed=0) -> PassingData:
    rng = np.random.default_rng(seed)
    static = rng.normal(size=(n, 3))
    static[rng.random(n) < 0.05, 2] = np.nan
    seq = rng.normal(size=(n, T, 22, 8)).astype(np.float32)
    lengths = rng.integers(2, T + 1, n)
    # yards: a situation-dependent location plus a heavy right tail, rounded like real yardage
    y = np.round(6 + 4 * static[:, 0] + rng.exponential(3, n) * (1 + (static[:, 1] > 1) * 3))
    return PassingData(seq=seq, lengths=lengths, static_raw=static, y=y.astype(np.float32),
                       game_id=np.repeat(np.arange(n // 20), 20), context=None, features=["a", "b", "c"])


@pytest.fixture(scope="module")
def cfg():
    base = load_training_config()
    return base.model_copy(update={"max_epochs": 6, "patience": 3, "batch_size": 64,
                                   "network": base.network.model_copy(update={"channels": 8, "hidden": [16]})})


@pytest.fixture(scope="module")
def tensors(cfg):
    data = _data()
    split = split_by_game(data.game_id, cfg.split, cfg.seed)
    scale = Standardizer.fit(data.static_raw[split["train"]])
    return {name: Tensors.of(data, rows, scale) for name, rows in split.items()}


def _net(cfg, n_out):
    torch.manual_seed(1)
    return PassingNet(n_static=3, n_out=n_out, max_len=T, channels=cfg.network.channels, hidden=cfg.network.hidden)


def test_split_is_by_game_deterministic_and_sized(cfg):
    games = np.repeat(np.arange(40), 7)
    a, b = split_by_game(games, cfg.split, 5), split_by_game(games, cfg.split, 5)
    assert all((a[k] == b[k]).all() for k in a)
    assert (a["train"].astype(int) + a["validation"] + a["test"] == 1).all()  # every play in exactly one
    per_split = {k: set(games[m]) for k, m in a.items()}
    assert not (per_split["train"] & per_split["test"]) and not (per_split["validation"] & per_split["test"])
    assert len(per_split["test"]) == 6 and len(per_split["validation"]) == 6
    assert split_by_game(games, cfg.split, 6)["test"].tolist() != a["test"].tolist()  # the seed matters
    with pytest.raises(ValueError, match="at least 3 games"):
        split_by_game(np.array([1, 1, 2]), cfg.split, 0)


def test_standardizer_uses_training_statistics_and_zeroes_missing_values():
    x = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]])
    scale = Standardizer.fit(x)
    out = scale(x)
    assert out[1, 0] == 0 and out[0, 1] == 0 and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)


@pytest.mark.parametrize("head", ["sbp", "gaussian"])
def test_fit_learns_and_returns_the_best_epoch(cfg, tensors, head):
    loss = sbp_loss(cfg.sbp) if head == "sbp" else gaussian_loss
    net = _net(cfg, sbp_outputs(cfg.sbp) if head == "sbp" else 2)
    device = torch.device("cpu")
    before = float(loss(predict(net, tensors["validation"], device), tensors["validation"].y))
    net, history = fit(net, loss, tensors["train"], tensors["validation"], cfg, device)
    after = float(loss(predict(net, tensors["validation"], device), tensors["validation"].y))
    best = min(h["validation_nll"] for h in history)
    assert after == pytest.approx(best, rel=1e-5)  # the weights of the best epoch, not the last
    assert after < before - 0.2
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))


def test_an_interrupted_fit_resumes_to_the_same_weights(cfg, tensors, tmp_path):
    device, loss = torch.device("cpu"), sbp_loss(cfg.sbp)
    n_out = sbp_outputs(cfg.sbp)
    straight, history = fit(_net(cfg, n_out), loss, tensors["train"], tensors["validation"], cfg, device)
    ckpt = tmp_path / "passing.ckpt"
    fit(_net(cfg, n_out), loss, tensors["train"], tensors["validation"], cfg.model_copy(update={"max_epochs": 2}),
        device, checkpoint=ckpt)
    torch.manual_seed(123)  # a new process: other random state, other initial weights
    resumed, resumed_history = fit(_net(cfg, n_out), loss, tensors["train"], tensors["validation"], cfg, device,
                                   checkpoint=ckpt)
    assert resumed_history == history
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_sbp_head_gives_a_distribution_per_play(cfg, tensors):
    net = _net(cfg, sbp_outputs(cfg.sbp))
    raw = predict(net, tensors["test"], torch.device("cpu"))
    dist = sbp_distribution(raw, cfg.sbp)
    assert dist.batch_shape == (len(tensors["test"]),)
    assert torch.isfinite(dist.log_prob(tensors["test"].y)).all()


def test_the_learning_rate_is_cut_only_after_stalled_epochs(cfg, tensors):
    opt = cfg.optimizer.model_copy(update={"lr_decay": 0.5, "lr_decay_patience": 1})
    c = cfg.model_copy(update={"max_epochs": 6, "patience": 6, "optimizer": opt})

    def flat_validation(raw, y):  # trains as usual; the validation loss (no grad) never improves
        return gaussian_loss(raw, y) if raw.requires_grad else torch.tensor(1.0)

    _, history = fit(_net(cfg, 2), flat_validation, tensors["train"], tensors["validation"], c, torch.device("cpu"))
    # epoch 1 sets the best; epochs 2 and 3 stall → cut after epoch 3; 4 and 5 stall → cut after 5
    assert [h["lr"] for h in history] == [opt.lr] * 3 + [opt.lr / 2] * 2 + [opt.lr / 4]
    constant = c.model_copy(update={"optimizer": opt.model_copy(update={"lr_decay": 1.0})})
    _, history = fit(_net(cfg, 2), flat_validation, tensors["train"], tensors["validation"], constant,
                     torch.device("cpu"))
    assert {h["lr"] for h in history} == {opt.lr}


def test_the_sbp_loss_stays_finite_and_pulls_a_bounded_tail_out_to_a_play_beyond_it(cfg):
    """A play beyond its predicted upper tail's end (ξ < 0) has density 0: the training loss is
    finite there and its gradient lengthens that tail (raises ξ and β)."""
    sbp = cfg.sbp.model_copy(update={"xi_range": (-0.5, 1.0)})  # tails that may end (the default's never do)
    raw = torch.zeros(1, sbp.bins + 4)
    raw[0, -2] = -6.0  # upper ξ ≈ −0.5: the tail ends about 2β beyond the 95 % quantile
    raw.requires_grad_(True)
    y = torch.tensor([60.0])
    assert sbp_distribution(raw.detach(), sbp).log_prob(y).item() == -float("inf")
    loss = sbp_loss(sbp)(raw, y)
    assert torch.isfinite(loss)
    loss.backward()
    assert raw.grad[0, -2] < 0 and raw.grad[0, -1] < 0  # descent raises upper ξ and upper β
