"""Anomaly maps for detectors without a native one, by occlusion of their score.

:func:`anomaly_map` explains a fitted detector's ``score_samples`` by
occlusion (Zeiler & Fergus, ECCV 2014, §4.2): each window of the image is
replaced by a blurred copy of itself and the image is scored again; the
map at a pixel is the mean, over the windows covering it, of how much the
normality score *rises* when that window is hidden. A window that holds a
defect raises the score when hidden, so the map is higher where the image
is more anomalous, in normality-score units, at the input resolution
``(n, H, W)`` (skssad's map convention).

Why occlusion and not input gradients: MHRot's score (Eq. 2 of
puzzle-geom-multitask.txt) is a sum of softmax probabilities that saturate
on normal and on clearly abnormal views alike, so their input gradients
are near zero or dominated by edges, and they describe an infinitesimal
change, not the removal of a defect. Occlusion measures the effect of
removing a region on the very score that ``predict`` thresholds, needs
only ``score_samples`` (it works for any detector, an
:class:`skssad.export.OnnxDetector` included) and is batch-independent
because the base scores in fixed chunks. Hiding a window behind a blurred
copy (a "meaningful perturbation", Fong & Vedaldi, ICCV 2017) rather than a
grey box keeps the image's low frequencies, so the occluder itself does
not look like a defect to a network trained on normal images. The price is
one forward pass per window position: ``((H - w) / s + 1)^2`` passes per
image for window ``w`` and stride ``s``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["anomaly_map", "occlusion_positions"]


def occlusion_positions(length: int, window: int, stride: int) -> list[int]:
    """Start indices of windows of ``window`` pixels every ``stride``, covering the last pixel."""
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def _as_nhwc(X: np.ndarray) -> np.ndarray:
    if X.ndim == 3:
        return X[..., None]
    if X.ndim == 4:
        return X
    raise ValueError(f"anomaly_map needs images (n, H, W) or (n, H, W, C); got shape "
                     f"{X.shape}. Reshape flattened rows first.")


def anomaly_map(detector, X, *, window: int | None = None, stride: int | None = None,
                sigma: float | None = None, batch_images: int = 4) -> np.ndarray:
    """Occlusion anomaly map of a fitted detector's score: higher = more anomalous.

    Parameters
    ----------
    detector : fitted detector
        Anything with ``score_samples`` (higher = more normal) accepting
        ``X``'s layout.
    X : array-like of shape (n, H, W) or (n, H, W, C)
        Images in the layout the detector was fitted on.
    window : int or None, default=None
        Side of the occluded square in input pixels; None is
        ``max(1, min(H, W) // 4)``.
    stride : int or None, default=None
        Step between windows; None is ``max(1, window // 2)``.
    sigma : float or None, default=None
        Standard deviation of the Gaussian blur that fills a window; None
        is ``window / 2`` (the window's content is smoothed away, its
        surroundings' colour kept).
    batch_images : int, default=4
        Images whose occluded copies are scored together (memory bound).

    Returns
    -------
    maps : ndarray of shape (n, H, W), float64
        Mean rise of the normality score when a window covering the pixel
        is hidden. Positive: hiding the pixel's region makes the image look
        more normal.
    """
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"Expected a numeric image array, got dtype {X.dtype}.")
    images = _as_nhwc(X).astype(np.float64)
    n, h, w, _ = images.shape
    window = int(window) if window is not None else max(1, min(h, w) // 4)
    if not 1 <= window <= min(h, w):
        raise ValueError(f"window must be in [1, {min(h, w)}] for {h}x{w} images, got {window}.")
    stride = int(stride) if stride is not None else max(1, window // 2)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}.")
    sigma = float(sigma) if sigma is not None else window / 2
    if batch_images < 1:
        raise ValueError(f"batch_images must be >= 1, got {batch_images}.")
    boxes = [(i, j) for i in occlusion_positions(h, window, stride)
             for j in occlusion_positions(w, window, stride)]
    count = np.zeros((h, w))
    for i, j in boxes:
        count[i:i + window, j:j + window] += 1
    # blur over the two image axes only, never across samples or channels
    blurred = ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="reflect")
    base = np.asarray(detector.score_samples(X), dtype=np.float64)
    maps = np.zeros((n, h, w))
    for start in range(0, n, batch_images):
        stop = min(start + batch_images, n)
        copies = np.repeat(images[start:stop, None], len(boxes), axis=1)
        for k, (i, j) in enumerate(boxes):
            copies[:, k, i:i + window, j:j + window] = \
                blurred[start:stop, i:i + window, j:j + window]
        flat = copies.reshape(-1, *X.shape[1:])  # back to the caller's layout
        if X.dtype == np.uint8:
            flat = np.clip(np.rint(flat), 0, 255).astype(np.uint8)
        rise = np.asarray(detector.score_samples(flat), dtype=np.float64)
        rise = rise.reshape(stop - start, len(boxes)) - base[start:stop, None]
        for k, (i, j) in enumerate(boxes):
            maps[start:stop, i:i + window, j:j + window] += rise[:, k, None, None]
    return maps / count
