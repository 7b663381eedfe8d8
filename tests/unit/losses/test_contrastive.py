"""Contrasted memory losses (anomem-contrasted-memory.txt Eq. 3-7, 11-12)."""

import math

import pytest
import torch

from skssad.losses import (
    ContrastedMemoryLoss,
    DoubleHingeLoss,
    contrasted_memory_loss,
    double_hinge,
    memory_mix,
    nt_xent,
    variance_loss,
)
from skssad.nets import HopfieldMemory


def _direct_nt_xent(a, b, tau):
    z = torch.cat([a, b])
    n = len(a)
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        def sim(u, v):
            return torch.dot(u, v) / (u.norm() * v.norm())
        den = sum(math.exp(sim(z[i], z[p]) / tau) for p in range(2 * n) if p != i)
        losses.append(-math.log(math.exp(sim(z[i], z[j]) / tau) / den))
    return sum(losses) / len(losses)


def test_nt_xent_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    assert abs(float(nt_xent(a, b, 0.5)) - _direct_nt_xent(a, b, 0.5)) < 1e-5


def test_nt_xent_low_for_matching_pairs():
    a = torch.randn(8, 16)
    assert nt_xent(a, a + 0.01 * torch.randn(8, 16), 0.1) < nt_xent(a, torch.randn(8, 16), 0.1)


def test_memory_mix_only_replaces_normal_samples():
    z, r = torch.zeros(3, 2), torch.ones(3, 2)
    out = memory_mix(z, r, torch.tensor([1.0, 0.0, 1.0]))
    assert out[:, 0].tolist() == [1.0, 0.0, 1.0]


def test_double_hinge_eq11():
    d = torch.tensor([0.2, 1.0, 1.0, 3.0])
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(double_hinge(d, y, 2.0), torch.tensor([0.0, 0.5, 1.0, 0.0]))
    assert DoubleHingeLoss(2.0)(d.view(-1, 1), y) > 0


def _prototype_std(lambda_v):
    torch.manual_seed(0)
    # Raw Eq. (1): a layer-normalised memory could not shrink towards one point.
    mem = HopfieldMemory(4, 8, beta=2.0, normalize="none")
    queries = torch.randn(32, 4)
    opt = torch.optim.SGD(mem.parameters(), lr=0.5)
    y = torch.ones(32)
    for _ in range(200):
        out = mem(queries)
        # A pull towards one point collapses the prototypes unless Eq. (6) resists.
        loss = (out ** 2).sum(1).mean() + lambda_v * variance_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(mem(queries).detach().std(0).mean())


def test_variance_loss_prevents_prototype_collapse():
    collapsed, kept = _prototype_std(0.0), _prototype_std(5.0)
    assert collapsed < 0.05
    assert kept > 0.2


def test_nt_xent_negatives_enter_the_denominator_only():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    far = -torch.cat([a, b])  # opposite directions: tiny exp(sim / tau)
    near = torch.cat([a, b])  # copies of the anchors: as similar as the positives
    base = nt_xent(a, b, 0.5)
    assert nt_xent(a, b, 0.5, far) > base
    assert nt_xent(a, b, 0.5, near) > nt_xent(a, b, 0.5, far)
    # Direct Eq. (5) with two extra terms in every denominator.
    z = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
    neg = torch.nn.functional.normalize(near[:2], dim=1)
    n = len(a)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        den = sum(math.exp(float(z[i] @ z[p]) / 0.5) for p in range(2 * n) if p != i)
        den += sum(math.exp(float(z[i] @ m) / 0.5) for m in neg)
        total += -math.log(math.exp(float(z[i] @ z[j]) / 0.5) / den)
    assert abs(float(nt_xent(a, b, 0.5, near[:2])) - total / (2 * n)) < 1e-5


def _outputs(mems, branches=2, b=4):
    outs = []
    for mem, side in zip(mems, (4, 2), strict=True):
        q = torch.randn(branches * b, 6, side, side, requires_grad=True)
        outs.append((q, mem.retrieve_map(q)))
    return outs


def test_contrasted_memory_loss_is_finite_and_trains_memory():
    mems = torch.nn.ModuleList([HopfieldMemory(6, 5), HopfieldMemory(6, 3)])
    y = torch.tensor([1.0, 1.0, 0.0, 1.0])
    loss = ContrastedMemoryLoss(0.1, 0.05, (1.0, 2.0), (0.3, 1.0))(_outputs(mems), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(m.patterns.grad.abs().sum() > 0 for m in mems)


def test_contrasted_memory_loss_uses_the_memory_only_for_normal_first_branch():
    # Eq. (3): with every sample a known anomaly the memory is bypassed.
    mems = torch.nn.ModuleList([HopfieldMemory(6, 5), HopfieldMemory(6, 3)])
    loss = contrasted_memory_loss(_outputs(mems), torch.zeros(4))
    loss.backward()
    assert all(m.patterns.grad is None or m.patterns.grad.abs().sum() == 0 for m in mems)


def test_contrasted_memory_loss_takes_rotation_negatives():
    mems = torch.nn.ModuleList([HopfieldMemory(6, 5), HopfieldMemory(6, 3)])
    torch.manual_seed(0)
    outs = _outputs(mems, branches=3)
    y = torch.ones(4)
    torch.manual_seed(1)
    with_neg = contrasted_memory_loss(outs, y)
    torch.manual_seed(1)
    without = contrasted_memory_loss([(q[:8], r[:8]) for q, r in outs], y)
    assert with_neg > without
    with pytest.raises(ValueError, match="stacked branches"):
        contrasted_memory_loss([(q[:5], r[:5]) for q, r in outs], y)
