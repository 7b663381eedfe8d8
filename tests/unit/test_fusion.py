"""Fusion functions (puzzle-tint-color-multicue.txt §IV, Table VI)."""

import numpy as np
import pytest
import torch

from skssad.fusion import check_fusion, fuse


@pytest.fixture
def scores():
    return torch.from_numpy(np.random.RandomState(0).randn(4, 5, 6))


@pytest.mark.parametrize("fusion, ref", [
    ("mean", lambda a: a.mean(-1)),
    ("median", lambda a: np.median(a, -1)),
    (25, lambda a: np.percentile(a, 25, axis=-1)),
    (90.0, lambda a: np.percentile(a, 90, axis=-1)),
])
def test_fuse_matches_numpy(scores, fusion, ref):
    np.testing.assert_allclose(fuse(scores, fusion).numpy(), ref(scores.numpy()))


def test_fuse_over_several_axes(scores):
    ref = np.median(scores.numpy().reshape(4, -1), -1)
    np.testing.assert_allclose(fuse(scores, "median", dim=(1, 2)).numpy(), ref)
    ref = np.median(scores.numpy().transpose(1, 0, 2).reshape(5, -1), -1)
    np.testing.assert_allclose(fuse(scores, "median", dim=(0, 2)).numpy(), ref)


def test_median_of_even_count_interpolates():
    assert fuse(torch.tensor([1.0, 2.0, 3.0, 10.0]), "median").item() == 2.5


def test_median_resists_an_outlier_the_mean_does_not():
    s = torch.tensor([1.0, 1.1, 0.9, 1.0, -50.0])
    assert fuse(s, "median").item() == pytest.approx(1.0)
    assert fuse(s, "mean").item() < -5


@pytest.mark.parametrize("bad", ["max", 101, -1, True, None])
def test_bad_fusion_is_a_value_error(bad):
    with pytest.raises(ValueError, match="fusion must be"):
        check_fusion(bad)
