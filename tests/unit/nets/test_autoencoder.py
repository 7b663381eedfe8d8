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
