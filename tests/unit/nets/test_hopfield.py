"""Modern Hopfield memory (anomem-contrasted-memory.txt §2.1, Eq. 1)."""

import pytest
import torch

from skssad.nets import HopfieldMemory, hopfield_retrieve
from skssad.nets.hopfield import effective_slots, hopfield_attention


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


def test_iteration_reaches_a_fixed_point_of_eq1():
    # §2.1: Eq. (1) is applied "until convergence": the result maps onto itself.
    g = torch.Generator().manual_seed(1)
    patterns = torch.randn(8, 6, generator=g)
    out = hopfield_retrieve(torch.randn(5, 6, generator=g), patterns, beta=2.0, n_steps=50,
                            tol=1e-6)
    torch.testing.assert_close(hopfield_retrieve(out, patterns, 2.0), out, atol=1e-5, rtol=0)


def test_effective_slots_counts_one_hot_and_uniform():
    att = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    torch.testing.assert_close(effective_slots(att), torch.tensor([1.0, 4.0]))


def test_layer_normalised_memory_concentrates_at_paper_beta():
    # Issue 17: on small raw features Eq. (1) at beta = 2 averaged the whole memory;
    # on the layer-normalised scale the same beta recollects the stored pattern.
    torch.manual_seed(0)
    raw = HopfieldMemory(32, 64, beta=2.0, normalize="none")
    layer = HopfieldMemory(32, 64, beta=2.0, normalize="layer")
    layer.patterns.data = raw.patterns.data.clone()
    queries = raw.patterns.data[:16] + 0.05 * torch.randn(16, 32)
    assert effective_slots(raw.attention(queries)).median() > 32
    att = layer.attention(queries)
    assert effective_slots(att).median() < 2
    assert torch.equal(att.argmax(1), torch.arange(16))


def test_normalised_retrieval_ignores_the_query_scale():
    mem = HopfieldMemory(8, 5, beta=2.0, normalize="layer")
    q = torch.randn(4, 8)
    torch.testing.assert_close(mem(q), mem(10 * q), atol=1e-4, rtol=0)


def test_scaled_normalisation_divides_beta_by_sqrt_d():
    mem = HopfieldMemory(16, 5, beta=2.0, normalize="scaled")
    q = torch.randn(3, 16)
    expected = hopfield_attention(mem.query_space(q), mem.stored_patterns(), 2.0 / 4.0)
    torch.testing.assert_close(mem.attention(q), expected)


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


def test_unknown_normalisation_raises():
    with pytest.raises(ValueError, match="normalize must be one of"):
        HopfieldMemory(4, 2, normalize="batch")
