"""Eq. (5)-(12) of igd-interpolated-gaussian-descriptor.txt."""

import math

import pytest
import torch
import torch.nn.functional as F

from skssad.losses import (
    GLOBAL_MSSSIM_WEIGHTS,
    IGDLoss,
    acai_critic_loss,
    deep_svdd_center,
    deep_svdd_loss,
    deep_svdd_radius,
    gaussian_svdd_estep,
    gaussian_svdd_loss,
    glocal_reconstruction_loss,
    glocal_reconstruction_map,
    igd_score,
    ms_ssim,
    ms_ssim_map,
    msssim_scales,
    msssim_weights,
)


# ------------------------------------------------------------------ a direct Eq. (9)
def _window2d(size, sigma=1.5):
    g = torch.exp(-((torch.arange(size) - size // 2).double() ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)


def _ssim_cs_direct(x, y, win, same=False, C1=1e-4, C2=9e-4):
    """SSIM and contrast-structure maps by a full 2-D window (no separable trick)."""
    k = win.shape[0]
    w = win.to(x.dtype)[None, None].repeat(x.shape[1], 1, 1, 1)
    if same:
        x, y = (F.pad(t, [k // 2] * 4, mode="reflect") for t in (x, y))

    def blur(t):
        return F.conv2d(t, w, groups=x.shape[1])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = (2 * cxy + C2) / (vx + vy + C2)
    return (2 * mx * my + C1) / (mx ** 2 + my ** 2 + C1) * cs, cs


def _pool(t):
    return F.avg_pool2d(t, 2)


def _pair(side, seed=0, noise=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 1, side, side, generator=g, dtype=torch.float64)
    y = (x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("side, expected", [(16, (3, 3)), (32, (4, 3)), (256, (5, 11))])
def test_scales_and_window_follow_the_input_size(side, expected):
    # 32 px -> window 3 and 256 px -> window 11, as the authors' code; 16 px keeps 3 scales
    assert msssim_scales(side) == expected
    n, win = expected
    assert side // 2 ** (n - 1) >= win  # the coarsest scale holds the whole window


@pytest.mark.parametrize("side", [16, 32])
def test_every_scale_carries_structure(side):
    """With the chosen window each scale's contrast-structure term sees the difference
    (a scale smaller than its window would give cs == 1 whatever the images)."""
    n, win = msssim_scales(side)
    x, y = _pair(side)
    w = _window2d(win)
    for _ in range(n):
        _, cs = _ssim_cs_direct(x, y, w)
        assert float(cs.mean()) < 0.99
        x, y = _pool(x), _pool(y)


@pytest.mark.parametrize("side", [16, 32])
def test_ms_ssim_equals_a_direct_computation(side):
    n, win = msssim_scales(side)
    weights = msssim_weights(n)
    x, y = _pair(side)
    w2 = _window2d(win)
    a, b, terms = x, y, []
    for level in range(n):
        ssim, cs = _ssim_cs_direct(a, b, w2)
        terms.append((ssim if level == n - 1 else cs).flatten(1).mean(1).clamp_min(0))
        a, b = _pool(a), _pool(b)
    expected = math.prod(t ** wt for t, wt in zip(terms, weights, strict=True))
    torch.testing.assert_close(ms_ssim(x, y), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("side", [16, 32])
def test_ms_ssim_map_sums_the_scales(side):
    """Eq. (12) localisation as the authors' code: Σ_m w_m ssim_m per pixel (not a product)."""
    n, win = msssim_scales(side, 4)
    weights = msssim_weights(n)
    x, y = _pair(side)
    w2 = _window2d(win)
    a, b, expected = x, y, 0
    for wt in weights:
        ssim, _ = _ssim_cs_direct(a, b, w2, same=True)
        expected = expected + wt * F.interpolate(ssim, size=(side, side), mode="bilinear",
                                                 align_corners=False)
        a, b = _pool(a), _pool(b)
    torch.testing.assert_close(ms_ssim_map(x, y), expected[:, 0], rtol=1e-5, atol=1e-5)


def test_msssim_weights_renormalise_the_paper_proportions():
    # §4.2's local weights are the first four global ones, renormalised
    assert msssim_weights(4) == pytest.approx((0.0516, 0.3295, 0.3463, 0.2726), abs=1e-4)
    assert msssim_weights(5) == pytest.approx(GLOBAL_MSSSIM_WEIGHTS, rel=1e-3)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("win_size", [3, 5])
def test_ms_ssim_equals_pytorch_msssim(win_size):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 96, 96, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    kw = dict(weights=GLOBAL_MSSSIM_WEIGHTS, win_size=win_size)
    direct = ms_ssim(x, y, **kw)
    library = ms_ssim(x, y, backend="pytorch_msssim", **kw)
    torch.testing.assert_close(direct, library, rtol=1e-5, atol=1e-6)


def test_a_window_wider_than_a_scale_is_refused():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="smaller than"):
        ms_ssim(x, x, weights=GLOBAL_MSSSIM_WEIGHTS, win_size=5)


def test_ms_ssim_is_one_for_identical_images():
    x = torch.rand(3, 2, 16, 16)
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(3))
    torch.testing.assert_close(ms_ssim_map(x, x), torch.ones(3, 16, 16))
    assert float(glocal_reconstruction_loss(x, x, beta=0.5).abs().max()) < 1e-3


@pytest.mark.parametrize("side", [16, 32])
def test_beta_weighs_the_global_against_the_local_term(side):
    """Eq. (8): β = 1 is ρ·MAE + (1-ρ)(1 - m_G) (footnote 1), β = 0 the local term alone."""
    x, y = (t.float() for t in _pair(side))
    mae = (x - y).abs().flatten(1).mean(1)
    m_g, m_l = ms_ssim(x, y), ms_ssim_map(x, y).flatten(1).mean(1)
    torch.testing.assert_close(glocal_reconstruction_loss(x, y, rho=0.15, beta=1.0),
                               0.15 * mae + 0.85 * (1 - m_g))
    torch.testing.assert_close(glocal_reconstruction_loss(x, y, rho=0.15, beta=0.0),
                               0.15 * mae + 0.85 * (1 - m_l))
    torch.testing.assert_close(glocal_reconstruction_loss(x, y, rho=0.15, beta=0.3),
                               0.15 * mae + 0.85 * (1 - 0.3 * m_g - 0.7 * m_l))
    # the map of Eq. (12) with β = 1 uses the global scales only
    pix = (x - y).abs().mean(1)
    torch.testing.assert_close(glocal_reconstruction_map(x, y, rho=0.15, beta=1.0),
                               0.15 * pix + 0.85 * (1 - ms_ssim_map(x, y, max_scales=5)))


def test_reconstruction_map_is_high_where_images_differ():
    x = torch.rand(1, 1, 32, 32)
    y = x.clone()
    y[:, :, 4:12, 4:12] = 1 - y[:, :, 4:12, 4:12]
    m = glocal_reconstruction_map(x, y)[0]
    assert m[4:12, 4:12].mean() > 3 * m[20:, 20:].mean()


def test_igd_score_is_eq_11():
    rec, l_h = torch.tensor([0.2, 0.4]), torch.tensor([0.9, 0.1])
    torch.testing.assert_close(igd_score(rec, l_h, xi=0.25), 0.25 * rec + 0.75 * l_h)


def test_igd_loss_score_and_training_terms():
    """IGDLoss.score is Eq. (11) with Eq. (7); the training loss adds λ‖d(x̂_α)‖² (Eq. 6)."""
    torch.manual_seed(0)
    x, x_rec = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    z = torch.randn(4, 3)
    loss = IGDLoss(3, descriptor="gsvdd", rho=0.15, beta=1.0, lam=0.1)
    loss.center.copy_(torch.tensor([0.5, 0.0, -0.5]))
    loss.var.fill_(2.0)
    rec = glocal_reconstruction_loss(x, x_rec, rho=0.15, beta=1.0)
    l_h = 1 - torch.exp(-((z - loss.center) ** 2).sum(1) / 2.0)
    torch.testing.assert_close(loss.score(x, z, x_rec, xi=0.3), 0.3 * rec + 0.7 * l_h)
    d = torch.randn(4)
    out = (z, x_rec, x_rec, torch.rand(4), d)
    torch.testing.assert_close(loss(out, x), (rec + l_h + 0.1 * d ** 2).mean())
    # without a descriptor the score is the reconstruction loss alone (ξ = 1)
    plain = IGDLoss(3, descriptor=None, rho=0.15, beta=1.0)
    torch.testing.assert_close(plain.score(x, z, x_rec, xi=0.3), rec)


def test_estep_gives_mean_and_bounded_variance():
    z = torch.randn(50, 4) * 3 + 1
    mu, var = gaussian_svdd_estep(z, kappa=0.5, min_var=1.0)
    torch.testing.assert_close(mu, z.mean(0))
    assert var == pytest.approx(0.5 * float(((z - z.mean(0)) ** 2).sum(1).mean()), rel=1e-5)
    _, small = gaussian_svdd_estep(z * 1e-3, kappa=0.5, min_var=1.0)
    assert small == 1.0
    loss = gaussian_svdd_loss(torch.stack([mu, mu + 10]), mu, var)
    assert loss[0] == 0 and 0 < loss[1] <= 1


def test_estep_rejects_bad_shape():
    with pytest.raises(ValueError, match="embeddings"):
        gaussian_svdd_estep(torch.zeros(3))


def test_critic_learns_alpha_on_interpolations():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1), torch.nn.Flatten(0))
    opt = torch.optim.Adam(critic.parameters(), lr=0.05)
    a, b = torch.zeros(1, 16), torch.ones(1, 16)
    for _ in range(300):
        alpha = 0.5 * torch.rand(64)
        x_int = alpha[:, None] * a + (1 - alpha[:, None]) * b  # mixing coefficient is visible
        x = b.expand(64, 16)  # the ζ term pins the critic to 0 at real images
        loss = acai_critic_loss(critic, x, x, x_int, alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
    alpha = torch.tensor([0.1, 0.4])
    pred = critic(alpha[:, None] * a + (1 - alpha[:, None]) * b)
    torch.testing.assert_close(pred, alpha, atol=0.05, rtol=0)


def test_soft_boundary_deep_svdd():
    z = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 10.0]])
    c = deep_svdd_center(z[:3], eps=0.1)
    torch.testing.assert_close(c, torch.tensor([0.1, 2.0]))  # |c_i| < eps pushed to eps
    r2 = deep_svdd_radius(z[:3], c, nu=0.5)
    d = ((z - c) ** 2).sum(1)
    assert r2 == pytest.approx(float(torch.quantile(d[:3], 0.5)))
    loss = deep_svdd_loss(z, c, torch.tensor(r2), nu=0.5)
    # inside the sphere only R² is paid; outside, the excess is weighted by 1/ν
    torch.testing.assert_close(loss, r2 + torch.clamp(d - r2, min=0) / 0.5)
    torch.testing.assert_close(deep_svdd_loss(z, c), d)


@pytest.mark.parametrize("fn", [ms_ssim, ms_ssim_map, glocal_reconstruction_loss,
                                glocal_reconstruction_map])
def test_msssim_under_bf16_autocast_matches_float32(fn):
    # E[x²] - E[x]² in bfloat16 (3 significant digits) is below C2 = 9e-4: the
    # SSIM terms must be computed in float32 whatever autocast does to the network.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 16, 16, generator=g)
    y = (x + 0.1 * torch.randn(8, 1, 16, 16, generator=g)).clamp(0, 1).bfloat16()
    ref = fn(x, y.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = fn(x, y)  # a decoder's output under autocast is bfloat16
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    torch.testing.assert_close(low, ref, atol=1e-4, rtol=1e-4)
