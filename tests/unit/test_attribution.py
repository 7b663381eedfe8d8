"""Occlusion anomaly maps (skssad.attribution): sign, shape, localisation."""

import numpy as np
import pytest

from skssad.attribution import anomaly_map, occlusion_positions


class BrightestPixelDetector:
    """Normality = minus the brightest pixel: a bright spot is the anomaly."""

    def score_samples(self, X):
        X = np.asarray(X, dtype=np.float64)
        return -X.reshape(len(X), -1).max(1)


def test_positions_cover_the_image():
    assert occlusion_positions(10, 4, 3) == [0, 3, 6]
    assert occlusion_positions(9, 4, 2) == [0, 2, 4, 5]


def test_map_is_high_on_the_anomaly_and_zero_far_from_it():
    X = np.zeros((2, 16, 16))
    X[0, 10:12, 3:5] = 1.0
    X[1, 2:4, 12:14] = 1.0
    maps = anomaly_map(BrightestPixelDetector(), X, window=4, stride=2)
    assert maps.shape == (2, 16, 16)
    for m, (r, c) in zip(maps, [(10, 3), (2, 12)], strict=True):
        assert m[r:r + 2, c:c + 2].min() > 0  # hiding the spot raises the normality score
        peak = np.unravel_index(np.argmax(m), m.shape)
        assert abs(peak[0] - r - 0.5) <= 3 and abs(peak[1] - c - 0.5) <= 3  # within a window
    assert maps[0, :4, 10:].max() == 0 and maps[1, 10:, :4].max() == 0


class PixelDetector:
    """Normality = minus pixel (5, 5): only windows covering it change the score."""

    def score_samples(self, X):
        return -np.asarray(X, dtype=np.float64)[:, 5, 5]


def test_map_is_the_mean_rise_over_covering_windows():
    from scipy import ndimage

    X = np.random.default_rng(1).random((2, 10, 10))
    maps = anomaly_map(PixelDetector(), X, window=4, stride=1, sigma=2.0)
    # the 16 windows covering (5, 5) fill it with the same blurred value, so the mean
    # over them (not their sum) is exactly that one rise
    rise = X[:, 5, 5] - ndimage.gaussian_filter(X, (0, 2.0, 2.0), mode="reflect")[:, 5, 5]
    np.testing.assert_allclose(maps[:, 5, 5], rise, atol=1e-12)
    assert np.all(maps[:, :2] == 0) and np.all(maps[:, :, :2] == 0)


def test_map_keeps_channels_and_uint8():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 50, size=(3, 12, 12, 3), dtype=np.uint8)
    X[1, 5:7, 5:7] = 255
    maps = anomaly_map(BrightestPixelDetector(), X, window=3)
    assert maps.shape == (3, 12, 12)
    assert np.unravel_index(np.argmax(maps[1]), (12, 12)) in {(r, c) for r in range(3, 9)
                                                            for c in range(3, 9)}


@pytest.mark.parametrize("kwargs, match", [(dict(window=0), "window"), (dict(window=17), "window"),
                                           (dict(stride=0, window=2), "stride")])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        anomaly_map(BrightestPixelDetector(), np.zeros((1, 16, 16)), **kwargs)


def test_rejects_flattened_rows():
    with pytest.raises(ValueError, match="images"):
        anomaly_map(BrightestPixelDetector(), np.zeros((2, 64)))


def test_on_a_fitted_geometric_detector(digits):
    """Wiring on MHRot: the map is the score rise of the occluded copies, in the input's shape.

    (Localisation quality is measured in benchmarks/anomaly_maps.py; a one-epoch
    tiny network barely reacts to pasted defects, so it is not asserted here.)
    """
    from scipy import ndimage

    from skssad import GeometricTransformDetector

    images, labels = digits
    big = np.kron(images, np.ones((1, 2, 2), np.uint8))  # 16x16 digits
    det = GeometricTransformDetector(depth=10, width=1, input_size=16, shift=2, max_epochs=1,
                                     device="cpu", random_state=0).fit(big[labels == 0][:60])
    held_out = big[labels == 3][:3]
    maps = anomaly_map(det, held_out, window=8, stride=4)
    assert maps.shape == (3, 16, 16) and np.isfinite(maps).all()
    assert maps.std(axis=(1, 2)).min() > 0  # windows differ
    # one window over the whole image: every pixel is score(blurred) - score(image)
    whole = anomaly_map(det, held_out, window=16, sigma=3.0)
    blurred = np.rint(ndimage.gaussian_filter(held_out.astype(float), (0, 3, 3))).astype(np.uint8)
    rise = det.score_samples(blurred) - det.score_samples(held_out)
    np.testing.assert_allclose(whole, np.broadcast_to(rise[:, None, None], whole.shape),
                               atol=1e-12)
