"""The TCN encoder: causal, invariant to right-padding, a receptive field covering the sequence."""

from __future__ import annotations

import pytest
import torch

from training.tcn import (LANDING_SCALE, TCN, PassingNet, PlayerSetEncoder, blocks_for, frame_inputs,
                          landing_inputs, last_valid, receptive_field)

T_MAX = 50


# statics 1, 3 and 4 are landing_x, landing_y and flight_time (standardized with these)
LANDING = ([1, 3, 4], [60.0, 26.0, 1.2], [12.0, 9.0, 0.6])


@pytest.fixture(scope="module", params=["plain", "landing inputs", "player set"])
def net(request) -> PassingNet:
    torch.manual_seed(0)
    landing = LANDING if request.param != "plain" else None
    return PassingNet(n_static=5, n_out=7, max_len=T_MAX, channels=16, hidden=(16,), landing=landing,
                      player_set=8 if request.param == "player set" else 0).eval()


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


def test_landing_inputs_place_each_player_relative_to_where_the_ball_comes_down():
    seq = torch.zeros(1, 2, 22, 8)
    seq[0, :, 0, :4] = torch.tensor([50.0, 20.0, 2.0, -1.0])  # slot 0 at (50, 20) moving (2, -1) yd/s
    seq[0, 1, 5, :4] = torch.tensor([64.0, 23.0, 0.0, 0.0])   # slot 5 in the second frame only
    landing = torch.tensor([[60.0, 20.0, 2.0]])              # landing_x, landing_y, flight_time (s)
    out = landing_inputs(seq, landing) * LANDING_SCALE
    # offset (-10, 0), 10 yd away; in 2 s at (2, -1) yd/s he reaches (54, 18): 6.32 yd from it
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([-10.0, 0.0, 10.0, 40.0 ** 0.5]))
    torch.testing.assert_close(out[0, 1, 5], torch.tensor([4.0, 3.0, 5.0, 5.0]))
    assert (out[0, 0, 5] == 0).all() and (out[0, :, 1:5] == 0).all()  # absent: zero, like its tracking row
    assert frame_inputs(seq, landing).shape == (1, 2, 22 * 14) and frame_inputs(seq).shape == (1, 2, 22 * 10)


def test_the_player_set_encoder_ignores_the_order_within_a_side_and_absent_players():
    torch.manual_seed(0)
    encoder = PlayerSetEncoder(per_player=6, width=8).eval()
    players = torch.randn(2, 3, 22, 6)
    present = torch.ones(2, 3, 22, dtype=torch.bool)
    present[0, :, 7] = present[1, 2, 15] = False  # an absent receiver; a defender gone in one frame
    players[~present] = 0.0
    with torch.no_grad():
        out = encoder(players, present)
        assert out.shape == (2, 3, 5 * 8)
        # the receivers (slots 1–10) and the defenders (11–21) in another order: the same vector
        order = torch.cat([torch.tensor([0]), 1 + torch.randperm(10), 11 + torch.randperm(11)])
        torch.testing.assert_close(encoder(players[:, :, order], present[:, :, order]), out)
        # whatever an absent player's row holds is never read
        noisy = players.clone()
        noisy[~present] = 50.0
        torch.testing.assert_close(encoder(noisy, present), out)
        # but the sides and the QB's slot matter
        swapped = torch.arange(22)
        swapped[[3, 14]] = swapped[[14, 3]]  # a receiver and a defender trade sides
        assert not torch.allclose(encoder(players[:, :, swapped], present[:, :, swapped]), out)
        qb_swapped = torch.arange(22)
        qb_swapped[[0, 5]] = qb_swapped[[5, 0]]
        assert not torch.allclose(encoder(players[:, :, qb_swapped], present[:, :, qb_swapped]), out)
        # a frame without any player (padding) gives zeros
        assert not encoder(torch.zeros(1, 1, 22, 6), torch.zeros(1, 1, 22, dtype=torch.bool)).any()


def test_the_network_reads_the_landing_point_back_from_the_standardized_statics():
    torch.manual_seed(0)
    net = PassingNet(n_static=5, n_out=3, max_len=T_MAX, channels=8, hidden=(8,), landing=LANDING).eval()
    seq, lengths, static = _batch([10, 20])
    raw = torch.tensor([[55.0, 30.0, 0.9], [70.0, 10.0, 2.0]])
    static[:, LANDING[0]] = (raw - torch.tensor(LANDING[1])) / torch.tensor(LANDING[2])
    seen = {}
    hook = net.tcn.register_forward_pre_hook(lambda _, args: seen.update(x=args[0]))
    with torch.no_grad():
        out = net(seq, lengths, static)
        hook.remove()
        torch.testing.assert_close(seen["x"], frame_inputs(seq, raw))
        moved = static.clone()
        moved[:, LANDING[0][0]] += 1.0  # another landing_x: other inputs, other outputs
        assert not torch.allclose(net(seq, lengths, moved), out)
    with pytest.raises(ValueError, match="landing inputs"):
        PassingNet(n_static=2, n_out=3, max_len=T_MAX, landing=LANDING)
