"""Colour transforms: HSV tint rotation (§III-B) and LAB partial colorization (§III-C)."""

import numpy as np
import pytest
import torch
from skimage.color import rgb2hsv, rgb2lab

from skssad.tasks.color import (
    AB_SCALE,
    L_SCALE,
    ColorizationTask,
    border_mask,
    elbow_color_clusters,
    hsv_to_rgb,
    lab_to_rgb,
    partial_colorization,
    rgb_to_hsv,
    rgb_to_lab,
    tint_rotation,
)


@pytest.fixture
def rgb():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 9, 7, generator=g, dtype=torch.float64)


def _channels_last(x):
    return x.permute(0, 2, 3, 1).numpy()


def test_hsv_matches_scikit_image(rgb):
    ours = _channels_last(rgb_to_hsv(rgb))
    ref = np.stack([rgb2hsv(im) for im in _channels_last(rgb)])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_hsv_round_trip(rgb):
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(rgb)), rgb)


@pytest.mark.parametrize("c", [2, 3, 4, 6])
def test_c_rotations_of_360_over_c_compose_to_identity(rgb, c):
    x = rgb
    for _ in range(c):
        x = tint_rotation(x, torch.full((len(x),), 1.0 / c, dtype=x.dtype))
    torch.testing.assert_close(x, rgb, atol=1e-9, rtol=0)


def test_one_rotation_changes_colourful_pixels(rgb):
    out = tint_rotation(rgb, torch.full((len(rgb),), 0.25, dtype=rgb.dtype))
    assert (out - rgb).abs().mean() > 0.05


def test_tint_rotation_leaves_grey_pixels_unchanged():
    grey = torch.rand(2, 1, 5, 5, dtype=torch.float64).expand(2, 3, 5, 5)
    out = tint_rotation(grey, torch.tensor([0.25, 0.5], dtype=torch.float64))
    torch.testing.assert_close(out, grey)


def test_tint_rotation_per_region_map(rgb):
    turns = torch.zeros(4, 9, 7, dtype=rgb.dtype)
    turns[:, :, 4:] = 0.5
    out = tint_rotation(rgb, turns)
    torch.testing.assert_close(out[..., :4], rgb[..., :4])
    assert (out[..., 4:] - rgb[..., 4:]).abs().mean() > 0.05


def test_lab_matches_scikit_image(rgb):
    ours = _channels_last(rgb_to_lab(rgb))
    ref = np.stack([rgb2lab(im) for im in _channels_last(rgb)])
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_rgb_lab_rgb_round_trip(rgb):
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-6, rtol=0)


def test_colour_functions_reject_non_rgb():
    with pytest.raises(ValueError, match=r"\(b, 3, H, W\)"):
        rgb_to_lab(torch.rand(2, 1, 4, 4))


def test_border_mask_width():
    m = border_mask(6, 5, 2)
    assert m.sum() == 6 * 5 - 2 * 1
    assert not m[2, 2] and not m[3, 2] and m[1, 2]


def test_partial_colorization_hides_the_inner_colours(rgb):
    inputs, target = partial_colorization(rgb, 2)
    lab = rgb_to_lab(rgb)
    torch.testing.assert_close(inputs[:, 0], lab[:, 0] / L_SCALE)
    torch.testing.assert_close(target, lab[:, 1:] / AB_SCALE)
    inner = ~border_mask(9, 7, 2)
    assert inputs[:, 1:, inner].abs().max() == 0
    torch.testing.assert_close(inputs[:, 1:, ~inner], target[:, :, ~inner])


def test_colorization_task_masks_the_given_border(rgb):
    inputs, (ab, inner) = ColorizationTask(2)(rgb.float())
    assert inputs.shape == (4, 3, 9, 7) and ab.shape == (4, 2, 9, 7)
    assert inner.shape == (1, 9, 7) and inner.sum() == (9 - 4) * (7 - 4)
    assert ColorizationTask.chance_loss is None


def test_elbow_finds_the_number_of_colour_clusters():
    # Images made of three well separated colours: the elbow is at K = 3.
    rng = np.random.RandomState(0)
    palette = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.9]])
    idx = torch.from_numpy(rng.randint(3, size=(40, 12, 12)))
    x = palette[idx].permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    assert elbow_color_clusters(x, border=2, seed=0) == 3
    grey = x.mean(1, keepdim=True).expand(-1, 3, -1, -1).contiguous() * 0 + 0.5
    assert elbow_color_clusters(grey, border=2, seed=0) == 1
