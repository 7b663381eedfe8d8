"""Reconstruction, interpolation-critic and Gaussian-descriptor losses of IGD.

igd-interpolated-gaussian-descriptor.txt §3: the glocal MS-SSIM + MAE
reconstruction loss (Eq. 8-9) and its per-pixel form (Eq. 12), the ACAI
critic and auto-encoder terms (Eq. 2, 5, 6), the Gaussian SVDD descriptor
trained by EM (Eq. 7) with Deep SVDD as the ablation's alternative (§4.5,
Table 5), and the anomaly score of Eq. (11). Every function takes model
outputs (embeddings, reconstructions, critic predictions), never a module,
except the two ACAI critic terms that must call the critic.

MS-SSIM at small sizes. Eq. (9) filters each scale with a Gaussian window;
a scale smaller than the window carries no structure (its contrast-structure
term is 1 whatever the images). §4.2 gives 5 scales (global) and 4 (local);
the authors' code uses window 3 at 32 px and 11 at 256 px. :func:`msssim_scales`
chooses from the input side the most scales (up to the paper's count) whose
coarsest scale is at least 3 pixels wide, then the largest odd window
(at most 11) that fits that scale, so every scale carries structure; the
weights are the first scales' of Wang et al. (2003), renormalised, as §4.2
does for its 4-scale local weights.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

__all__ = [
    "GLOBAL_MSSSIM_WEIGHTS",
    "LOCAL_MSSSIM_WEIGHTS",
    "msssim_scales",
    "msssim_weights",
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
    "descriptor_loss",
    "descriptor_score",
    "igd_score",
    "IGDLoss",
]

#: §4.2: M_G = 5 scales with the weights of Wang et al. (2003).
GLOBAL_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: §4.2: M_L = 4 scales, re-normalised from the 5-scale proportions.
LOCAL_MSSSIM_WEIGHTS = (0.0516, 0.3295, 0.3463, 0.2726)

# Clamp before the fractional powers of Eq. (9): 0 ** w has an infinite gradient.
_POW_EPS = 1e-4
#: Narrowest window that measures a variance (3 pixels) and the widest used (§4.2, [77]).
_MIN_WIN, _MAX_WIN = 3, 11


def msssim_scales(side: int, max_scales: int = 5, max_win: int = _MAX_WIN) -> tuple[int, int]:
    """``(n_scales, win_size)`` so that every MS-SSIM scale of a ``side``-pixel image has structure.

    The most scales up to ``max_scales`` whose coarsest side ``side / 2**(M-1)``
    holds a 3-pixel window, then the largest odd window up to ``max_win`` that
    fits it: 32 px gives (4, 3) for both the global (5) and local (4) counts,
    16 px (3, 3), 256 px (5, 11) as the authors' code.
    """
    side = int(side)
    if side < _MIN_WIN:
        raise ValueError(f"MS-SSIM needs images of at least {_MIN_WIN} pixels, got {side}.")
    n = int(max_scales)
    while n > 1 and side // 2 ** (n - 1) < _MIN_WIN:
        n -= 1
    coarsest = side // 2 ** (n - 1)
    win = min(int(max_win), coarsest if coarsest % 2 else coarsest - 1)
    return n, max(win, _MIN_WIN)


def msssim_weights(n_scales: int, weights=GLOBAL_MSSSIM_WEIGHTS) -> tuple[float, ...]:
    """The first ``n_scales`` of ``weights``, renormalised to sum to 1 (§4.2)."""
    w = torch.tensor(weights[:n_scales], dtype=torch.float64)
    return tuple(float(v) for v in w / w.sum())


def gaussian_window(size: int, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian window of odd ``size`` (as pytorch_msssim's)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd integer, got {size}.")
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(x, win, same):
    """Separable Gaussian blur per channel.

    ``same=False``: valid filtering (as pytorch_msssim); the window must fit.
    ``same=True``: reflect padding keeps the map at the input's size (Eq. 12).
    """
    c, k = x.shape[1], win.numel()
    if min(x.shape[-2:]) < k:
        raise ValueError(f"A {tuple(x.shape[-2:])} scale is smaller than the {k}-pixel "
                         f"window; choose the window with msssim_scales.")
    for dim in (2, 3):
        if same:
            pad = [k // 2, k // 2, 0, 0] if dim == 3 else [0, 0, k // 2, k // 2]
            x = F.pad(x, pad, mode="reflect")
        shape = [c, 1, 1, 1]
        shape[dim] = k
        view = [1, 1, 1, 1]
        view[dim] = k
        x = F.conv2d(x, win.to(x.device, x.dtype).view(view).expand(shape), groups=c)
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
    # python ints, not traced sizes: the TorchScript ONNX exporter needs a constant padding
    return F.avg_pool2d(x, kernel_size=2, padding=[int(s) % 2 for s in x.shape[2:]])


def _in_float32(fn):
    """Run ``fn(x, y, ...)`` in float32 with autocast off: under bf16 / fp16 autocast,
    E[x²] - E[x]² loses the digits that C1, C2 (1e-4, 9e-4) are compared with, and
    SSIM's ratios blow up (infinite IGD scores). Half-precision inputs are upcast."""

    @functools.wraps(fn)
    def wrapper(x, y, *args, **kwargs):
        if not (torch.is_autocast_enabled(x.device.type) or _half(x) or _half(y)):
            return fn(x, y, *args, **kwargs)  # the plain path (and ONNX tracing) unchanged
        with torch.autocast(x.device.type, enabled=False):
            return fn(x.float() if _half(x) else x, y.float() if _half(y) else y,
                      *args, **kwargs)

    return wrapper


