"""Colour-space pretext transforms as batched tensor operations.

puzzle-tint-color-multicue.txt §III-B (tint rotation: a hue offset in HSV
space) and §III-C (partial colorization: predict the (A, B) channels of LAB
from L and the colours of a border of width b). Every function works on a
``(b, 3, H, W)`` RGB tensor with values in [0, 1] on any device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["rgb_to_hsv", "hsv_to_rgb", "tint_rotation", "rgb_to_lab", "lab_to_rgb",
           "partial_colorization", "border_mask", "AB_SCALE", "L_SCALE",
           "ColorizationTask", "elbow_color_clusters", "small_ab_colours"]

#: LAB channels are divided by these before entering the colorization network,
#: so L lies in [0, 1] and (A, B) roughly in [-1, 1].
L_SCALE = 100.0
AB_SCALE = 110.0

# sRGB (D65) -> XYZ, as scikit-image's rgb2lab.
_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)


def _check_rgb(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"Expected RGB images of shape (b, 3, H, W); got {tuple(x.shape)}.")


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> HSV with hue in [0, 1) (a full turn is 1), S and V in [0, 1]."""
    _check_rgb(x)
    r, g, b = x.unbind(1)
    v, argmax = x.max(1)
    mn = x.min(1).values
    delta = v - mn
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(argmax == 0, ((g - b) / safe) % 6,
                    torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h)) % 1.0
    s = torch.where(v > 0, delta / torch.where(v > 0, v, torch.ones_like(v)),
                    torch.zeros_like(v))
    return torch.stack([h, s, v], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    _check_rgb(hsv)
    h, s, v = hsv.unbind(1)
    # Closed form f(n) = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6 h) mod 6.
    out = []
    for n in (5.0, 3.0, 1.0):
        k = (n + 6.0 * h) % 6.0
        out.append(v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(out, 1)


def tint_rotation(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """§III-B, gamma(x, theta): add ``turns`` (fraction of 360°) to the hue of ``x``.

    ``turns`` broadcasts against ``(b, H, W)``: a ``(b,)`` tensor rotates
    whole images, a ``(b, H, W)`` map rotates each region (the pieces of
    §III-D) by its own angle. ``c`` rotations of ``1/c`` turn compose to the
    identity.
    """
    hsv = rgb_to_hsv(x)
    turns = turns.to(x.dtype)
    if turns.ndim == 1:
        turns = turns[:, None, None]
    h = (hsv[:, 0] + turns) % 1.0
    return hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], 1))


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE LAB (D65): L in [0, 100], A and B roughly in [-110, 110]."""
    _check_rgb(x)
    m = _RGB2XYZ.to(device=x.device, dtype=x.dtype)
    lin = torch.where(x > 0.04045, ((x.clamp_min(0) + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    xyz = xyz / _WHITE.to(device=x.device, dtype=x.dtype)[None, :, None, None]
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1.0 / 3.0),
                    7.787 * xyz + 16.0 / 116.0)
    L = 116.0 * f[:, 1] - 16.0
    A = 500.0 * (f[:, 0] - f[:, 1])
    B = 200.0 * (f[:, 1] - f[:, 2])
    return torch.stack([L, A, B], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_lab` (not clipped to [0, 1])."""
    _check_rgb(lab)
    L, A, B = lab.unbind(1)
    fy = (L + 16.0) / 116.0
    f = torch.stack([fy + A / 500.0, fy, fy - B / 200.0], 1)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16.0 / 116.0) / 7.787)
    xyz = xyz * _WHITE.to(device=lab.device, dtype=lab.dtype)[None, :, None, None]
    inv = torch.linalg.inv(_RGB2XYZ).to(device=lab.device, dtype=lab.dtype)
    lin = torch.einsum("ij,bjhw->bihw", inv, xyz)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055,
                       12.92 * lin)


