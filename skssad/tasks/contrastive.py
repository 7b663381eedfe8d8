"""SimCLR views as batched tensor ops (anomem-contrasted-memory.txt §4.2).

Random resized crop, horizontal flip, brightness/contrast/saturation
jitter, Gaussian blur and Gaussian noise; every sample draws its own
parameters from the torch RNG, with no per-sample Python loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["contrastive_view", "ContrastiveTask"]


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(int(2 * sigma + 0.5), 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def contrastive_view(x: torch.Tensor, *, crop_scale: tuple[float, float] = (0.3, 1.0),
                     aspect: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = True,
                     jitter: float = 0.4, blur_p: float = 0.5,
                     blur_sigma: float = 1.0, noise_std: float = 0.03) -> torch.Tensor:
    """One random augmented view of every image of ``x`` ``(B, C, H, W)`` in [0, 1]."""
    if x.dim() != 4:
        raise ValueError(f"Expected a (B, C, H, W) batch, got shape {tuple(x.shape)}.")
    b, c = x.shape[:2]
    dev, dt = x.device, x.dtype
    rand = lambda *s: torch.rand(*s, device=dev, dtype=dt)  # noqa: E731
    # Random resized crop (area in crop_scale, log-uniform aspect) + flip, one affine grid.
    area = crop_scale[0] + (crop_scale[1] - crop_scale[0]) * rand(b)
    lo, hi = math.log(aspect[0]), math.log(aspect[1])
    aspect = torch.exp(lo + (hi - lo) * rand(b))
    sx = torch.sqrt(area * aspect).clamp(max=1.0)
    sy = torch.sqrt(area / aspect).clamp(max=1.0)
    tx = (1 - sx) * (2 * rand(b) - 1)
    ty = (1 - sy) * (2 * rand(b) - 1)
    sign = torch.where(rand(b) < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=dev)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=dt)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign.to(dt), tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # Colour jitter: brightness, contrast, saturation factors in [1 - j, 1 + j].
    f = lambda: (1 + jitter * (2 * rand(b, 1, 1, 1) - 1))  # noqa: E731
    v = v * f()
    mean = v.mean((1, 2, 3), keepdim=True)
    v = (v - mean) * f() + mean
    if c == 3:
        gray = (0.299 * v[:, :1] + 0.587 * v[:, 1:2] + 0.114 * v[:, 2:]).expand_as(v)
        v = (v - gray) * f() + gray
    v = v.clamp(0, 1)
    # Gaussian blur on a random subset, then additive Gaussian noise.
    blurred = _gaussian_blur(v, blur_sigma)
    v = torch.where(rand(b, 1, 1, 1) < blur_p, blurred, v)
    return (v + noise_std * torch.randn_like(v)).clamp(0, 1)


class ContrastiveTask:
    """Pretext hook: two independent views ``t(x), t'(x)`` of a batch (Alg. 1, l. 5-6)."""

    def __init__(self, crop_scale=(0.3, 1.0), jitter: float = 0.4, blur_p: float = 0.5,
                 noise_std: float = 0.03, flip: bool = True):
        self.crop_scale = tuple(crop_scale)
        self.flip = bool(flip)
        self.jitter = float(jitter)
        self.blur_p = float(blur_p)
        self.noise_std = float(noise_std)

    def __call__(self, x: torch.Tensor):
        kw = dict(crop_scale=self.crop_scale, jitter=self.jitter, blur_p=self.blur_p,
                  noise_std=self.noise_std, flip=getattr(self, "flip", True))
        return contrastive_view(x, **kw), contrastive_view(x, **kw)