def _half(t: torch.Tensor) -> bool:
    return t.dtype in (torch.bfloat16, torch.float16)


def _check_pair(x, y):
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"Expected two (n, C, H, W) tensors of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")


def _scales(x, weights, win_size, max_scales):
    """Weights and window for ``x``: given ones, or chosen by :func:`msssim_scales`."""
    n, win = msssim_scales(min(x.shape[-2:]), max_scales)
    if weights is None:
        weights = msssim_weights(n)
    return tuple(weights), int(win_size) if win_size is not None else win


@_in_float32
def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, weights=None, win_size: int | None = None,
            win_sigma: float = 1.5, data_range: float = 1.0, K=(0.01, 0.03),
            eps: float = 0.0, backend: str = "direct") -> torch.Tensor:
    """Multi-scale SSIM of Eq. (9) per image, averaged over channels: ``(n,)``.

    ``weights=None`` and ``win_size=None`` take the paper's 5 global scales
    reduced by :func:`msssim_scales` until every scale carries structure.
    ``backend="direct"`` is the reference implementation (same steps as
    ``pytorch_msssim.ms_ssim``); ``"pytorch_msssim"`` calls that library
    (which needs images wider than ``(win_size - 1) * 16``). ``eps > 0``
    clamps the terms at ``eps`` instead of 0 so gradients stay finite (training).
    """
    _check_pair(x, y)
    if backend not in ("direct", "pytorch_msssim"):
        raise ValueError(f"backend must be 'direct' or 'pytorch_msssim', got {backend!r}.")
    weights, win_size = _scales(x, weights, win_size, len(GLOBAL_MSSSIM_WEIGHTS))
    if backend == "pytorch_msssim":
        try:
            from pytorch_msssim import ms_ssim as _lib_ms_ssim
        except ImportError as e:  # a reference backend for tests, not a dependency
            raise ImportError("backend='pytorch_msssim' needs the pytorch-msssim package "
                              "(pip install 'skssad[test]'); the default backend "
                              "'direct' needs nothing.") from e

        return _lib_ms_ssim(x, y, data_range=data_range, size_average=False,
                            win_size=win_size, win_sigma=win_sigma, weights=list(weights),
                            K=K)
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


