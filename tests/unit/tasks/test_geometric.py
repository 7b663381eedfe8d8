"""Batched MHRot transforms (puzzle-geom-multitask.txt §2.3)."""

import numpy as np
import torch

from skssad.tasks.geometric import (
    GEOMETRIC_LABELS,
    all_geometric_views,
    geometric_transform,
    rotate90,
    translate,
)


def _images(b=5, c=2, s=8):
    return torch.arange(b * c * s * s, dtype=torch.float32).reshape(b, c, s, s)


def test_rotate90_matches_torch_rot90_per_sample():
    x = _images()
    k = torch.tensor([0, 1, 2, 3, 1])
    out = rotate90(x, k)
    for i in range(len(x)):
        assert torch.equal(out[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)))


def test_four_rotations_compose_to_identity():
    x = _images()
    k = torch.ones(len(x), dtype=torch.long)
    y = x
    for _ in range(4):
        y = rotate90(y, k)
    assert torch.equal(y, x)


def test_translate_shifts_content_with_reflection():
    x = _images(b=2, c=1, s=6)
    out = translate(x, torch.tensor([2, 0]), torch.tensor([0, -1]))
    # sample 0 moved right by 2: column j of output = column j-2 of input
    assert torch.equal(out[0, 0, :, 2:], x[0, 0, :, :-2])
    # the border is reflected, not zero
    assert torch.equal(out[0, 0, :, 0], x[0, 0, :, 2])
    # sample 1 moved up by 1
    assert torch.equal(out[1, 0, :-1, :], x[1, 0, 1:, :])


def test_all_views_are_36_distinct_compositions_sample_major():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8)
    views, labels = all_geometric_views(x, shift=2)
    assert views.shape == (3 * 36, 1, 8, 8)
    assert torch.equal(labels[:36], GEOMETRIC_LABELS)
    flat = views[:36].reshape(36, -1).numpy()
    assert len(np.unique(flat.round(6), axis=0)) == 36
    # view (0, 0, 0) of each sample is the sample itself
    assert torch.equal(views[::36], x)
    one = geometric_transform(x[1:2], GEOMETRIC_LABELS[17:18], 2)
    assert torch.equal(views[36 + 17], one[0])
