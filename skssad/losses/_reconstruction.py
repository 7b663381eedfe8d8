"""Reconstruction, interpolation-critic and Gaussian-descriptor losses of IGD.

igd-interpolated-gaussian-descriptor.txt §3: the glocal MS-SSIM + MAE
reconstruction loss (Eq. 8-9) and its per-pixel form (Eq. 12), the ACAI
critic and auto-encoder terms (Eq. 2, 5, 6), and the Gaussian SVDD
descriptor trained by EM (Eq. 7), with Deep SVDD as the ablation's
alternative (§4.5, Table 5).

MS-SSIM: :func:`ms_ssim` is a direct implementation that follows
``pytorch_msssim.ms_ssim`` step by step (Gaussian window, valid filtering,
average pooling between scales, the non-negative clamp), and
:func:`ms_ssim` dispatches to ``pytorch_msssim`` itself (``backend="auto"``)
where that library accepts the input: images larger than
``(win_size - 1) * 16`` pixels and no gradient needed. Training uses the
direct implementation because ``pytorch_msssim`` refuses the 16-32 pixel
inputs of the quick and paper profiles and its ``relu(cs) ** w`` gives NaN
gradients at 0; the unit tests check both agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "GLOBAL_MSSSIM_WEIGHTS",
    "LOCAL_MSSSIM_WEIGHTS",
    "gaussian_window",
    "ms_ssim",
    "ms_ssim_map",
    "glocal_reconstruction_loss",
    "glocal_reconstruction_map",
    "acai_critic_loss",
    "acai_autoencoder_penalty",
    "acai_interpolate",
    "gaussian_svdd_estep",
    "gaussian_svdd_loss",
    "deep_svdd_loss",
    "deep_svdd_center",
    "deep_svdd_radius",
]

#: §4.2: M_G = 5 scales with the weights of Wang et al. (2003).
GLOBAL_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: §4.2: M_L = 4 scales, re-normalised from the 5-scale proportions.
LOCAL_MSSSIM_WEIGHTS = (0.0516, 0.3295, 0.3463, 0.2726)

# Clamp before the fractional powers of Eq. (9): 0 ** w has an infinite gradient.
_POW_EPS = 1e-4


def gaussian_window(size: int, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian window of odd ``size`` (as pytorch_msssim's)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd integer, got {size}.")
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(x, win, same):
    """Separable Gaussian blur per channel.

    ``same=False``: valid filtering, a dimension shorter than the window is
    skipped (as pytorch_msssim). ``same=True``: reflect padding keeps the
    map at the input's size (Eq. 12 maps); the window is cropped to what
    fits at tiny scales.
    """
    c, k = x.shape[1], win.numel()
    for dim in (2, 3):
        w = win
        if same:
            half = min(k // 2, x.shape[dim] - 1)
            w = win[k // 2 - half:k // 2 + half + 1]
            w = w / w.sum()
            if half > 0:
                pad = [half, half, 0, 0] if dim == 3 else [0, 0, half, half]
                x = F.pad(x, pad, mode="reflect")
        elif x.shape[dim] < k:
            continue
        shape = [c, 1, 1, 1]
        shape[dim] = w.numel()
        view = [1, 1, 1, 1]
        view[dim] = w.numel()
        x = F.conv2d(x, w.to(x.device, x.dtype).view(view).expand(shape), groups=c)
    return x


def _ssim_terms(x, y, win, data_range, K, same):
    """Per-pixel luminance * contrast-structure (ssim) and contrast-structure (cs) maps."""
    c1 = (K[0] * data_range) ** 2
    c2 = (K[1] * data_range) ** 2
    mu1, mu2 = _filter(x, win, same), _filter(y, win, same)
    s11 = _filter(x * x, win, same) - mu1 ** 2
    s22 = _filter(y * y, win, same) - mu2 ** 2
    s12 = _filter(x * y, win, same) - mu1 * mu2
    # Eq. (9) with C3 = C2 / 2: c_m * s_m = (2 σxy + C2) / (σx² + σy² + C2)
    cs = (2 * s12 + c2) / (s11 + s22 + c2)
    lum = (2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1)
    return lum * cs, cs


def _downsample(x):
    return F.avg_pool2d(x, kernel_size=2, padding=[s % 2 for s in x.shape[2:]])


def _check_pair(x, y):
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"Expected two (n, C, H, W) tensors of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, weights=GLOBAL_MSSSIM_WEIGHTS,
            win_size: int = 5, win_sigma: float = 1.5, data_range: float = 1.0,
            K=(0.01, 0.03), eps: float = 0.0, backend: str = "direct") -> torch.Tensor:
    """Multi-scale SSIM of Eq. (9) per image, averaged over channels: ``(n,)``.

    ``backend="direct"`` is the reference implementation (same steps as
    ``pytorch_msssim.ms_ssim``); ``"pytorch_msssim"`` calls that library;
    ``"auto"`` calls it when it accepts the input size and no gradient is
    needed. ``eps > 0`` clamps the terms at ``eps`` instead of 0 so that
    gradients stay finite (used in training).
    """
    _check_pair(x, y)
    small = min(x.shape[-2:]) <= (win_size - 1) * 16
    if backend == "pytorch_msssim" or (backend == "auto" and not small and eps == 0
                                       and not (x.requires_grad or y.requires_grad)):
        from pytorch_msssim import ms_ssim as _lib_ms_ssim

        return _lib_ms_ssim(x, y, data_range=data_range, size_average=False,
                            win_size=win_size, win_sigma=win_sigma, weights=list(weights),
                            K=K)
    if backend not in ("direct", "auto", "pytorch_msssim"):
        raise ValueError(f"backend must be 'direct', 'auto' or 'pytorch_msssim', "
                         f"got {backend!r}.")
    win = gaussian_window(win_size, win_sigma)
    w = x.new_tensor(weights)
    terms = []
    for level in range(len(weights)):
        ssim_map, cs_map = _ssim_terms(x, y, win, data_range, K, same=False)
        if level < len(weights) - 1:
            terms.append(cs_map.flatten(2).mean(-1).clamp_min(eps))
            x, y = _downsample(x), _downsample(y)
    terms.append(ssim_map.flatten(2).mean(-1).clamp_min(eps))
    stacked = torch.stack(terms)  # (levels, n, C)
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(1)


def ms_ssim_map(x: torch.Tensor, y: torch.Tensor, *, weights=LOCAL_MSSSIM_WEIGHTS,
                win_size: int = 5, win_sigma: float = 1.5, data_range: float = 1.0,
                K=(0.01, 0.03), eps: float = _POW_EPS) -> torch.Tensor:
    """Per-pixel MS-SSIM ``(n, H, W)``: Eq. (9) evaluated in the window around each pixel.

    Each scale's ``cs`` (and the coarsest scale's ``ssim``) map is computed
    with 'same' (reflect) padding, brought back to ``H x W`` bilinearly and
    combined per pixel with the scale weights; channels are averaged. This
    is the localised score of Eq. (12) and, averaged over pixels, the local
    term m_L of Eq. (8).
    """
    _check_pair(x, y)
    size = x.shape[-2:]
    win = gaussian_window(win_size, win_sigma)
    out = None
    for level, w in enumerate(weights):
        ssim_map, cs_map = _ssim_terms(x, y, win, data_range, K, same=True)
        term = ssim_map if level == len(weights) - 1 else cs_map
        if term.shape[-2:] != size:
            term = F.interpolate(term, size=size, mode="bilinear", align_corners=False)
        term = term.clamp_min(eps) ** w
        out = term if out is None else out * term
        if level < len(weights) - 1:
            if min(x.shape[-2:]) < 2:
                break
            x, y = _downsample(x), _downsample(y)
    return out.mean(1)


def glocal_reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, *, rho: float = 0.15,
                               beta: float = 0.5, win_size: int = 5,
                               eps: float = _POW_EPS) -> torch.Tensor:
    """Eq. (8) per image ``(n,)``: ρ·MAE + (1-ρ)·(1 - (β m_G + (1-β) m_L)).

    m_G is the 5-scale MS-SSIM of the whole image (Eq. 9), m_L the mean of
    the 4-scale per-pixel MS-SSIM map (local windows); the MAE is the mean
    absolute error per pixel.
    """
    m_g = ms_ssim(x, x_rec, weights=GLOBAL_MSSSIM_WEIGHTS, win_size=win_size, eps=eps)
    m_l = ms_ssim_map(x, x_rec, weights=LOCAL_MSSSIM_WEIGHTS, win_size=win_size,
                      eps=eps).flatten(1).mean(1)
    mae = (x - x_rec).abs().flatten(1).mean(1)
    return rho * mae + (1 - rho) * (1 - (beta * m_g + (1 - beta) * m_l))


def glocal_reconstruction_map(x: torch.Tensor, x_rec: torch.Tensor, *, rho: float = 0.15,
                              beta: float = 0.5, win_size: int = 5) -> torch.Tensor:
    """Eq. (12) per pixel ``(n, H, W)``: the reconstruction loss at each pixel ω.

    Per-pixel maps of the 5-scale (global weights) and 4-scale (local
    weights) MS-SSIM, and the absolute error averaged over channels.
    """
    m_g = ms_ssim_map(x, x_rec, weights=GLOBAL_MSSSIM_WEIGHTS, win_size=win_size)
    m_l = ms_ssim_map(x, x_rec, weights=LOCAL_MSSSIM_WEIGHTS, win_size=win_size)
    mae = (x - x_rec).abs().mean(1)
    return rho * mae + (1 - rho) * (1 - (beta * m_g + (1 - beta) * m_l))


# ---------------------------------------------------------------------- ACAI
def acai_interpolate(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Eq. (2): α f(x1) + (1-α) f(x2), x2 being the batch in reversed order."""
    a = alpha.view(-1, *([1] * (z.ndim - 1)))
    return a * z + (1 - a) * z.flip(0)


