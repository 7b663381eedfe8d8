"""Validation, scaling and segment-wise chunking of video inputs (DESIGN.md, "Inputs").

One sample is one video. Accepted layouts:

* 5-D ``(n, T, H, W, C)`` channels-last colour (or multi-channel) videos;
* 4-D ``(n, T, H, W)`` grayscale videos;
* a list of videos of different lengths, each ``(T, H, W, C)``,
  ``(T, H, W)`` or ``(T,)``, all with the same frame shape;
* 2-D ``(n, T)`` univariate time series: one scalar per frame, a frame is
  a ``1x1`` single-channel image.

The validated videos are kept raw, as one :class:`VideoFrames` store: every
frame of every video in one ``(F, C, H, W)`` array of the input's dtype (a
view of the input array where its layout allows, one copy for a list) and
the videos' lengths. Nothing is converted up front: each chunk of frames
(scoring) or batch (training) goes through the base's conversion — uint8
divided by 255, other input min-max scaled in float64 by the range
:func:`fit_frame_scale` found in ``fit`` (no clipping at inference),
checked to be finite, cast to float32, moved to the device and resized
there. So memory stays bounded whatever the number of videos, and
``X * a + b`` (``a > 0``) scores as ``X``.

Segments (frame-permutation-video §III-A) are never materialised for a
whole set: a segment is the global index of its first frame, and
:func:`map_segments` cuts them per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._layouts import video_frames_nhwc

__all__ = ["VideoFrames", "validate_videos", "check_min_frames", "fit_frame_scale",
           "segment_starts", "segment_frames", "map_segments",
           "frame_moments", "minmax_anomaly_scores", "reduce_segments"]

#: Segments per inference chunk and frames per padded base-CNN chunk. Fixed
#: sizes keep every score bit-identical whatever else is scored with it.
SEGMENT_CHUNK = 64
FRAME_CHUNK = 128


@dataclass
class VideoFrames:
    """Raw frames of a set of videos.

    Attributes
    ----------
    frames : ndarray of shape (F, C, H, W)
        All frames, video after video, in the input's dtype: a
        channels-first *view* of the channels-last input where its layout
        allows (indexing it copies only the frames asked for).
    lengths : ndarray of shape (n_videos,), int64
    kind : {"video", "series"}
    """

    frames: np.ndarray
    lengths: np.ndarray
    kind: str

    #: The raw store stays in host memory; chunks go to the device.
    device = "cpu"

    @property
    def offsets(self) -> np.ndarray:
        """Global index of each video's first frame."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one frame."""
        return tuple(int(d) for d in self.frames.shape[1:])

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, mask) -> VideoFrames:
        """The videos selected by a boolean mask (numpy or torch)."""
        mask = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
        if mask.shape != self.lengths.shape:
            raise ValueError(f"Expected a boolean mask of {len(self)} videos; got shape "
                             f"{mask.shape}.")
        keep = np.repeat(mask, self.lengths)
        return VideoFrames(self.frames[keep], self.lengths[mask], self.kind)


def _is_ragged(X) -> bool:
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    shapes = {np.shape(v) for v in X}
    return len(shapes) > 1


def _frames_thwc(v: np.ndarray, i: int) -> np.ndarray:
    """One video ``(T,)``, ``(T, H, W)`` or ``(T, H, W, C)`` -> ``(T, H, W, C)`` (a view)."""
    if v.ndim == 1:
        return v.reshape(-1, 1, 1, 1)
    if v.ndim == 3:
        return v[..., None]
    if v.ndim == 4:
        if v.shape[3] > 4:
            raise ValueError(f"Video {i} has shape {v.shape}; expected channels-last frames "
                             "(T, H, W, C) with C <= 4.")
        return v
    raise ValueError(f"Video {i} has shape {v.shape}; expected (T,), (T, H, W) or "
                     "(T, H, W, C).")


