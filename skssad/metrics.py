"""Evaluation metrics for anomaly scores, in the papers' and ISO's terms.

Conventions: ``y_true`` holds ``1`` (or any value but ``-1``) for normal
samples and ``-1`` for anomalies, as in ``fit``; ``scores`` are normality
scores (higher = more normal), as returned by ``score_samples`` or
``decision_function``. In presentation-attack terms (ISO/IEC 30107-3) the
normal samples are *bona fide* and the anomalies *attacks*.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import make_scorer, roc_auc_score, roc_curve

__all__ = [
    "anomaly_auroc",
    "equal_error_rate",
    "apcer_at_bpcer",
    "relative_error_reduction",
    "eer_scorer",
    "apcer_scorer",
]


def _normal_mask(y_true) -> np.ndarray:
    y_true = np.asarray(y_true)
    normal = y_true != -1
    if normal.all() or not normal.any():
        raise ValueError("y_true must contain both normal samples and anomalies (-1).")
    return normal


def _scores(scores, n: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n,):
        raise ValueError(f"scores must have shape ({n},), got {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf.")
    return scores


def anomaly_auroc(y_true, scores) -> float:
    """Area under the ROC curve separating normal samples from anomalies.

    The probability that a random normal sample scores higher than a random
    anomaly (ties count one half). Equal to the AUROC of anomaly detection
    with the scores negated.
    """
    normal = _normal_mask(y_true)
    return float(roc_auc_score(normal, _scores(scores, len(normal))))


def equal_error_rate(y_true, scores) -> float:
    """Equal error rate: where the anomaly acceptance rate equals the normal rejection rate.

    Interpolated linearly between the two ROC points where the difference
    of the two error rates changes sign (puzzle-geom-multitask.txt §5.3).
    """
    normal = _normal_mask(y_true)
    fpr, tpr, _ = roc_curve(normal, _scores(scores, len(normal)))
    fnr = 1.0 - tpr  # normal samples rejected (BPCER)
    diff = fpr - fnr  # goes from -1 (strict threshold) to +1
    i = int(np.argmax(diff >= 0))
    if i == 0 or diff[i] == 0:
        return float((fpr[i] + fnr[i]) / 2)
    w = diff[i] / (diff[i] - diff[i - 1])  # fraction of the way back to i-1
    return float(w * fpr[i - 1] + (1 - w) * fpr[i])


def apcer_at_bpcer(y_true, scores, bpcer: float = 0.05) -> float:
    """APCER at a fixed BPCER (ISO/IEC 30107-3), default APCER@5%BPCER.

    The threshold is the lowest one that rejects at most ``bpcer`` of the
    normal (bona fide) samples; APCER is the share of anomalies (attacks)
    whose score reaches it, i.e. that are accepted as normal.
    """
    if not 0 <= bpcer < 1:
        raise ValueError(f"bpcer must be in [0, 1), got {bpcer}.")
    normal = _normal_mask(y_true)
    s = _scores(scores, len(normal))
    bona_fide = np.sort(s[normal])
    n_reject = int(np.floor(bpcer * len(bona_fide) + 1e-9))
    threshold = bona_fide[n_reject]  # accept scores >= threshold
    return float(np.mean(s[~normal] >= threshold))


def relative_error_reduction(auroc_new: float, auroc_ref: float) -> float:
    """Relative reduction of the AUROC error ``1 - AUROC`` (anomem-contrasted-memory.txt §4.1).

    ``(err_ref - err_new) / err_ref``: 0.25 means a quarter of the
    reference's error is gone.
    """
    err_ref, err_new = 1.0 - auroc_ref, 1.0 - auroc_new
    if err_ref <= 0:
        raise ValueError("auroc_ref is 1: there is no error to reduce.")
    return float((err_ref - err_new) / err_ref)


#: GridSearchCV scorers on ``decision_function``: lower EER / APCER is better.
eer_scorer = make_scorer(equal_error_rate, greater_is_better=False,
                         response_method="decision_function")
apcer_scorer = make_scorer(apcer_at_bpcer, greater_is_better=False,
                           response_method="decision_function")