def acai_critic_loss(critic, x: torch.Tensor, x_rec: torch.Tensor, x_interp: torch.Tensor,
                     alpha: torch.Tensor, *, gamma: float = 0.2) -> torch.Tensor:
    """Eq. (5): ‖d(x̂_α) - α‖² + ‖d(γ x + (1-γ) g(f(x)))‖², mean over the batch.

    The auto-encoder's outputs are detached: this loss trains the critic only.
    """
    pred = critic(x_interp.detach())
    blend = critic(gamma * x + (1 - gamma) * x_rec.detach())
    return ((pred - alpha) ** 2).mean() + (blend ** 2).mean()


def acai_autoencoder_penalty(critic, x_interp: torch.Tensor) -> torch.Tensor:
    """The second term of Eq. (6) per sample: ‖d(x̂_α)‖² (fool the critic into α = 0)."""
    return critic(x_interp) ** 2


# ---------------------------------------------------------------------- descriptors
def gaussian_svdd_estep(z: torch.Tensor, *, kappa: float = 0.5,
                        min_var: float = 1.0) -> tuple[torch.Tensor, float]:
    """E-step of Eq. (7): μ = mean f(x), σ² = max(κ · mean ‖f(x) - μ‖², min_var).

    §4.2 bounds σ² below at 1 with κ = 0.5.
    """
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"Expected embeddings of shape (n, d) with n >= 1, got {tuple(z.shape)}.")
    mu = z.mean(0)
    var = kappa * ((z - mu) ** 2).sum(1).mean()
    return mu, max(float(var), float(min_var))