@_in_float32
def ms_ssim_map(x: torch.Tensor, y: torch.Tensor, *, weights=None, win_size: int | None = None,
                win_sigma: float = 1.5, data_range: float = 1.0, K=(0.01, 0.03),
                max_scales: int = len(LOCAL_MSSSIM_WEIGHTS)) -> torch.Tensor:
    """Per-pixel MS-SSIM ``(n, H, W)``: the weighted sum over scales of the SSIM maps.

    As the authors' localisation (Eq. 12): each scale's SSIM map (with
    'same' reflect padding), brought back to ``H x W`` bilinearly, weighted
    and summed, so ``1 - map = Σ_m w_m (1 - ssim_m)``; channels averaged. A
    product of per-scale terms would let one near-zero scale hide the
    others. Averaged over pixels it is the local term m_L of Eq. (8).
    ``weights=None`` / ``win_size=None``: ``max_scales`` (the paper's 4
    local scales) reduced by :func:`msssim_scales`.
    """
    _check_pair(x, y)
    weights, win_size = _scales(x, weights, win_size, max_scales)
    size = x.shape[-2:]
    win = gaussian_window(win_size, win_sigma)
    out = 0
    for level, w in enumerate(weights):
        ssim_map, _ = _ssim_terms(x, y, win, data_range, K, same=True)
        if ssim_map.shape[-2:] != size:
            ssim_map = F.interpolate(ssim_map, size=size, mode="bilinear", align_corners=False)
        out = out + w * ssim_map
        if level < len(weights) - 1:
            x, y = _downsample(x), _downsample(y)
    return out.mean(1) / sum(weights)


@_in_float32
def glocal_reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, *, rho: float = 0.15,
                               beta: float = 1.0, eps: float = _POW_EPS) -> torch.Tensor:
    """Eq. (8) per image ``(n,)``: ρ·MAE + (1-ρ)·(1 - (β m_G + (1-β) m_L)).

    m_G is the MS-SSIM of the whole image (Eq. 9, up to 5 scales), m_L the
    mean of the per-pixel MS-SSIM map (up to 4 scales, local windows); the
    MAE is the mean absolute error per pixel. β = 1 is the global term alone
    (footnote 1: MNIST, Fashion-MNIST, CIFAR-10); m_L is not computed then.
    """
    m = beta * ms_ssim(x, x_rec, eps=eps) if beta > 0 else 0
    if beta < 1:
        m = m + (1 - beta) * ms_ssim_map(x, x_rec).flatten(1).mean(1)
    mae = (x - x_rec).abs().flatten(1).mean(1)
    return rho * mae + (1 - rho) * (1 - m)


@_in_float32
def glocal_reconstruction_map(x: torch.Tensor, x_rec: torch.Tensor, *, rho: float = 0.15,
                              beta: float = 1.0) -> torch.Tensor:
    """Eq. (12) per pixel ``(n, H, W)``: the reconstruction loss at each pixel ω.

    Per-pixel maps with the global (up to 5) and local (up to 4) scale
    weights of :func:`ms_ssim_map`, and the absolute error averaged over
    channels.
    """
    m_g = ms_ssim_map(x, x_rec, max_scales=len(GLOBAL_MSSSIM_WEIGHTS))
    m_l = ms_ssim_map(x, x_rec, max_scales=len(LOCAL_MSSSIM_WEIGHTS))
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


def descriptor_loss(z: torch.Tensor, kind: str | None, center: torch.Tensor, var=1.0,
                    radius2=None, nu: float = 0.1) -> torch.Tensor:
    """The descriptor term ℓ_h trained in Eq. (4) per sample.

    ``kind="gsvdd"``: Eq. (7); ``"dsvdd"``: soft-boundary Deep SVDD (Table 5);
    None: zeros (reconstruction only).
    """
    if kind == "gsvdd":
        return gaussian_svdd_loss(z, center, var)
    if kind == "dsvdd":
        return deep_svdd_loss(z, center, radius2, nu)
    return z.new_zeros(len(z))


def descriptor_score(z: torch.Tensor, kind: str | None, center: torch.Tensor, var=1.0,
                     radius2=None) -> torch.Tensor:
    """ℓ_h in the score of Eq. (11): Eq. (7), Deep SVDD's ‖z - c‖² - R², or zeros."""
    if kind == "dsvdd":
        return deep_svdd_loss(z, center) - radius2
    return descriptor_loss(z, kind, center, var)


