"""ResNet with exposed stages (anomem-contrasted-memory.txt §3, §4.2)."""

import pytest
import torch

from skssad.nets.resnet import BasicBlock, Bottleneck, ResNet


@pytest.mark.parametrize("depth, expansion", [(10, 1), (50, 4)])
def test_stages_have_the_announced_channels_and_strides(depth, expansion):
    net = ResNet(1, depth, width=4)
    maps = net.forward_stages(torch.zeros(2, 1, 16, 16))
    assert [m.shape[1] for m in maps] == list(net.channels)
    assert net.channels == tuple(4 * 2 ** i * expansion for i in range(4))
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2]


def test_depth_50_uses_bottleneck_blocks():
    # §4.2: ResNet-50 (~25M parameters at width 64) is built from bottleneck blocks.
    net = ResNet(3, 50, width=64)
    blocks = [b for stage in net.stages for b in stage]
    assert len(blocks) == 16 and all(isinstance(b, Bottleneck) for b in blocks)
    assert 20e6 < sum(p.numel() for p in net.parameters()) < 26e6
    assert all(isinstance(b, BasicBlock) for s in ResNet(3, 18, 8).stages for b in s)