def gaussian_svdd_loss(z: torch.Tensor, mu: torch.Tensor, var) -> torch.Tensor:
    """Eq. (7) per sample: ℓ_h = 1 - exp(-‖f(x) - μ‖² / σ²)."""
    return 1 - torch.exp(-((z - mu) ** 2).sum(1) / var)


def deep_svdd_loss(z: torch.Tensor, center: torch.Tensor, radius2=None,
                   nu: float = 0.1) -> torch.Tensor:
    """Deep SVDD (Ruff et al. 2018) per sample, the alternative of Table 5 (§4.5).

    One-class form ``‖f(x) - c‖²`` when ``radius2`` is None; soft-boundary
    form ``R² + max(0, ‖f(x) - c‖² - R²) / ν`` otherwise (Ruff et al. Eq. 3,
    the "soft-boundary DSVDD" of Table 5; R² is fitted outside the gradient
    by :func:`deep_svdd_radius`).
    """
    dist = ((z - center) ** 2).sum(1)
    if radius2 is None:
        return dist
    return radius2 + torch.clamp(dist - radius2, min=0) / nu


def deep_svdd_center(z: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Deep SVDD's fixed centre: the mean initial embedding, entries pushed to at least ±eps.

    Ruff et al. (2018): a zero entry of c could be matched trivially by zero weights.
    """
    c = z.mean(0)
    small = c.abs() < eps
    return torch.where(small & (c < 0), -eps, torch.where(small, eps, c))


def deep_svdd_radius(z: torch.Tensor, center: torch.Tensor, nu: float = 0.1) -> float:
    """Soft-boundary R²: the (1 - ν)-quantile of ‖f(x) - c‖² (Ruff et al.'s line search)."""
    dist = ((z - center) ** 2).sum(1)
    return float(torch.quantile(dist, 1 - nu))
