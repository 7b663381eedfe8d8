"""The colorization UNet (puzzle-tint-color-multicue.txt Fig. 6)."""

import pytest
import torch

from skssad.nets import UNet


@pytest.mark.parametrize("size", [(8, 8), (15, 13), (32, 32)])
def test_unet_keeps_the_spatial_size(size):
    net = UNet(3, 12, width=4, levels=2)
    assert net(torch.rand(2, 3, *size)).shape == (2, 12, *size)


def test_unet_skip_connections_carry_gradients_to_the_input():
    net = UNet(3, 2, width=4, levels=1)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    net(x)[0, 0, 3, 3].backward()
    assert x.grad.abs().sum() > 0
