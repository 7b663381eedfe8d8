"""Fusion functions (puzzle-tint-color-multicue.txt §IV, Table VI)."""

import numpy as np
import pytest
import torch

from skssad.fusion import (
    check_fusion,
    combine_tasks,
    fuse,
    fuse_tasks,
    robust_scale,
    standardise,
)


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


@pytest.mark.parametrize("fusion", ["mean", "median", 25])
def test_nan_scores_are_left_out(fusion):
    s = torch.tensor([[1.0, 2.0, float("nan"), 4.0], [float("nan")] * 4])
    out = fuse(s, fusion)
    assert out[0].item() == pytest.approx(fuse(torch.tensor([1.0, 2.0, 4.0]), fusion).item())
    assert torch.isnan(out[1])


def test_robust_scale_is_median_and_iqr():
    s = torch.from_numpy(np.random.RandomState(0).randn(1001) * 3 + 5)
    med, iqr = robust_scale(s)
    q1, q2, q3 = np.percentile(s.numpy(), [25, 50, 75])
    assert med == pytest.approx(q2) and iqr == pytest.approx(q3 - q1)
    assert robust_scale(torch.ones(10)) == (1.0, 1.0)
    assert robust_scale(torch.tensor([float("nan")])) == (0.0, 1.0)


def test_standardised_fusion_weighs_tasks_alike_and_skips_missing_ones():
    # A task with a huge scale does not dominate once standardised.
    scores = {"a": torch.tensor([0.0, 1.0]), "b": torch.tensor([1000.0, -1000.0])}
    z = standardise(scores, {"a": (0.5, 1.0), "b": (0.0, 2000.0)})
    torch.testing.assert_close(z["b"], torch.tensor([0.5, -0.5]))
    fused = fuse_tasks(z, ("a", "b"), "median")
    torch.testing.assert_close(fused, torch.tensor([0.0, 0.0]))
    missing = fuse_tasks({"a": torch.tensor([2.0, float("nan")]),
                          "b": torch.tensor([float("nan")] * 2)}, ("a", "b"))
    torch.testing.assert_close(missing, torch.tensor([2.0, 0.0]))  # no task: neutral 0


def test_fusion_schemes_follow_their_equations():
    values = {"a": torch.tensor([[1.0, 2.0, 3.0]]), "b": torch.tensor([[10.0, 20.0]])}
    # §V: one median over the five raw scores.
    assert combine_tasks(values, "single").item() == pytest.approx(3.0)
    # PuzzleGeom Eq. (3): mean over tasks of each task's sum (Eq. 4).
    assert combine_tasks(values, "task_sum").item() == pytest.approx((6.0 + 30.0) / 2)
    stats = {"a": (2.0, 1.0), "b": (15.0, 10.0)}
    assert combine_tasks(values, "standardised", "median", stats).item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="fusion_scheme"):
        combine_tasks(values, "vote")
