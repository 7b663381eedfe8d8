"""Density losses of the colorization and attention tasks.

puzzle-tint-color-multicue.txt §III-C: per-pixel colour densities, either a
Gaussian mixture with Cholesky-parameterised covariances trained by an
EM-style loss (Eq. 13–19), or bin classification with Gaussian smoothing of
the predicted distribution (Eq. 10–12). §III-D: the spread term of the
attention map over puzzle pieces (Eq. 21–23).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GMM_PARAMS_PER_COMPONENT", "split_gmm_params", "gmm_mahalanobis",
           "gmm_log_likelihood", "gmm_em_loss", "GMMColorLoss", "smoothed_bin_probs",
           "color_bins", "bin_log_likelihood", "BinColorLoss", "attention_weights",
           "attention_density_loss"]

#: pi logit, mean (2), log-variances d (2), Cholesky factor l.
GMM_PARAMS_PER_COMPONENT = 6
# Bounds on d = log-variance of the scaled (A, B) colours: a standard deviation
# between ~0.02 and ~20 keeps the EM loss finite on flat colour regions.
_D_MIN, _D_MAX = -8.0, 6.0


def split_gmm_params(params: torch.Tensor, n_components: int):
    """Split ``(b, 6K, H, W)`` network outputs into the GMM of Eq. (13)–(14).

    Returns ``log_pi`` ``(b, K, H, W)`` (log-softmax over K), ``mu``
    ``(b, K, 2, H, W)``, ``d`` ``(b, K, 2, H, W)`` and ``l`` ``(b, K, H, W)``.
    """
    K = int(n_components)
    if params.shape[1] != GMM_PARAMS_PER_COMPONENT * K:
        raise ValueError(f"Expected {GMM_PARAMS_PER_COMPONENT * K} channels for a "
                         f"{K}-component GMM; got {params.shape[1]}.")
    b, _, h, w = params.shape
    logit, mu, d, l = torch.split(params, [K, 2 * K, 2 * K, K], dim=1)
    return (logit.log_softmax(1), mu.reshape(b, K, 2, h, w),
            d.reshape(b, K, 2, h, w).clamp(_D_MIN, _D_MAX), l)


def gmm_mahalanobis(target: torch.Tensor, mu: torch.Tensor, d: torch.Tensor,
                    l: torch.Tensor) -> torch.Tensor:
    """Eq. (17) with Eq. (14): Delta for ``Sigma = L(l) Diag(exp d) L(l)^T``.

    With ``L = [[1, 0], [l, 1]]``, ``L^-1 r = (r_1, r_2 - l r_1)``, so
    ``Delta = r_1^2 / e^d1 + (r_2 - l r_1)^2 / e^d2``. ``target``
    ``(b, 2, H, W)``; returns ``(b, K, H, W)``.
    """
    r = target[:, None] - mu
    u1 = r[:, :, 0]
    u2 = r[:, :, 1] - l * u1
    return u1 ** 2 * torch.exp(-d[:, :, 0]) + u2 ** 2 * torch.exp(-d[:, :, 1])


def _component_log_density(params, target, n_components):
    log_pi, mu, d, l = split_gmm_params(params, n_components)
    delta = gmm_mahalanobis(target, mu, d, l)
    logdet = d.sum(2)  # Eq. (15)
    return log_pi, delta, logdet


def gmm_log_likelihood(params: torch.Tensor, target: torch.Tensor,
                       n_components: int) -> torch.Tensor:
    """Eq. (13): per-pixel ``log p(A, B | I_part)`` of the predicted mixture, ``(b, H, W)``."""
    log_pi, delta, logdet = _component_log_density(params, target, n_components)
    log_n = -0.5 * (delta + logdet) - math.log(2 * math.pi)
    return torch.logsumexp(log_pi + log_n, dim=1)


def gmm_em_loss(params: torch.Tensor, target: torch.Tensor, n_components: int,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (17)–(19): the EM-style loss, averaged over the (masked) pixels.

    The posteriors ``gamma`` (Eq. 18) are computed, then held fixed
    (detached) while ``sum_k gamma_k (Delta_k + sum_l d_l - log pi_k)`` is
    minimised (Eq. 19).
    """
    log_pi, delta, logdet = _component_log_density(params, target, n_components)
    gamma = torch.softmax(log_pi - 0.5 * (logdet + delta), dim=1).detach()
    per_pixel = (gamma * (delta + logdet - log_pi)).sum(1)
    if mask is None:
        return per_pixel.mean()
    mask = mask.to(per_pixel.dtype).expand_as(per_pixel)
    return (per_pixel * mask).sum() / mask.sum().clamp_min(1)


