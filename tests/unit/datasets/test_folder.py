"""Class-per-folder and MVTec AD loaders on tiny PNG trees."""

import imageio.v3 as iio
import numpy as np
import pytest

from skssad.datasets import load_image_folder, load_mvtec


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, arr)


def _img(value, shape=(6, 6, 3)):
    return np.full(shape, value, dtype=np.uint8)


@pytest.fixture
def tree(tmp_path):
    for kind, n in (("train", 3), ("test", 2)):
        for c, v in (("cat", 10), ("dog", 200)):
            for i in range(n):
                _png(tmp_path / kind / c / f"{i}.png", _img(v + i))
    (tmp_path / "train" / "cat" / "notes.txt").write_text("ignored")
    return tmp_path


def test_image_folder_classes_from_folder_names(tree):
    d = load_image_folder(tree, "train")
    assert d.images.shape == (6, 6, 6, 3) and d.images.dtype == np.uint8
    np.testing.assert_array_equal(d.target, [0, 0, 0, 1, 1, 1])
    assert list(d.target_names) == ["cat", "dog"]
    assert d.images[4, 0, 0, 0] == 201  # dog/1.png
    assert load_image_folder(tree, "test").images.shape[0] == 4


def test_image_folder_resize_and_mixed_gray(tree):
    _png(tree / "train" / "dog" / "3.png", np.full((12, 9), 50, np.uint8))
    with pytest.raises(ValueError, match="different sizes.*size="):
        load_image_folder(tree, "train")
    d = load_image_folder(tree, "train", size=4)
    assert d.images.shape == (7, 4, 4, 3)
    assert (d.images[-1] == 50).all()  # grayscale repeated over the 3 channels


def test_image_folder_missing_subtree_names_it(tree):
    with pytest.raises(ValueError, match="validation"):
        load_image_folder(tree, "validation")


def test_image_folder_corrupt_image_names_the_file(tree):
    (tree / "test" / "dog" / "1.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"dog[/\\]1.png"):
        load_image_folder(tree, "test")


@pytest.fixture
def mvtec(tmp_path):
    cat = tmp_path / "bottle"
    for i in range(2):
        _png(cat / "train" / "good" / f"{i:03d}.png", _img(100 + i, (8, 8, 3)))
    _png(cat / "test" / "good" / "000.png", _img(100, (8, 8, 3)))
    for defect in ("crack", "scratch"):
        _png(cat / "test" / defect / "000.png", _img(30, (8, 8, 3)))
        mask = np.zeros((8, 8), np.uint8)
        mask[2:4, 2:5] = 255
        _png(cat / "ground_truth" / defect / "000_mask.png", mask)
    return tmp_path


def test_mvtec_test_split_with_masks(mvtec):
    d = load_mvtec(mvtec, "bottle", "test")
    assert list(d.target_names) == ["good", "crack", "scratch"]
    np.testing.assert_array_equal(d.target, [0, 1, 2])
    np.testing.assert_array_equal(d.is_normal, [1, -1, -1])
    assert d.masks.dtype == bool and d.masks.shape == (3, 8, 8)
    assert not d.masks[0].any() and d.masks[1].sum() == 6


def test_mvtec_train_and_resize(mvtec):
    d = load_mvtec(mvtec / "bottle", "bottle", "train", size=4)
    assert d.images.shape == (2, 4, 4, 3) and (d.target == 0).all()
    t = load_mvtec(mvtec, "bottle", "test", size=4)
    assert t.masks.shape == (3, 4, 4) and t.masks[1].sum() > 0


def test_mvtec_missing_mask_names_it(mvtec):
    (mvtec / "bottle" / "ground_truth" / "crack" / "000_mask.png").unlink()
    with pytest.raises(ValueError, match=r"crack[/\\]000_mask.png"):
        load_mvtec(mvtec, "bottle", "test")


def test_mvtec_missing_category(mvtec):
    with pytest.raises(ValueError, match="carpet"):
        load_mvtec(mvtec, "carpet")
