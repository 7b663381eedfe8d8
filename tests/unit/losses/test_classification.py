"""Pretext classification losses (puzzle-tint-color-multicue.txt Eq. 7, 20-24)."""

import math

import pytest
import torch

from skssad.losses._classification import (
    PuzzleTintLoss,
    attention_spread_loss,
    intra_piece_loss,
    piece_wise_puzzle_loss,
)
from skssad.losses._density import attention_weights


def test_puzzle_loss_is_log_n_at_chance_and_zero_when_solved():
    perm = torch.tensor([[2, 0, 1], [1, 2, 0]])
    assert piece_wise_puzzle_loss(torch.zeros(2, 9), perm).item() == pytest.approx(math.log(3))
    solved = torch.nn.functional.one_hot(perm, 3).float().reshape(2, 9) * 50
    assert piece_wise_puzzle_loss(solved, perm).item() < 1e-6
    assert piece_wise_puzzle_loss(torch.zeros(2, 4), torch.tensor([1, 3])).item() == \
        pytest.approx(math.log(4))


def test_spread_term_is_zero_for_uniform_and_grows_as_a_piece_vanishes():
    uniform = torch.full((1, 9), 1 / 9)
    assert attention_spread_loss(uniform).item() == pytest.approx(0.0, abs=1e-6)
    peaked = attention_weights(torch.tensor([[8.0] + [-8.0] * 8]))
    assert attention_spread_loss(peaked).item() > 3


def test_attention_optimum_weights_solvable_pieces_without_collapsing():
    # Minimise Eq. (24)'s weighted term + our spread term over free attention logits
    # for fixed per-piece losses: two easy (object) pieces, two at chance (grey).
    ce = torch.tensor([0.05, 0.05, math.log(4), math.log(4)])
    P = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.Adam([P], lr=0.1)
    for _ in range(500):
        w = attention_weights(P)
        loss = (w * ce).sum() + attention_spread_loss(w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = attention_weights(P).detach()[0]
    assert w[:2].min() > 2 * w[2:].max()  # the object gets the weight...
    assert w.min() > 0.05  # ...but no piece is dropped (the degenerate maps of §III-D)


def test_intra_piece_loss_moves_attention_to_the_original_pieces():
    # Slot s holds piece perm[s]; the loss of the map must not depend on the shuffle
    # when logits, losses and attention are all given per slot.
    torch.manual_seed(0)
    logits, t, att = torch.randn(1, 12), torch.randint(3, (1, 4)), torch.randn(1, 4)
    perm = torch.tensor([[2, 0, 3, 1]])
    a = intra_piece_loss(logits, t, att, perm)
    b = intra_piece_loss(logits, t, att, None)
    torch.testing.assert_close(a, b)  # a weighted sum is invariant to a joint reordering
    assert intra_piece_loss(torch.zeros(1, 12), t).item() == pytest.approx(math.log(3))


def test_puzzle_tint_loss_sums_the_tasks():
    perm = torch.tensor([[1, 0]])
    out = {"puzzle": torch.zeros(1, 4), "tint": torch.zeros(1, 8), "attention": torch.zeros(1, 2),
           "geometric": torch.zeros(1, 10)}
    targets = {"puzzle": perm, "tint": torch.tensor([[0, 3]]), "perm": perm,
               "geometric": torch.tensor([[0, 1, 2]])}
    loss = PuzzleTintLoss(attention=True)(out, targets)
    assert loss.item() == pytest.approx(math.log(2) + math.log(4) + math.log(4) + 2 * math.log(3))
