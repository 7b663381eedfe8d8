"""Overlays of anomaly maps on their images (matplotlib optional, imported only when asked)."""

from __future__ import annotations

import numpy as np

__all__ = ["overlay_anomaly_map"]


def _heat(t: np.ndarray) -> np.ndarray:
    """Black-red-yellow-white colour ramp of values in [0, 1]: ``(..., 3)``."""
    return np.clip(np.stack([3 * t, 3 * t - 1, 3 * t - 2], -1), 0, 1)


def overlay_anomaly_map(image, anomaly_map, *, alpha: float = 0.5, vmin=None, vmax=None,
                        cmap=None) -> np.ndarray:
    """Blend an anomaly map (e.g. from :meth:`skssad.IGDDetector.anomaly_map`) over its image.

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
        Grayscale or RGB(A) image; uint8 is divided by 255, floats are
        min-max scaled to [0, 1].
    anomaly_map : array-like of shape (H, W)
        Higher = more anomalous.
    alpha : float, default=0.5
        Opacity of the coloured map.
    vmin, vmax : float or None
        Map values shown as the coldest and hottest colour; default the
        map's own minimum and maximum (pass fixed values to compare images).
    cmap : callable or str or None
        ``cmap(values in [0, 1]) -> (..., 3 or 4)`` colours, or a matplotlib
        colormap name (needs matplotlib); None uses a built-in black-red-
        yellow-white ramp.

    Returns
    -------
    overlay : ndarray of shape (H, W, 3), float in [0, 1]
        Ready for ``plt.imshow`` or ``skimage.io.imsave``.

    Examples
    --------
    >>> import numpy as np
    >>> overlay_anomaly_map(np.zeros((4, 5), np.uint8), np.eye(4, 5)).shape
    (4, 5, 3)
    """
    img = np.asarray(image)
    amap = np.asarray(anomaly_map, dtype=np.float64)
    if img.ndim not in (2, 3) or amap.shape != img.shape[:2]:
        raise ValueError(f"Expected an image (H, W) or (H, W, C) and a map (H, W) of the same "
                         f"size; got {img.shape} and {amap.shape}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    if img.dtype == np.uint8:
        img = img / 255.0
    else:
        img = img.astype(np.float64)
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, -1)
    lo = amap.min() if vmin is None else vmin
    hi = amap.max() if vmax is None else vmax
    t = np.clip((amap - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(amap)
    if cmap is None:
        colours = _heat(t)
    else:
        if isinstance(cmap, str):
            import matplotlib

            cmap = matplotlib.colormaps[cmap]
        colours = np.asarray(cmap(t), dtype=np.float64)[..., :3]
    return (1 - alpha) * rgb + alpha * colours
