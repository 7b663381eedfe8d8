"""Modern Hopfield memory (anomem-contrasted-memory.txt §2.1, Eq. 1)."""

import pytest
import torch

from skssad.nets import HopfieldMemory, hopfield_retrieve


def test_large_beta_retrieves_nearest_stored_pattern():
    g = torch.Generator().manual_seed(0)
    patterns = torch.nn.functional.normalize(torch.randn(10, 16, generator=g), dim=1)
    idx = torch.arange(10)
    queries = patterns[idx] + 0.1 * torch.randn(10, 16, generator=g)
    out = hopfield_retrieve(queries, patterns, beta=100.0, n_steps=3)
    torch.testing.assert_close(out, patterns[idx], atol=1e-3, rtol=0)


def test_small_beta_averages_patterns():
    patterns = torch.eye(4)
    out = hopfield_retrieve(torch.zeros(1, 4), patterns, beta=1.0)
    torch.testing.assert_close(out, torch.full((1, 4), 0.25))


def test_layer_maps_every_spatial_vector():
    mem = HopfieldMemory(8, 5, beta=2.0, n_steps=2)
    z = torch.randn(3, 8, 4, 4)
    out = mem.retrieve_map(z)
    assert out.shape == z.shape
    torch.testing.assert_close(out[1, :, 2, 3], mem(z[1, :, 2, 3]))
    out.sum().backward()
    assert mem.patterns.grad is not None


def test_dimension_mismatch_raises():
    with pytest.raises(ValueError, match="dimension"):
        hopfield_retrieve(torch.zeros(2, 3), torch.zeros(4, 5), beta=1.0)
