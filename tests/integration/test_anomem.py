"""AnoMemDetector end to end (anomem-contrasted-memory.txt §3)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skssad import AnoMemDetector

SMALL = dict(depth=10, width=4, n_memory=(16, 8), input_size=16, max_epochs=2,
             batch_size=32, random_state=0, device="cpu")


def test_separates_one_digit_class(digits):
    images, labels = digits
    det = AnoMemDetector(**{**SMALL, "width": 8, "n_memory": (64, 32), "max_epochs": 8,
                            "batch_size": 64})
    det.fit(images[:1000][labels[:1000] == 0])
    scores = det.score_samples(images[1000:1400])
    assert roc_auc_score(labels[1000:1400] == 0, scores) > 0.8
    assert not det.semi_supervised_ and det.head_net_ is None


def test_known_anomalies_train_second_stage(digits):
    images, labels = digits
    X = images[:400]
    y = np.where(labels[:400] == 0, 1, -1)
    keep = (y == 1) | (np.arange(400) % 10 == 0)
    det = AnoMemDetector(**SMALL, supervised_epochs=20).fit(X[keep], y[keep])
    assert det.semi_supervised_ and det.head_net_ is not None
    losses = det.head_net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    scores = det.score_samples(images[400:700])
    assert roc_auc_score(labels[400:700] == 0, scores) > 0.7


def test_labels_without_anomalies_give_one_class(digits):
    images, labels = digits
    X = images[:100]
    a = AnoMemDetector(**SMALL).fit(X, np.ones(100))
    b = AnoMemDetector(**SMALL).fit(X)
    assert a.head_net_ is None
    np.testing.assert_allclose(a.score_samples(X[:10]), b.score_samples(X[:10]))


def test_anomaly_map_shape_and_memory_trained(digits):
    images, _ = digits
    det = AnoMemDetector(**SMALL).fit(images[:64])
    maps = det.anomaly_map(images[:5])
    assert maps.shape == (5, 8, 8)
    assert np.all(maps >= 0) and maps.std() > 0
    # batch independence (DESIGN.md): the same rows give the same maps whatever else
    # is in the call, across a chunk boundary too
    np.testing.assert_array_equal(det.anomaly_map(images[:40])[:5], maps)
    np.testing.assert_array_equal(det.anomaly_map(images[30:40])[:5], det.anomaly_map(
        images[:40])[30:35])
    assert det.net_.history[-1, "train_loss"] != det.net_.history[0, "train_loss"]


@pytest.mark.parametrize("kw", [dict(memory="kmeans"), dict(scales=(4,), n_memory=(8,),
                                                           sampling_ratio=(1.0,))])
def test_ablation_options(digits, kw):
    images, _ = digits
    det = AnoMemDetector(**{**SMALL, **kw}).fit(images[:64])
    assert np.isfinite(det.score_samples(images[:8])).all()


def test_bad_scale_params_raise(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="one entry per scale"):
        AnoMemDetector(**{**SMALL, "n_memory": (8,)}).fit(images[:32])
    with pytest.raises(ValueError, match="stages among 1-4"):
        AnoMemDetector(**{**SMALL, "scales": (5,), "n_memory": (8,),
                          "sampling_ratio": (1.0,)}).fit(images[:32])
