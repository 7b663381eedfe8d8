"""M-stream siamese CNN (Ali, Khan and Kyung, §III-B, Eq. 3-5, Fig. 3)."""

import pytest
import torch

from skssad.nets.siamese import (
    CaffeNetBase,
    SiameseFrameNet,
    SmallFrameCNN,
    permuted_feature_cross_entropy,
)
from skssad.tasks.frames import all_permutations, permutation_views


@pytest.mark.parametrize("shape", [(4, 1, 1, 1), (2, 3, 32, 32), (2, 3, 67, 67)])
def test_caffenet_base_runs_on_series_frames_and_images(shape):
    # 1x1 time-series frames used to crash in the first unpadded max pool.
    base = CaffeNetBase(shape[1], conv1_stride=2, fc_dim=16).eval()
    out = base(torch.rand(shape))
    assert out.shape == (shape[0], 16)


def test_caffenet_layers_follow_caffenet_with_stride_two_conv1():
    base = CaffeNetBase(3, conv1_stride=2, fc_dim=4096)
    convs = [m for m in base.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.kernel_size[0] for c in convs] == [11, 5, 3, 3, 3]
    assert convs[0].stride == (2, 2)  # §III-C: 2 instead of CaffeNet's 4
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    fcs = [m for m in base.fc if isinstance(m, torch.nn.Linear)]
    assert [f.out_features for f in fcs] == [4096, 4096]  # fc6, fc7


def test_small_base_keeps_where_the_digit_is():
    # Two frames that differ only by where a blob sits must get different
    # features: a global average pool would make them (nearly) equal.
    torch.manual_seed(0)
    base = SmallFrameCNN(1, 4, 16, grid=4).eval()
    a = torch.zeros(1, 1, 16, 16)
    b = torch.zeros(1, 1, 16, 16)
    a[..., 2:5, 2:5] = 1
    b[..., 10:13, 10:13] = 1
    fa, fb = base(a), base(b)
    assert (fa - fb).abs().max() > 1e-2 * fa.abs().max()
    assert base(torch.rand(3, 1, 1, 1)).shape == (3, 16)  # 1x1 series frames pass


def test_siamese_net_shares_one_base_over_frames():
    torch.manual_seed(0)
    net = SiameseFrameNet(SmallFrameCNN(1, 2, 8), M=3, n_classes=6, hidden=16).eval()
    seg = torch.rand(5, 3, 1, 8, 8)
    logits = net(seg)
    assert logits.shape == (5, 6)
    manual = net.classify(torch.stack([net.frame_features(seg[:, k]) for k in range(3)], 1))
    assert torch.allclose(logits, manual, atol=1e-6)


def test_top_cnn_compares_frames():
    # With a hidden layer the Top-CNN can represent an interaction between two
    # frames (XOR of signs); a logistic layer alone cannot (sum of per-frame terms).
    torch.manual_seed(0)
    x = torch.randint(0, 2, (256, 2, 1)).float() * 2 - 1
    y = ((x[:, 0, 0] * x[:, 1, 0]) > 0).long()

    class Id(torch.nn.Module):
        out_features = 1

        def forward(self, f):
            return f.reshape(len(f), 1)

    def fit(hidden):
        net = SiameseFrameNet(Id(), M=2, n_classes=2, hidden=hidden)
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net.classify(x), y)
            loss.backward()
            opt.step()
        return (net.classify(x).argmax(1) == y).float().mean().item()

    assert fit(16) == 1.0
    assert fit(None) < 0.8


def test_permuted_features_match_permuted_frames():
    # §III-D inference views: shuffling features equals shuffling frames,
    # because the base sees each frame alone (Eq. 3).
    torch.manual_seed(0)
    net = SiameseFrameNet(SmallFrameCNN(1, 2, 8), M=3, n_classes=6, hidden=16).eval()
    seg = torch.rand(4, 3, 1, 8, 8)
    table, labels = all_permutations(3), torch.tensor([0, 3, 5])
    views, lab = permutation_views(seg, table, labels)
    direct = torch.nn.functional.cross_entropy(net(views), lab, reduction="none").view(4, 3)
    feats = net.frame_features(seg.flatten(0, 1)).view(4, 3, -1)
    fast = permuted_feature_cross_entropy(net, feats, table, labels)
    assert torch.allclose(direct, fast, atol=1e-5)
