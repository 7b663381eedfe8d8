"""AnoMem's networks (anomem-contrasted-memory.txt §3): backbone with memories, distance heads."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks.geometric import N_ROTATIONS
from .hopfield import HopfieldMemory
from .resnet import ResNet

__all__ = ["MultiScaleMemoryNet", "RotationNet", "ScaleDistanceHeads", "UniformRetrievalWarning"]


class UniformRetrievalWarning(UserWarning):
    """A Hopfield memory whose retrieval is near uniform: it recalls an average, not a prototype."""


class MultiScaleMemoryNet(nn.Module):
    """Backbone ``f`` with a Hopfield memory ``HF^(s)`` after each tapped stage (§3.1).

    ``forward(x)`` returns, per tapped scale ``s``, the pair ``(q, r)`` of
    ``(B, C_s, H_s, W_s)`` maps: ``q`` the features ``z^(s)`` in the memory's
    query space (:meth:`HopfieldMemory.query_map`) and ``r`` their
    recollection ``HF^(s)(z^(s))`` at every position (Eq. 8). The
    contrastive loss and the deviation ``Δ^(s) = q - r`` are functions of
    these outputs.

    Parameters
    ----------
    backbone : ResNet
    scales : sequence of int
        ResNet stages (1-4) that get a memory.
    n_memory : sequence of int
        ``N_Mem^(s)`` per scale.
    beta : float
        Inverse temperature of Eq. (1).
    n_steps : int
        Most iterations of Eq. (1).
    normalize : str
        See :class:`HopfieldMemory`.
    grid : sequence of int or None
        Per scale, the side the tapped map is average-pooled to before the
        memory (None: the backbone's own resolution). See
        ``AnoMemDetector(feature_grid=...)``.

    Attributes
    ----------
    retrieval : {"soft", "nearest"}
        "soft" is Eq. (1); "nearest" returns the closest stored pattern
        (the k-means comparison of §4.4, Table 4(b)).
    frozen_backbone : bool
        Whether :meth:`freeze_backbone` fixed the backbone.
    """

    def __init__(self, backbone: ResNet, scales: Sequence[int], n_memory: Sequence[int],
                 beta: float = 2.0, n_steps: int = 1, normalize: str = "layer",
                 grid: Sequence[int] | None = None):
        super().__init__()
        self.grid = None if grid is None else tuple(int(g) for g in grid)
        self.backbone = backbone
        self.scales = tuple(int(s) for s in scales)
        self.memories = nn.ModuleList(
            HopfieldMemory(backbone.channels[s - 1], int(n), beta, n_steps, normalize)
            for s, n in zip(self.scales, n_memory, strict=True))
        self.retrieval = "soft"
        self.frozen_backbone = False

    def freeze_backbone(self) -> None:
        """Fix the backbone, weights and batch-norm statistics: only the memories train."""
        self.backbone.requires_grad_(False)
        self.frozen_backbone = True
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "frozen_backbone", False):
            self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Raw tapped feature maps ``z^(s)``."""
        maps = self.backbone.forward_stages(x)
        out = [maps[s - 1] for s in self.scales]
        if self.grid is None:
            return out
        return [z if z.shape[-1] <= g and z.shape[-2] <= g else F.adaptive_avg_pool2d(z, g)
                for z, g in zip(out, self.grid, strict=True)]

    @torch.no_grad()
    def init_patterns_from(self, x: torch.Tensor) -> None:
        """Set every memory's patterns to query vectors of ``x`` at random positions.

        Ours (the paper initialises the memory randomly, Alg. 1 l. 2): with a
        sharp retrieval only the recollected patterns receive gradient, so
        random patterns far from the data stay unused (issue 17: 5-15 % of
        the slots used). Starting them on the normal data, as codebooks of
        vector quantisers are commonly initialised, lets every slot compete.
        Batch statistics of ``x`` are used, and the running statistics are
        restored afterwards.
        """
        state = {k: v.clone() for k, v in self.state_dict().items() if "running" in k
                 or "num_batches" in k}
        was_training = self.training
        self.train()
        for z, mem in zip(self.features(x), self.memories, strict=True):
            q = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            pick = torch.randperm(len(q), device=q.device)[:mem.patterns.shape[0]]
            if len(pick) < mem.patterns.shape[0]:
                pick = pick[torch.randint(len(pick), (mem.patterns.shape[0],), device=q.device)]
            chosen = q[pick]
            # A little noise keeps duplicates (small x) apart.
            chosen = chosen + 0.01 * chosen.std() * torch.randn_like(chosen)
            mem.patterns.data.copy_(chosen)
        self.load_state_dict(state, strict=False)
        self.train(was_training)

    def _recollect(self, mem: HopfieldMemory, q: torch.Tensor) -> torch.Tensor:
        if self.retrieval == "nearest":
            stored = mem.stored_patterns()
            flat = q.permute(0, 2, 3, 1).reshape(-1, q.shape[1])
            nearest = torch.cdist(flat, stored).argmin(1)
            return stored[nearest].view(q.shape[0], *q.shape[2:], -1).permute(0, 3, 1, 2)
        return mem.retrieve_map(q)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for z, mem in zip(self.features(x), self.memories, strict=True):
            # The query map is already normalised; the memory's own norm is idempotent on it.
            q = mem.query_map(z)
            out.append((q, self._recollect(mem, q)))
        return out


class RotationNet(nn.Module):
    """A backbone and a linear head that tells which of four rotations a view shows.

    Ours (``AnoMemDetector(rotation_pretrain=...)``): the globally pooled
    output of the backbone's last stage, then ``Linear(C, 4)`` logits.
    """

    def __init__(self, backbone: ResNet):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.channels[-1], N_ROTATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class ScaleDistanceHeads(nn.Module):
    """Eq. (10): per scale, average pooling ``phi`` then a two-layer MLP ``g^(s)``.

    Takes the concatenated pooled deviations ``(B, sum_s C_s p^2)`` and
    returns one anomaly distance per scale ``(B, S)``.
    """

    def __init__(self, dims: Sequence[int], hidden: int):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.ReLU(),
                                                nn.Linear(hidden, 1)) for d in self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.dims, dim=1)
        return torch.cat([g(p) for g, p in zip(self.mlps, parts, strict=True)], dim=1)
