"""Video input validation and conversion (DESIGN.md, Inputs)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from skssad.video import validate_videos, video_lengths, videos_to_tensor


class _Stub(BaseEstimator):
    _min_samples = 2


def _tensor(est, X, reset=True, min_frames=3, input_size=None):
    return videos_to_tensor(est, X, reset=reset, min_frames=min_frames, need="test",
                            input_size=input_size, device="cpu")


def test_five_d_channels_last_becomes_ntchw():
    X = np.zeros((3, 6, 5, 7, 3), dtype=np.uint8)
    t = _tensor(_Stub(), X)
    assert tuple(t.shape) == (3, 6, 3, 5, 7)


def test_four_d_grayscale_resized_to_input_size():
    est = _Stub()
    t = _tensor(est, np.zeros((2, 4, 8, 8)), input_size=16)
    assert tuple(t.shape) == (2, 4, 1, 16, 16)
    assert est.video_kind_ == "video" and est.n_features_in_ == 4


def test_two_d_is_univariate_time_series_of_1x1_frames():
    est = _Stub()
    t = _tensor(est, np.arange(10.0).reshape(2, 5), input_size=16)
    assert tuple(t.shape) == (2, 5, 1, 1, 1)
    assert est.video_kind_ == "series"
    # float input is scaled by the fitted range
    assert float(t.min()) == 0.0 and float(t.max()) == 1.0


def test_uint8_divided_by_255():
    t = _tensor(_Stub(), np.full((2, 3, 2, 2), 51, dtype=np.uint8))
    assert np.allclose(t.numpy(), 0.2)


def test_variable_length_list_is_nan_padded_with_lengths():
    rng = np.random.default_rng(0)
    X = [rng.random((n, 4, 4)) for n in (5, 8, 6)]
    t = _tensor(_Stub(), X)
    assert tuple(t.shape) == (3, 8, 1, 4, 4)
    assert video_lengths(t).tolist() == [5, 8, 6]
    assert not np.isnan(t[0, :5].numpy()).any()


def test_too_short_video_names_frames_needed():
    with pytest.raises(ValueError, match="at least 13 frames.*video 1 has 4"):
        videos_to_tensor(_Stub(), [np.zeros((20, 4, 4)), np.zeros((4, 4, 4))], reset=True,
                         min_frames=13, need="M=5, skip=2", input_size=None, device="cpu")


def test_short_time_series_mentions_features():
    with pytest.raises(ValueError, match="1 feature"):
        _tensor(_Stub(), np.zeros((4, 1)))


def test_channels_first_video_rejected():
    with pytest.raises(ValueError, match="channels-last"):
        validate_videos(_Stub(), np.zeros((2, 3, 4, 4, 8)), reset=True)


def test_frames_of_different_shapes_rejected():
    with pytest.raises(ValueError, match="same frame shape"):
        validate_videos(_Stub(), [np.zeros((3, 4, 4)), np.zeros((5, 6, 6))], reset=True)


def test_three_d_input_rejected_with_expected_layouts():
    with pytest.raises(ValueError, match="5-D"):
        validate_videos(_Stub(), np.zeros((2, 3, 4)), reset=True)


def test_inference_frame_shape_must_match_fit():
    est = _Stub()
    _tensor(est, np.zeros((2, 4, 8, 8)))
    with pytest.raises(ValueError, match="fitted on"):
        _tensor(est, np.zeros((2, 4, 6, 6)), reset=False)


def test_inference_accepts_other_video_length():
    est = _Stub()
    _tensor(est, np.zeros((2, 4, 8, 8)))
    assert _tensor(est, np.zeros((1, 9, 8, 8)), reset=False).shape[1] == 9


def test_nan_rejected():
    X = np.zeros((2, 4, 3, 3))
    X[0, 1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _tensor(_Stub(), X)