def validate_videos(estimator, X, *, reset: bool, min_samples: int = 1) -> VideoFrames:
    """Check ``X`` and return its raw :class:`VideoFrames`.

    Array input goes through :func:`sklearn.utils.validation.validate_data`
    (so ``n_features_in_`` is the number of frames of array input, and 2-D
    input at inference must have as many time steps as in fit); longer or
    shorter videos are fine for 4-D/5-D input and lists. NaN and inf are
    refused with scikit-learn's message.
    """
    if _is_ragged(X):
        vids = []
        for i, v in enumerate(X):
            a = check_array(v, ensure_2d=False, allow_nd=True, dtype="numeric",
                            ensure_min_samples=1, input_name=f"video {i}")
            vids.append(_frames_thwc(a, i))
        shapes = {v.shape[1:] for v in vids}
        if len(shapes) > 1:
            raise ValueError(f"All videos must have the same frame shape (H, W, C); got "
                             f"{sorted(shapes)}.")
        if len(vids) < min_samples:
            raise ValueError(f"Found {len(vids)} video(s) while a minimum of {min_samples} "
                             "is required.")
        dtype = np.result_type(*[v.dtype for v in vids])
        kind = "series" if np.ndim(X[0]) == 1 else "video"
        frames = np.concatenate([v.astype(dtype, copy=False) for v in vids])
        return VideoFrames(frames.transpose(0, 3, 1, 2),
                           np.asarray([len(v) for v in vids], dtype=np.int64), kind)
    # Unknown array-likes take validate_data's path (they may refuse np.ndim).
    ndim = (X.ndim if hasattr(X, "ndim") else
            np.ndim(X) if isinstance(X, (list, tuple)) else 2)
    if reset or ndim == 2:
        A = validate_data(estimator, X, reset=reset, allow_nd=True, dtype="numeric",
                          ensure_min_samples=min_samples)
    else:
        A = check_array(X, allow_nd=True, dtype="numeric", ensure_min_samples=min_samples)
    frames, kind = video_frames_nhwc(A)
    return VideoFrames(frames.transpose(0, 3, 1, 2),
                       np.full(A.shape[0], A.shape[1], dtype=np.int64), kind)


def check_min_frames(videos: VideoFrames, min_frames: int, need: str, *,
                     array_series: bool = False) -> None:
    """Raise a ValueError naming ``need`` when a video has fewer than ``min_frames`` frames."""
    short = np.flatnonzero(videos.lengths < min_frames)
    if short.size:
        i = int(short[0])
        t = int(videos.lengths[i])
        extra = (f" (X has {t} feature(s) per sample, read as a time series)"
                 if array_series else "")
        raise ValueError(f"Each video needs at least {min_frames} frames for one segment "
                         f"({need}); video {i} has {t} frame(s){extra}.")


def fit_frame_scale(videos: VideoFrames) -> tuple[float, float]:
    """The fitted range ``(lo, hi)``: ``(0, 255)`` for uint8, else the data's min and max.

    Computed in float64; a range that is not finite (``hi - lo`` overflows)
    raises a ValueError, since no scaling could make such data usable.
    """
    if videos.frames.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.min(videos.frames)), float(np.max(videos.frames))
    if not np.isfinite(hi - lo):
        raise ValueError(f"The range of X, [{lo!r}, {hi!r}], is not finite in float64 "
                         "(max - min overflows); expected values whose range fits in "
                         "float64. Rescale X.")
    # Constant data: any unit works, but one that survives a large offset.
    return lo, hi if hi > lo else lo + max(1.0, abs(lo) * 1e-6)