def border_mask(h: int, w: int, border: int, device=None) -> torch.Tensor:
    """``(H, W)`` bool mask of Omega_b: True on the border of width ``border``."""
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    inner_r = (rows >= border) & (rows < h - border)
    inner_c = (cols >= border) & (cols < w - border)
    return ~(inner_r[:, None] & inner_c[None, :])


def partial_colorization(x: torch.Tensor, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    """§III-C: the input ``I_part = (L, A_Omega_b, B_Omega_b)`` and the target (A, B).

    Returns ``inputs`` ``(b, 3, H, W)`` (L / 100, then A and B / 110 on the
    border of width ``border``, zero inside) and ``targets`` ``(b, 2, H, W)``
    (A and B / 110 everywhere).
    """
    lab = rgb_to_lab(x)
    L = lab[:, :1] / L_SCALE
    ab = lab[:, 1:] / AB_SCALE
    omega = border_mask(x.shape[-2], x.shape[-1], border, x.device).to(x.dtype)
    return torch.cat([L, ab * omega], 1), ab


class ColorizationTask:
    """Pretext hook of the colorization UNet (§III-C).

    Turns a batch into ``I_part`` and the target ``(ab, inner)``: the (A, B)
    channels and the mask of the pixels inside the border, the only ones
    predicted (the border's colours are given).
    """

    #: A density has no chance-level loss the way a classifier has.
    chance_loss = None

    def __init__(self, border: int):
        self.border = int(border)

    def __call__(self, x: torch.Tensor):
        inputs, ab = partial_colorization(x, self.border)
        inner = ~border_mask(x.shape[-2], x.shape[-1], self.border, x.device)
        return inputs, (ab, inner[None])


def small_ab_colours(x: torch.Tensor, border: int) -> torch.Tensor:
    """The (A, B) colours ``(n, 64, 2)`` of the cropped (border removed), 8x8-downsampled
    images ``x`` ``(n, 3, H, W)`` in [0, 1]: what :func:`elbow_color_clusters` clusters."""
    h, w = x.shape[-2:]
    crop = x[:, :, border:h - border, border:w - border] if min(h, w) > 2 * border + 1 else x
    small = F.interpolate(crop, size=(8, 8), mode="bilinear", align_corners=False,
                          antialias=True)
    return rgb_to_lab(small)[:, 1:].permute(0, 2, 3, 1).reshape(len(x), -1, 2)


def elbow_color_clusters(x: torch.Tensor, border: int, seed: int, k_max: int = 10,
                         max_pixels: int = 4000, *, colours: torch.Tensor | None = None) -> int:
    """§III-C: number K of GMM components by the k-means elbow in ``[1, k_max]``.

    k-means on the (A, B) colours of the cropped (border removed),
    downsampled (8x8) normal images; K is the point of the inertia curve
    farthest from the chord joining its ends. ``x`` is ``(n, 3, H, W)`` in
    [0, 1], or ``None`` with ``colours`` given (:func:`small_ab_colours`
    computed a chunk at a time); at most ``max_pixels`` colours (drawn with
    ``seed``) are clustered.
    """
    from sklearn.cluster import KMeans

    if colours is None:
        colours = small_ab_colours(x, border)
    ab = colours.reshape(-1, 2).double().cpu().numpy()
    rng = np.random.RandomState(seed)
    if len(ab) > max_pixels:
        ab = ab[rng.choice(len(ab), max_pixels, replace=False)]
    ab = np.round(ab, 3)
    k_max = min(k_max, len(np.unique(ab, axis=0)))
    if k_max <= 2:
        return max(k_max, 1)
    ks = np.arange(1, k_max + 1)
    inertia = np.array([KMeans(k, n_init=2, random_state=seed).fit(ab).inertia_ for k in ks])
    # Elbow: the point farthest from the chord joining the first and last points.
    u = (ks - ks[0]) / (ks[-1] - ks[0])
    v = (inertia - inertia[-1]) / max(inertia[0] - inertia[-1], 1e-12)
    return int(ks[np.argmax(np.abs(1 - u - v))])
