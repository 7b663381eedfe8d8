"""IGDDetector end to end (igd-interpolated-gaussian-descriptor.txt §3)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skssad import IGDDetector

TINY = dict(encoder_widths=(8, 8, 8), decoder_widths=(8, 8, 8), latent_dim=8, input_size=8,
            batch_size=32, lr=1e-3, random_state=0, device="cpu")


def test_separates_one_digit_class(digits):
    X, y = digits
    det = IGDDetector(max_epochs=4, **TINY).fit(X[y == 0][:120])
    s = det.score_samples(X[:400])
    assert roc_auc_score(y[:400] == 0, s) > 0.9


def test_critic_and_descriptor_are_trained(digits):
    X, y = digits
    det = IGDDetector(max_epochs=2, **TINY).fit(X[y == 1][:64])
    assert "critic_loss" in det.net_.history[-1, "batches"][-1]
    assert det.net_.module_.var >= 1.0
    assert np.std(det.score_samples(X[:50])) > 0


def test_anomaly_map_shape_and_patches():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (6, 24, 24), dtype=np.uint8)
    det = IGDDetector(max_epochs=1, **{**TINY, "input_size": None}, patch_size=16,
                      patch_stride=8).fit(X)
    assert det.patch_mode_ and det.model_size_ == 16
    assert det.anomaly_map(X[:2]).shape == (2, 24, 24)
    assert det.score_samples(X).shape == (6,)


def test_teacher_option_trains(digits):
    X, y = digits
    teacher = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU())
    det = IGDDetector(max_epochs=1, teacher=teacher, teacher_epochs=1, **TINY).fit(X[:40])
    assert np.isfinite(det.distill_loss_)
    assert not det.net_.module_.encoder.stem.weight.requires_grad


@pytest.mark.parametrize("descriptor, interpolation", [(None, False), ("dsvdd", True)])
def test_ablation_variants_fit(digits, descriptor, interpolation):
    X, _ = digits
    det = IGDDetector(max_epochs=1, descriptor=descriptor, interpolation=interpolation, **TINY)
    assert np.isfinite(det.fit(X[:40]).score_samples(X[:5])).all()
