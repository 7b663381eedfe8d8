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

__all__ = ["segment_span", "segment_indices", "extract_segments", "all_permutations",
           "shuffle_frames", "unshuffle_frames", "permutation_views"]


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
    assert len(perms) == math.factorial(int(M))
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
