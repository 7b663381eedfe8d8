"""Frame-permutation pretext task (frame-permutation-video.txt §III-A, Eq. 1, Table VI)."""

import math

import numpy as np
import pytest
import torch

from skssad.tasks.frames import (
    FrameShuffleTask,
    all_permutations,
    extract_segments,
    frame_jitter,
    permutation_views,
    segment_indices,
    segment_span,
    shuffle_frames,
    unshuffle_frames,
)


def test_segment_frames_skip_two_match_table_vi():
    # Table VI: skip=2 picks frames 1, 4, 7, 10, 13 (0-based 0, 3, 6, 9, 12).
    idx = segment_indices(20, 5, 2)
    assert segment_span(5, 2) == 13
    assert idx[0].tolist() == [0, 3, 6, 9, 12]
    assert idx[1].tolist() == [1, 4, 7, 10, 13]  # stride 1 between segments
    assert idx.shape == (20 - 13 + 1, 5)


@pytest.mark.parametrize("M, skip", [(3, 0), (4, 1), (5, 3)])
def test_segment_indices_general(M, skip):
    idx = segment_indices(30, M, skip)
    assert idx.shape == (30 - (M - 1) * (skip + 1), M)
    assert np.all(np.diff(idx, axis=1) == skip + 1)
    assert idx[-1, -1] == 29


def test_segment_indices_short_video_is_empty():
    assert segment_indices(12, 5, 2).shape == (0, 5)


def test_extract_segments_gathers_indexed_frames():
    v = torch.arange(2 * 10, dtype=torch.float32).view(2, 10, 1, 1, 1)
    seg = extract_segments(v, 3, 1)
    assert seg.shape == (2, 6, 3, 1, 1, 1)
    assert seg[1, 2, :, 0, 0, 0].tolist() == [12.0, 14.0, 16.0]


def test_all_permutations_m5_has_120_unique_with_identity_first():
    p = all_permutations(5)
    assert p.shape == (math.factorial(5), 5)
    assert len({tuple(r) for r in p.tolist()}) == 120
    assert p[0].tolist() == [0, 1, 2, 3, 4]


def test_all_permutations_rejects_bad_m():
    with pytest.raises(ValueError, match="M must be"):
        all_permutations(1)


def test_shuffle_then_unshuffle_restores_segments():
    g = torch.Generator().manual_seed(0)
    seg = torch.rand(6, 5, 1, 4, 4, generator=g)
    table = all_permutations(5)
    perms = table[torch.randint(120, (6,), generator=g)]
    shuffled = shuffle_frames(seg, perms)
    assert not torch.equal(shuffled, seg)
    assert torch.equal(unshuffle_frames(shuffled, perms), seg)


def test_shuffle_frames_semantics_per_sample():
    seg = torch.arange(2 * 3, dtype=torch.float32).view(2, 3)
    perms = torch.tensor([[2, 0, 1], [0, 1, 2]])
    assert shuffle_frames(seg, perms).tolist() == [[2.0, 0.0, 1.0], [3.0, 4.0, 5.0]]


def test_shuffle_frames_rejects_wrong_perm_shape():
    with pytest.raises(ValueError, match="perms must have shape"):
        shuffle_frames(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.long))


def test_permutation_views_are_segment_major():
    seg = torch.arange(2 * 3, dtype=torch.float32).view(2, 3)
    table = all_permutations(3)
    views, lab = permutation_views(seg, table, torch.tensor([0, 5]))
    assert lab.tolist() == [0, 5, 0, 5]
    assert views[1].tolist() == seg[0, table[5]].tolist()
    assert views[2].tolist() == seg[1].tolist()


def test_frame_jitter_changes_each_frame_on_its_own():
    torch.manual_seed(0)
    frames = torch.rand(64, 3, 8, 8)
    assert frame_jitter(frames, 0.0, 0) is frames
    out = frame_jitter(frames, 0.5, 0)
    shift = (out - frames).mean((1, 2, 3))
    assert out.shape == frames.shape and shift.std() > 0.1  # independent per frame
    # brightness offset within [-s, s] around a contrast/gain change of the frame
    assert shift.abs().max() < 0.5 + 0.5


def test_frame_crop_jitter_translates_by_whole_pixels():
    torch.manual_seed(0)
    frames = torch.zeros(32, 1, 8, 8)
    frames[:, :, 3:5, 3:5] = 1
    out = frame_jitter(frames, 0.0, 2)
    assert torch.equal(out.sum((1, 2, 3)), frames.sum((1, 2, 3)))  # moved, not blurred
    moved = (out != frames).flatten(1).any(1)
    assert moved.float().mean() > 0.5


def test_frame_shuffle_task_cuts_segments_per_batch():
    frames = torch.arange(20.0).view(20, 1, 1, 1)
    table = all_permutations(3)
    task = FrameShuffleTask(table.numpy(), M=3, skip=1, source=lambda idx: frames[idx])
    torch.manual_seed(0)
    seg, lab = task(torch.tensor([0, 5, 11]))
    assert seg.shape == (3, 3, 1, 1, 1)
    truth = torch.tensor([[0.0, 2, 4], [5, 7, 9], [11, 13, 15]])
    assert torch.equal(unshuffle_frames(seg[..., 0, 0, 0], table[lab]), truth)
    task.source = None
    with pytest.raises(RuntimeError, match="frame source"):
        task(torch.tensor([0]))
