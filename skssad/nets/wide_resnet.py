"""Wide residual network (Zagoruyko & Komodakis, 2016) as a feature extractor.

The papers use WRN-16-4 (puzzle-geom-multitask.txt §4;
puzzle-tint-color-multicue.txt §V). ``depth = 6 * n + 4`` with ``n`` basic
blocks per group; group widths ``16w, 32w, 64w`` with strides 1, 2, 2.
LeakyReLU replaces ReLU by default: dead ReLUs in tiny networks make every
softmax score tie, which no anomaly score survives.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["WideResNet", "Standardize"]


class Standardize(nn.Module):
    """Per-channel standardisation with fitted (buffer) mean and std."""

    def __init__(self, mean, std):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp_min(1e-6))

    def forward(self, x):
        return (x - self.mean) / self.std

    @classmethod
    def fitted(cls, x: torch.Tensor) -> Standardize:
        """Statistics of a ``(n, C, H, W)`` tensor of training images."""
        dims = (0, 2, 3)
        return cls(x.mean(dims).cpu(), x.std(dims).cpu() if len(x) > 1 else
                   torch.ones(x.shape[1]))


def _act(leaky: bool) -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True) if leaky else nn.ReLU(inplace=True)


class _BasicBlock(nn.Module):
    """Pre-activation block: BN-act-conv3x3-BN-act-conv3x3 with a shortcut."""

    def __init__(self, c_in, c_out, stride, leaky, dropout=0.0):
        super().__init__()
        self.bn1, self.act1 = nn.BatchNorm2d(c_in), _act(leaky)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.act2 = nn.BatchNorm2d(c_out), _act(leaky)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (None if c_in == c_out and stride == 1
                         else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False))

    def forward(self, x):
        o = self.act1(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(o)
        o = self.conv2(self.drop(self.act2(self.bn2(self.conv1(o)))))
        return o + shortcut


class WideResNet(nn.Module):
    """WRN-depth-width feature extractor: ``(b, C, H, W) -> (b, out_features)``.

    Parameters
    ----------
    in_channels : int
        Image channels.
    depth : int, default=16
        ``6 n + 4``; 16 is the papers' choice, 10 the smallest.
    width : int, default=4
        Widening factor ``w``.
    leaky : bool, default=True
        LeakyReLU(0.1) instead of ReLU.
    dropout : float, default=0.0
        Dropout inside the residual blocks (the papers put theirs on the heads).
    pool : bool, default=True
        Global average pooling; ``False`` returns the last feature map.
    grid : (int, int) or None, default=None
        Average-pool the last feature map to a ``grid`` of cells and flatten
        it (``out_features = 64 w g_h g_w``) instead of pooling globally. A
        globally pooled fully-convolutional network is nearly translation
        invariant, so it cannot tell *where* a piece sits: the jigsaw
        puzzle needs the spatial layout (one cell per puzzle slot).
    """

    def __init__(self, in_channels: int = 3, depth: int = 16, width: int = 4, *,
                 leaky: bool = True, dropout: float = 0.0, pool: bool = True,
                 grid: tuple[int, int] | None = None):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4 >= 10, got {depth}.")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        layers = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)]
        for g, stride in enumerate((1, 2, 2)):
            for i in range(n):
                c_in = widths[g] if i == 0 else widths[g + 1]
                layers.append(_BasicBlock(c_in, widths[g + 1], stride if i == 0 else 1,
                                          leaky, dropout))
        layers += [nn.BatchNorm2d(widths[3]), _act(leaky)]
        self.features = nn.Sequential(*layers)
        self.pool = pool
        self.grid = None if grid is None else (int(grid[0]), int(grid[1]))
        self.out_features = widths[3] * (1 if self.grid is None else self.grid[0] * self.grid[1])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")

    def forward(self, x):
        z = self.features(x)
        if self.grid is not None:
            return nn.functional.adaptive_avg_pool2d(z, self.grid).flatten(1)
        return z.mean((2, 3)) if self.pool else z
