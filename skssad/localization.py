"""The MVTec AD localisation protocol: image AUROC, pixel AUROC and AUPRO per category.

Bergmann et al., "The MVTec anomaly detection dataset", IJCV 2021: one
detector is fitted per category on its defect-free ``train/good`` images
and evaluated on ``test/``: image-level AUROC of the anomaly score,
pixel-level AUROC of the anomaly maps against the ground-truth masks, and
the normalised area under the per-region-overlap curve up to FPR 0.3
(:func:`skssad.metrics.aupro`). :func:`evaluate_localization` runs it on
arrays (e.g. :func:`skssad.datasets.make_texture_defects`),
:func:`mvtec_protocol` on a folder in the MVTec AD layout
(:func:`skssad.datasets.load_mvtec`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import clone

from .metrics import anomaly_auroc, aupro, per_category_summary, pixel_auroc

__all__ = ["detector_anomaly_map", "evaluate_localization", "mvtec_protocol"]


def detector_anomaly_map(detector, X) -> np.ndarray:
    """``detector.anomaly_map(X)`` when the detector has one, else the occlusion map.

    Both follow skssad's convention: higher = more anomalous, ``(n, H, W)``
    at the input resolution (:func:`skssad.attribution.anomaly_map`).
    """
    native = getattr(detector, "anomaly_map", None)
    if callable(native):
        return np.asarray(native(X))
    from .attribution import anomaly_map

    return anomaly_map(detector, X)


def evaluate_localization(detector, X_train, X_test, y_test, masks, *, fit: bool = True,
                          map_fn: Callable | None = None, fpr_limit: float = 0.3) -> dict:
    """Fit on defect-free images, then score and localise the test images.

    Parameters
    ----------
    detector : skssad image detector
        Cloned and fitted on ``X_train`` when ``fit`` (else used as it is).
    X_train : array-like of shape (n_train, H, W[, C])
        Defect-free training images.
    X_test : array-like of shape (n_test, H, W[, C])
    y_test : array-like of shape (n_test,)
        ``-1`` for defective images, anything else normal.
    masks : array-like of shape (n_test, H, W)
        Ground-truth defect masks (all zero for normal images).
    fit : bool, default=True
    map_fn : callable or None, default=None
        ``map_fn(detector, X) -> (n, H, W)`` maps, higher = more anomalous;
        None uses :func:`detector_anomaly_map`.
    fpr_limit : float, default=0.3
        AUPRO integration limit.

    Returns
    -------
    result : dict
        ``image_auroc``, ``pixel_auroc``, ``aupro``, ``n_train``, ``n_test``,
        ``n_defective``, ``fit_s``, ``map_s`` and the fitted ``detector``.
    """
    masks = np.asarray(masks) > 0
    y_test = np.asarray(y_test)
    n_test = len(y_test)
    if masks.shape[0] != n_test or len(X_test) != n_test:
        raise ValueError(f"X_test, y_test and masks must have the same length; got "
                         f"{len(X_test)}, {n_test} and {masks.shape[0]}.")
    if masks[y_test != -1].any():
        raise ValueError("Normal test images (y != -1) must have empty masks.")
    t0 = time.perf_counter()
    det = clone(detector).fit(X_train) if fit else detector
    t1 = time.perf_counter()
    scores = det.score_samples(X_test)
    maps = (map_fn or detector_anomaly_map)(det, X_test)
    t2 = time.perf_counter()
    if maps.shape != masks.shape:
        raise ValueError(f"Anomaly maps have shape {maps.shape}, masks {masks.shape}; maps must "
                         "be at the input resolution (n, H, W).")
    return {
        "image_auroc": anomaly_auroc(np.where(y_test == -1, -1, 1), scores),
        "pixel_auroc": pixel_auroc(masks, maps),
        "aupro": aupro(masks, maps, fpr_limit=fpr_limit),
        "n_train": len(X_train), "n_test": n_test,
        "n_defective": int((y_test == -1).sum()),
        "fit_s": t1 - t0, "map_s": t2 - t1,
        "detector": det,
    }


def mvtec_protocol(detector, path: str | os.PathLike, categories: Sequence[str] | None = None,
                   *, size: int | tuple[int, int] | None = None, map_fn: Callable | None = None,
                   fpr_limit: float = 0.3):
    """Run :func:`evaluate_localization` on every category of an MVTec AD folder.

    Parameters
    ----------
    detector : skssad image detector
        Cloned and fitted once per category.
    path : str or path-like
        The MVTec AD root, holding one folder per category.
    categories : sequence of str or None, default=None
        None takes every sub-folder that has ``train/good``.
    size : int, (height, width) or None, default=None
        Resize images (and masks, nearest) on loading; maps and masks are
        compared at this size.
    map_fn : callable or None, default=None
        See :func:`evaluate_localization`.
    fpr_limit : float, default=0.3

    Returns
    -------
    summary : pandas.DataFrame
        One row per category (``image_auroc``, ``pixel_auroc``, ``aupro``,
        sizes and times) and a ``mean`` row, as the paper's tables.
    """
    from .datasets import load_mvtec

    root = Path(path)
    if categories is None:
        categories = sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())
    if not categories:
        raise ValueError(f"No MVTec AD category (a folder with train/good) under {root}.")
    rows = []
    for category in categories:
        train = load_mvtec(root, category, "train", size=size)
        test = load_mvtec(root, category, "test", size=size)
        result = evaluate_localization(detector, train.images, test.images, test.is_normal,
                                       test.masks, map_fn=map_fn, fpr_limit=fpr_limit)
        result.pop("detector")
        rows.append({"category": category, **result})
    return per_category_summary(rows)
