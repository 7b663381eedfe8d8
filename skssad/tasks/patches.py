"""Patch tiling for images larger than a model's input.

igd-interpolated-gaussian-descriptor.txt §4.2: the local model sees 32x32
patches cut with stride 16 from each image; an image's score is its most
anomalous patch, and a pixel's anomaly map (Eq. 12) merges the maps of the
patches covering it. :class:`PatchTiler` cuts and merges with one indexing
operation each (no per-patch Python loop).
"""

from __future__ import annotations

import torch

__all__ = ["PatchTiler"]


class PatchTiler:
    """Cut ``(b, C, H, W)`` images into ``p x p`` patches every ``stride`` pixels, and merge back.

    The last row and column of patches are aligned with the image's far
    edges, so every pixel is covered even when ``stride`` does not divide
    ``H - p``.

    Parameters
    ----------
    patch_size : int
        Side ``p`` of the square patches.
    stride : int
        Step between patch origins.

    Examples
    --------
    >>> import torch
    >>> tiler = PatchTiler(4, 2)
    >>> x = torch.rand(2, 1, 8, 8)
    >>> tiler.tile(x).shape
    torch.Size([18, 1, 4, 4])
    >>> torch.allclose(tiler.merge(tiler.tile(x)[:, 0].view(2, 9, 4, 4), (8, 8)), x[:, 0])
    True
    """

    def __init__(self, patch_size: int, stride: int):
        if patch_size < 1 or stride < 1:
            raise ValueError(f"patch_size and stride must be >= 1, got {patch_size}, {stride}.")
        self.patch_size = int(patch_size)
        self.stride = int(stride)

    def positions(self, length: int) -> torch.Tensor:
        """Patch origins along a side of ``length`` pixels."""
        p = self.patch_size
        if length < p:
            raise ValueError(f"A side of {length} pixels is smaller than the patch size {p}.")
        starts = list(range(0, length - p + 1, self.stride))
        if starts[-1] != length - p:  # cover the last rows / columns too
            starts.append(length - p)
        return torch.tensor(starts)

    def n_patches(self, height: int, width: int) -> int:
        """Patches per image of ``height x width`` pixels."""
        return len(self.positions(height)) * len(self.positions(width))

    def _index(self, height: int, width: int, device):
        steps = torch.arange(self.patch_size)
        rows = (self.positions(height)[:, None] + steps).to(device)  # (P_h, p)
        cols = (self.positions(width)[:, None] + steps).to(device)  # (P_w, p)
        return rows[:, None, :, None], cols[None, :, None, :]  # broadcast to (P_h, P_w, p, p)

    def tile(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, C, H, W)`` -> ``(b * P, C, p, p)``, patches of an image in row-major order."""
        b, c, h, w = x.shape
        rows, cols = self._index(h, w, x.device)
        patches = x[:, :, rows, cols]  # (b, C, P_h, P_w, p, p)
        p = self.patch_size
        return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, p, p)

    def merge(self, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Per-patch maps ``(b, P, p, p)`` -> ``(b, H, W)``: each pixel averages its patches."""
        (h, w), b = size, len(maps)
        rows, cols = self._index(h, w, maps.device)
        flat = (rows * w + cols).reshape(-1)  # pixel index of every patch pixel
        total = maps.new_zeros(b, h * w).index_add_(1, flat, maps.reshape(b, -1))
        count = maps.new_zeros(h * w).index_add_(0, flat, maps.new_ones(flat.shape))
        return (total / count).view(b, h, w)
