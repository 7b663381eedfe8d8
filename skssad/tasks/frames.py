"""Frame-permutation pretext task as batched tensor functions.

frame-permutation-video.txt §III-A: a video of ``N`` frames is cut into
segments of ``M`` frames with stride 1 between segments; Table VI picks
the frames of a segment with a ``skip`` between them (skip=2 gives frames
1, 4, 7, 10, 13). Each segment is shuffled by a permutation ``g(s_i, y_i)``
(Eq. 1) whose index ``y_i`` the network predicts.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["segment_span", "segment_indices", "extract_segments", "all_permutations",
           "shuffle_frames", "unshuffle_frames", "permutation_views", "frame_jitter",
           "FrameShuffleTask"]


def segment_span(M: int, skip: int) -> int:
    """Frames one segment covers: ``(M - 1) * (skip + 1) + 1`` (13 for M=5, skip=2)."""
    return (int(M) - 1) * (int(skip) + 1) + 1


def segment_indices(n_frames: int, M: int, skip: int) -> np.ndarray:
    """Frame indices of every segment of a video with ``n_frames`` frames.

    §III-A: ``Z = N - span + 1`` segments, one frame apart; segment ``i``
    holds frames ``i, i + (skip+1), ..., i + (M-1)(skip+1)`` (0-based).

    Returns
    -------
    idx : ndarray of shape (Z, M), int64
        Empty ``(0, M)`` when the video is shorter than one segment.
    """
    span = segment_span(M, skip)
    z = max(int(n_frames) - span + 1, 0)
    return (np.arange(z)[:, None] + (int(skip) + 1) * np.arange(int(M))[None, :]).astype(np.int64)


def extract_segments(videos: torch.Tensor, M: int, skip: int) -> torch.Tensor:
    """All segments of equal-length videos ``(n, T, C, H, W)`` -> ``(n, Z, M, C, H, W)``."""
    idx = torch.from_numpy(segment_indices(videos.shape[1], M, skip)).to(videos.device)
    return videos[:, idx]


def all_permutations(M: int) -> torch.Tensor:
    """The ``M!`` permutations of ``range(M)`` in lexicographic order, ``(M!, M)`` int64.

    Row 0 is the identity (the true frame order).
    """
    if M < 2 or M > 8:
        raise ValueError(f"M must be in [2, 8] (M! classes); got M={M}.")
    perms = torch.tensor(list(itertools.permutations(range(int(M)))), dtype=torch.int64)
    if len(perms) != math.factorial(int(M)):  # pragma: no cover - itertools guarantees it
        raise RuntimeError("itertools.permutations returned the wrong number of orders.")
    return perms


def shuffle_frames(segments: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """Eq. (1) ``g(s, y)``: frame ``k`` of the output is frame ``perms[:, k]`` of the input.

    ``segments`` is ``(b, M, ...)``, ``perms`` is ``(b, M)``; one gather, no loop.
    """
    b, m = segments.shape[:2]
    if perms.shape != (b, m):
        raise ValueError(f"perms must have shape {(b, m)}; got {tuple(perms.shape)}.")
    rows = torch.arange(b, device=segments.device)[:, None]
    return segments[rows, perms.to(segments.device)]


def unshuffle_frames(shuffled: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`shuffle_frames`: restores the original frame order."""
    return shuffle_frames(shuffled, torch.argsort(perms.to(shuffled.device), dim=1))