def color_bins(values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Quantise colours scaled to [-1, 1] into ``n_bins`` bins (indices)."""
    idx = torch.floor((values.clamp(-1, 1) + 1) / 2 * n_bins).long()
    return idx.clamp(0, n_bins - 1)


def smoothed_bin_probs(logits: torch.Tensor, n_bins: int, sigma: float = 1.0) -> torch.Tensor:
    """Eq. (10)–(12): ``softmax * G_sigma`` over the bins of A and of B.

    ``logits`` ``(b, 2K, H, W)`` (A bins, then B bins) -> probabilities
    ``(b, 2, K, H, W)``, renormalised after the convolution (the kernel
    loses mass at the ends). ``sigma`` is in bins; 0 disables smoothing.
    """
    b, _, h, w = logits.shape
    p = logits.reshape(b, 2, n_bins, h, w).softmax(2)
    if sigma <= 0:
        return p
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=logits.dtype, device=logits.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    flat = p.permute(0, 1, 3, 4, 2).reshape(-1, 1, n_bins)
    smooth = F.conv1d(flat, kernel, padding=radius)
    smooth = smooth / smooth.sum(-1, keepdim=True)
    return smooth.reshape(b, 2, h, w, n_bins).permute(0, 1, 4, 2, 3)


def bin_log_likelihood(logits: torch.Tensor, target: torch.Tensor, n_bins: int,
                       sigma: float = 1.0) -> torch.Tensor:
    """Per-pixel ``log P(A) + log P(B)`` of the true bins (Eq. 12, 32), ``(b, H, W)``."""
    probs = smoothed_bin_probs(logits, n_bins, sigma)
    idx = color_bins(target, n_bins)[:, :, None]  # (b, 2, 1, H, W)
    return probs.gather(2, idx).squeeze(2).clamp_min(1e-12).log().sum(1)


class GMMColorLoss(nn.Module):
    """Criterion of the GMM colorization net: ``targets = (ab, mask)``."""

    def __init__(self, n_components: int):
        super().__init__()
        self.n_components = int(n_components)

    def forward(self, params, targets):
        ab, mask = targets
        return gmm_em_loss(params, ab, self.n_components, mask)


class BinColorLoss(nn.Module):
    """Criterion of the bin colorization net: smoothed-bin NLL (Eq. 12)."""

    def __init__(self, n_bins: int, sigma: float = 1.0):
        super().__init__()
        self.n_bins = int(n_bins)
        self.sigma = float(sigma)

    def forward(self, logits, targets):
        ab, mask = targets
        nll = -bin_log_likelihood(logits, ab, self.n_bins, self.sigma)
        mask = mask.to(nll.dtype).expand_as(nll)
        return (nll * mask).sum() / mask.sum().clamp_min(1)


def attention_weights(P: torch.Tensor) -> torch.Tensor:
    """Eq. (21): ``P' = sigmoid(P) / ||sigmoid(P)||_1`` over the pieces (last axis)."""
    s = torch.sigmoid(P)
    return s / s.sum(-1, keepdim=True)


def attention_density_loss(weights: torch.Tensor, n_h: int, n_w: int) -> torch.Tensor:
    """Eq. (22)–(23): spread of the attention map around its centre ``mu``, ``(b,)``.

    ``weights`` ``(b, n_h * n_w)`` in row-major piece order.
    """
    ii, jj = torch.meshgrid(torch.arange(n_h, device=weights.device, dtype=weights.dtype),
                            torch.arange(n_w, device=weights.device, dtype=weights.dtype),
                            indexing="ij")
    pos = torch.stack([ii.reshape(-1), jj.reshape(-1)], 1)  # (n, 2)
    mu = weights @ pos  # Eq. (22)
    dist = (pos[None] - mu[:, None]).norm(dim=-1)
    return (dist * weights).sum(-1)  # Eq. (23)
