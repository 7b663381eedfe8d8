"""Reliability of the shared base: exact scaling, clear errors, bounded memory, threads.

Resume and checkpoint safety are in ``tests/integration/test_checkpoint.py``;
loader safety in ``tests/unit/datasets/``.
"""

import threading

import numpy as np
import pytest

from skssad import GeometricTransformDetector, PretextAtChanceWarning
from skssad.base import INFERENCE_CHUNK, ImagePrep

TINY = dict(depth=10, width=1, input_size=8, max_epochs=1, batch_size=16, n_views=2,
            shift=2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def sevens(digits):
    images, target = digits
    return images[target == 7][:40].astype(np.float64) / 255.0, images[:60] / 255.0


@pytest.fixture(scope="module")
def fitted(sevens):
    return GeometricTransformDetector(**TINY).fit(sevens[0])


@pytest.mark.parametrize("a,b", [(1.0, 1e9), (1e300, 0.0), (1e-300, 0.0), (3.0, -7.0),
                                 (1e6, 1e6)])
def test_affine_rescaling_of_the_data_scores_the_same(sevens, fitted, a, b):
    train, test = sevens
    det = GeometricTransformDetector(**TINY).fit(train * a + b)
    np.testing.assert_allclose(det.score_samples(test * a + b), fitted.score_samples(test),
                               rtol=0, atol=1e-5)


def test_scaled_data_that_overflows_float32_is_a_value_error(fitted, sevens):
    with pytest.raises(ValueError, match="not finite in float32"):
        fitted.score_samples(sevens[1] * 1e300)


def test_a_range_too_large_for_float64_is_a_value_error(sevens):
    X = sevens[0].copy()
    X[0, 0, 0], X[1, 0, 0] = -1.7e308, 1.7e308
    with pytest.raises(ValueError, match="range too large"):
        GeometricTransformDetector(**TINY).fit(X)


def test_score_time_layout_mismatch_names_the_fit_layout(digits):
    images = digits[0][:40]
    flat = GeometricTransformDetector(**TINY).fit(images.reshape(40, 64))
    with pytest.raises(ValueError, match=r"laid out as \(n, 64\)"):
        flat.score_samples(images[:3])  # (n, 8, 8) after a 2-D fit
    rgb = np.repeat(images[..., None], 3, axis=3)
    det = GeometricTransformDetector(**TINY).fit(rgb)
    with pytest.raises(ValueError, match="channels-first"):
        det.score_samples(rgb[:3].transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="at most 4 dimensions"):
        det.score_samples(rgb[:3, None, None])


def test_scoring_prepares_at_most_one_chunk_at_a_time(fitted, sevens, monkeypatch):
    sizes = []
    real = ImagePrep.__call__

    def spy(self, x):
        sizes.append(len(x))
        return real(self, x)

    monkeypatch.setattr(ImagePrep, "__call__", spy)
    X = np.concatenate([sevens[1]] * 3)
    fitted.score_samples(X)
    assert sum(sizes) == len(X) and max(sizes) <= INFERENCE_CHUNK


@pytest.mark.parametrize("name", ["geometric", "puzzle_tint_color", "anomem", "igd"])
def test_training_keeps_uint8_on_the_device_and_prepares_per_batch(digits, monkeypatch, name):
    # Issue 18 item 5: no detector converts its whole training set to float; every
    # conversion is one batch or one inference chunk (fit on 50,000 CIFAR images at
    # input 32 would otherwise hold 614 MB of float32 beside 146 MB of uint8).
    from skssad.profiles import make_detector

    seen = []
    real = ImagePrep.__call__

    def spy(self, x):
        seen.append((x.dtype, len(x)))
        return real(self, x)

    monkeypatch.setattr(ImagePrep, "__call__", spy)
    images = digits[0][digits[1] == 1][:80]
    det = make_detector(name, "tiny")
    det.fit(images)
    import torch
    assert seen and all(dtype == torch.uint8 for dtype, _ in seen)
    assert max(n for _, n in seen) <= max(INFERENCE_CHUNK, det.batch_size)


def test_concurrent_scoring_from_threads_matches_sequential(fitted, sevens):
    X = sevens[1]
    expected = fitted.score_samples(X)
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = fitted.score_samples(X)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_training_at_chance_warns_and_is_recorded(digits):
    images = digits[0][digits[1] == 2][:32]
    with pytest.warns(PretextAtChanceWarning, match="chance level"):
        det = GeometricTransformDetector(**{**TINY, "lr": 1e-9}).fit(images)
    health = det.training_health_["net"]
    assert health["at_chance"] and health["chance"] == pytest.approx(np.log(4) + 2 * np.log(3))
    assert len(health["loss"]) == TINY["max_epochs"]


def test_a_net_at_chance_is_warned_about_once_per_fit(digits):
    # AnoMem records its net twice (after training, then with the memory's health):
    # one fit at chance gives one PretextAtChanceWarning per net, not one per record.
    from skssad import AnoMemDetector
    from skssad.profiles import PROFILES

    images = digits[0][digits[1] == 2][:64]
    det = AnoMemDetector(**{**PROFILES["anomem"]["tiny"], "lr": 1e-9})
    with pytest.warns(PretextAtChanceWarning) as caught:
        det.fit(images)
    at_chance = [w for w in caught if issubclass(w.category, PretextAtChanceWarning)]
    assert len(at_chance) == 1 and "'net'" in str(at_chance[0].message)
    health = det.training_health_["net"]
    assert health["at_chance"] and "memory" in health  # the second record kept its figures


def test_a_learning_fit_is_not_flagged(digits):
    images = digits[0][digits[1] == 2][:64]
    det = GeometricTransformDetector(**{**TINY, "max_epochs": 6, "lr": 0.1, "input_size": 16,
                                        "shift": 4}).fit(images)
    health = det.training_health_["net"]
    assert not health["at_chance"] and health["loss"][-1] < 0.9 * health["chance"]


def test_calibration_statistics_use_a_bounded_seeded_subsample(digits, monkeypatch):
    # Issue 18 item 5: post-training statistics are fitted on at most
    # CALIBRATION_IMAGES training images, so fit memory does not grow with them.
    import skssad.base as base
    from skssad.profiles import make_detector

    monkeypatch.setattr(base, "CALIBRATION_IMAGES", 16)
    images = digits[0][digits[1] == 1][:64]
    det = make_detector("puzzle_tint_color", "tiny").fit(images)
    k, n = det.k_, det.n_shape_[0] * det.n_shape_[1]
    assert int(det.ood_stats_["puzzle"].counts.sum()) == 16 * k * n  # 16 images, not 64
    again = make_detector("puzzle_tint_color", "tiny").fit(images)
    np.testing.assert_array_equal(det.score_samples(images), again.score_samples(images))
    mem = make_detector("anomem", "tiny").fit(images)  # the memory calibration, capped
    assert np.isfinite(mem.score_samples(images[:8])).all()
