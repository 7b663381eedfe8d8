"""make_moving_digits and load_video_folder."""

import numpy as np
import pytest

from skssad.datasets import MOVING_DIGIT_MOTIONS, load_video_folder, make_moving_digits


def _centroid(X):
    """Mean x, y intensity centroid per frame, ``(n, T, 2)``."""
    w = X.astype(float)
    h = np.arange(X.shape[-1])
    tot = w.sum((2, 3)) + 1e-9
    return np.stack([(w.sum(2) * h).sum(-1) / tot, (w.sum(3) * h).sum(-1) / tot], -1)


def test_shapes_dtype_and_balanced_classes():
    X, y = make_moving_digits(40, n_frames=10, size=24, random_state=0, return_X_y=True)
    assert X.shape == (40, 10, 24, 24) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [4] * len(MOVING_DIGIT_MOTIONS)


def test_returns_a_bunch_with_the_video_folder_keys(tmp_path):
    import imageio.v3 as iio

    d = make_moving_digits(10, n_frames=5, size=16, random_state=3)
    X, y = make_moving_digits(10, n_frames=5, size=16, random_state=3, return_X_y=True)
    np.testing.assert_array_equal(d.videos, X)
    np.testing.assert_array_equal(d.target, y)
    assert d.target.dtype == np.int64
    assert d.target_names.tolist() == list(MOVING_DIGIT_MOTIONS)
    (tmp_path / "c").mkdir()
    iio.imwrite(tmp_path / "c" / "v.gif", X[0], loop=0)
    assert {"videos", "target", "target_names"} <= set(load_video_folder(tmp_path)) & set(d)


def test_reproducible_with_random_state():
    a = make_moving_digits(10, n_frames=5, size=16, random_state=3)
    b = make_moving_digits(10, n_frames=5, size=16, random_state=3)
    assert np.array_equal(a.videos, b.videos) and np.array_equal(a.target, b.target)


def test_reversed_pairs_move_in_opposite_directions():
    X, y = make_moving_digits(20, n_frames=12, size=32, motions=[0, 1, 2, 3], noise=0.0,
                              random_state=0, return_X_y=True)
    c = _centroid(X)
    dx = c[:, -1, 0] - c[:, 0, 0]
    dy = c[:, -1, 1] - c[:, 0, 1]
    assert np.all(dx[y == 0] > 3) and np.all(dx[y == 1] < -3)
    assert np.all(dy[y == 2] > 3) and np.all(dy[y == 3] < -3)


def test_zoom_in_grows_digit():
    X, y = make_moving_digits(4, n_frames=8, size=32, motions=[8, 9], noise=0.0, random_state=0,
                              return_X_y=True)
    mass = (X > 64).sum((2, 3))
    assert np.all(mass[y == 8, -1] > mass[y == 8, 0])
    assert np.all(mass[y == 9, -1] < mass[y == 9, 0])


def test_bad_motion_index_rejected():
    with pytest.raises(ValueError, match="motions must be indices"):
        make_moving_digits(4, motions=[10])


def test_load_video_folder_reads_gif_and_frame_folder(tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, size=(6, 8, 8), dtype=np.uint8)
    (tmp_path / "walk").mkdir()
    iio.imwrite(tmp_path / "walk" / "a.gif", clip, loop=0)
    frames = tmp_path / "run" / "b"
    frames.mkdir(parents=True)
    for i in range(4):
        iio.imwrite(frames / f"{i:03d}.png", clip[i])
    data = load_video_folder(tmp_path, as_gray=True)
    assert data.target_names.tolist() == ["run", "walk"]
    assert data.target.tolist() == [0, 1]
    assert [len(v) for v in data.videos] == [4, 6]
    assert np.array_equal(data.videos[0], clip[:4])  # PNG is lossless
    assert data.videos[1].shape[1:3] == (8, 8)


def test_load_video_folder_without_classes_raises(tmp_path):
    with pytest.raises(ValueError, match="class sub-directories"):
        load_video_folder(tmp_path)
