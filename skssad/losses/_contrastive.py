"""Contrasted memory losses (anomem-contrasted-memory.txt §3.1-3.2).

NT-Xent with memory (Eq. 3-5), variance loss (Eq. 6), their multi-scale
combination (Eq. 7) and the double-hinge distance loss (Eq. 11-12).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["nt_xent", "memory_mix", "variance_loss", "double_hinge",
           "ContrastedMemoryLoss", "DoubleHingeLoss"]


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Eq. (4)-(5): symmetric NT-Xent of pairs ``(a_k, b_k)``, batched over leading dims.

    ``a`` and ``b`` are ``(..., B, d)``; returns ``(...)``, the mean over the
    ``2B`` anchors of ``-log exp(sim(z, z+)/tau) / sum_{p != z} exp(sim(z, p)/tau)``.
    """
    if a.shape != b.shape:
        raise ValueError(f"Both branches need the same shape, got {a.shape} and {b.shape}.")
    n = a.shape[-2]
    z = F.normalize(torch.cat([a, b], dim=-2), dim=-1)
    sim = z @ z.transpose(-1, -2) / tau
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    log_prob = sim.log_softmax(-1)
    return -log_prob[..., torch.arange(2 * n, device=z.device), pos].mean(-1)


def memory_mix(z: torch.Tensor, retrieved: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``Mem(z, y) = y HF(z) + (1 - y) z`` with ``y`` 1 normal, 0 anomaly."""
    y = y.to(z.dtype).view(-1, *([1] * (z.dim() - 1))) if z.dim() > 1 else y.to(z.dtype)
    return y * retrieved + (1 - y) * z


def variance_loss(mem: torch.Tensor, y: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Eq. (6): minus the standard deviation of retrieved normal prototypes.

    ``mem`` is ``(..., B, d)``; the variance is taken over the normal samples
    of the batch for each feature and averaged over features (it is zero
    exactly when all retrieved prototypes collapse onto one point).
    """
    w = y.to(mem.dtype)
    n = w.sum().clamp(min=1)
    mean = (w[:, None] * mem).sum(-2, keepdim=True) / n
    var = (w[:, None] * (mem - mean) ** 2).sum(-2) / n
    return -torch.sqrt(var + eps).mean(-1)


def double_hinge(d: torch.Tensor, y: torch.Tensor, margin: float = 2.0) -> torch.Tensor:
    """Eq. (11): ``y max(d - 1/M, 0) + (1 - y) max(M - d, 0)`` elementwise."""
    y = y.to(d.dtype)
    return y * torch.relu(d - 1.0 / margin) + (1 - y) * torch.relu(margin - d)


class DoubleHingeLoss(nn.Module):
    """Eq. (12): the double hinge averaged over samples and scales.

    ``d`` is ``(B, S)`` (one distance per scale), ``y`` ``(B,)`` with 1 normal, 0 anomaly.
    """

    def __init__(self, margin: float = 2.0):
        super().__init__()
        self.margin = float(margin)

    def forward(self, d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return double_hinge(d, y.view(-1, 1), self.margin).mean()


class ContrastedMemoryLoss(nn.Module):
    """Eq. (7): multi-scale contrasted memory loss with the variance regulariser.

    Parameters
    ----------
    tau : float, default=0.1
        NT-Xent temperature.
    lambda_v : float, default=0.05
        Weight of the variance loss.
    scale_weights : sequence of float
        ``lambda^(s)``.
    sampling_ratios : sequence of float
        ``r^(s)``: share of the ``H^(s) W^(s)`` positions drawn (without
        replacement, shared by both branches) per batch.
    use_memory : bool, default=True
        False trains plain SimCLR (the k-means ablation of Table 4(b)).
    """

    def __init__(self, tau: float = 0.1, lambda_v: float = 0.05,
                 scale_weights: Sequence[float] = (1.0, 2.0),
                 sampling_ratios: Sequence[float] = (0.3, 1.0), use_memory: bool = True):
        super().__init__()
        self.tau = float(tau)
        self.lambda_v = float(lambda_v)
        self.scale_weights = tuple(float(w) for w in scale_weights)
        self.sampling_ratios = tuple(float(r) for r in sampling_ratios)
        self.use_memory = use_memory

    def forward(self, z1s, z2s, y, memories) -> torch.Tensor:
        total, count = 0.0, 0
        for z1, z2, mem, lam, r in zip(z1s, z2s, memories, self.scale_weights,
                                       self.sampling_ratios, strict=True):
            b, c, h, w = z1.shape
            k = max(int(h * w * r), 1)
            omega = torch.randperm(h * w, device=z1.device)[:k]
            # (k, B, C): each sampled position is its own contrastive problem.
            v1 = z1.flatten(2)[:, :, omega].permute(2, 0, 1)
            v2 = z2.flatten(2)[:, :, omega].permute(2, 0, 1)
            if self.use_memory:
                m1 = memory_mix(v1.transpose(0, 1), mem(v1.transpose(0, 1)), y).transpose(0, 1)
                per_pos = nt_xent(m1, v2, self.tau)
                if bool((y > 0).any()):
                    per_pos = per_pos + self.lambda_v * variance_loss(m1, y)
            else:
                per_pos = nt_xent(v1, v2, self.tau)
            total = total + lam * per_pos.sum()
            count += k
        return total / count
