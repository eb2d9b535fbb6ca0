"""The TCN encoder: causal, invariant to right-padding, a receptive field covering the sequence."""

from __future__ import annotations

import pytest
import torch

from training.tcn import TCN, PassingNet, blocks_for, frame_inputs, last_valid, receptive_field

T_MAX = 50


@pytest.fixture(scope="module")
def net() -> PassingNet:
    torch.manual_seed(0)
    return PassingNet(n_static=5, n_out=7, max_len=T_MAX, channels=16, hidden=(16,)).eval()


def _batch(lengths, t=T_MAX, seed=1):
    g = torch.Generator().manual_seed(seed)
    seq = torch.rand(len(lengths), t, 22, 8, generator=g) * torch.tensor([120, 53.3, 10, 10, 5, 5, 360, 360])
    return seq, torch.tensor(lengths), torch.randn(len(lengths), 5, generator=g)


def test_right_padding_changes_nothing(net):
    seq, lengths, static = _batch([7, 23, 50])
    with torch.no_grad():
        padded = net(seq, lengths, static)
        # whatever lies after the valid frames (here: other random values) is never read
        noisy = seq.clone()
        for b, n in enumerate(lengths.tolist()):
            noisy[b, n:] = torch.rand_like(noisy[b, n:]) * 100
        assert torch.allclose(net(noisy, lengths, static), padded, atol=1e-6)
        # and each play alone, unpadded, gives the same output
        for b, n in enumerate(lengths.tolist()):
            alone = net(seq[b:b + 1, :n], lengths[b:b + 1], static[b:b + 1])
            assert torch.allclose(alone, padded[b:b + 1], atol=1e-5), b


def test_outputs_are_causal_and_see_the_first_frame():
    torch.manual_seed(0)
    tcn = TCN(c_in=4, channels=8, n_blocks=blocks_for(T_MAX, 3)).eval()
    x = torch.randn(1, T_MAX, 4)
    later = x.clone()
    later[:, 30:] += 1.0
    with torch.no_grad():
        h, h_later = tcn(x), tcn(later)
        assert torch.allclose(h[:, :30], h_later[:, :30])  # steps < 30 do not see step 30
        assert not torch.allclose(h[:, 30:], h_later[:, 30:])
        first = x.clone()
        first[:, 0] += 1.0
        assert not torch.allclose(tcn(first)[:, -1], h[:, -1])  # the last step sees the first


@pytest.mark.parametrize("max_len,kernel", [(2, 2), (50, 3), (51, 3), (61, 3), (62, 3), (120, 5)])
def test_blocks_cover_the_longest_sequence(max_len, kernel):
    n = blocks_for(max_len, kernel)
    assert receptive_field(kernel, n) >= max_len
    assert n == 1 or receptive_field(kernel, n - 1) < max_len  # and no more blocks than needed


def test_last_valid_reads_each_plays_last_step():
    h = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    assert last_valid(h, torch.tensor([1, 4])).tolist() == [h[0, 0].tolist(), h[1, 3].tolist()]


def test_angles_enter_as_sine_and_cosine():
    seq = torch.zeros(2, 1, 22, 8)
    seq[0, ..., 6], seq[1, ..., 6] = 359.0, 1.0
    a, b = frame_inputs(seq)
    assert a.shape == (1, 220)
    assert (a - b).abs().max() < 0.04  # 359° and 1° are neighbours
