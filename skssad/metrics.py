"""Evaluation metrics for anomaly scores, in the papers' and ISO's terms.

Conventions: ``y_true`` holds ``1`` (or any value but ``-1``) for normal
samples and ``-1`` for anomalies, as in ``fit``; ``scores`` are normality
scores (higher = more normal), as returned by ``score_samples`` or
``decision_function``. In presentation-attack terms (ISO/IEC 30107-3) the
normal samples are *bona fide* and the anomalies *attacks*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage
from sklearn.metrics import make_scorer, roc_auc_score, roc_curve

__all__ = [
    "anomaly_auroc",
    "equal_error_rate",
    "apcer_at_bpcer",
    "relative_error_reduction",
    "pixel_auroc",
    "pro_curve",
    "aupro",
    "per_category_summary",
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


# ---------------------------------------------------------------------- localisation
#: 8-connectivity, as the MVTec AD evaluation labels ground-truth regions.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _masks_and_maps(masks, maps) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(n, H, W)`` ground-truth masks and anomaly maps of the same shape."""
    masks, maps = np.asarray(masks), np.asarray(maps, dtype=np.float64)
    if masks.ndim != 3 or masks.shape != maps.shape:
        raise ValueError(f"Expected masks and anomaly maps of the same shape (n, H, W); got "
                         f"{masks.shape} and {maps.shape}.")
    if not np.isfinite(maps).all():
        raise ValueError("anomaly maps contain NaN or inf.")
    masks = masks > 0
    if not masks.any():
        raise ValueError("masks contain no anomalous pixel; localisation metrics need "
                         "at least one defect region.")
    if masks.all():
        raise ValueError("masks contain no normal pixel; the false positive rate is undefined.")
    return masks, maps


def pixel_auroc(masks, maps) -> float:
    """Pixel-level AUROC: anomalous pixels (``mask > 0``) against normal pixels.

    ``maps`` are anomaly maps (higher = more anomalous), e.g. from
    ``anomaly_map``, of the same ``(n, H, W)`` shape as ``masks``. Every
    pixel of every image is one sample, so large defects weigh more than
    small ones (which is what :func:`aupro` corrects).
    """
    masks, maps = _masks_and_maps(masks, maps)
    return float(roc_auc_score(masks.ravel(), maps.ravel()))


def pro_curve(masks, maps) -> tuple[np.ndarray, np.ndarray]:
    """Per-region overlap (PRO) against the false positive rate, at every threshold.

    Bergmann et al., "The MVTec anomaly detection dataset", IJCV 2021
    (evaluation metrics, per-region overlap; first used in "Uninformed
    students", CVPR 2020, §4.2). Each connected ground-truth region ``C_k``
    (8-connected, over all images) gets the overlap ``|P ∩ C_k| / |C_k|``
    with the predicted anomalous pixels ``P = {map > threshold}``; PRO is the
    mean over the regions, so a small defect counts as much as a large one.
    FPR is the share of normal pixels (outside every mask, over all images,
    defect-free images included) in ``P``.

    The curve is exact: pixels are sorted by decreasing anomaly value and
    each one adds ``1 / (K |C_k|)`` to PRO if it lies in region ``k`` (of
    ``K``) or ``1 / N_normal`` to FPR otherwise; tied values form one
    threshold.

    Parameters
    ----------
    masks : array-like of shape (n, H, W)
        Ground truth, nonzero = anomalous pixel.
    maps : array-like of shape (n, H, W)
        Anomaly maps, higher = more anomalous.

    Returns
    -------
    fpr, pro : ndarray of shape (m,)
        Increasing, starting at (0, 0) and ending at (1, 1).
    """
    masks, maps = _masks_and_maps(masks, maps)
    weights = np.zeros(masks.shape, dtype=np.float64)
    regions = [ndimage.label(m, structure=_EIGHT_CONNECTED) for m in masks]
    n_regions = sum(k for _, k in regions)
    for i, (lab, k) in enumerate(regions):
        if k:
            sizes = np.bincount(lab.ravel(), minlength=k + 1).astype(np.float64)
            w = 1.0 / (n_regions * sizes)
            weights[i][masks[i]] = w[lab[masks[i]]]
    normal = ~masks
    order = np.argsort(-maps.ravel(), kind="stable")
    values = maps.ravel()[order]
    pro = np.cumsum(weights.ravel()[order])
    fpr = np.cumsum(normal.ravel()[order]) / normal.sum()
    # one point per distinct threshold: the last pixel of each run of tied values
    last = np.r_[values[1:] != values[:-1], True]
    fpr, pro = np.minimum(fpr[last], 1.0), np.minimum(pro[last], 1.0)
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, pro, 1.0]


def _area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoidal area under increasing ``(x, y)`` from ``x[0]`` to ``x_max``.

    The curve is interpolated linearly at ``x_max``, so the result is
    continuous in ``x_max``.
    """
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    if xs[-1] < x_max:
        j = int(np.argmax(x > x_max))
        w = (x_max - x[j - 1]) / (x[j] - x[j - 1])
        xs, ys = np.r_[xs, x_max], np.r_[ys, y[j - 1] + w * (y[j] - y[j - 1])]
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def aupro(masks, maps, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve up to ``fpr_limit``, divided by ``fpr_limit``.

    The MVTec AD localisation metric (Bergmann et al., IJCV 2021): the
    :func:`pro_curve` integrated over FPR in ``[0, fpr_limit]`` (trapezoids,
    linear interpolation at the limit) and normalised so that a perfect map
    scores 1. The limit 0.3 is the paper's: beyond it most normal pixels are
    flagged and the segmentation is of no use.

    Parameters
    ----------
    masks : array-like of shape (n, H, W)
        Ground truth, nonzero = anomalous pixel; defect-free images (all
        zero) contribute normal pixels only.
    maps : array-like of shape (n, H, W)
        Anomaly maps, higher = more anomalous.
    fpr_limit : float, default=0.3
        Integration limit in (0, 1].

    Returns
    -------
    aupro : float in [0, 1]
    """
    if not 0 < fpr_limit <= 1:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}.")
    fpr, pro = pro_curve(masks, maps)
    return _area_up_to(fpr, pro, fpr_limit) / fpr_limit


def per_category_summary(results: Mapping[str, Mapping[str, float]] | Sequence[Mapping],
                         *, category: str = "category"):
    """Per-category metrics as a table with a closing ``mean`` row.

    Parameters
    ----------
    results : mapping or sequence of mappings
        ``{category: {metric: value}}``, or rows ``{"category": ..., metric:
        value, ...}`` (e.g. from :func:`skssad.localization.evaluate_localization`).
    category : str, default="category"
        Name of the category column in row input.

    Returns
    -------
    summary : pandas.DataFrame
        One row per category (index), one column per numeric metric, and a
        last row ``"mean"`` with the unweighted mean over categories (as the
        MVTec AD paper averages its per-category tables).
    """
    import pandas as pd

    if isinstance(results, Mapping):
        frame = pd.DataFrame.from_dict({k: dict(v) for k, v in results.items()}, orient="index")
    else:
        frame = pd.DataFrame(list(results))
        if category not in frame:
            raise ValueError(f"Rows need a {category!r} column; got columns {list(frame)}.")
        frame = frame.set_index(category)
    if frame.empty:
        raise ValueError("results is empty; expected at least one category.")
    if "mean" in frame.index:
        raise ValueError("'mean' is reserved for the summary row; rename that category.")
    numeric = frame.select_dtypes("number")
    mean = numeric.mean(axis=0).to_frame("mean").T
    return pd.concat([frame, mean])
