"""Colour density and attention losses (puzzle-tint-color-multicue.txt Eq. 10–23)."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from skssad.losses import (
    BinColorLoss,
    GMMColorLoss,
    attention_density_loss,
    attention_weights,
    bin_log_likelihood,
    gmm_em_loss,
    gmm_log_likelihood,
    smoothed_bin_probs,
)
from skssad.losses._density import color_bins, split_gmm_params


def _random_gmm(K=3, b=2, h=3, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = torch.randn(b, 6 * K, h, w, generator=g, dtype=torch.float64)
    target = torch.randn(b, 2, h, w, generator=g, dtype=torch.float64)
    return params, target


def test_gmm_log_likelihood_equals_scipy_mixture_density():
    K = 3
    params, target = _random_gmm(K)
    log_pi, mu, d, l = split_gmm_params(params, K)
    ours = gmm_log_likelihood(params, target, K).numpy()
    b, _, h, w = target.shape
    for i in range(b):
        for r in range(h):
            for c in range(w):
                dens = 0.0
                for k in range(K):
                    L = np.array([[1.0, 0.0], [l[i, k, r, c].item(), 1.0]])
                    cov = L @ np.diag(np.exp(d[i, k, :, r, c].numpy())) @ L.T  # Eq. (14)
                    dens += math.exp(log_pi[i, k, r, c].item()) * multivariate_normal(
                        mu[i, k, :, r, c].numpy(), cov).pdf(target[i, :, r, c].numpy())
                assert ours[i, r, c] == pytest.approx(math.log(dens), rel=1e-9, abs=1e-9)


def test_gmm_em_loss_is_eq19_with_fixed_posteriors():
    K = 2
    params, target = _random_gmm(K, seed=1)
    log_pi, mu, d, l = split_gmm_params(params, K)
    r = target[:, None] - mu
    u2 = r[:, :, 1] - l * r[:, :, 0]
    delta = r[:, :, 0] ** 2 / d[:, :, 0].exp() + u2 ** 2 / d[:, :, 1].exp()  # Eq. (17)
    logdet = d.sum(2)  # Eq. (15)
    gamma = (log_pi.exp() * torch.exp(-0.5 * (logdet + delta)))
    gamma = gamma / gamma.sum(1, keepdim=True)  # Eq. (18)
    expected = (gamma * (delta + logdet - log_pi)).sum(1).mean()  # Eq. (19)
    torch.testing.assert_close(gmm_em_loss(params, target, K), expected)


def test_gmm_em_loss_posteriors_are_detached():
    K = 2
    params, target = _random_gmm(K, seed=2)
    params.requires_grad_(True)
    gmm_em_loss(params, target, K).backward()
    assert torch.isfinite(params.grad).all() and params.grad.abs().sum() > 0


def test_gmm_training_raises_the_likelihood():
    torch.manual_seed(0)
    K = 2
    target = torch.where(torch.rand(64, 1, 1, 1) < 0.5, -0.5, 0.5) * torch.ones(64, 2, 2, 2)
    target = target + 0.05 * torch.randn_like(target)
    params = torch.zeros(1, 6 * K, 2, 2, requires_grad=True)
    with torch.no_grad():
        params[:, K:3 * K] = 0.3 * torch.randn(1, 2 * K, 2, 2)
    opt = torch.optim.Adam([params], lr=0.05)
    loss = GMMColorLoss(K)
    before = gmm_log_likelihood(params.expand(64, -1, -1, -1), target, K).mean().item()
    for _ in range(300):
        opt.zero_grad()
        loss(params.expand(64, -1, -1, -1), (target, torch.ones(1, 2, 2, dtype=bool))).backward()
        opt.step()
    after = gmm_log_likelihood(params.expand(64, -1, -1, -1), target, K).mean().item()
    assert after > before + 1.0


def test_gmm_channel_mismatch_is_an_error():
    with pytest.raises(ValueError, match="Expected 12 channels"):
        gmm_log_likelihood(torch.zeros(1, 10, 2, 2), torch.zeros(1, 2, 2, 2), 2)


def test_smoothed_bins_are_distributions_and_sigma0_is_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2 * 8, 3, 3, generator=g)
    p = smoothed_bin_probs(logits, 8, sigma=1.0)
    assert p.shape == (2, 2, 8, 3, 3)
    torch.testing.assert_close(p.sum(2), torch.ones(2, 2, 3, 3))
    plain = logits.view(2, 2, 8, 3, 3).softmax(2)
    torch.testing.assert_close(smoothed_bin_probs(logits, 8, sigma=0), plain)
    # Eq. (12): smoothing moves mass from a peak to its neighbours.
    peaked = torch.full((1, 16, 1, 1), -20.0)
    peaked[0, 3] = 20.0
    ps = smoothed_bin_probs(peaked, 8, sigma=1.0)[0, 0, :, 0, 0]
    assert ps[3] < 0.5 and ps[2] > 0.1 and ps[4] > 0.1 and ps[2] == pytest.approx(ps[4].item())


def test_bin_log_likelihood_picks_the_true_bins():
    logits = torch.randn(1, 2 * 4, 1, 1)
    target = torch.tensor([-0.9, 0.3]).view(1, 2, 1, 1)
    bins = color_bins(target, 4).view(-1)
    assert bins.tolist() == [0, 2]
    p = smoothed_bin_probs(logits, 4, sigma=0.7)
    expected = p[0, 0, 0, 0, 0].log() + p[0, 1, 2, 0, 0].log()
    torch.testing.assert_close(bin_log_likelihood(logits, target, 4, sigma=0.7)[0, 0, 0],
                               expected)
    loss = BinColorLoss(4, sigma=0.7)(logits, (target, torch.ones(1, 1, 1, dtype=bool)))
    torch.testing.assert_close(loss, -expected)


def test_attention_weights_are_l1_normalised_sigmoids():
    P = torch.tensor([[0.0, 1.0, -2.0, 3.0]])
    w = attention_weights(P)
    torch.testing.assert_close(w.sum(-1), torch.ones(1))
    torch.testing.assert_close(w, torch.sigmoid(P) / torch.sigmoid(P).sum())


def test_attention_density_loss_measures_spread():
    one_piece = torch.zeros(1, 9)
    one_piece[0, 4] = 1.0
    uniform = torch.full((1, 9), 1 / 9)
    assert attention_density_loss(one_piece, 3, 3).item() == pytest.approx(0.0)
    corners = torch.zeros(1, 9)
    corners[0, [0, 2, 6, 8]] = 0.25
    # Eq. (22)-(23) by hand: centre (1, 1), corners at distance sqrt(2).
    assert attention_density_loss(corners, 3, 3).item() == pytest.approx(math.sqrt(2))
    assert 0 < attention_density_loss(uniform, 3, 3).item() < math.sqrt(2)
