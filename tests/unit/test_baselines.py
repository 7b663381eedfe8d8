"""Raw-pixel baselines: kNN distance (PyOD's KNN), their registry and pixel step."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import check_estimator

from skssad.baselines import BASELINES, KNNDistance, flatten_pixels, make_baseline
from skssad.metrics import anomaly_auroc


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X.reshape(-1, 8, 8), y, test_size=0.5,
                                              stratify=y, random_state=0)
    return X_tr, y_tr, X_te, y_te


def _reference(X_train, X, k, method, metric):
    """Brute-force distances in numpy, as PyOD's KNN defines the score."""
    if metric == "cosine":
        a = X_train / np.linalg.norm(X_train, axis=1, keepdims=True)
        b = X / np.linalg.norm(X, axis=1, keepdims=True)
        d = 1 - b @ a.T
    else:
        d = np.sqrt(((X[:, None, :] - X_train[None]) ** 2).sum(-1))
    d = np.sort(d, axis=1)[:, :k]
    return {"largest": d[:, -1], "mean": d.mean(1), "median": np.median(d, 1)}[method]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("method", ["largest", "mean", "median"])
def test_knn_scores_are_negated_neighbour_distances(metric, method):
    rng = np.random.default_rng(0)
    X_train, X = rng.normal(size=(40, 6)) + 2, rng.normal(size=(15, 6)) + 2
    knn = KNNDistance(3, method=method, metric=metric).fit(X_train)
    np.testing.assert_allclose(knn.score_samples(X), -_reference(X_train, X, 3, method, metric),
                               rtol=1e-6, atol=1e-9)


def test_knn_offset_flags_the_contamination_share_of_training_samples():
    X = np.random.default_rng(1).normal(size=(200, 4))
    knn = KNNDistance(4, contamination=0.2).fit(X)
    assert (knn.predict(X) == -1).mean() == pytest.approx(0.2, abs=0.01)
    assert knn.offset_ == pytest.approx(np.percentile(knn.score_samples(X), 20))


@pytest.mark.parametrize("name", ["knn-cosine", "knn-l2"])
def test_knn_separates_held_out_digits(digits, name):
    X_tr, y_tr, X_te, y_te = digits
    aurocs = []
    for c in (1, 8, 9):  # the hardest digits for pixel baselines
        det = make_baseline(name).fit(X_tr[y_tr == c])
        aurocs.append(anomaly_auroc(np.where(y_te == c, 1, -1), det.score_samples(X_te)))
    assert min(aurocs) > 0.9 and np.mean(aurocs) > 0.95, aurocs


def test_knn_baselines_registered_with_their_metric_and_resize():
    assert {"knn-cosine", "knn-l2"} <= set(BASELINES)
    cos, l2 = make_baseline("knn-cosine"), make_baseline("knn-l2", profile="paper")
    assert cos.named_steps["knn_cosine"].metric == "cosine"
    assert l2.named_steps["knn_l2"].metric == "euclidean"
    assert cos.named_steps["pixels"].kw_args == {"size": 16}
    assert l2.named_steps["pixels"].kw_args is None
    assert make_baseline("knn-l2", n_neighbors=2).named_steps["knn_l2"].n_neighbors == 2


def test_knn_pipeline_drops_known_anomalies(digits):
    X_tr, y_tr, X_te, _ = digits
    normal, anomalies = X_tr[y_tr == 0], X_tr[y_tr == 1]
    plain = make_baseline("knn-cosine").fit(normal).score_samples(X_te)
    mixed = make_baseline("knn-cosine").fit(np.r_[normal, anomalies],
                                            np.r_[np.ones(len(normal)), -np.ones(len(anomalies))])
    np.testing.assert_allclose(mixed.score_samples(X_te), plain)


def test_flatten_pixels_resizes_like_the_detectors():
    X = np.random.default_rng(0).integers(0, 256, (3, 8, 8)).astype(np.uint8)
    flat = flatten_pixels(X, size=16)
    assert flat.shape == (3, 256) and flat.dtype == np.float32
    assert 0 <= flat.min() and flat.max() <= 1
    rgb = flatten_pixels(np.ones((2, 32, 32, 3), np.uint8) * 255, size=16)
    assert rgb.shape == (2, 768) and np.allclose(rgb, 1.0)
    assert flatten_pixels(X.reshape(3, 64), size=16).shape == (3, 256)
    with pytest.raises(ValueError, match="square grayscale"):
        flatten_pixels(np.zeros((2, 10)), size=4)


def test_knn_bad_input():
    with pytest.raises(ValueError, match="needs at least 5 training samples, got n_samples=4"):
        KNNDistance(5).fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="metric"):
        KNNDistance(metric="manhattan").fit(np.zeros((10, 3)))


def test_knn_passes_check_estimator():
    check_estimator(KNNDistance())
