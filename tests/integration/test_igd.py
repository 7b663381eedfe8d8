"""IGDDetector end to end (igd-interpolated-gaussian-descriptor.txt §3)."""

import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from skssad import IGDDetector, overlay_anomaly_map
from skssad.datasets import make_texture_defects

TINY = dict(encoder_widths=(8, 8, 8), decoder_widths=(8, 8, 8), latent_dim=8, input_size=8,
            batch_size=32, lr=1e-3, random_state=0, device="cpu")


def test_separates_one_digit_class(digits):
    X, y = digits
    det = IGDDetector(max_epochs=4, **TINY).fit(X[y == 0][:120])
    s = det.score_samples(X[:400])
    assert roc_auc_score(y[:400] == 0, s) > 0.9


def test_critic_and_descriptor_are_trained(digits):
    X, y = digits
    det = IGDDetector(max_epochs=2, **TINY)
    det.fit(X[y == 1][:64])
    assert "critic_loss" in det.net_.history[-1, "batches"][-1]
    assert det.net_.module_.var >= 1.0
    assert np.std(det.score_samples(X[:50])) > 0


class _Snapshot(Callback):
    def on_train_begin(self, net, **kwargs):
        self.before = copy.deepcopy(net.module_.state_dict())


def test_all_three_networks_change_during_fit(digits):
    """Encoder, decoder and critic are all updated (no silent training failure)."""
    X, y = digits
    snap = _Snapshot()
    det = IGDDetector(max_epochs=1, callbacks=[snap], **TINY).fit(X[y == 1][:64])
    after = det.net_.module_.state_dict()
    for part in ("encoder.stem", "encoder.project", "decoder.out", "critic.body.stem"):
        key = f"{part}.weight"
        assert not torch.equal(snap.before[key], after[key]), part


def test_one_training_step_per_batch_for_both_optimizers(digits, monkeypatch):
    """skorch hands the step closure to each optimizer; the two optimizers of Eq. (5)
    and (6) must share one forward/backward per batch, not run it twice."""
    from skssad.detectors._igd import IGDTrainingNet

    calls = []
    original = IGDTrainingNet.train_step_single

    def counted(self, batch, **kw):
        calls.append(len(batch[0]))
        return original(self, batch, **kw)

    monkeypatch.setattr(IGDTrainingNet, "train_step_single", counted)
    X, y = digits
    det = IGDDetector(max_epochs=2, **TINY).fit(X[y == 1][:64])  # 2 batches of 32
    assert calls == [32] * 4
    assert det.net_.critic_optimizer_.state and det.net_.optimizer_.state  # both stepped


def test_critic_learning_rate_follows_the_schedule(digits):
    X, y = digits
    det = IGDDetector(max_epochs=3, **TINY).fit(X[y == 2][:64])
    lr_ae = det.net_.optimizer_.param_groups[0]["lr"]
    lr_critic = det.net_.critic_optimizer_.param_groups[0]["lr"]
    assert lr_ae < TINY["lr"]  # §4.2 polynomial decay
    # the critic took the auto-encoder's rate at the start of the last epoch
    assert 0 < lr_critic < TINY["lr"] and lr_critic >= lr_ae


def test_anomaly_map_shape_and_patches():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (6, 24, 24), dtype=np.uint8)
    det = IGDDetector(max_epochs=1, **{**TINY, "input_size": None}, patch_size=16,
                      patch_stride=8).fit(X)
    assert det.patch_mode_ and det.model_size_ == 16
    maps = det.anomaly_map(X[:2])
    assert maps.shape == (2, 24, 24)
    assert det.score_samples(X).shape == (6,)
    # a denser map stride (closer to Eq. 12's patch at every pixel) changes only the map
    scores = det.score_samples(X)
    np.testing.assert_array_equal(det.set_params(map_stride=8).anomaly_map(X[:2]), maps)
    dense = det.set_params(map_stride=2).anomaly_map(X[:2])
    assert dense.shape == (2, 24, 24) and not np.allclose(dense, maps)
    np.testing.assert_array_equal(det.score_samples(X), scores)


def test_anomaly_map_is_higher_inside_a_pasted_defect():
    """Eq. (12) localises: on brick crops with pasted stains (skimage.data), the map
    is higher inside each stain than around it."""
    d = make_texture_defects("brick", n_train=64, n_test=40, size=32, defect_share=1.0,
                             random_state=0)
    det = IGDDetector(max_epochs=3, **{**TINY, "input_size": None}, patch_size=16,
                      patch_stride=8).fit(d.train)
    stains = d.kinds == "stain"
    maps, masks = det.anomaly_map(d.test[stains]), d.masks[stains]
    assert len(maps) >= 4
    for m, mask in zip(maps, masks, strict=True):
        assert m[mask].mean() > m[~mask].mean()
    assert roc_auc_score(masks.ravel(), maps.ravel()) > 0.7


def test_teacher_option_trains(digits):
    X, y = digits
    teacher = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU())
    det = IGDDetector(max_epochs=1, teacher=teacher, teacher_epochs=1, **TINY).fit(X[:40])
    assert np.isfinite(det.distill_loss_)
    assert not det.net_.module_.encoder.stem.weight.requires_grad


def test_soft_boundary_dsvdd_fits_a_radius(digits):
    X, y = digits
    det = IGDDetector(max_epochs=2, descriptor="dsvdd", nu=0.2, **TINY).fit(X[y == 3][:64])
    module = det.net_.module_
    assert float(module.radius2) > 0
    assert (module.center.abs() >= 0.1 - 1e-6).all()  # Ruff et al.'s eps on the centre


def test_overlay_anomaly_map():
    image = np.full((6, 5), 128, dtype=np.uint8)
    amap = np.zeros((6, 5))
    amap[2, 3] = 4.0
    out = overlay_anomaly_map(image, amap, alpha=0.5)
    assert out.shape == (6, 5, 3) and out.min() >= 0 and out.max() <= 1
    hot, cold = out[2, 3], out[0, 0]
    assert hot[0] > cold[0] + 0.4  # the anomalous pixel is drawn hot
    np.testing.assert_allclose(cold, 0.5 * 128 / 255)  # coldest colour is black
    with pytest.raises(ValueError, match="same"):
        overlay_anomaly_map(image, amap[:3])


@pytest.mark.parametrize("descriptor, interpolation", [(None, False), ("dsvdd", True)])
def test_ablation_variants_fit(digits, descriptor, interpolation):
    X, _ = digits
    det = IGDDetector(max_epochs=1, descriptor=descriptor, interpolation=interpolation, **TINY)
    assert np.isfinite(det.fit(X[:40]).score_samples(X[:5])).all()
