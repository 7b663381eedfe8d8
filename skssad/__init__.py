"""skssad: self-supervised deep anomaly detectors for images and videos.

Every detector is a scikit-learn outlier detector: ``fit`` on normal data,
``score_samples`` (higher = more normal), ``decision_function`` and
``predict`` (+1 normal, -1 anomaly).
"""

from .base import PretextAtChanceWarning
from .detectors import (
    AnoMemDetector,
    FramePermutationDetector,
    GeometricTransformDetector,
    IGDDetector,
    PuzzleTintColorDetector,
    minmax_anomaly_scores,
    overlay_anomaly_map,
)

__version__ = "0.1.0"

__all__ = [
    "AnoMemDetector",
    "FramePermutationDetector",
    "GeometricTransformDetector",
    "IGDDetector",
    "PretextAtChanceWarning",
    "PuzzleTintColorDetector",
    "minmax_anomaly_scores",
    "overlay_anomaly_map",
    "__version__",
]
