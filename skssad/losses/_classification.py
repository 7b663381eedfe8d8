"""Classification losses of the pretext tasks, as functions of model outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._density import attention_weights

__all__ = ["MultiHeadCrossEntropy", "piece_wise_puzzle_loss", "attention_spread_loss",
           "intra_piece_loss", "PuzzleTintLoss"]


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


def piece_wise_puzzle_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. (7): one ``n``-way cross-entropy per slot, averaged (or one ``k``-way, partial).

    ``logits`` ``(B, n * n)`` with ``targets`` ``(B, n)`` (original piece of
    each slot), or ``(B, k)`` with ``targets`` ``(B,)`` (partial puzzle).
    """
    if targets.ndim == 2:
        n = targets.shape[1]
        return F.cross_entropy(logits.reshape(-1, n), targets.reshape(-1))
    return F.cross_entropy(logits, targets)


def attention_spread_loss(weights: torch.Tensor) -> torch.Tensor:
    """Our spread term of the attention map: ``KL(U || P') = -mean_i log(n P'_i)``, ``(B,)``.

    §III-D asks for a term that prevents degenerate maps where one piece
    takes all the weight. Eq. (23) as printed measures the spatial spread;
    added to the loss (Eq. 24) it rewards exactly those one-piece maps
    (measured: 0.994 of the weight on the centre piece), and subtracted it
    puts all the weight in the corners whatever the image (0.23-0.27 each,
    centre 0.000). The Kullback-Leibler divergence from the uniform map is
    zero for a uniform map and infinite when a weight vanishes. With the
    weighted task loss of Eq. (24), ``sum_i P'_i l_i + KL(U || P')`` is
    minimised by ``P'_i = 1 / (n (l_i + nu))`` (``nu`` normalises): every
    piece keeps some weight, and pieces whose intra-piece task is solvable
    (coloured, on the object) get more than pieces where it cannot be
    (grey background, ``l_i = log c``) -- the rough object mask of Fig. 8.
    """
    n = weights.shape[-1]
    return -(n * weights).clamp_min(1e-12).log().mean(-1)


def intra_piece_loss(logits: torch.Tensor, targets: torch.Tensor,
                     attention: torch.Tensor | None = None,
                     perm: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (20) (uniform weights) or, with attention, Eq. (24)'s weighted term and spread.

    ``logits`` ``(B, n * c)`` (``c`` classes per slot), ``targets`` ``(B, n)``
    per slot. ``attention`` ``(B, n)`` are the attention head's logits per
    slot; ``perm`` ``(B, n)`` (slot -> original piece) moves them to the
    original pieces first, so that the map (Eq. 21) is a map of the image
    and the spread term of :func:`attention_spread_loss` is taken over it.
    """
    B, n = targets.shape
    ce = F.cross_entropy(logits.reshape(B * n, -1), targets.reshape(-1),
                         reduction="none").view(B, n)
    if attention is None:
        return ce.mean()
    if perm is not None:  # the same permutation moves losses and logits alike
        ce = torch.empty_like(ce).scatter_(1, perm, ce)
        attention = torch.empty_like(attention).scatter_(1, perm, attention)
    w = attention_weights(attention)  # Eq. (21)
    return ((w * ce).sum(1) + attention_spread_loss(w)).mean()


class PuzzleTintLoss(nn.Module):
    """Criterion of the puzzle encoder: Eq. (7) + Eq. (20) or (24), + MHRot's loss.

    ``out`` is the dict of :class:`~skssad.nets.PuzzleTintNet`, ``targets``
    that of :class:`~skssad.tasks.puzzle.PuzzleTintTask`. ``chance_loss``
    is the same loss for a model that guesses uniformly.
    """

    def __init__(self, attention: bool, geometric_heads: Sequence[int] = (4, 3, 3)):
        super().__init__()
        self.attention = bool(attention)
        self.geometric = MultiHeadCrossEntropy(geometric_heads)

    def forward(self, out: dict, targets: dict) -> torch.Tensor:
        loss = 0.0
        if "puzzle" in targets:
            loss = loss + piece_wise_puzzle_loss(out["puzzle"], targets["puzzle"])
        if "tint" in targets:
            att = out["attention"] if self.attention else None
            loss = loss + intra_piece_loss(out["tint"], targets["tint"], att,
                                           targets.get("perm"))
        if "geometric" in targets:
            loss = loss + self.geometric(out["geometric"], targets["geometric"])
        return loss
