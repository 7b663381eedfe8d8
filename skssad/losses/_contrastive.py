"""Contrasted memory losses (anomem-contrasted-memory.txt §3.1-3.2).

NT-Xent with memory (Eq. 3-5), variance loss (Eq. 6), their multi-scale
combination (Eq. 7) and the double-hinge distance loss (Eq. 11-12).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["nt_xent", "memory_mix", "variance_loss", "double_hinge", "contrasted_memory_loss",
           "ContrastedMemoryLoss", "DoubleHingeLoss"]


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float = 0.1,
            negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (4)-(5): symmetric NT-Xent of pairs ``(a_k, b_k)``, batched over leading dims.

    ``a`` and ``b`` are ``(..., B, d)``; returns ``(...)``, the mean over the
    ``2B`` anchors of ``-log exp(sim(z, z+)/tau) / sum_{p != z} exp(sim(z, p)/tau)``.
    ``negatives`` ``(..., M, d)`` are extra representations that enter every
    anchor's denominator only (never as anchors or positives): the shifted
    negatives of our ``negatives="rotation"`` option.
    """
    if a.shape != b.shape:
        raise ValueError(f"Both branches need the same shape, got {a.shape} and {b.shape}.")
    n = a.shape[-2]
    z = F.normalize(torch.cat([a, b], dim=-2), dim=-1)
    keys = z if negatives is None else torch.cat([z, F.normalize(negatives, dim=-1)], dim=-2)
    sim = z @ keys.transpose(-1, -2) / tau
    eye = torch.zeros(2 * n, keys.shape[-2], dtype=torch.bool, device=z.device)
    eye[:, :2 * n] = torch.eye(2 * n, dtype=torch.bool, device=z.device)
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


def contrasted_memory_loss(outputs: Sequence[tuple[torch.Tensor, torch.Tensor]],
                           y: torch.Tensor, *, tau: float = 0.1, lambda_v: float = 0.05,
                           scale_weights: Sequence[float] = (1.0, 2.0),
                           sampling_ratios: Sequence[float] = (0.3, 1.0),
                           use_memory: bool = True) -> torch.Tensor:
    """Eq. (7): the multi-scale contrasted memory loss, from the model's outputs.

    Parameters
    ----------
    outputs : sequence of (q, r), one per scale
        ``q`` ``(n B, C, H, W)``: the feature maps of the stacked branches
        ``[t(x); t'(x); (shifted negatives)]`` in the memory's query space;
        ``r`` the same shape, their memory recollection ``HF(q)``.
    y : Tensor of shape (B,)
        1 normal, 0 known anomaly (Eq. 3).
    tau, lambda_v : float
        NT-Xent temperature and variance-loss weight ``λ_V``.
    scale_weights : sequence of float
        ``λ^(s)``, one per scale.
    sampling_ratios : sequence of float
        ``r^(s)``: share of the ``H^(s) W^(s)`` positions drawn without
        replacement (shared by both branches) per batch.
    use_memory : bool
        False trains plain SimCLR (the k-means baseline of Table 4(b)).
    """
    b = len(y)
    total, count = 0.0, 0
    for (q, r), lam, ratio in zip(outputs, scale_weights, sampling_ratios, strict=True):
        n, c, h, w = q.shape
        if n % b or n // b not in (2, 3):
            raise ValueError(f"Expected 2 or 3 stacked branches of {b} rows, got {n} rows.")
        k = max(int(h * w * ratio), 1)
        omega = torch.randperm(h * w, device=q.device)[:k]
        # (k, n B, C): each sampled position is its own contrastive problem.
        qs = q.flatten(2)[:, :, omega].permute(2, 0, 1)
        v1, v2 = qs[:, :b], qs[:, b:2 * b]
        negatives = qs[:, 2 * b:] if n // b == 3 else None
        if use_memory:
            rs = r[:b].flatten(2)[:, :, omega].permute(2, 0, 1)
            m1 = memory_mix(v1.transpose(0, 1), rs.transpose(0, 1), y).transpose(0, 1)
            per_pos = nt_xent(m1, v2, tau, negatives)
            if bool((y > 0).any()):
                per_pos = per_pos + lambda_v * variance_loss(m1, y)
        else:
            per_pos = nt_xent(v1, v2, tau, negatives)
        total = total + lam * per_pos.sum()
        count += k
    return total / count


class ContrastedMemoryLoss(nn.Module):
    """skorch criterion wrapping :func:`contrasted_memory_loss` (Eq. 7).

    ``forward(outputs, y)`` takes the module's per-scale ``(q, r)`` maps and
    the task's targets; the parameters are those of the function.
    """

    def __init__(self, tau: float = 0.1, lambda_v: float = 0.05,
                 scale_weights: Sequence[float] = (1.0, 2.0),
                 sampling_ratios: Sequence[float] = (0.3, 1.0), use_memory: bool = True):
        super().__init__()
        self.tau = float(tau)
        self.lambda_v = float(lambda_v)
        self.scale_weights = tuple(float(w) for w in scale_weights)
        self.sampling_ratios = tuple(float(r) for r in sampling_ratios)
        self.use_memory = bool(use_memory)

    def forward(self, outputs, y: torch.Tensor) -> torch.Tensor:
        return contrasted_memory_loss(outputs, y, tau=self.tau, lambda_v=self.lambda_v,
                                      scale_weights=self.scale_weights,
                                      sampling_ratios=self.sampling_ratios,
                                      use_memory=self.use_memory)
