"""§4.2 pre-activated residual auto-encoder and critic."""

import pytest
import torch

from skssad.nets import IGDNet, PreActBlock


def test_igdnet_shapes():
    net = IGDNet(3, encoder_widths=(4, 8, 8), decoder_widths=(8, 4, 4), latent_dim=5,
                 input_size=16)
    z, x_rec = net(torch.rand(2, 3, 16, 16))
    assert z.shape == (2, 5) and x_rec.shape == (2, 3, 16, 16)
    assert float(x_rec.detach().min()) >= 0 and float(x_rec.detach().max()) <= 1
    assert net.critic(x_rec).shape == (2,)


def test_block_resamples():
    x = torch.rand(2, 4, 8, 8)
    assert PreActBlock(4, 6, "down")(x).shape == (2, 6, 4, 4)
    assert PreActBlock(4, 6, "up")(x).shape == (2, 6, 16, 16)


def test_input_size_must_be_divisible():
    with pytest.raises(ValueError, match="divisible"):
        IGDNet(1, input_size=12)


def test_igdnet_training_outputs_interpolations():
    torch.manual_seed(0)
    net = IGDNet(1, encoder_widths=(4, 4), decoder_widths=(4, 4), latent_dim=3, input_size=8)
    z, x_rec, x_interp, alpha, d = net.train()(torch.rand(5, 1, 8, 8))
    assert x_interp.shape == x_rec.shape and d.shape == (5,)
    assert float(alpha.min()) >= 0 and float(alpha.max()) <= 0.5  # §4.2: α ~ U[0, 0.5]
    # Eq. (2): the decoded interpolation of f(x1) and f(x2) (the batch reversed)
    a = alpha.view(-1, 1)
    torch.testing.assert_close(x_interp, net.decoder(a * z + (1 - a) * z.flip(0)))
    assert len(net.eval()(torch.rand(2, 1, 8, 8))) == 2


def test_feature_teacher_normalises_and_taps_a_layer():
    """Eq. (10)'s teacher sees ImageNet-normalised RGB and gives the tapped layer, pooled."""
    from skssad.nets import IMAGENET_MEAN, IMAGENET_STD, FeatureTeacher

    inner = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Conv2d(3, 2, 1))
    x = torch.rand(2, 1, 4, 4)
    rgb = (x.expand(-1, 3, -1, -1) - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    tapped = FeatureTeacher(inner, layer="0")(x)
    torch.testing.assert_close(tapped, rgb.mean((2, 3)))
    torch.testing.assert_close(FeatureTeacher(inner)(x), inner(rgb).mean((2, 3)))
    raw = FeatureTeacher(lambda t: t.flatten(1), mean=None)(x)
    torch.testing.assert_close(raw, x.flatten(1))
    with pytest.raises(ValueError, match="teacher_layer"):
        FeatureTeacher(inner, layer="missing")
