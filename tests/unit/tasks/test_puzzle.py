"""Jigsaw puzzle transforms (puzzle-tint-color-multicue.txt §III-A, §VI-B)."""

import math

import numpy as np
import pytest
import torch

from skssad.tasks.puzzle import (
    PieceLayout,
    PuzzleTintTask,
    cut_pieces,
    draw_permutations,
    fixed_puzzle_views,
    intra_piece_tint_errors,
    inverse_permutation,
    piece_map,
    piece_means,
    piece_wise_puzzle,
    random_offsets,
    random_permutations,
    shuffle_pieces,
    slots_to_pieces,
    views_per_epoch,
)


def _images(b=3, c=2, size=16):
    return torch.arange(b * c * size * size, dtype=torch.float32).view(b, c, size, size)


def test_layout_margin_is_half_a_piece():
    layout = PieceLayout(30, 30, 3, 3)
    assert layout.cell == (10, 10)
    assert layout.piece == (7, 7)  # piece + piece / 2 ~ cell
    assert layout.slack == (3, 3)
    assert layout.canvas == (21, 21)


def test_layout_rejects_too_many_pieces():
    with pytest.raises(ValueError, match="cannot be cut"):
        PieceLayout(4, 4, 5, 5)


def test_cut_pieces_takes_the_centred_piece_of_each_cell():
    x = _images()
    layout = PieceLayout(16, 16, 2, 2)  # cell 8, piece 5, slack 3 -> offset 1
    canvas = cut_pieces(x, layout)
    assert canvas.shape == (3, 2, 10, 10)
    torch.testing.assert_close(canvas[:, :, :5, :5], x[:, :, 1:6, 1:6])
    torch.testing.assert_close(canvas[:, :, 5:, 5:], x[:, :, 9:14, 9:14])


def test_cut_pieces_uses_the_given_offsets():
    x = _images(b=1)
    layout = PieceLayout(16, 16, 2, 2)
    offsets = torch.tensor([[[0, 3], [0, 0], [2, 1], [3, 3]]])
    canvas = cut_pieces(x, layout, offsets)
    torch.testing.assert_close(canvas[:, :, :5, :5], x[:, :, 0:5, 3:8])
    torch.testing.assert_close(canvas[:, :, 5:, 5:], x[:, :, 11:16, 11:16])


def test_random_offsets_stay_inside_the_cell():
    layout = PieceLayout(32, 32, 3, 3)
    off = random_offsets(500, layout)
    assert off.min() >= 0 and off.max() <= layout.slack[0]
    assert len(off.unique()) == layout.slack[0] + 1


def test_permutation_then_inverse_restores_the_image():
    torch.manual_seed(0)
    layout = PieceLayout(18, 18, 3, 3)
    canvas = cut_pieces(torch.rand(5, 3, 18, 18), layout)
    perm = random_permutations(5, 9)
    shuffled = shuffle_pieces(canvas, perm, layout)
    assert not torch.equal(shuffled, canvas)
    torch.testing.assert_close(shuffle_pieces(shuffled, inverse_permutation(perm), layout),
                               canvas, rtol=0, atol=0)


def test_slot_s_holds_source_piece_perm_s():
    layout = PieceLayout(12, 12, 2, 2)
    x = torch.zeros(1, 1, 12, 12)
    x[:, :, :6, :6] = 1.0  # piece 0 is bright
    perm = torch.tensor([[3, 2, 1, 0]])
    out = piece_wise_puzzle(x, perm, layout)
    ph = layout.piece[0]
    assert out[0, 0, ph:, ph:].min() == 1.0  # slot 3 holds piece 0
    assert out[0, 0, :ph, :ph].max() == 0.0


def test_identity_permutation_is_the_unshuffled_puzzle():
    layout = PieceLayout(16, 16, 2, 2)
    x = _images()
    ident = torch.arange(4).expand(3, 4)
    torch.testing.assert_close(piece_wise_puzzle(x, ident, layout), cut_pieces(x, layout))


def test_shuffle_rejects_wrong_permutation_shape():
    layout = PieceLayout(16, 16, 2, 2)
    with pytest.raises(ValueError, match="perm must have shape"):
        shuffle_pieces(cut_pieces(_images(), layout), torch.arange(4)[None], layout)


def test_draw_permutations_identity_first_and_distinct():
    perms = draw_permutations(9, 18, np.random.RandomState(0))
    assert perms.shape == (18, 9)
    np.testing.assert_array_equal(perms[0], np.arange(9))
    assert len({tuple(p) for p in perms}) == 18
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())


