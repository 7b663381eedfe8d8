"""Batched SimCLR views (anomem-contrasted-memory.txt §4.2)."""

import math

import pytest
import torch

from skssad.tasks import ContrastiveTask, RotationTask, contrastive_view
from skssad.tasks.contrastive import rotation_shifted


def test_views_keep_shape_and_range():
    x = torch.rand(6, 3, 16, 16)
    v = contrastive_view(x)
    assert v.shape == x.shape
    assert v.min() >= 0 and v.max() <= 1


def test_views_differ_per_sample_and_per_call():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 16, 16).repeat(4, 1, 1, 1)
    v = contrastive_view(x)
    assert not torch.allclose(v[0], v[1])
    views, targets = ContrastiveTask()(x)
    v1, v2 = views.chunk(2)
    assert not torch.allclose(v1, v2)
    torch.testing.assert_close(targets, torch.ones(4))


def test_identity_settings_give_input_back():
    x = torch.rand(3, 1, 8, 8)
    v = contrastive_view(x, crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), flip=False,
                         jitter=0.0, blur_p=0.0, noise_std=0.0)
    torch.testing.assert_close(v, x, atol=1e-3, rtol=0)


def test_seeded_views_reproducible():
    x = torch.rand(2, 3, 8, 8)
    torch.manual_seed(1)
    a = contrastive_view(x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, contrastive_view(x))


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="B, C, H, W"):
        contrastive_view(torch.rand(8, 8))


@pytest.mark.parametrize("flip", [True, False])
def test_task_flip_option(flip):
    # Left-right ramp: a flipped view decreases along the width.
    x = torch.linspace(0, 1, 16).repeat(64, 1, 16, 1)
    torch.manual_seed(0)
    task = ContrastiveTask(crop_scale=(1.0, 1.0), jitter=0.0, blur_p=0.0, noise_std=0.0,
                           flip=flip)
    v1, _ = task(x)[0].chunk(2)
    flipped = (v1[:, 0, 0, -1] < v1[:, 0, 0, 0]).sum()
    assert (flipped > 0) == flip


def test_jitter_probability_zero_leaves_colours_alone():
    # §4.2 "as in SimCLR": each transformation has a probability; p = 0 switches it off.
    x = torch.rand(16, 3, 8, 8) * 0.5 + 0.25
    kw = dict(crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), flip=False, blur_p=0.0, noise_std=0.0)
    torch.testing.assert_close(contrastive_view(x, jitter_p=0.0, **kw), x, atol=1e-3, rtol=0)
    torch.manual_seed(0)
    jittered = contrastive_view(x, jitter_p=1.0, **kw)
    assert ((jittered - x).abs().flatten(1).max(1).values > 1e-2).all()


def test_blur_sigma_is_drawn_per_sample():
    torch.manual_seed(0)
    x = torch.zeros(32, 1, 32, 32)
    x[:, :, 16, 16] = 1.0
    kw = dict(crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), flip=False, jitter=0.0,
              noise_std=0.0, blur_p=1.0, blur_sigma=(2.0, 60.0))
    peaks = contrastive_view(x, **kw).amax((1, 2, 3))
    assert peaks.max() - peaks.min() > 0.05


def test_rotation_shifted_rotates_every_image_by_a_nonzero_quarter_turn():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 6, 6)
    out = rotation_shifted(x)
    matches = torch.stack([(out == torch.rot90(x, k, dims=(-2, -1))).flatten(1).all(1)
                           for k in range(4)], 1)
    assert not matches[:, 0].any()
    assert (matches[:, 1:].sum(1) == 1).all()
    assert matches[:, 1:].any(0).all()


def test_task_returns_stacked_branches_and_labels():
    x = torch.rand(5, 1, 8, 8)
    y = torch.tensor([1, 0, 1, 1, 0])
    views, targets = ContrastiveTask(negatives="rotation")(x, y)
    assert views.shape == (15, 1, 8, 8)
    torch.testing.assert_close(targets, y.float())
    with pytest.raises(ValueError, match="negatives"):
        ContrastiveTask(negatives="jigsaw")


def test_rotation_task_labels_the_quarter_turn_of_each_view():
    # RotationTask (ours, AnoMem's rotation_pretrain): with the crop and flip switched off
    # each view is its image turned by k * 90 degrees, k the returned label, all four drawn.
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    views, k = RotationTask(crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), flip=False)(x)
    assert views.shape == x.shape and k.shape == (64,) and set(k.tolist()) == {0, 1, 2, 3}
    for i in range(len(x)):
        torch.testing.assert_close(views[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)),
                                   atol=1e-3, rtol=0)
    assert RotationTask.chance_loss == pytest.approx(math.log(4))


def test_rotation_task_flips_before_it_rotates():
    # flip(rot90(x)) = rot270(flip(x)): flipping after the turn would give a mirrored
    # image the wrong label, so each view must be rot90^k of x or of its mirror.
    torch.manual_seed(1)
    x = torch.rand(64, 1, 8, 8)
    views, k = RotationTask(crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), flip=True)(x)
    mirrored = 0
    for i in range(len(x)):
        back = torch.rot90(views[i], -int(k[i]), dims=(-2, -1))
        plain = torch.allclose(back, x[i], atol=1e-3)
        mirror = torch.allclose(back, x[i].flip(-1), atol=1e-3)
        assert plain or mirror
        mirrored += mirror
    assert 0 < mirrored < len(x)
