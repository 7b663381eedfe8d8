"""Modern Hopfield memory layer (anomem-contrasted-memory.txt §2.1, Eq. 1).

Eq. (1) retrieves ``xi <- softmax(beta xi X) X^T`` "until convergence". How
sharp that retrieval is depends on the scale of ``xi X`` as much as on
``beta``: the paper's ``beta = 2`` sits on ResNet-50 features (1024 and 2048
channels), whose dot products are in the hundreds. On a small backbone the
same ``beta`` on raw features gives a near-uniform average of the memory
(issue 17: 56 of 64 slots per query) — an affine map, not a recollection.

``normalize="layer"`` (default) follows Ramsauer et al.'s Hopfield layer
(hflayers, whose default layer-normalises stored and state patterns): query
and patterns are layer-normalised (zero mean, unit variance over the ``d``
channels, no affine) before Eq. (1), so ``xi X`` is ``d`` times a Pearson
correlation and ``beta`` acts on a scale that does not drift with the
backbone's feature norms or weight decay. Centring matters for ReLU
features, whose raw cosines are all positive. ``normalize="none"`` is
Eq. (1) on raw vectors; ``"cosine"`` puts ``beta`` on the cosine itself
(very soft at ``beta = 2``: the logits span at most 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HopfieldMemory", "hopfield_retrieve", "hopfield_attention",
           "effective_slots", "NORMALIZATIONS"]

#: how queries and patterns are put on a common scale before Eq. (1)
NORMALIZATIONS = ("layer", "scaled", "cosine", "none")


def hopfield_attention(query: torch.Tensor, patterns: torch.Tensor,
                       beta: float) -> torch.Tensor:
    """``softmax(beta xi X)``: the weights of Eq. (1) over the ``N_mem`` patterns."""
    if query.shape[-1] != patterns.shape[-1]:
        raise ValueError(f"query dimension {query.shape[-1]} does not match the "
                         f"patterns' dimension {patterns.shape[-1]}.")
    return torch.softmax(beta * query @ patterns.T, dim=-1)


def hopfield_retrieve(query: torch.Tensor, patterns: torch.Tensor, beta: float,
                      n_steps: int = 1, tol: float | None = None) -> torch.Tensor:
    """Eq. (1): ``xi <- softmax(beta xi X) X^T``, iterated up to ``n_steps`` times.

    ``query`` is ``(..., d)``, ``patterns`` is ``(N_mem, d)`` (the paper's
    ``X`` transposed); the result has the shape of ``query``. With ``tol``
    the iteration stops once no query moved by more than ``tol`` (max norm),
    the "until convergence" of §2.1; Ramsauer et al. show one step usually
    reaches the fixed point when patterns are well separated.
    """
    xi = query
    for _ in range(int(n_steps)):
        new = hopfield_attention(xi, patterns, beta) @ patterns
        if tol is not None and float((new - xi).abs().max()) <= tol:
            return new
        xi = new
    return xi


def effective_slots(attention: torch.Tensor) -> torch.Tensor:
    """``exp`` of the attention entropy per query: 1 for one-hot, ``N_mem`` for uniform."""
    p = attention.clamp_min(1e-12)
    return torch.exp(-(attention * p.log()).sum(-1))


class HopfieldMemory(nn.Module):
    """Hopfield layer of size ``n_memory`` with learnable patterns (Eq. 1).

    Parameters
    ----------
    dim : int
        Dimension ``d`` of the stored patterns and of the queries.
    n_memory : int
        Number ``N_Mem`` of stored patterns.
    beta : float, default=2.0
        Inverse temperature.
    n_steps : int, default=1
        Most retrieval iterations of Eq. (1).
    normalize : {"layer", "cosine", "none"}, default="layer"
        Common scale of queries and patterns before Eq. (1) (module
        docstring). The retrieved vector and :meth:`query_space` live in
        that normalised space, so the deviation of Eq. (8) compares like
        with like.
    tol : float or None, default=1e-4
        Convergence tolerance of the iteration (None: always ``n_steps``).
    """

    def __init__(self, dim: int, n_memory: int, beta: float = 2.0, n_steps: int = 1,
                 normalize: str = "layer", tol: float | None = 1e-4):
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}.")
        self.patterns = nn.Parameter(torch.randn(n_memory, dim) / dim ** 0.5)
        self.beta = float(beta)
        self.n_steps = int(n_steps)
        self.normalize = normalize
        self.tol = tol

    def _norm(self, v: torch.Tensor) -> torch.Tensor:
        if self.normalize in ("layer", "scaled"):
            return F.layer_norm(v, v.shape[-1:])
        if self.normalize == "cosine":
            return F.normalize(v, dim=-1)
        return v

    def query_space(self, query: torch.Tensor) -> torch.Tensor:
        """The query as Eq. (1) sees it (normalised as ``normalize`` says)."""
        return self._norm(query)

    def stored_patterns(self) -> torch.Tensor:
        """``(N_mem, d)`` patterns in the space of :meth:`query_space`."""
        return self._norm(self.patterns)

    @property
    def effective_beta(self) -> float:
        """The inverse temperature applied to ``xi X`` in the normalised space."""
        if self.normalize == "scaled":
            return self.beta / self.patterns.shape[1] ** 0.5
        return self.beta

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        return hopfield_retrieve(self._norm(query), self.stored_patterns(), self.effective_beta,
                                 self.n_steps, self.tol if not self.training else None)

    def attention(self, query: torch.Tensor) -> torch.Tensor:
        """First-step weights ``softmax(beta xi X)`` of ``query`` ``(..., d)`` over the slots."""
        return hopfield_attention(self._norm(query), self.stored_patterns(), self.effective_beta)

    def retrieve_map(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the memory to every spatial vector of ``z`` ``(B, C, H, W)`` (Eq. 8)."""
        return self(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def query_map(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`query_space` of every spatial vector of ``z`` ``(B, C, H, W)``."""
        return self._norm(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
