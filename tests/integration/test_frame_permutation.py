"""FramePermutationDetector end to end (Ali, Khan and Kyung, §III, §IV-D).

Every accuracy test scores held-out videos, generated with another seed
than the training videos.
"""

import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skssad import FramePermutationDetector, PretextAtChanceWarning, minmax_anomaly_scores
from skssad.datasets import make_moving_digits

# 6 permutation classes of 3 frames: a few seconds per fit on one core.
TINY = dict(M=3, skip=1, width=4, feature_dim=16, top_hidden=64, input_size=16, max_epochs=10,
            batch_size=16, lr=0.05, device="cpu", random_state=0)


def _videos(n, motions, seed, n_frames=10):
    return make_moving_digits(n, n_frames=n_frames, size=16, motions=motions, random_state=seed,
                              return_X_y=True)


@pytest.fixture(scope="module")
def trained():
    """Trained on left-to-right motion (class 0) of real moving digits."""
    X, _ = _videos(32, [0], 1)
    return FramePermutationDetector(**TINY).fit(X)


def test_reversed_motion_scores_as_more_anomalous(trained):
    # §IV-D: the time-reversed class looks identical frame by frame; only
    # temporal order, which the permutation task models, separates it.
    X, y = _videos(40, [0, 1], 2)
    s = trained.score_samples(X)
    assert roc_auc_score(y == 0, s) > 0.9


@pytest.mark.parametrize("motion", [6, 7])
def test_circle_motion_pretext_accuracy_well_above_chance(motion):
    # A digit on a circle has no per-frame quantity that grows with time: the
    # order is only readable by comparing frames, which needs the Top-CNN's
    # hidden layer on the concatenated features (§III-B) and a base that
    # keeps the digit's position (no global average pool).
    X, _ = _videos(24, [motion], 1)
    held_out, _ = _videos(12, [motion], 2)
    det = FramePermutationDetector(**TINY).fit(X)
    chance = 1.0 / det.n_permutations_
    assert det.pretext_accuracy(held_out) > 0.6 > 3 * chance
    h = det.net_.history[:, "train_loss"]
    assert h[-1] < 0.5 * np.log(det.n_permutations_)


def _sines(n, seed, T=32):
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :]
    period = rng.uniform(10, 14, (n, 1))
    return np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, (n, 1)))


def test_time_series_sine_vs_noise_separate():
    # 2-D input is n univariate series, one scalar per frame. Normal: sines
    # of random phase and period; anomalies: white noise of the same scale.
    det = FramePermutationDetector(**{**TINY, "max_epochs": 6}).fit(_sines(48, 0))
    rng = np.random.default_rng(1)
    X = np.r_[_sines(20, 2), rng.uniform(-1, 1, (20, 32))]
    y = np.r_[np.ones(20), np.zeros(20)]
    assert det.video_kind_ == "series" and det.n_features_in_ == 32
    assert roc_auc_score(y, det.score_samples(X)) > 0.9
    assert det.pretext_accuracy(_sines(20, 3)) > 2.0 / det.n_permutations_


@pytest.mark.parametrize("kind", ["series", "video"])
def test_caffenet_base_fits_and_scores(kind):
    # The paper profile's base (§III-B, conv1 stride 2 as §III-C) on 1x1
    # time-series frames and on images.
    X = _sines(6, 0, T=8) if kind == "series" else _videos(4, [0], 1, n_frames=6)[0]
    det = FramePermutationDetector(**{**TINY, "base": "caffenet", "feature_dim": 8,
                                      "top_hidden": 8, "max_epochs": 1}).fit(X)
    s = det.score_samples(X)
    assert s.shape == (len(X),) and np.isfinite(s).all()


def test_training_learns_and_scores_vary(trained):
    h = trained.net_.history[:, "train_loss"]
    assert h[-1] < 0.2 * h[0]
    X, _ = _videos(8, [0], 1)
    assert np.std(trained.score_samples(X)) > 0
    health = trained.training_health_["net"]
    assert health["chance"] == pytest.approx(np.log(6)) and not health["at_chance"]


def test_loss_stuck_at_chance_warns():
    # A net that cannot learn (lr ~ 0) ends at log(n_permutations): the
    # training-health record flags it instead of reporting scores silently.
    X, _ = _videos(8, [0], 1)
    with pytest.warns(PretextAtChanceWarning, match="chance"):
        det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "lr": 1e-9}).fit(X)
    assert det.training_health_["net"]["at_chance"]


def test_segment_signs_and_video_reductions(trained):
    X, y = _videos(12, [0, 1], 3, n_frames=12)
    anomaly = trained.anomaly_segments(X)
    assert anomaly.shape == (12, 12 - 5 + 1)
    assert np.array_equal(trained.score_segments(X), -anomaly)
    # higher anomaly_* = more anomalous: the reversed motion's segments
    assert anomaly[y == 1].mean() > anomaly[y == 0].mean()
    assert np.allclose(trained.score_samples(X), -anomaly.mean(1))
    det = pickle.loads(pickle.dumps(trained))
    assert np.allclose(det.set_params(video_score="max").score_samples(X), -anomaly.max(1))
    top = -np.sort(anomaly, 1)[:, -3:].mean(1)
    assert np.allclose(det.set_params(video_score="top_k", top_k=3).score_samples(X), top)


