"""Conventions of the shared base (DESIGN.md), exercised through the MHRot detector."""

import pickle

import numpy as np
import pytest
import torch

from skssad import GeometricTransformDetector
from skssad.base import images_to_nchw, resolve_device

TINY = dict(depth=10, width=1, input_size=8, max_epochs=1, batch_size=16, n_views=2,
            shift=2, device="cpu")


@pytest.fixture(scope="module")
def zeros_ones(digits):
    images, target = digits
    return images[target == 0][:40], images[target == 1][:40]


# ----------------------------------------------------------------- input views
@pytest.mark.parametrize("shape,expected", [
    ((4, 64), (4, 1, 8, 8)),          # square grayscale
    ((4, 48), (4, 3, 4, 4)),          # square RGB
    ((4, 10), (4, 1, 4, 4)),          # zero-padded to the next square
    ((4, 5, 6), (4, 1, 5, 6)),        # (n, H, W)
    ((4, 5, 6, 3), (4, 3, 5, 6)),     # (n, H, W, C)
])
def test_images_to_nchw_views(shape, expected):
    X = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    assert images_to_nchw(X).shape == expected


def test_zero_padding_keeps_values_in_order():
    X = np.arange(1, 11, dtype=float)[None]
    img = images_to_nchw(X)[0, 0]
    assert np.array_equal(img.ravel()[:10], X[0]) and np.all(img.ravel()[10:] == 0)


def test_image_shape_reshapes_flat_rgb_rows():
    X = np.random.RandomState(0).rand(3, 2 * 5 * 3)
    out = images_to_nchw(X, image_shape=(2, 5, 3))
    assert out.shape == (3, 3, 2, 5)
    assert np.array_equal(out[0].transpose(1, 2, 0).ravel(), X[0])


def test_image_shape_mismatch_is_a_value_error():
    det = GeometricTransformDetector(image_shape=(5, 5), **TINY)
    with pytest.raises(ValueError, match="image_shape=\\(5, 5\\) does not match"):
        det.fit(np.random.rand(10, 64))


def test_channels_first_input_gets_a_hint():
    with pytest.raises(ValueError, match="channels-last"):
        GeometricTransformDetector(**TINY).fit(np.random.rand(10, 3, 8, 8))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_rejected(bad):
    X = np.random.rand(10, 64)
    X[3, 5] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        GeometricTransformDetector(**TINY).fit(X)


def test_too_few_samples_rejected():
    with pytest.raises(ValueError, match="1 sample"):
        GeometricTransformDetector(**TINY).fit(np.random.rand(1, 64))


def test_wrong_dimensionality_rejected():
    with pytest.raises(ValueError, match="at most 4 dimensions"):
        GeometricTransformDetector(**TINY).fit(np.random.rand(4, 2, 8, 8, 1))
    with pytest.raises(ValueError, match="Expected 2D array"):
        GeometricTransformDetector(**TINY).fit(np.random.rand(8))


def test_inference_shape_must_match_fit(zeros_ones):
    det = GeometricTransformDetector(random_state=0, **TINY).fit(zeros_ones[0])
    with pytest.raises(ValueError, match="laid out as \\(n, 8, 8\\)"):
        det.score_samples(np.random.rand(3, 8, 9))