def igd_score(reconstruction: torch.Tensor, descriptor: torch.Tensor,
              xi: float = 0.5) -> torch.Tensor:
    """Eq. (11): s(x) = ξ ℓ_m(x, x̃) + (1 - ξ) ℓ_h(x); higher = more anomalous."""
    return xi * reconstruction + (1 - xi) * descriptor


class IGDLoss(torch.nn.Module):
    """Eq. (4) as a skorch criterion of IGDNet's outputs, with the descriptor's latent variables.

    ``forward(y_pred, x)`` is the mean over the batch of Eq. (6) + (7): the
    reconstruction loss ℓ_m (Eq. 8), the descriptor term ℓ_h and
    λ ‖d(x̂_α)‖²; ``y_pred`` is ``(z, x_rec)`` or ``(z, x_rec, x_interp,
    alpha, critic_interp)`` (IGDNet in training mode). :meth:`critic_loss`
    is Eq. (5). The buffers ``center`` (μ_γ, or the Deep SVDD centre),
    ``var`` (σ²_γ) and ``radius2`` (R²) are the EM latent variables of §3.1,
    set by the E-step; they follow the net across devices and pickling.
    """

    def __init__(self, latent_dim: int, *, descriptor: str | None = "gsvdd", rho: float = 0.15,
                 beta: float = 1.0, lam: float = 0.1, gamma: float = 0.2, nu: float = 0.1):
        super().__init__()
        self.descriptor, self.rho, self.beta = descriptor, rho, beta
        self.lam, self.gamma, self.nu = lam, gamma, nu
        self.register_buffer("center", torch.zeros(latent_dim))
        self.register_buffer("var", torch.ones(()))
        self.register_buffer("radius2", torch.zeros(()))

    @torch.no_grad()
    def estep(self, z: torch.Tensor, *, first: bool, kappa: float, min_var: float) -> None:
        """Eq. (7)'s E-step on the embeddings ``z`` of the training set.

        Gaussian SVDD: μ_γ = mean z, σ²_γ = max(κ mean ‖z - μ‖², min_var). Deep
        SVDD (Table 5): the centre fixed from the first embeddings, then R² the
        (1 - ν)-quantile of the squared distances.
        """
        z = z.to(self.center.device)
        if self.descriptor == "gsvdd":
            mu, var = gaussian_svdd_estep(z, kappa=kappa, min_var=min_var)
            self.center.copy_(mu)
            self.var.fill_(var)
        elif self.descriptor is not None and first:
            self.center.copy_(deep_svdd_center(z))
        elif self.descriptor is not None:
            self.radius2.fill_(deep_svdd_radius(z, self.center, self.nu))

    def reconstruction(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """ℓ_m of Eq. (8) per sample."""
        return glocal_reconstruction_loss(x, x_rec, rho=self.rho, beta=self.beta)

    def score(self, x: torch.Tensor, z: torch.Tensor, x_rec: torch.Tensor,
              xi: float) -> torch.Tensor:
        """Eq. (11) per sample (ξ = 1 without a descriptor); higher = more anomalous."""
        l_h = descriptor_score(z, self.descriptor, self.center, self.var, self.radius2)
        return igd_score(self.reconstruction(x, x_rec), l_h,
                         xi if self.descriptor is not None else 1.0)

    def forward(self, y_pred, x: torch.Tensor) -> torch.Tensor:
        z, x_rec = y_pred[0], y_pred[1]
        loss = self.reconstruction(x, x_rec) + descriptor_loss(
            z, self.descriptor, self.center, self.var, self.radius2, self.nu)
        if len(y_pred) > 2:
            loss = loss + self.lam * y_pred[4] ** 2  # Eq. (6), second term
        return loss.mean()

    def critic_loss(self, critic, x: torch.Tensor, y_pred) -> torch.Tensor:
        """Eq. (5) on the batch's interpolations (the auto-encoder's outputs detached)."""
        _, x_rec, x_interp, alpha, _ = y_pred
        return acai_critic_loss(critic, x, x_rec, x_interp, alpha, gamma=self.gamma)
