"""ThresholdedDetector: thresholds by BPCER, F1 and contamination, on held-out data."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skssad.thresholds import ThresholdedDetector, threshold_for_target


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(300, 2))
    anomalies = rng.normal(loc=3.0, size=(60, 2))
    X = np.vstack([normal, anomalies])
    y = np.r_[np.ones(300, int), -np.ones(60, int)]
    return X, y


def _forest():
    return IsolationForest(n_estimators=50, random_state=0)


def test_bpcer_threshold_rejects_that_share_of_normal_scores():
    s = np.arange(100, dtype=float)  # 100 normal scores 0..99
    t = threshold_for_target(s, target="bpcer", bpcer=0.05)
    assert t == 5.0 and np.mean(s < t) == pytest.approx(0.05)
    # anomalies do not count towards BPCER
    y = np.r_[np.ones(100, int), -np.ones(10, int)]
    s2 = np.r_[s, np.full(10, -50.0)]
    assert threshold_for_target(s2, y, target="bpcer", bpcer=0.05) == 5.0


def test_contamination_threshold_is_the_percentile():
    s = np.random.default_rng(1).normal(size=57)
    assert threshold_for_target(s, target="contamination", flag_rate=0.2) == \
        pytest.approx(np.percentile(s, 20))


def test_f1_threshold_is_the_best_cut():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(40, int), -np.ones(15, int)]
    s = np.r_[rng.normal(1, 1, 40), rng.normal(-1, 1, 15)]
    t = threshold_for_target(s, y, target="f1")
    pred = np.where(s < t, -1, 1)
    best = max(f1_score(y, np.where(s <= c, -1, 1), pos_label=-1) for c in s)
    assert f1_score(y, pred, pos_label=-1) == pytest.approx(best)
    # half-way between the last flagged score and the next one
    flagged = s[s < t].max()
    assert t == pytest.approx((flagged + s[s > flagged].min()) / 2)


def test_fit_holds_out_validation_and_meets_bpcer(blobs):
    X, y = blobs
    normal = X[y == 1]
    det = ThresholdedDetector(_forest(), target="bpcer", bpcer=0.1, random_state=0).fit(normal)
    assert len(det.validation_scores_) == 75  # 25 % held out
    assert det.validation_bpcer_ <= 0.1
    assert det.threshold_ == det.offset_
    # the threshold is the one of the held-out scores, not the training scores
    assert det.threshold_ == threshold_for_target(det.validation_scores_, bpcer=0.1)
    assert det.threshold_ != pytest.approx(det.estimator_.offset_)


def test_predict_uses_threshold(blobs):
    X, y = blobs
    det = ThresholdedDetector(_forest(), target="f1", random_state=0).fit(X, y)
    s = det.score_samples(X)
    np.testing.assert_array_equal(det.predict(X), np.where(s < det.threshold_, -1, 1))
    np.testing.assert_allclose(det.decision_function(X), s - det.threshold_)
    # a tuned F1 beats the forest's own threshold on these blobs
    own = f1_score(y, det.estimator_.predict(X), pos_label=-1)
    assert f1_score(y, det.predict(X), pos_label=-1) > own


def test_set_threshold_keeps_the_fitted_detector(blobs):
    X, y = blobs
    det = ThresholdedDetector(_forest(), bpcer=0.01, random_state=0).fit(X[y == 1])
    inner, t = det.estimator_, det.threshold_
    det.set_params(bpcer=0.3).set_threshold(X[y == 1][:100])
    assert det.estimator_ is inner and det.threshold_ > t
    assert np.mean(det.score_samples(X[y == 1][:100]) < det.threshold_) == pytest.approx(0.3)


def test_prefit_uses_all_data_as_validation(blobs):
    X, y = blobs
    forest = _forest().fit(X[y == 1][:200])
    det = ThresholdedDetector(forest, target="contamination", flag_rate=0.2,
                              prefit=True).fit(X[y == 1][200:])
    assert det.estimator_ is forest and len(det.validation_scores_) == 100
    with pytest.raises(Exception, match="not fitted"):
        ThresholdedDetector(_forest(), prefit=True).fit(X)


def test_in_pipeline_and_grid_search(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), ThresholdedDetector(_forest(), target="f1",
                                                               random_state=0))
    pipe.fit(X, y)
    assert set(np.unique(pipe.predict(X))) == {-1, 1}
    f1 = make_scorer(f1_score, pos_label=-1)
    search = GridSearchCV(ThresholdedDetector(_forest(), random_state=0),
                          {"bpcer": [0.0, 0.2, 0.5]}, scoring=f1, cv=3).fit(X, y)
    # rejecting half of the normal samples is never the best F1 here
    assert search.best_params_["bpcer"] != 0.5
    assert search.cv_results_["mean_test_score"].std() > 0


def test_wraps_a_skssad_detector(digits):
    from skssad import GeometricTransformDetector

    images, labels = digits
    X = images[labels == 0][:60]
    det = ThresholdedDetector(GeometricTransformDetector(depth=10, width=1, input_size=8,
                                                         shift=2, max_epochs=1, device="cpu",
                                                         random_state=0),
                              bpcer=0.1, random_state=0).fit(X)
    assert det.validation_bpcer_ <= 0.1
    assert det.predict(images[labels == 1][:5]).shape == (5,)


@pytest.mark.parametrize("params, y, match", [
    (dict(target="f1"), None, "known anomalies"),
    (dict(target="recall"), None, "target"),
    (dict(bpcer=1.0), None, "bpcer"),
])
def test_bad_settings_raise(blobs, params, y, match):
    X, _ = blobs
    with pytest.raises(ValueError, match=match):
        ThresholdedDetector(_forest(), **params).fit(X, y)


@parametrize_with_checks([ThresholdedDetector(IsolationForest(n_estimators=10, random_state=0),
                                              random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
