"""Mixed precision, compiled modules and the CUDA path (DESIGN.md, Training loop).

``precision`` runs forward passes under ``torch.autocast`` (weights stay
float32); ``compile`` hands the module to ``torch.compile`` through skorch.
CUDA tests skip without a device.
"""

import pickle

import numpy as np
import pytest
import torch

from skssad import GeometricTransformDetector, profiles
from skssad.metrics import anomaly_auroc

TINY = dict(depth=10, width=1, input_size=8, max_epochs=3, batch_size=16, n_views=2,
            shift=2, lr=0.1, random_state=0)
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def split(digits):
    images, target = digits
    normal = images[target == 0]
    test = np.concatenate([normal[60:120], images[target == 7][:60]])
    return normal[:60], test, np.r_[np.ones(60), -np.ones(60)]


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16),
                                             ("fp16", torch.float16)])
def test_mixed_precision_runs_the_network_in_low_precision(split, precision, dtype):
    train, test, _ = split
    seen = []
    det = GeometricTransformDetector(precision=precision, device="cpu",
                                     **{**TINY, "max_epochs": 1})
    real_init = det._make_net

    def spying_make_net(*args, **kwargs):
        net = real_init(*args, **kwargs)
        net.initialize()
        net.module_.backbone.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        return net

    det._make_net = spying_make_net
    det.fit(train[:32])
    assert dtype in seen  # training forward passes ran under autocast
    seen.clear()
    scores = det.score_samples(test[:8])
    assert seen and set(seen) == {dtype} and np.isfinite(scores).all()
    assert all(p.dtype == torch.float32 for p in det.net_.module_.parameters())
    assert (det.net_.grad_scaler_ is not None) == (precision == "fp16")


def test_unknown_precision_is_rejected(split):
    with pytest.raises(ValueError, match="precision"):
        GeometricTransformDetector(precision="fp8", **TINY).fit(split[0])


@requires_cuda
def test_cuda_fit_scores_like_the_cpu_fit_and_unpickles_on_cpu(split):
    train, test, y = split
    gpu = GeometricTransformDetector(device="cuda", **TINY).fit(train)
    cpu = GeometricTransformDetector(device="cpu", **TINY).fit(train)
    assert gpu.device_ == "cuda"
    assert abs(anomaly_auroc(y, gpu.score_samples(test)) -
               anomaly_auroc(y, cpu.score_samples(test))) < 0.1
    loaded = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(loaded.score_samples(test), gpu.score_samples(test), atol=1e-4)


@requires_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_mixed_precision(split, precision):
    train, test, y = split
    det = GeometricTransformDetector(device="cuda", precision=precision, **TINY).fit(train)
    assert anomaly_auroc(y, det.score_samples(test)) > 0.75


@pytest.mark.parametrize("name", sorted(profiles.DETECTORS))
def test_every_detector_fits_and_scores_in_bf16(digits, name):
    # Scoring paths that leave the base's chunk mapper (FramePermutation's segment
    # head over featurised frames) must stay under the same autocast as the features.
    det = profiles.make_detector(name, "tiny", precision="bf16", device="cpu")
    if name == "frame_permutation":
        from skssad.datasets import make_moving_digits

        X = make_moving_digits(6, n_frames=8, size=8, random_state=0, return_X_y=True)[0]
    else:
        images, target = digits
        X = images[target == 0][:40]
    scores = det.fit(X).score_samples(X[:6])
    assert scores.shape == (6,) and np.isfinite(scores).all()
    if name == "frame_permutation":
        assert 0.0 <= det.pretext_accuracy(X[:2]) <= 1.0
        assert np.isfinite(det.anomaly_segments(X[:2])).all()
