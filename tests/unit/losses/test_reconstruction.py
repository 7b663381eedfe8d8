"""Eq. (5)-(9) of igd-interpolated-gaussian-descriptor.txt."""

import pytest
import torch

from skssad.losses import (
    acai_critic_loss,
    gaussian_svdd_estep,
    gaussian_svdd_loss,
    glocal_reconstruction_loss,
    glocal_reconstruction_map,
    ms_ssim,
    ms_ssim_map,
)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("win_size", [3, 5])
def test_ms_ssim_equals_pytorch_msssim(win_size):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 96, 96, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    direct = ms_ssim(x, y, win_size=win_size, backend="direct")
    library = ms_ssim(x, y, win_size=win_size, backend="pytorch_msssim")
    torch.testing.assert_close(direct, library, rtol=1e-5, atol=1e-6)


def test_ms_ssim_is_one_for_identical_images():
    x = torch.rand(3, 2, 16, 16)
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(3))
    torch.testing.assert_close(ms_ssim_map(x, x), torch.ones(3, 16, 16))
    assert float(glocal_reconstruction_loss(x, x).abs().max()) < 1e-3


def test_reconstruction_map_is_high_where_images_differ():
    x = torch.rand(1, 1, 32, 32)
    y = x.clone()
    y[:, :, 4:12, 4:12] = 1 - y[:, :, 4:12, 4:12]
    m = glocal_reconstruction_map(x, y)[0]
    assert m[4:12, 4:12].mean() > 3 * m[20:, 20:].mean()


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
    from skssad.losses._reconstruction import deep_svdd_center, deep_svdd_loss, deep_svdd_radius

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
