"""GeometricTransformDetector end to end on real digits."""

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skssad import GeometricTransformDetector

SMALL = dict(depth=10, width=1, input_size=16, batch_size=32, n_views=4, device="cpu")


def test_learns_to_separate_digit_zero_from_the_rest(digits):
    images, target = digits
    train = images[target == 0][:120]
    test_idx = np.r_[np.flatnonzero(target == 0)[120:], np.flatnonzero(target != 0)[::6]]
    det = GeometricTransformDetector(max_epochs=2, random_state=0, **SMALL)
    before = [p.detach().clone() for p in
              GeometricTransformDetector(max_epochs=1, random_state=0, **SMALL)
              .fit(train[:2]).net_.module_.parameters()]
    det.fit(train)
    scores = det.score_samples(images[test_idx])
    auc = roc_auc_score(target[test_idx] == 0, scores)
    assert auc > 0.8, auc
    assert np.std(scores) > 1e-4
    losses = det.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    after = list(det.net_.module_.parameters())
    assert any(not torch.equal(a, b)
               for a, b in zip(before, after, strict=True) if a.shape == b.shape)


def test_grid_search_with_roc_auc_picks_a_configuration(digits):
    images, target = digits
    idx = np.r_[np.flatnonzero(target == 0)[:60], np.flatnonzero(target == 7)[:15]]
    # cv=3 on an outlier detector is plain KFold: mix the classes first
    idx = np.random.RandomState(0).permutation(idx)
    X, y = images[idx].reshape(len(idx), -1), np.where(target[idx] == 0, 1, -1)
    search = GridSearchCV(
        GeometricTransformDetector(max_epochs=1, random_state=0, **{**SMALL, "input_size": 8}),
        {"shift": [1, 2]}, scoring="roc_auc", cv=3).fit(X, y)
    assert search.best_params_["shift"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_works_after_a_transformer_in_a_pipeline(digits):
    images, target = digits
    X = images.reshape(len(images), -1).astype(float)
    pipe = make_pipeline(
        FunctionTransformer(lambda Z: Z / 255.0),
        PCA(n_components=16, random_state=0),  # 16 features -> 4x4 images
        GeometricTransformDetector(max_epochs=1, random_state=0, shift=1,
                                   **{**SMALL, "input_size": 8}))
    pipe.fit(X[target == 0][:80])
    pred = pipe.predict(X[:20])
    assert pred.shape == (20,) and set(np.unique(pred)) <= {-1, 1}


def test_anomaly_map_is_the_occlusion_map_at_input_resolution(digits):
    from skssad.attribution import anomaly_map

    images, target = digits
    det = GeometricTransformDetector(depth=10, width=1, input_size=8, max_epochs=1,
                                     batch_size=16, n_views=2, shift=2, device="cpu",
                                     random_state=0).fit(images[target == 0][:32])
    maps = det.anomaly_map(images[:3], window=4, stride=2)
    assert maps.shape == (3, 8, 8) and np.isfinite(maps).all()
    np.testing.assert_allclose(maps, anomaly_map(det, images[:3], window=4, stride=2))
