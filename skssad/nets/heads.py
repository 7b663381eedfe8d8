"""Multi-task classification heads on a shared feature extractor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MultiHeadNet", "PuzzleTintNet"]


class MultiHeadNet(nn.Module):
    """``phi`` followed by N dense softmax heads ``f_T1 ... f_TN``.

    The multi-task model of puzzle-geom-multitask.txt §3.2 (Fig. 2): the
    heads share the representation ``phi(x)`` and each has dropout 0.3
    (§4). ``forward`` returns the heads' logits concatenated along the last
    axis, in the order of ``head_sizes``.

    Parameters
    ----------
    backbone : nn.Module
        Feature extractor with an ``out_features`` attribute.
    head_sizes : sequence of int
        Number of classes of each head.
    dropout : float, default=0.3
    preprocess : nn.Module or None
        Applied to the input first (e.g. a fitted ``Standardize``).
    """

    def __init__(self, backbone: nn.Module, head_sizes: Sequence[int], dropout: float = 0.3,
                 preprocess: nn.Module | None = None):
        super().__init__()
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.backbone = backbone
        self.head_sizes = [int(s) for s in head_sizes]
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Dropout(dropout), nn.Linear(backbone.out_features, s))
            for s in self.head_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.backbone(self.preprocess(x))
        return torch.cat([h(z) for h in self.heads], dim=-1)

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        """Split concatenated logits back into one tensor per head."""
        return list(torch.split(logits, self.head_sizes, dim=-1))


class PuzzleTintNet(nn.Module):
    """Encoder ``phi`` with the puzzle, tint, attention and geometric heads (Fig. 7-8).

    puzzle-tint-color-multicue.txt §VI-B: dense heads of size ``n^2``
    (piece-wise puzzle; ``k`` for the partial puzzle), ``n c`` (tint) and
    ``n`` (attention), each with dropout 0.3; the geometric heads are
    MHRot's 4 + 3 + 3 (PuzzleGeom). ``forward(pieces=..., geometric=...)``
    returns a dict of logits: ``"puzzle"``, ``"tint"`` and ``"attention"``
    for the puzzle images, ``"geometric"`` for the geometric views.

    Parameters
    ----------
    backbone : nn.Module
        Feature extractor with an ``out_features`` attribute.
    head_sizes : dict
        Head name -> classes; ``"geometric"`` maps to a sequence of sizes.
    dropout : float, default=0.3
    preprocess : nn.Module or None
    """

    def __init__(self, backbone: nn.Module, head_sizes: dict, dropout: float = 0.3,
                 preprocess: nn.Module | None = None):
        super().__init__()
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.backbone = backbone
        f = backbone.out_features
        self.heads = nn.ModuleDict()
        for name, size in head_sizes.items():
            if name == "geometric":
                self.heads[name] = nn.ModuleList(
                    nn.Sequential(nn.Dropout(dropout), nn.Linear(f, int(s))) for s in size)
            else:
                self.heads[name] = nn.Sequential(nn.Dropout(dropout), nn.Linear(f, int(size)))

    def forward(self, pieces: torch.Tensor | None = None,
                geometric: torch.Tensor | None = None) -> dict:
        out = {}
        if pieces is not None:
            z = self.backbone(self.preprocess(pieces))
            for name in ("puzzle", "tint", "attention"):
                if name in self.heads:
                    out[name] = self.heads[name](z)
        if geometric is not None:
            z = self.backbone(self.preprocess(geometric))
            out["geometric"] = torch.cat([h(z) for h in self.heads["geometric"]], dim=-1)
        return out
