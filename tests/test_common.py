"""scikit-learn's estimator checks, run centrally for every detector.

No check is skipped by tags or marked as an expected failure.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skssad import (
    AnoMemDetector,
    FramePermutationDetector,
    GeometricTransformDetector,
    IGDDetector,
    PuzzleTintColorDetector,
)

SMALL = dict(max_epochs=1, batch_size=16, input_size=8, random_state=0, device="cpu")

ESTIMATORS = [
    GeometricTransformDetector(depth=10, width=1, shift=2, n_views=2, **SMALL),
    PuzzleTintColorDetector(k=4, n=2, depth=10, width=1, color_width=4, n_components=2,
                            **SMALL),
    IGDDetector(encoder_widths=(4, 4, 4), decoder_widths=(4, 4, 4), latent_dim=4, **SMALL),
    FramePermutationDetector(M=2, skip=0, width=2, feature_dim=4, **SMALL),
    AnoMemDetector(depth=10, width=2, n_memory=(4, 4), supervised_epochs=2,
                   **{**SMALL, "input_size": 16}),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