def test_draw_permutations_is_reproducible_and_bounded():
    a = draw_permutations(4, 10, np.random.RandomState(1))
    b = draw_permutations(4, 10, np.random.RandomState(1))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="only 24"):
        draw_permutations(4, 25, np.random.RandomState(0))


def test_views_per_epoch_is_eq8_clipped():
    assert views_per_epoch(3, 1, 1, 18) == 6  # 3! / (1 * 1)
    assert views_per_epoch(9, 2000, 10, 18) == 18  # 9! / 20000 = 18.1
    assert views_per_epoch(9, 6000, 20, 18) == 3  # 362880 / 120000 = 3.02
    assert views_per_epoch(4, 6000, 20, 18) == 1


def test_piece_map_and_piece_means_are_consistent():
    layout = PieceLayout(12, 12, 2, 3)
    values = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    m = piece_map(values, layout)
    assert m.shape == (1, *layout.canvas)
    torch.testing.assert_close(piece_means(m[:, None], layout), values)
    assert math.prod(m.shape[1:]) == layout.n * layout.piece[0] * layout.piece[1]


def test_slots_to_pieces_inverts_the_shuffle():
    layout = PieceLayout(12, 12, 2, 2)
    x = _images(b=2, c=1, size=12)
    perm = random_permutations(2, 4)
    canvas = cut_pieces(x, layout)
    shuffled = shuffle_pieces(canvas, perm, layout)
    # A per-slot value equal to the slot's mean moves back to the piece's own place.
    per_slot = piece_means(shuffled, layout)
    torch.testing.assert_close(slots_to_pieces(per_slot, perm), piece_means(canvas, layout))


def test_intra_piece_tint_errors_vanish_for_the_true_correction_only():
    layout = PieceLayout(12, 12, 2, 2)
    rgb = torch.rand(3, 3, 12, 12)
    pieces = cut_pieces(rgb, layout)
    tint = torch.randint(4, (3, 4))
    err = intra_piece_tint_errors(pieces, tint, 4, layout)  # (b, n, c)
    assert err.shape == (3, 4, 4)
    assert err.gather(-1, tint[..., None]).abs().max() < 1e-5  # Eq. (9) at Theta = theta
    wrong = err.clone().scatter_(-1, tint[..., None], float("inf")).amin(-1)
    assert wrong.min() > 1e-3
    grey = cut_pieces(rgb.mean(1, keepdim=True).expand(-1, 3, -1, -1), layout)
    assert intra_piece_tint_errors(grey, tint, 4, layout).abs().max() < 1e-5


def test_fixed_views_tint_each_slot_by_its_class():
    layout = PieceLayout(12, 12, 2, 2)
    x = torch.rand(2, 3, 12, 12)
    perms = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])
    tint = torch.tensor([[0, 1, 2, 3], [1, 1, 0, 0]])
    views, err = fixed_puzzle_views(x, perms, layout, tint, 4)
    assert views.shape == (4, 3, 8, 8) and err.shape == (4, 4, 4)
    plain, none = fixed_puzzle_views(x, perms, layout)
    assert none is None
    # slot 0 of view 0 is untinted (class 0), slot 1 is not
    torch.testing.assert_close(views[0, :, :4, :4], plain[0, :, :4, :4])
    assert (views[0, :, :4, 4:] - plain[0, :, :4, 4:]).abs().max() > 1e-3


@pytest.mark.parametrize("puzzle, c, shift, chance", [
    ("piecewise", 4, None, math.log(4) + math.log(4)),
    ("partial", 0, 2, math.log(3) + math.log(4) + 2 * math.log(3)),
    (None, 3, None, math.log(3)),
])
def test_puzzle_tint_task_targets_and_chance_loss(puzzle, c, shift, chance):
    layout = PieceLayout(12, 12, 2, 2)
    perms = draw_permutations(4, 3, np.random.RandomState(0))
    task = PuzzleTintTask(layout, 2, puzzle, perms, c, shift)
    assert task.chance_loss == pytest.approx(chance)
    inputs, targets = task(torch.rand(5, 3, 12, 12))
    assert ("pieces" in inputs) is (puzzle is not None or c > 0)
    if puzzle == "piecewise":
        assert targets["puzzle"].shape == (10, 4)
        assert targets["tint"].shape == (10, 4)
        torch.testing.assert_close(targets["perm"], targets["puzzle"])
    if shift is not None:
        assert inputs["geometric"].shape == (10, 3, 12, 12)
        assert targets["geometric"].shape == (10, 3)