def segment_starts(lengths: np.ndarray, M: int, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Every segment of every video as ``(start, owner)``, both ``(S,)`` int64.

    §III-A: a video of ``N`` frames has ``Z = N - span + 1`` segments, one
    frame apart (``span = (M-1)(skip+1)+1``); ``start`` is the global index
    (into :attr:`VideoFrames.frames`) of a segment's first frame and
    ``owner`` its video.
    """
    span = (int(M) - 1) * (int(skip) + 1) + 1
    lengths = np.asarray(lengths, dtype=np.int64)
    z = np.maximum(lengths - span + 1, 0)
    owner = np.repeat(np.arange(len(lengths)), z)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(z)[:-1]]).astype(np.int64)
    within = np.arange(int(z.sum()), dtype=np.int64) - np.repeat(first, z)
    return np.repeat(offsets, z) + within, owner.astype(np.int64)


def segment_frames(starts, M: int, skip: int):
    """``(S,)`` segment starts -> ``(S, M)`` global frame indices (numpy or torch)."""
    step = int(skip) + 1
    if isinstance(starts, torch.Tensor):
        return starts[:, None] + step * torch.arange(int(M), device=starts.device)
    return np.asarray(starts)[:, None] + step * np.arange(int(M))


def _padded(x: torch.Tensor, size: int) -> torch.Tensor:
    if len(x) == size:
        return x
    return torch.cat([x, x.new_zeros((size - len(x), *x.shape[1:]))])


def map_segments(videos: VideoFrames, starts: np.ndarray, M: int, skip: int,
                 featurize: Callable[[np.ndarray], torch.Tensor],
                 segment_fn: Callable[[torch.Tensor], torch.Tensor], *,
                 segment_chunk: int = SEGMENT_CHUNK) -> torch.Tensor:
    """``segment_fn`` of every segment, cut and featurised one chunk at a time.

    For each chunk of ``segment_chunk`` segments, the distinct frames they
    use are read raw and featurised once (``featurize``: raw
    ``(f, C, H, W)`` -> ``(f, d)``, e.g. the base CNN in padded chunks, as
    :func:`padded_frame_features` or the base's chunk mapper); the features
    are arranged as ``(segment_chunk, M, d)`` in true frame order,
    zero-padded to exactly ``segment_chunk`` segments, and ``segment_fn``
    maps them to ``(segment_chunk, ...)``. Peak memory is one chunk's frames
    and features, whatever the number of videos; fixed sizes keep results
    batch-independent. Call under ``torch.no_grad()``. Returns the
    concatenated outputs on CPU, padding trimmed.
    """
    out = []
    for c in range(0, len(starts), segment_chunk):
        idx = segment_frames(starts[c:c + segment_chunk], M, skip)
        uniq, inv = np.unique(idx, return_inverse=True)
        feats = featurize(videos.frames[uniq])
        inv = torch.from_numpy(inv.reshape(idx.shape)).to(feats.device)
        out.append(segment_fn(_padded(feats[inv], segment_chunk))[:len(idx)].cpu())
    return torch.cat(out) if out else torch.empty(0)


def frame_moments(videos: VideoFrames, prepare: Callable[[np.ndarray], torch.Tensor], *,
                  max_frames: int = 4096, chunk: int = FRAME_CHUNK) -> tuple[np.ndarray, ...]:
    """Per-channel mean and std of prepared frames, from at most ``max_frames`` of them.

    Evenly spaced frames, accumulated chunk by chunk in float64, so the
    fitted standardisation never needs the whole set in memory.
    """
    n = len(videos.frames)
    pick = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(np.int64))
    s1 = s2 = 0.0
    count = 0
    for c in range(0, len(pick), chunk):
        x = prepare(videos.frames[pick[c:c + chunk]]).double()
        s1 = s1 + x.sum((0, 2, 3)).cpu().numpy()
        s2 = s2 + (x * x).sum((0, 2, 3)).cpu().numpy()
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = s1 / count
    var = np.maximum(s2 / count - mean ** 2, 0.0) * count / max(count - 1, 1)
    return mean, np.sqrt(var)


def reduce_segments(losses: np.ndarray, owner: np.ndarray, n_videos: int, how: str,
                    top_k: int = 3) -> np.ndarray:
    """A video's anomaly from its segments' anomaly scores: ``"mean"``, ``"max"`` or ``"top_k"``.

    ``"top_k"`` is the mean of the ``min(top_k, Z)`` largest scores of the
    video: between the mean (an event spread over the clip) and the max (a
    short event) — what surveillance users need to find events in time.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if how == "mean":
        return np.bincount(owner, weights=losses, minlength=n_videos) / np.bincount(
            owner, minlength=n_videos)
    order = np.lexsort((-losses, owner))  # by video, then descending score
    ranked, who = losses[order], owner[order]
    first = np.searchsorted(who, np.arange(n_videos))
    rank = np.arange(len(who)) - first[who]
    k = 1 if how == "max" else int(top_k)
    keep = rank < k
    counts = np.bincount(who[keep], minlength=n_videos)
    return np.bincount(who[keep], weights=ranked[keep], minlength=n_videos) / counts


def minmax_anomaly_scores(segment_losses):
    """Eq. (9): min-max normalise segment anomaly scores over the whole test set to [0, 1].

    Parameters
    ----------
    segment_losses : ndarray of shape (n_videos, Z) or list of 1-D arrays
        The output of
        :meth:`~skssad.FramePermutationDetector.anomaly_segments` (higher =
        more anomalous).

    Returns
    -------
    A : same structure as ``segment_losses``
        ``(L - min L) / (max L - min L)``, min and max over all segments of
        all videos given (all zeros when every loss is equal). Higher = more
        anomalous. Not part of ``score_samples`` because it depends on the
        whole test set.

    Examples
    --------
    >>> import numpy as np
    >>> from skssad import minmax_anomaly_scores
    >>> minmax_anomaly_scores(np.array([[1.0, 3.0], [2.0, 5.0]])).tolist()
    [[0.0, 0.5], [0.25, 1.0]]
    """
    parts = ([np.asarray(s, dtype=np.float64) for s in segment_losses]
             if isinstance(segment_losses, list) else None)
    flat = (np.concatenate(parts) if parts is not None
            else np.asarray(segment_losses, dtype=np.float64).ravel())
    if flat.size == 0:
        raise ValueError("segment_losses is empty; expected at least one segment loss.")
    lo, hi = flat.min(), flat.max()
    span = hi - lo if hi > lo else 1.0
    if parts is not None:
        return [(p - lo) / span for p in parts]
    return (np.asarray(segment_losses, dtype=np.float64) - lo) / span
