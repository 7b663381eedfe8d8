"""ResNet with exposed stages (He et al. 2016), configurable depth and width.

anomem-contrasted-memory.txt §3.1 taps the feature maps ``z^(s)`` after
given stages; :meth:`ResNet.forward_stages` returns them all.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResNet", "BasicBlock", "RESNET_BLOCKS"]

#: depth -> residual blocks per stage (basic blocks; 50 uses basic blocks too here).
RESNET_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity/projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                    nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: 3x3 stem, four stages of widths ``w, 2w, 4w, 8w``.

    Parameters
    ----------
    in_channels : int
    depth : int, default=18
        One of ``RESNET_BLOCKS`` (10, 18, 34, 50).
    width : int, default=64
        Channels of the first stage.
    preprocess : nn.Module or None
        Applied to the input first (e.g. ``Standardize``).
    """

    def __init__(self, in_channels: int, depth: int = 18, width: int = 64,
                 preprocess: nn.Module | None = None):
        super().__init__()
        if depth not in RESNET_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(RESNET_BLOCKS)}, got {depth}.")
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, c_in = [], width
        for i, n_blocks in enumerate(RESNET_BLOCKS[depth]):
            c_out = width * 2 ** i
            blocks = [BasicBlock(c_in if b == 0 else c_out, c_out,
                                 (1 if i == 0 else 2) if b == 0 else 1)
                      for b in range(n_blocks)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(width * 2 ** i for i in range(4))

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after stages 1..4 (``z^(1..4)``)."""
        h = self.stem(self.preprocess(x))
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(x)[-1].mean((2, 3))
