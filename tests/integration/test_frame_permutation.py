"""FramePermutationDetector end to end (frame-permutation-video.txt §III, §IV-D)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skssad import FramePermutationDetector, minmax_anomaly_scores
from skssad.datasets import make_moving_digits

TINY = dict(M=3, skip=1, width=8, feature_dim=32, input_size=16, max_epochs=10, lr=0.05,
            batch_size=16, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def trained():
    """Trained on left-to-right motion (class 0) of real moving digits."""
    X, _ = make_moving_digits(64, n_frames=10, size=16, motions=[0], random_state=1,
                              return_X_y=True)
    return FramePermutationDetector(**TINY).fit(X)


def test_reversed_motion_scores_as_more_anomalous(trained):
    # §IV-D: the time-reversed class looks identical frame by frame; only
    # temporal order, which the permutation task models, separates it.
    X, y = make_moving_digits(40, n_frames=10, size=16, motions=[0, 1], random_state=2,
                              return_X_y=True)
    s = trained.score_samples(X)
    assert roc_auc_score(y == 0, s) > 0.9
    assert s[y == 0].mean() > s[y == 1].mean()


def test_fit_changes_weights_and_scores_vary(trained):
    fresh = FramePermutationDetector(**{**TINY, "max_epochs": 1})
    X, _ = make_moving_digits(8, n_frames=10, size=16, motions=[0], random_state=1, return_X_y=True)
    fresh.fit(X)
    h = trained.net_.history[:, "train_loss"]
    assert h[-1] < h[0]
    assert np.std(trained.score_samples(X)) > 0


def test_score_segments_mean_is_minus_score_samples(trained):
    X, _ = make_moving_digits(5, n_frames=12, size=16, random_state=3, return_X_y=True)
    seg = trained.score_segments(X)
    assert seg.shape == (5, 12 - 5 + 1)
    assert np.allclose(-seg.mean(1), trained.score_samples(X))


def test_variable_length_list(trained):
    X, _ = make_moving_digits(3, n_frames=14, size=16, random_state=4, return_X_y=True)
    videos = [X[0, :6], X[1], X[2, :9]]
    seg = trained.score_segments(videos)
    assert [len(s) for s in seg] == [2, 10, 5]
    s = trained.score_samples(videos)
    assert np.allclose(s, [-np.mean(p) for p in seg])
    # a video's score does not depend on the others or on padding
    assert np.allclose(s[0], trained.score_samples([X[0, :6], X[1, :5]])[0])


def test_fit_on_variable_length_list():
    X, _ = make_moving_digits(6, n_frames=12, size=16, motions=[0], random_state=5, return_X_y=True)
    videos = [X[i, :6 + i] for i in range(6)]
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(videos)
    assert det.score_samples(videos).shape == (6,)


def test_scores_reproducible_and_batch_independent(trained):
    X, _ = make_moving_digits(12, n_frames=10, size=16, random_state=6, return_X_y=True)
    s = trained.score_samples(X)
    assert np.array_equal(s[3:4], trained.score_samples(X[3:4]))
    Xtr, _ = make_moving_digits(8, n_frames=10, size=16, motions=[0], random_state=1,
                                return_X_y=True)
    a = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(Xtr).score_samples(X)
    b = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(Xtr).score_samples(X)
    assert np.array_equal(a, b)


def test_rgb_five_d_videos():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(4, 6, 8, 8, 3), dtype=np.uint8)
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "input_size": 8}).fit(X)
    assert det.input_shape_ == (3, 8, 8)
    assert det.score_samples(X).shape == (4,)


def test_too_short_video_error_names_frames():
    det = FramePermutationDetector(M=5, skip=2, device="cpu")
    with pytest.raises(ValueError, match="at least 13 frames.*M=5 frames with skip=2"):
        det.fit(np.zeros((3, 10, 8, 8)))


def test_permutation_subset_keeps_identity_and_clips():
    X, _ = make_moving_digits(4, n_frames=8, size=16, motions=[0], random_state=0, return_X_y=True)
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "M": 4, "n_permutations": 7,
                                      "n_score_permutations": 3}).fit(X)
    assert det.permutations_.shape == (7, 4)
    assert det.permutations_[0].tolist() == [0, 1, 2, 3]
    assert len(det.score_labels_) == 3
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "n_permutations": 50}).fit(X)
    assert det.n_permutations_ == 6  # 3! classes


def test_time_series_input():
    t = np.linspace(0, 4 * np.pi, 16)
    rng = np.random.default_rng(0)
    X = np.sin(t[None] + rng.uniform(0, 1, (12, 1)))
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(X)
    assert det.video_kind_ == "series" and det.n_features_in_ == 16
    assert det.predict(X).shape == (12,)


def test_minmax_anomaly_scores_eq9():
    a = minmax_anomaly_scores(np.array([[1.0, 3.0], [2.0, 5.0]]))
    assert a.min() == 0.0 and a.max() == 1.0 and a[0, 1] == 0.5
    parts = minmax_anomaly_scores([np.array([2.0]), np.array([4.0, 3.0])])
    assert [p.tolist() for p in parts] == [[0.0], [1.0, 0.5]]


def test_pickle_roundtrip_scores_identically(trained):
    import pickle

    X, _ = make_moving_digits(3, n_frames=10, size=16, random_state=7, return_X_y=True)
    clone = pickle.loads(pickle.dumps(trained))
    assert np.array_equal(clone.score_samples(X), trained.score_samples(X))
    assert torch.equal(torch.as_tensor(clone.permutations_), torch.as_tensor(trained.permutations_))
