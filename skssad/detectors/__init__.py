"""The detectors, one private module each."""

from ._anomem import AnoMemDetector
from ._frame_permutation import FramePermutationDetector, minmax_anomaly_scores
from ._geometric import GeometricTransformDetector
from ._igd import IGDDetector
from ._puzzle_tint_color import PuzzleTintColorDetector

__all__ = [
    "AnoMemDetector",
    "FramePermutationDetector",
    "GeometricTransformDetector",
    "IGDDetector",
    "PuzzleTintColorDetector",
    "minmax_anomaly_scores",
]
