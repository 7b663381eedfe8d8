"""Batched SimCLR views (anomem-contrasted-memory.txt §4.2)."""

import pytest
import torch

from skssad.tasks import ContrastiveTask, contrastive_view


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
    v1, v2 = ContrastiveTask()(x)
    assert not torch.allclose(v1, v2)


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
    v1, _ = task(x)
    flipped = (v1[:, 0, 0, -1] < v1[:, 0, 0, 0]).sum()
    assert (flipped > 0) == flip