def test_uint8_divided_by_255_float_scaled_by_fit_range(zeros_ones):
    det = GeometricTransformDetector(random_state=0, **TINY)
    det.fit(zeros_ones[0])
    assert det.scale_ == (0.0, 255.0)
    det.fit(zeros_ones[0].astype(float) * 2 + 10)
    assert det.scale_ == (10.0, 520.0)
    # the same images as uint8 or as affinely rescaled floats score identically
    s_uint8 = GeometricTransformDetector(random_state=0, **TINY).fit(
        zeros_ones[0]).score_samples(zeros_ones[1])
    s_float = det.score_samples(zeros_ones[1].astype(float) * 2 + 10)
    np.testing.assert_allclose(s_uint8, s_float, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- labels
def test_known_anomalies_are_dropped_for_one_class_training(zeros_ones):
    zeros, ones = zeros_ones
    X = np.concatenate([zeros, ones])
    y = np.r_[np.ones(len(zeros)), -np.ones(len(ones))]
    a = GeometricTransformDetector(random_state=0, **TINY).fit(X, y)
    b = GeometricTransformDetector(random_state=0, **TINY).fit(zeros)
    np.testing.assert_array_equal(a.score_samples(ones), b.score_samples(ones))


# ----------------------------------------------------------------- sklearn API
def test_scores_predict_and_offset_contract(zeros_ones):
    zeros, ones = zeros_ones
    det = GeometricTransformDetector(random_state=0, contamination=0.2, **TINY).fit(zeros)
    s = det.score_samples(ones)
    assert s.dtype == np.float64 and s.shape == (len(ones),)
    np.testing.assert_allclose(det.decision_function(ones), s - det.offset_)
    pred = det.predict(zeros)
    assert set(np.unique(pred)) <= {-1, 1}
    assert abs(np.mean(pred == -1) - 0.2) <= 0.05


def test_scores_are_batch_independent(zeros_ones):
    zeros, ones = zeros_ones
    det = GeometricTransformDetector(random_state=0, **TINY).fit(zeros)
    X = np.concatenate([zeros, ones])
    full = det.score_samples(X)
    assert np.array_equal(det.score_samples(X[7:8]), full[7:8])
    assert np.array_equal(det.score_samples(X[::-1]), full[::-1])


# ----------------------------------------------------------------- seeding, persistence
def test_same_random_state_gives_identical_scores(zeros_ones):
    zeros, ones = zeros_ones
    a = GeometricTransformDetector(random_state=3, **TINY).fit(zeros).score_samples(ones)
    b = GeometricTransformDetector(random_state=3, **TINY).fit(zeros).score_samples(ones)
    c = GeometricTransformDetector(random_state=4, **TINY).fit(zeros).score_samples(ones)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_leaves_global_rng_untouched(zeros_ones):
    torch.manual_seed(123)
    np.random.seed(123)
    state, np_state = torch.get_rng_state(), np.random.get_state()
    GeometricTransformDetector(random_state=0, **TINY).fit(zeros_ones[0])
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


def test_pickle_round_trip_scores_identically(zeros_ones):
    zeros, ones = zeros_ones
    det = GeometricTransformDetector(random_state=0, **TINY).fit(zeros)
    clone = pickle.loads(pickle.dumps(det))
    assert np.array_equal(clone.score_samples(ones), det.score_samples(ones))


def test_each_fit_builds_a_fresh_net(zeros_ones):
    det = GeometricTransformDetector(random_state=0, **TINY).fit(zeros_ones[0])
    first = det.net_
    det.fit(zeros_ones[0])
    assert det.net_ is not first and len(det.net_.history) == TINY["max_epochs"]


def test_device_auto_resolves_to_an_available_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_invalid_parameter_is_a_clear_error(zeros_ones):
    with pytest.raises(ValueError, match="contamination"):
        GeometricTransformDetector(contamination=0.9, **TINY).fit(zeros_ones[0])


def test_model_marked_as_cuda_unpickles_onto_cpu(zeros_ones):
    """A detector trained on a GPU loads on a CPU-only machine (skorch maps the tensors)."""
    if torch.cuda.is_available():
        pytest.skip("only meaningful where CUDA is absent")
    zeros, ones = zeros_ones
    det = GeometricTransformDetector(random_state=0, **TINY).fit(zeros)
    expected = det.score_samples(ones)
    det.device_, det.net_.device = "cuda", "cuda"
    with pytest.warns(UserWarning, match="CUDA"):
        restored = pickle.loads(pickle.dumps(det))
    assert restored.device_ == "cpu" and restored.net_.device == "cpu"
    assert np.array_equal(restored.score_samples(ones), expected)
