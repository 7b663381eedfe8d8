"""Modern Hopfield memory layer (anomem-contrasted-memory.txt §2.1, Eq. 1)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HopfieldMemory", "hopfield_retrieve"]


def hopfield_retrieve(query: torch.Tensor, patterns: torch.Tensor, beta: float,
                      n_steps: int = 1) -> torch.Tensor:
    """Eq. (1): ``xi <- softmax(beta xi X) X^T``, iterated ``n_steps`` times.

    ``query`` is ``(..., d)``, ``patterns`` is ``(N_mem, d)`` (the paper's
    ``X`` transposed); the result has the shape of ``query``.
    """
    if query.shape[-1] != patterns.shape[-1]:
        raise ValueError(f"query dimension {query.shape[-1]} does not match the "
                         f"patterns' dimension {patterns.shape[-1]}.")
    xi = query
    for _ in range(int(n_steps)):
        xi = torch.softmax(beta * xi @ patterns.T, dim=-1) @ patterns
    return xi


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
        Retrieval iterations of Eq. (1).
    """

    def __init__(self, dim: int, n_memory: int, beta: float = 2.0, n_steps: int = 1):
        super().__init__()
        self.patterns = nn.Parameter(torch.randn(n_memory, dim) / dim ** 0.5)
        self.beta = float(beta)
        self.n_steps = int(n_steps)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        return hopfield_retrieve(query, self.patterns, self.beta, self.n_steps)

    def retrieve_map(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the memory to every spatial vector of ``z`` ``(B, C, H, W)`` (Eq. 8)."""
        return self(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
