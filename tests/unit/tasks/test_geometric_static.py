"""The static-indexing MHRot views equal the gather/nonzero ones bit for bit."""

import pytest
import torch

from skssad.tasks.geometric import GEOMETRIC_LABELS, all_geometric_views, geometric_transform


@pytest.mark.parametrize("shape, shift", [((3, 1, 8, 8), 2), ((2, 3, 7, 7), 1),
                                          ((2, 2, 6, 9), 3), ((2, 1, 4, 4), 4),
                                          ((1, 1, 5, 5), 7)])
def test_static_views_equal_geometric_transform(shape, shift):
    torch.manual_seed(0)
    x = torch.rand(shape)
    if shape[-1] != shape[-2]:  # rotations of non-square images do not stack
        x = x[..., :shape[-2]]
    views, labels = all_geometric_views(x, shift)
    b = len(x)
    ref = geometric_transform(x.repeat_interleave(36, 0), GEOMETRIC_LABELS.repeat(b, 1), shift)
    assert torch.equal(labels, GEOMETRIC_LABELS.repeat(b, 1))
    assert torch.equal(views, ref)


def test_static_views_trace_without_data_dependent_ops():
    x = torch.rand(2, 1, 8, 8)
    graph = torch.jit.trace(lambda t: all_geometric_views(t, 2)[0], (x,)).graph
    kinds = {n.kind() for n in graph.nodes()}
    assert "aten::nonzero" not in kinds and "aten::index_put_" not in kinds
    assert "aten::item" not in kinds


@pytest.mark.parametrize("k", range(-1, 6))
def test_rot90_static_is_torch_rot90(k):
    from skssad.tasks.geometric import rot90_static

    x = torch.rand(2, 3, 5, 5)
    assert torch.equal(rot90_static(x, k), torch.rot90(x, k, dims=(-2, -1)))
