"""A small UNet (Ronneberger et al., 2015) for per-pixel colour densities.

puzzle-tint-color-multicue.txt §III-C, Fig. 6 and §V: the partial
colorization task is solved by a UNet, trained independently of the puzzle
encoder, whose output channels parameterise a per-pixel GMM or colour bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.1, inplace=True))


class UNet(nn.Module):
    """Encoder-decoder with skip connections: ``(b, C_in, H, W) -> (b, C_out, H, W)``.

    Parameters
    ----------
    in_channels : int
        Input channels (3 for ``I_part = (L, A_Omega, B_Omega)``).
    out_channels : int
        Output channels (``6 K`` for a K-component GMM, ``2 K`` for bins).
    width : int, default=16
        Channels of the first level; doubled at each level down.
    levels : int, default=2
        Number of 2x downsamplings. Odd sizes are handled by resizing the
        upsampled map to its skip connection.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 2, width: int = 16,
                 levels: int = 2):
        super().__init__()
        widths = [width * 2 ** i for i in range(levels + 1)]
        self.down = nn.ModuleList([_block(in_channels, widths[0])])
        self.down.extend(_block(widths[i], widths[i + 1]) for i in range(levels))
        self.up = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i])
                                for i in reversed(range(levels)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], 1))
        return self.head(x)
