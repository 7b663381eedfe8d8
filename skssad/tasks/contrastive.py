"""SimCLR views as batched tensor ops (anomem-contrasted-memory.txt §4.2).

§4.2: "random crop with rescale, horizontal symmetry, brightness
jittering, contrast jittering, saturation jittering with gaussian blur and
noise as in [9]" (SimCLR). As SimCLR, each transformation is applied with a
probability and every sample draws its own parameters (crop box, flip,
jitter factors, blur sigma, noise) from the torch RNG, with no per-sample
Python loop. SimCLR's values: crop area (0.08, 1), flip 0.5, colour jitter
strength 0.4 with probability 0.8, blur with probability 0.5 and sigma in
(0.1, 2.0) at 224 px; the blur sigma is scaled here to the image side
(ours), and the noise (SimCLR has none; the paper lists it) is ours.

:func:`rotation_shifted` gives the distribution-shifted negatives of our
``negatives="rotation"`` option (CSI, Tack et al. 2020; Sohn et al. 2021);
:class:`RotationTask` the rotation prediction of our ``rotation_pretrain``
option (Gidaris et al. 2018).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .geometric import N_ROTATIONS, rotate90

__all__ = ["contrastive_view", "rotation_shifted", "ContrastiveTask", "RotationTask"]


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of each image of ``x`` with its own ``sigma`` ``(B,)``."""
    b, c, h, w = x.shape
    radius = max(int(math.ceil(2 * float(sigma.max()))), 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t[None] ** 2 / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    # One grouped convolution: each (sample, channel) plane is its own group.
    v = F.pad(x.reshape(1, b * c, h, w), (radius,) * 4, mode="replicate")
    v = F.conv2d(v, k.view(b * c, 1, 1, -1), groups=b * c)
    v = F.conv2d(v, k.view(b * c, 1, -1, 1), groups=b * c)
    return v.view(b, c, h, w)


def contrastive_view(x: torch.Tensor, *, crop_scale: tuple[float, float] = (0.08, 1.0),
                     aspect: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = True,
                     jitter: float = 0.4, jitter_p: float = 0.8, blur_p: float = 0.5,
                     blur_sigma: tuple[float, float] = (0.1, 2.0), noise_std: float = 0.03,
                     noise_p: float = 0.5) -> torch.Tensor:
    """One random augmented view of every image of ``x`` ``(B, C, H, W)`` in [0, 1].

    Parameters
    ----------
    x : Tensor of shape (B, C, H, W)
    crop_scale : (float, float)
        Area share of the random resized crop.
    aspect : (float, float)
        Aspect-ratio range (log-uniform).
    flip : bool
        Horizontal symmetry with probability 0.5.
    jitter : float
        Brightness, contrast and saturation factors in ``[1 - jitter, 1 + jitter]``.
    jitter_p : float
        Probability that a sample is colour-jittered.
    blur_p : float
        Probability of a Gaussian blur.
    blur_sigma : (float, float)
        Blur sigma range in pixels at 224 px (SimCLR); scaled by ``W / 224``,
        at least 0.1 px.
    noise_std, noise_p : float
        Additive Gaussian noise and the probability it is applied.
    """
    if x.dim() != 4:
        raise ValueError(f"Expected a (B, C, H, W) batch, got shape {tuple(x.shape)}.")
    b, c, _, width = x.shape
    dev, dt = x.device, x.dtype

    def rand(*s):
        return torch.rand(*s, device=dev, dtype=dt)

    # Random resized crop (area in crop_scale, log-uniform aspect) + flip, one affine grid.
    area = crop_scale[0] + (crop_scale[1] - crop_scale[0]) * rand(b)
    lo, hi = math.log(aspect[0]), math.log(aspect[1])
    ratio = torch.exp(lo + (hi - lo) * rand(b))
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (1 - sx) * (2 * rand(b) - 1)
    ty = (1 - sy) * (2 * rand(b) - 1)
    sign = torch.where(rand(b) < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=dev)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=dt)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign.to(dt), tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # Colour jitter with probability jitter_p; a factor of 1 leaves a sample unchanged.
    on = (rand(b, 1, 1, 1) < jitter_p).to(dt)

    def factor():
        return 1 + on * jitter * (2 * rand(b, 1, 1, 1) - 1)

    v = (v * factor()).clamp(0, 1)
    mean = v.mean((1, 2, 3), keepdim=True)
    v = ((v - mean) * factor() + mean).clamp(0, 1)
    if c == 3:
        gray = (0.299 * v[:, :1] + 0.587 * v[:, 1:2] + 0.114 * v[:, 2:]).expand_as(v)
        v = ((v - gray) * factor() + gray).clamp(0, 1)
    # Gaussian blur on a random subset, each with its own sigma.
    scale = width / 224.0
    sigma = (blur_sigma[0] + (blur_sigma[1] - blur_sigma[0]) * rand(b)) * scale
    blurred = _gaussian_blur(v, sigma.clamp(min=0.1))
    v = torch.where(rand(b, 1, 1, 1) < blur_p, blurred, v)
    noise = noise_std * torch.randn_like(v) * (rand(b, 1, 1, 1) < noise_p).to(dt)
    return (v + noise).clamp(0, 1)


