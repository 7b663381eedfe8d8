"""SeedEnsemble (skssad.ensemble): seeded members, standardised mean, profiles."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skssad import SeedEnsemble
from skssad.profiles import REGISTRY, make_detector


class NoisyDistance(OutlierMixin, BaseEstimator):
    """Minus the distance to the training mean, plus seeded noise at ``scale``."""

    def __init__(self, noise=1.0, scale=1.0, random_state=None):
        self.noise = noise
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X).mean(0)
        self.direction_ = np.random.RandomState(self.random_state).normal(size=self.mean_.shape)
        return self

    def score_samples(self, X):
        X = np.asarray(X)
        # a seed-dependent nuisance direction: each member errs differently
        return self.scale * (-np.linalg.norm(X - self.mean_, axis=1)
                             + self.noise * (X - self.mean_) @ self.direction_)


def _digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))
    X, y = X[idx], y[idx]
    train = X[:900][y[:900] == 0]
    return train, X[900:], y[900:] == 0


def test_members_are_seeded_apart_and_the_fit_is_reproducible():
    train, X_test, _ = _digits()
    a = SeedEnsemble(NoisyDistance(), n_members=3, random_state=0).fit(train)
    b = SeedEnsemble(NoisyDistance(), n_members=3, random_state=0).fit(train)
    seeds = [m.random_state for m in a.members_]
    assert len(set(seeds)) == 3
    np.testing.assert_array_equal(a.score_samples(X_test), b.score_samples(X_test))
    c = SeedEnsemble(NoisyDistance(), n_members=3, random_state=1).fit(train)
    assert not np.allclose(a.score_samples(X_test), c.score_samples(X_test))


def test_the_mean_of_members_beats_a_single_member_on_held_out_digits():
    train, X_test, normal = _digits()
    ens = SeedEnsemble(NoisyDistance(noise=1.0), n_members=16, random_state=0).fit(train)
    singles = [roc_auc_score(normal, m.score_samples(X_test)) for m in ens.members_]
    together = roc_auc_score(normal, ens.score_samples(X_test))
    # each member errs along its own direction: the mean beats even the best member
    assert together > np.mean(singles) + 0.1 and together > max(singles)


def test_members_are_standardised_before_the_mean():
    """A member whose scores spread 1000x wider must not outvote the others."""
    train, X_test, _ = _digits()
    ens = SeedEnsemble(NoisyDistance(), n_members=2, random_state=0).fit(train)
    ens.members_[1].set_params(scale=1000.0)
    ens.score_scale_[1] *= 1000.0
    ens.score_center_[1] *= 1000.0
    z = [(m.score_samples(X_test) - c) / s
         for m, c, s in zip(ens.members_, ens.score_center_, ens.score_scale_, strict=True)]
    np.testing.assert_allclose(ens.score_samples(X_test), np.mean(z, axis=0))
    # on the training images the standardised scores have median 0 and IQR 1
    s0 = (ens.members_[0].score_samples(train) - ens.score_center_[0]) / ens.score_scale_[0]
    q25, q50, q75 = np.percentile(s0, [25, 50, 75])
    assert abs(q50) < 1e-9 and q75 - q25 == pytest.approx(1.0)


def test_offset_and_predict_follow_contamination():
    train, X_test, _ = _digits()
    ens = SeedEnsemble(NoisyDistance(), n_members=3, contamination=0.2, random_state=0)
    pred = ens.fit(train).predict(train)
    assert abs(np.mean(pred == -1) - 0.2) < 0.03
    np.testing.assert_allclose(ens.decision_function(X_test),
                               ens.score_samples(X_test) - ens.offset_)


def test_known_anomalies_are_left_out_of_the_standardisation():
    train, X_test, normal = _digits()
    anomalies = X_test[~normal][:30]
    X = np.concatenate([train, anomalies])
    y = np.r_[np.ones(len(train)), -np.ones(len(anomalies))]
    with_known = SeedEnsemble(IsolationForest(n_estimators=20), n_members=2,
                              random_state=0).fit(X, y)
    members = [m.score_samples(train) for m in with_known.members_]
    np.testing.assert_allclose(with_known.score_center_, np.median(members, axis=1))


def test_an_estimator_without_random_state_is_refused():
    class Fixed(NoisyDistance):
        def __init__(self, noise=1.0):
            self.noise = noise
    with pytest.raises(ValueError, match="random_state"):
        SeedEnsemble(Fixed(), n_members=2).fit(np.zeros((10, 3)))


def test_a_profile_with_an_ensemble_makes_one_and_ensemble_1_turns_it_off():
    withens = [n for n in REGISTRY if REGISTRY[n]["quick"].get("ensemble", 1) > 1]
    assert withens, "no quick profile uses a seed ensemble"
    name = withens[0]
    est = make_detector(name, "quick", random_state=3)
    assert isinstance(est, SeedEnsemble)
    assert est.n_members == REGISTRY[name]["quick"]["ensemble"] and est.random_state == 3
    assert "ensemble" not in est.estimator.get_params()
    bare = make_detector(name, "quick", ensemble=1)
    assert not isinstance(bare, SeedEnsemble)


def test_members_fitted_in_parallel_are_the_members_fitted_in_turn():
    from skssad import IGDDetector

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8, 1) / 16.0
    base = IGDDetector(encoder_widths=(4, 4, 4), decoder_widths=(4, 4, 4), latent_dim=4,
                       input_size=8, max_epochs=1, batch_size=32, device="cpu")
    train, test = X[y == 0][:60], X[900:960]
    apart = SeedEnsemble(base, n_members=2, random_state=0, n_jobs=2).fit(train)
    in_turn = SeedEnsemble(base, n_members=2, random_state=0, n_jobs=1).fit(train)
    assert [m.random_state for m in apart.members_] == [m.random_state for m in in_turn.members_]
    # the members' seeds are drawn before the fits: parallelism changes nothing
    np.testing.assert_allclose(apart.score_center_, in_turn.score_center_, rtol=1e-4)
    np.testing.assert_allclose(apart.score_samples(test), in_turn.score_samples(test),
                               rtol=1e-4, atol=1e-5)
