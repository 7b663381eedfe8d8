"""Torch-free readings of image and video arrays.

How an array is read as images ``(n, C, H, W)`` or as video frames is
decided once, here, in numpy only: :mod:`skssad.base` and
:mod:`skssad.video` validate with these functions, and
:class:`skssad.export.OnnxDetector`, which must run without torch, reads
its input with the same ones.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["images_to_nchw", "video_frames_nhwc"]


def _next_square(n_features: int) -> int:
    return int(math.ceil(math.sqrt(n_features)))


def images_to_nchw(X: np.ndarray, image_shape=None) -> np.ndarray:
    """Read ``X`` as images and return ``(n, C, H, W)``.

    2-D ``X`` is flattened images: reshaped with ``image_shape`` (``(H, W)``
    or ``(H, W, C)``), or inferred as a square grayscale image
    (``n_features = s*s``), a square RGB image (``s*s*3``), else zero-padded
    to the next square grayscale image. 3-D is ``(n, H, W)`` grayscale, 4-D
    ``(n, H, W, C)`` channels-last.
    """
    n = X.shape[0]
    if X.ndim == 2:
        f = X.shape[1]
        if image_shape is not None:
            shape = tuple(int(s) for s in image_shape)
            if len(shape) not in (2, 3) or int(np.prod(shape)) != f:
                raise ValueError(
                    f"image_shape={tuple(image_shape)} does not match X with {f} features "
                    f"per sample; expected (H, W) or (H, W, C) with H*W*C == {f}.")
            X = X.reshape((n, *shape))
        else:
            s = math.isqrt(f)
            s3 = math.isqrt(f // 3) if f % 3 == 0 else 0
            if s * s == f:
                X = X.reshape(n, s, s)
            elif s3 > 0 and s3 * s3 * 3 == f:
                X = X.reshape(n, s3, s3, 3)
            else:
                s = _next_square(f)
                padded = np.zeros((n, s * s), dtype=X.dtype)
                padded[:, :f] = X
                X = padded.reshape(n, s, s)
    elif X.ndim in (3, 4) and image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if X.shape[1:] != shape and X.shape[1:3] != shape[:2]:
            raise ValueError(f"image_shape={shape} does not match X of shape {X.shape}.")
    if X.ndim == 3:
        X = X[:, :, :, None]
    if X.ndim != 4:
        raise ValueError(
            f"Expected images as 2-D (n, n_features), 3-D (n, H, W) or 4-D "
            f"(n, H, W, C) channels-last arrays; got {X.ndim}-D input of shape {X.shape}.")
    if X.shape[3] > 4:
        raise ValueError(
            f"Expected channels-last images (n, H, W, C) with C <= 4; got shape "
            f"{X.shape}. Channels-first input (n, C, H, W) must be transposed "
            "with X.transpose(0, 2, 3, 1).")
    return X.transpose(0, 3, 1, 2)


def video_frames_nhwc(A: np.ndarray) -> tuple[np.ndarray, str]:
    """An array of equal-length videos as its frames ``(n * T, H, W, C)`` and its kind.

    5-D ``(n, T, H, W, C)`` channels-last videos, 4-D ``(n, T, H, W)``
    grayscale videos, or 2-D ``(n, T)`` univariate time series (kind
    ``"series"``: each frame a ``1x1`` single-channel image). Views, no copy.
    """
    if A.ndim == 2:
        return A.reshape(-1, 1, 1, 1), "series"
    if A.ndim == 4:
        return A.reshape(-1, *A.shape[2:], 1), "video"
    if A.ndim == 5:
        if A.shape[4] > 4:
            raise ValueError(f"Expected channels-last videos (n, T, H, W, C) with C <= 4; got "
                             f"shape {A.shape}. Transpose channels-first input.")
        return A.reshape(-1, *A.shape[2:]), "video"
    raise ValueError(f"Expected videos as 5-D (n, T, H, W, C), 4-D (n, T, H, W), a list "
                     f"of videos, or 2-D (n, T) time series; got {A.ndim}-D input of "
                     f"shape {A.shape}.")