def test_variable_length_list(trained):
    X, _ = _videos(3, [0, 1], 4, n_frames=14)
    videos = [X[0, :6], X[1], X[2, :9]]
    seg = trained.anomaly_segments(videos)
    assert [len(s) for s in seg] == [2, 10, 5]
    s = trained.score_samples(videos)
    assert np.allclose(s, [-np.mean(p) for p in seg])
    # a video's score does not depend on the others or on padding
    assert s[0] == trained.score_samples([X[0, :6], X[1, :5]])[0]


def test_fit_on_variable_length_list():
    X, _ = _videos(6, [0], 5, n_frames=12)
    videos = [X[i, :6 + i] for i in range(6)]
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(videos)
    assert det.score_samples(videos).shape == (6,)


def test_scores_reproducible_and_batch_independent(trained):
    X, _ = _videos(12, None, 6)
    s = trained.score_samples(X)
    assert np.array_equal(s[3:4], trained.score_samples(X[3:4]))
    Xtr, _ = _videos(8, [0], 1)
    a = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(Xtr).score_samples(X)
    b = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(Xtr).score_samples(X)
    assert np.array_equal(a, b)


def test_scoring_memory_does_not_grow_with_the_number_of_videos(trained):
    # Segments are cut per chunk (§III-A segments, M frames each): the base
    # CNN never sees more than one padded chunk of frames, and the host
    # memory scoring allocates does not grow with the number of videos.
    import tracemalloc

    seen = []
    module = trained.net_.module_
    features = module.frame_features

    def spy(frames):
        seen.append(frames.numel())
        return features(frames)

    peaks = []
    try:
        module.frame_features = spy
        for n in (4, 64):
            X, _ = _videos(n, None, 7, n_frames=40)
            trained.score_samples(X[:1])  # warm-up allocations
            tracemalloc.start()
            trained.score_samples(X)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    finally:
        del module.frame_features
    assert max(seen) == min(seen)  # every base pass is one fixed-size chunk
    assert peaks[1] < 1.5 * peaks[0] + 200_000, peaks
    assert peaks[1] < X.nbytes  # the old path copied all of X as float32 (4x)


def _brightness_ramp(n, seed, T=10):
    rng = np.random.default_rng(seed)
    still = rng.uniform(0, 0.5, (n, 1, 16, 16))  # static content: nothing moves
    return np.clip(still + 0.05 * np.arange(T)[None, :, None, None], 0, 1)


def test_frame_jitter_blocks_a_brightness_ramp_shortcut():
    # The order of these clips is readable from their brightness alone (a
    # lighting drift); per-frame colour jitter must stop the network from
    # solving the pretext task with it.
    X, held_out = _brightness_ramp(24, 0), _brightness_ramp(12, 1)
    plain = FramePermutationDetector(**{**TINY, "max_epochs": 8}).fit(X)
    jittered = FramePermutationDetector(**{**TINY, "max_epochs": 8, "frame_jitter": 1.0}).fit(X)
    assert plain.pretext_accuracy(held_out) > 0.9  # the shortcut exists
    assert jittered.pretext_accuracy(held_out) < 0.35


@pytest.mark.parametrize("a, b", [(1.0, 1e9), (1e-300, 0.0), (1e300, -5.0), (7.0, -3.0)])
def test_affine_rescaled_series_score_as_the_original(a, b):
    X = _sines(8, 0, T=10)
    params = {**TINY, "max_epochs": 1}
    ref = FramePermutationDetector(**params).fit(X).score_samples(X)
    det = FramePermutationDetector(**params).fit(X * a + b)
    assert np.allclose(det.score_samples(X * a + b), ref, rtol=1e-5, atol=1e-6)


def test_unscalable_input_raises_value_error():
    X = _sines(6, 0, T=10)
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1}).fit(X)
    with pytest.raises(ValueError, match="not finite"):
        det.score_samples(X * 1e300)
    with pytest.raises(ValueError, match="range"):
        FramePermutationDetector(**TINY).fit(np.r_[X, X * 0 + 1.7e308, X * 0 - 1.7e308])


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
    X, _ = _videos(4, [0], 0, n_frames=8)
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "M": 4, "n_permutations": 7,
                                      "n_score_permutations": 3}).fit(X)
    assert det.permutations_.shape == (7, 4)
    assert det.permutations_[0].tolist() == [0, 1, 2, 3]
    assert len(det.score_labels_) == 3
    det = FramePermutationDetector(**{**TINY, "max_epochs": 1, "n_permutations": 50}).fit(X)
    assert det.n_permutations_ == 6  # 3! classes


def test_minmax_anomaly_scores_eq9():
    a = minmax_anomaly_scores(np.array([[1.0, 3.0], [2.0, 5.0]]))
    assert a.min() == 0.0 and a.max() == 1.0 and a[0, 1] == 0.5
    parts = minmax_anomaly_scores([np.array([2.0]), np.array([4.0, 3.0])])
    assert [p.tolist() for p in parts] == [[0.0], [1.0, 0.5]]


def test_pickle_roundtrip_scores_identically_without_training_videos(trained):
    X, _ = _videos(3, None, 7)
    blob = pickle.dumps(trained)
    clone = pickle.loads(blob)
    assert np.array_equal(clone.score_samples(X), trained.score_samples(X))
    assert clone.net_.task.source is None  # the training videos are not pickled
    assert len(blob) < 2_000_000
