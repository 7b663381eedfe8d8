"""Classification losses of the pretext tasks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiHeadCrossEntropy"]


class MultiHeadCrossEntropy(nn.Module):
    """Sum of the heads' cross-entropies (puzzle-geom-multitask.txt §3.2).

    ``logits`` are the heads' outputs concatenated (``MultiHeadNet``);
    ``targets`` is ``(b, n_heads)`` with one class index per head.
    """

    def __init__(self, head_sizes: Sequence[int]):
        super().__init__()
        self.head_sizes = [int(s) for s in head_sizes]

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        parts = torch.split(logits, self.head_sizes, dim=-1)
        return sum(F.cross_entropy(p, targets[:, i]) for i, p in enumerate(parts))