def permutation_views(segments: torch.Tensor, perm_table: torch.Tensor,
                      labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every segment shuffled by every permutation index in ``labels``.

    ``segments`` ``(b, M, ...)``, ``labels`` ``(K,)`` indices into
    ``perm_table`` ``(P, M)``. Returns views ``(b*K, M, ...)`` (segment-major)
    and their labels ``(b*K,)``: the fixed inference views of §III-D.
    """
    b, k = len(segments), len(labels)
    labels = labels.to(segments.device)
    reps = segments.repeat_interleave(k, 0)
    lab = labels.repeat(b)
    return shuffle_frames(reps, perm_table.to(segments.device)[lab]), lab


def frame_jitter(frames: torch.Tensor, strength: float = 0.0, crop: int = 0) -> torch.Tensor:
    """Independent colour and crop jitter of every frame, ``(n, C, H, W)`` -> same shape.

    Order cues below the level of content — a lighting drift, a brightness
    ramp, compression that changes along a clip — let the permutation task
    be solved without learning motion. Jittering each frame on its own
    hides them (our addition; the paper trains on raw frames, §IV-D):

    * colour, with ``strength`` ``s``: per frame a brightness offset
      ``U(-s, s)``, a contrast factor ``U(1 - s, 1 + s)`` about the frame's
      mean, and per channel a gain ``U(1 - s/2, 1 + s/2)``;
    * crop: a random translation of up to ``crop`` pixels in each direction
      per frame (border pixels repeated), as a random crop would.

    One batched operation on the frames' device, drawing from the torch RNG.
    """
    if strength <= 0 and crop <= 0:
        return frames
    n, c = frames.shape[:2]
    dev, dt = frames.device, frames.dtype
    x = frames
    if strength > 0:
        s = float(strength)
        u = torch.rand(n, 2 + c, device=dev, dtype=dt)
        offset = (2 * u[:, 0] - 1) * s
        contrast = 1 + (2 * u[:, 1] - 1) * s
        gain = 1 + (u[:, 2:] - 0.5) * s
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.view(n, 1, 1, 1) + mean
        x = x * gain.view(n, c, 1, 1) + offset.view(n, 1, 1, 1)
    if crop > 0:
        h, w = x.shape[-2:]
        shift = torch.randint(-int(crop), int(crop) + 1, (n, 2), device=dev).to(dt)
        theta = torch.zeros(n, 2, 3, device=dev, dtype=dt)
        theta[:, 0, 0] = 1
        theta[:, 1, 1] = 1
        theta[:, 0, 2] = 2 * shift[:, 0] / w  # normalised coordinates span 2 per side
        theta[:, 1, 2] = 2 * shift[:, 1] / h
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)
    return x


class FrameShuffleTask:
    """Pretext hook: a batch of segment starts -> shuffled segments and permutation labels.

    The training set handed to skorch is the ``(S,)`` tensor of segment
    starts (global frame indices, :func:`skssad.video.segment_starts`), so
    segments are cut per batch: the ``M`` frames of each segment are read
    through ``source`` (global frame indices -> prepared ``(b*M, C, H, W)``
    frames on the device), jittered frame by frame (:func:`frame_jitter`),
    and shuffled by a permutation drawn uniformly from the fitted set
    (Eq. 1); the label is its index (Eq. 8).

    ``source`` refers to the training videos; the detector drops it after
    fit so that a fitted detector does not pickle its training data.
    """

    def __init__(self, permutations: np.ndarray, M: int, skip: int, source=None,
                 jitter: float = 0.0, crop: int = 0):
        self.permutations = np.asarray(permutations, dtype=np.int64)
        self.M = int(M)
        self.skip = int(skip)
        self.source = source
        self.jitter = float(jitter)
        self.crop = int(crop)

    def __call__(self, starts: torch.Tensor):
        if self.source is None:
            raise RuntimeError("FrameShuffleTask has no frame source; it only trains inside fit.")
        step = self.skip + 1
        idx = starts.reshape(-1, 1) + step * torch.arange(self.M, device=starts.device)
        frames = frame_jitter(self.source(idx.reshape(-1)), self.jitter, self.crop)
        segments = frames.view(len(idx), self.M, *frames.shape[1:])
        labels = torch.randint(len(self.permutations), (len(idx),)).to(frames.device)
        table = torch.from_numpy(self.permutations).to(frames.device)
        return shuffle_frames(segments, table[labels]), labels
