"""Video input validation, scaling and segment chunking (DESIGN.md, Inputs)."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator

from skssad.video import (
    check_min_frames,
    fit_frame_scale,
    map_segments,
    reduce_segments,
    segment_frames,
    segment_starts,
    validate_videos,
)


class _Stub(BaseEstimator):
    _min_samples = 2


def test_five_d_channels_last_becomes_a_channels_first_view():
    X = np.arange(3 * 6 * 5 * 7 * 3, dtype=np.uint8).reshape(3, 6, 5, 7, 3)
    v = validate_videos(_Stub(), X, reset=True)
    assert v.frames.shape == (18, 3, 5, 7) and v.lengths.tolist() == [6, 6, 6]
    assert np.shares_memory(v.frames, X)  # no copy of the input
    assert np.array_equal(v.frames[7], X[1, 1].transpose(2, 0, 1))


def test_four_d_grayscale_and_two_d_series():
    est = _Stub()
    v = validate_videos(est, np.zeros((2, 4, 8, 8)), reset=True)
    assert v.frames.shape == (8, 1, 8, 8) and v.kind == "video" and est.n_features_in_ == 4
    s = validate_videos(_Stub(), np.arange(10.0).reshape(2, 5), reset=True)
    assert s.frames.shape == (10, 1, 1, 1) and s.kind == "series"


def test_variable_length_list_is_concatenated_with_lengths():
    rng = np.random.default_rng(0)
    X = [rng.random((n, 4, 4)) for n in (5, 8, 6)]
    v = validate_videos(_Stub(), X, reset=True)
    assert v.lengths.tolist() == [5, 8, 6] and v.frames.shape == (19, 1, 4, 4)
    assert np.array_equal(v.frames[5:13, 0], X[1])
    sub = v[np.array([True, False, True])]
    assert sub.lengths.tolist() == [5, 6] and np.array_equal(sub.frames[5:, 0], X[2])


def test_fitted_range_uint8_float_and_overflow():
    v = validate_videos(_Stub(), np.full((2, 3, 2, 2), 51, dtype=np.uint8), reset=True)
    assert fit_frame_scale(v) == (0.0, 255.0)
    v = validate_videos(_Stub(), np.array([[1e9, 1e9 + 2], [1e9 + 1, 1e9]]), reset=True)
    assert fit_frame_scale(v) == (1e9, 1e9 + 2)
    v = validate_videos(_Stub(), np.full((2, 3), 1e17), reset=True)
    lo, hi = fit_frame_scale(v)
    assert hi > lo  # a unit that survives the offset
    v = validate_videos(_Stub(), np.array([[-1.7e308, 1.7e308], [0.0, 1.0]]), reset=True)
    with pytest.raises(ValueError, match="range"):
        fit_frame_scale(v)


def test_too_short_video_names_frames_needed():
    v = validate_videos(_Stub(), [np.zeros((20, 4, 4)), np.zeros((4, 4, 4))], reset=True)
    with pytest.raises(ValueError, match="at least 13 frames.*M=5, skip=2.*video 1 has 4"):
        check_min_frames(v, 13, "M=5, skip=2")


def test_short_time_series_mentions_features():
    v = validate_videos(_Stub(), np.zeros((4, 1)), reset=True)
    with pytest.raises(ValueError, match="1 feature"):
        check_min_frames(v, 3, "test", array_series=True)


def test_channels_first_video_rejected():
    with pytest.raises(ValueError, match="channels-last"):
        validate_videos(_Stub(), np.zeros((2, 3, 4, 4, 8)), reset=True)


def test_frames_of_different_shapes_rejected():
    with pytest.raises(ValueError, match="same frame shape"):
        validate_videos(_Stub(), [np.zeros((3, 4, 4)), np.zeros((5, 6, 6))], reset=True)


def test_three_d_input_rejected_with_expected_layouts():
    with pytest.raises(ValueError, match="5-D"):
        validate_videos(_Stub(), np.zeros((2, 3, 4)), reset=True)


def test_nan_rejected():
    X = np.zeros((2, 4, 3, 3))
    X[0, 1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        validate_videos(_Stub(), X, reset=True)


def test_segment_starts_follow_section_three_a():
    # §III-A: Z = N - span + 1 segments per video, one frame apart.
    starts, owner = segment_starts(np.array([7, 4, 9]), M=3, skip=1)  # span 5
    assert owner.tolist() == [0, 0, 0, 2, 2, 2, 2, 2]
    assert starts.tolist() == [0, 1, 2, 11, 12, 13, 14, 15]
    assert segment_frames(starts[:2], 3, 1).tolist() == [[0, 2, 4], [1, 3, 5]]
    t = segment_frames(torch.tensor([11]), 3, 1)
    assert t.tolist() == [[11, 13, 15]]


def test_map_segments_gathers_true_order_features_in_fixed_chunks():
    # frame "features" are the frame values, so each segment's row is its frames
    v = validate_videos(_Stub(), np.arange(2 * 30.0).reshape(2, 30), reset=True)
    starts, _ = segment_starts(v.lengths, 3, 2)
    sizes, frames_seen = [], []

    def featurize(raw):
        frames_seen.append(len(raw))
        return torch.from_numpy(raw.reshape(len(raw), 1)).float()

    def segment_fn(f):
        sizes.append(len(f))
        return f[:, :, 0]

    out = map_segments(v, starts, 3, 2, featurize, segment_fn, segment_chunk=8)
    assert out.shape == (len(starts), 3)
    assert torch.equal(out, torch.from_numpy(segment_frames(starts, 3, 2)).float())
    assert set(sizes) == {8}  # every chunk padded to exactly segment_chunk
    assert max(frames_seen) <= 8 * 3  # only the frames of one chunk are read


def test_reduce_segments_mean_max_top_k():
    losses = np.array([1.0, 5.0, 3.0, 2.0, 4.0])
    owner = np.array([0, 0, 0, 1, 1])
    assert reduce_segments(losses, owner, 2, "mean").tolist() == [3.0, 3.0]
    assert reduce_segments(losses, owner, 2, "max").tolist() == [5.0, 4.0]
    assert reduce_segments(losses, owner, 2, "top_k", top_k=2).tolist() == [4.0, 3.0]
    assert reduce_segments(losses, owner, 2, "top_k", top_k=9).tolist() == [3.0, 3.0]