def rotation_shifted(x: torch.Tensor) -> torch.Tensor:
    """Each image rotated by a random non-zero multiple of 90° (a shifted distribution).

    CSI (Tack et al., NeurIPS 2020) and Sohn et al. (ICLR 2021) contrast a
    one-class training set against rotated copies of itself, so that
    NT-Xent cannot reach its optimum by spreading the normal class over the
    whole sphere. Square images only.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation_shifted needs square images, got {tuple(x.shape[-2:])}.")
    return rotate90(x, torch.randint(1, N_ROTATIONS, (len(x),), device=x.device))


class ContrastiveTask:
    """Pretext hook of Alg. 1 (l. 5-6): two independent views ``t(x), t'(x)``.

    ``task(x, y)`` returns ``(inputs, targets)``: ``inputs`` stacks the
    views ``[t(x); t'(x)]`` (and, with ``negatives="rotation"``, a third
    block of rotated views ``t''(rot(x))`` used only as negatives), so the
    backbone sees all branches in one forward pass (shared batch-norm
    statistics, as SimCLR); ``targets`` is ``y`` (1 normal, 0 known
    anomaly; ones when ``y`` is None), which the loss needs for Eq. (3).

    Parameters
    ----------
    crop_scale, flip, jitter, jitter_p, blur_p, blur_sigma, noise_std, noise_p
        As :func:`contrastive_view`.
    negatives : {None, "rotation"}, default=None
        None is the paper's Alg. 1; "rotation" adds shifted negatives (ours).
    """

    #: PretextNet passes the batch labels: Eq. (3) needs them.
    uses_labels = True

    def __init__(self, crop_scale=(0.08, 1.0), *, flip: bool = True, jitter: float = 0.4,
                 jitter_p: float = 0.8, blur_p: float = 0.5, blur_sigma=(0.1, 2.0),
                 noise_std: float = 0.03, noise_p: float = 0.5, negatives: str | None = None):
        if negatives not in (None, "rotation"):
            raise ValueError(f"negatives must be None or 'rotation', got {negatives!r}.")
        self.crop_scale = tuple(crop_scale)
        self.flip = bool(flip)
        self.jitter = float(jitter)
        self.jitter_p = float(jitter_p)
        self.blur_p = float(blur_p)
        self.blur_sigma = tuple(blur_sigma)
        self.noise_std = float(noise_std)
        self.noise_p = float(noise_p)
        self.negatives = negatives

    @property
    def n_branches(self) -> int:
        """Blocks of ``len(x)`` rows in ``inputs``."""
        return 3 if self.negatives == "rotation" else 2

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """One augmented view of ``x``."""
        return contrastive_view(x, crop_scale=self.crop_scale, flip=self.flip,
                                jitter=self.jitter, jitter_p=self.jitter_p,
                                blur_p=self.blur_p, blur_sigma=self.blur_sigma,
                                noise_std=self.noise_std, noise_p=self.noise_p)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        views = [self.view(x), self.view(x)]
        if self.negatives == "rotation":
            views.append(self.view(rotation_shifted(x)))
        targets = (torch.ones(len(x), device=x.device) if y is None
                   else y.to(device=x.device, dtype=torch.float32))
        return torch.cat(views), targets


class RotationTask:
    """Rotation prediction on lightly augmented views (Gidaris et al., ICLR 2018; ours for AnoMem).

    ``task(x)`` returns ``(views, k)``: each image gets a random resized crop
    of area ``crop_scale`` and aspect ratio ``aspect`` and, with ``flip``, a
    random horizontal symmetry (no colour jitter, blur or noise: they made
    the rotation of a photograph hard to tell at CPU scale), *then* a
    rotation by ``k * 90°`` with ``k`` uniform in 0-3. Flipping after
    rotating would mislabel the mirror image: ``flip(rot90(x)) =
    rot270(flip(x))``. ``chance_loss`` is ``log 4``.
    """

    chance_loss = math.log(N_ROTATIONS)

    def __init__(self, crop_scale=(0.6, 1.0), *, aspect=(3 / 4, 4 / 3), flip: bool = True):
        self.crop_scale = tuple(crop_scale)
        self.aspect = tuple(aspect)
        self.flip = bool(flip)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = torch.randint(N_ROTATIONS, (len(x),), device=x.device)
        views = contrastive_view(x, crop_scale=self.crop_scale, aspect=self.aspect,
                                 flip=self.flip, jitter=0.0, blur_p=0.0, noise_p=0.0)
        return rotate90(views, k), k
