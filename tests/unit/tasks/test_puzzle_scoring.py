"""PuzzleTintScorer: labels of the fixed views and pieces back in place (§IV, Eq. 26-28)."""

import numpy as np
import torch

from skssad.tasks.puzzle_scoring import PuzzleTintScorer


def _scorer(perms, **kw):
    opts = dict(tasks=("puzzle",), puzzle="piecewise", attention=False, ood="softmax",
                tint_score="ood", fusion="mean")
    return PuzzleTintScorer(perms, None, 4, **{**opts, **kw})


def test_puzzle_classes_are_slot_and_original_piece():
    # Eq. (28): each slot has its own head, so a class is (slot, source piece)
    perms = np.array([[0, 1, 2, 3], [2, 0, 3, 1]])
    sc = _scorer(perms)
    raw = {"puzzle": torch.zeros(3, 2, 16)}
    vec, lab, n_cls = sc.labelled(raw, "puzzle")
    assert vec.shape == (3 * 2 * 4, 4) and n_cls == 16
    np.testing.assert_array_equal(lab[:8].numpy(), [0, 5, 10, 15, 2, 4, 11, 13])


def test_piece_scores_follow_the_piece_not_the_slot():
    # A network that is certain only about source piece 3 must mark piece 3,
    # wherever view v put it.
    perms = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
    sc = _scorer(perms)
    logits = torch.zeros(1, 3, 4, 4)
    for v, perm in enumerate(perms):
        s = int(np.flatnonzero(perm == 3)[0])
        logits[0, v, s, 3] = 20.0
    out = sc.scores({"puzzle": logits.reshape(1, 3, 16)})
    pieces = out["pieces"]["puzzle"][0]
    assert int(pieces.argmax()) == 3
    np.testing.assert_allclose(pieces[:3].numpy(), 0.25, atol=1e-6)
    assert out["values"]["puzzle"].shape == (1, 12)
