"""ResNet with exposed stages (He et al. 2016), configurable depth and width.

anomem-contrasted-memory.txt §3.1 taps the feature maps ``z^(s)`` after
given stages; :meth:`ResNet.forward_stages` returns them all.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "RESNET_BLOCKS"]

#: depth -> residual blocks per stage; 10-34 use basic blocks, 50 bottleneck
#: blocks (He et al. 2016, Table 1), as the paper's ResNet-50 (§4.2).
RESNET_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}
#: depths built from bottleneck blocks
BOTTLENECK_DEPTHS = frozenset({50})


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


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with batch norm; ResNet-50's block."""

    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int):
        super().__init__()
        c_out = c_mid * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 1, bias=False), nn.BatchNorm2d(c_mid), nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False), nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                    nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: 3x3 stem, four stages of widths ``w, 2w, 4w, 8w``.

    Depth 50 uses bottleneck blocks, whose stage outputs are 4x wider
    (``4w, 8w, 16w, 32w``; 2048 channels after stage 4 for ``w = 64``).

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
        bottleneck = depth in BOTTLENECK_DEPTHS
        expansion = Bottleneck.expansion if bottleneck else 1
        stages, c_in = [], width
        for i, n_blocks in enumerate(RESNET_BLOCKS[depth]):
            c_mid = width * 2 ** i
            c_out = c_mid * expansion
            blocks = []
            for b in range(n_blocks):
                stride = (1 if i == 0 else 2) if b == 0 else 1
                blocks.append(Bottleneck(c_in, c_mid, stride) if bottleneck
                              else BasicBlock(c_in, c_out, stride))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(width * 2 ** i * expansion for i in range(4))

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
