"""Validation and conversion of video inputs (DESIGN.md, "Inputs").

One sample is one video. Accepted layouts:

* 5-D ``(n, T, H, W, C)`` channels-last colour (or multi-channel) videos;
* 4-D ``(n, T, H, W)`` grayscale videos;
* a list of videos of different lengths, each ``(T, H, W, C)``,
  ``(T, H, W)`` or ``(T,)``, all with the same frame shape;
* 2-D ``(n, T)`` univariate time series: one scalar per frame, a frame is
  a ``1x1`` single-channel image.

uint8 is divided by 255; other input is min-max scaled by the range seen in
``fit`` (no clipping at inference), as the image base does. Inside, a batch
of videos is one float32 tensor ``(n, T_max, C, H, W)``; frames after the
end of a shorter video are NaN, so masks and indexing keep lengths aligned.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from .base import resize_images

__all__ = ["validate_videos", "videos_to_tensor", "video_lengths"]


def _is_ragged(X) -> bool:
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    shapes = {np.shape(v) for v in X}
    return len(shapes) > 1


def _frames_tchw(v: np.ndarray, i: int) -> np.ndarray:
    """One video ``(T,)``, ``(T, H, W)`` or ``(T, H, W, C)`` -> ``(T, C, H, W)``."""
    if v.ndim == 1:
        return v.reshape(-1, 1, 1, 1)
    if v.ndim == 3:
        return v[:, None]
    if v.ndim == 4:
        if v.shape[3] > 4:
            raise ValueError(f"Video {i} has shape {v.shape}; expected channels-last frames "
                             "(T, H, W, C) with C <= 4.")
        return v.transpose(0, 3, 1, 2)
    raise ValueError(f"Video {i} has shape {v.shape}; expected (T,), (T, H, W) or "
                     "(T, H, W, C).")


def validate_videos(estimator, X, *, reset: bool, min_samples: int = 1):
    """Check ``X`` and return ``(videos, kind, uint8)``.

    ``videos`` is an ndarray ``(n, T, C, H, W)`` or, for a list of videos of
    different lengths, a list of ``(T_i, C, H, W)`` arrays; ``kind`` is
    ``"series"`` for univariate time series and ``"video"`` otherwise.
    Array input goes through :func:`sklearn.utils.validation.validate_data`
    (so ``n_features_in_`` is the number of frames of 2-D input, and 2-D
    input at inference must have as many time steps as in fit); longer or
    shorter videos are fine for 4-D/5-D input and lists.
    """
    if _is_ragged(X):
        vids, uint8 = [], True
        for i, v in enumerate(X):
            a = check_array(v, ensure_2d=False, allow_nd=True, dtype="numeric",
                            ensure_min_samples=1, input_name=f"video {i}")
            uint8 &= a.dtype == np.uint8
            vids.append(_frames_tchw(a, i))
        shapes = {v.shape[1:] for v in vids}
        if len(shapes) > 1:
            raise ValueError(f"All videos must have the same frame shape (C, H, W); got "
                             f"{sorted(shapes)}.")
        if len(vids) < min_samples:
            raise ValueError(f"Found {len(vids)} video(s) while a minimum of {min_samples} "
                             "is required.")
        kind = "series" if np.ndim(X[0]) == 1 else "video"
        return vids, kind, bool(uint8)
    # Unknown array-likes take validate_data's path (they may refuse np.ndim).
    ndim = (X.ndim if hasattr(X, "ndim") else
            np.ndim(X) if isinstance(X, (list, tuple)) else 2)
    if reset or ndim == 2:
        A = validate_data(estimator, X, reset=reset, allow_nd=True, dtype="numeric",
                          ensure_min_samples=min_samples)
    else:
        A = check_array(X, allow_nd=True, dtype="numeric", ensure_min_samples=min_samples)
    if A.ndim == 2:
        return A.reshape(*A.shape, 1, 1, 1), "series", A.dtype == np.uint8
    if A.ndim == 4:
        return A[:, :, None], "video", A.dtype == np.uint8
    if A.ndim == 5:
        if A.shape[4] > 4:
            raise ValueError(f"Expected channels-last videos (n, T, H, W, C) with C <= 4; got "
                             f"shape {A.shape}. Transpose channels-first input.")
        return A.transpose(0, 1, 4, 2, 3), "video", A.dtype == np.uint8
    raise ValueError(f"Expected videos as 5-D (n, T, H, W, C), 4-D (n, T, H, W), a list of "
                     f"videos, or 2-D (n, T) time series; got {A.ndim}-D input of shape "
                     f"{A.shape}.")


def video_lengths(videos: torch.Tensor) -> torch.Tensor:
    """Frames of each video in a NaN-padded ``(n, T, C, H, W)`` tensor, ``(n,)`` int64."""
    valid = ~torch.isnan(videos.flatten(2)[:, :, 0])
    return valid.sum(1)


def videos_to_tensor(estimator, X, *, reset: bool, min_frames: int, need: str,
                     input_size: int | None, device) -> torch.Tensor:
    """Validate, scale and resize videos; return a NaN-padded ``(n, T, C, H, W)`` tensor.

    On ``reset`` the estimator gets ``scale_``, ``input_shape_`` (frame
    ``(C, H, W)``) and ``video_kind_``. Frames of videos are resized to
    ``input_size``; time-series frames stay ``1x1``. A video with fewer than
    ``min_frames`` frames raises a ValueError that states ``need`` (why).
    """
    vids, kind, uint8 = validate_videos(estimator, X, reset=reset,
                                        min_samples=estimator._min_samples if reset else 1)
    ragged = isinstance(vids, list)
    lengths = [len(v) for v in vids] if ragged else [vids.shape[1]] * len(vids)
    frame_shape = tuple(vids[0].shape[1:]) if ragged else tuple(vids.shape[2:])
    short = [i for i, t in enumerate(lengths) if t < min_frames]
    if short:
        i = short[0]
        extra = (f" (X has {lengths[i]} feature(s) per sample, read as a time series)"
                 if kind == "series" and not ragged else "")
        raise ValueError(f"Each video needs at least {min_frames} frames for one segment "
                         f"({need}); video {i} has {lengths[i]} frame(s){extra}.")
    if reset:
        estimator.input_shape_ = frame_shape
        estimator.video_kind_ = kind
        if uint8:
            estimator.scale_ = (0.0, 255.0)
        else:
            lo = min(float(np.min(v)) for v in vids)
            hi = max(float(np.max(v)) for v in vids)
            estimator.scale_ = (lo, hi if hi > lo else lo + 1.0)
    elif frame_shape != estimator.input_shape_:
        raise ValueError(f"X holds frames of shape (C, H, W)={frame_shape}, but "
                         f"{type(estimator).__name__} was fitted on {estimator.input_shape_}.")
    lo, hi = estimator.scale_
    if ragged:
        t_max = max(lengths)
        padded = np.full((len(vids), t_max, *frame_shape), np.nan, dtype=np.float32)
        for i, v in enumerate(vids):
            padded[i, :len(v)] = v
        vids = padded
    arr = (np.asarray(vids, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
    if estimator.video_kind_ == "series" or input_size is None:
        return t
    n, T = t.shape[:2]
    frames = resize_images(t.reshape(n * T, *t.shape[2:]), input_size)
    return frames.reshape(n, T, *frames.shape[1:])
