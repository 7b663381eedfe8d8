"""skssad: self-supervised deep anomaly detectors for images and videos.

Every detector is a scikit-learn outlier detector: ``fit`` on normal data,
``score_samples`` (higher = more normal), ``decision_function`` and
``predict`` (+1 normal, -1 anomaly).

Public names are imported on first use (PEP 562), so that
``from skssad.export import OnnxDetector`` works where torch is not
installed: only the detectors import torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module (relative to the package) defining it
_LAZY = {
    "AnoMemDetector": ".detectors",
    "FramePermutationDetector": ".detectors",
    "GeometricTransformDetector": ".detectors",
    "IGDDetector": ".detectors",
    "PuzzleTintColorDetector": ".detectors",
    "minmax_anomaly_scores": ".detectors",
    "overlay_anomaly_map": ".visualization",
    "PretextAtChanceWarning": ".base",
    "UniformRetrievalWarning": ".nets.anomem",
    "ThresholdedDetector": ".thresholds",
    "OnnxDetector": ".export",
    "SeedEnsemble": ".ensemble",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
