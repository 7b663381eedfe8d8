"""The auto-encoder's pretext task: reconstruct the input.

igd-interpolated-gaussian-descriptor.txt Eq. (1), (8): the target of every
image is the image itself. As a task (rather than ``fit(X, X)``) the target
is the batch *after* the loader prepared it, so the training set can stay in
its raw dtype on the device (uint8 is never copied to float as a whole).
"""

from __future__ import annotations

import torch

__all__ = ["ReconstructionTask"]


class ReconstructionTask:
    """``x -> (x, x)``: the prepared batch is both input and target.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 4, 4)
    >>> inputs, targets = ReconstructionTask()(x)
    >>> inputs is x and targets is x
    True
    """

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x
