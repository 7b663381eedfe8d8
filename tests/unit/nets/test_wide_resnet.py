import pytest
import torch

from skssad.nets import MultiHeadNet, Standardize, WideResNet


@pytest.mark.parametrize("depth,width", [(10, 1), (16, 2)])
def test_wrn_feature_size(depth, width):
    net = WideResNet(3, depth, width)
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 64 * width)


def test_wrn_rejects_bad_depth():
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(1, depth=12)


def test_multihead_concatenates_logits_and_splits_back():
    net = MultiHeadNet(WideResNet(1, 10, 1), [4, 3, 3], dropout=0.3)
    out = net(torch.rand(5, 1, 8, 8))
    assert out.shape == (5, 10)
    assert [p.shape[1] for p in net.split(out)] == [4, 3, 3]
    assert all(isinstance(h[0], torch.nn.Dropout) and h[0].p == 0.3 for h in net.heads)


def test_standardize_fitted_gives_zero_mean_unit_std():
    x = torch.rand(50, 3, 4, 4) * 5 + 2
    z = Standardize.fitted(x)(x)
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std((0, 2, 3)), torch.ones(3), atol=1e-3)


def test_grid_keeps_one_feature_block_per_cell():
    """``grid=(g_h, g_w)`` pools the last map per cell: out_features = 64 w g_h g_w,
    and moving content between cells moves it between feature blocks."""
    net = WideResNet(1, 10, 1, grid=(2, 2)).eval()
    assert net.out_features == 64 * 4
    x = torch.zeros(1, 1, 16, 16)
    x[..., :8, :8] = 1.0
    flipped = x.flip(-1)  # the bright square moves from the left cells to the right
    with torch.no_grad():
        a, b = net(x).view(64, 4), net(flipped).view(64, 4)
    assert a.shape == (64, 4)
    assert not torch.allclose(a, b, atol=1e-4)
