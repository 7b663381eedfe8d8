"""CIFAR loaders on tiny pickles written in the official python-version layout."""

import pickle

import numpy as np
import pytest

from skssad.datasets import load_cifar


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _rows(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


@pytest.fixture
def cifar10(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _dump(folder / f"data_batch_{i}", {b"data": _rows(4, i), b"labels": [i % 10] * 4})
    _dump(folder / "test_batch", {b"data": _rows(3, 9), b"labels": [0, 1, 2]})
    _dump(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    return tmp_path


@pytest.fixture
def cifar100(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for kind, n in (("train", 6), ("test", 4)):
        _dump(folder / kind, {b"data": _rows(n, n), b"fine_labels": list(range(n)),
                              b"coarse_labels": [i % 20 for i in range(10, 10 + n)]})
    _dump(folder / "meta", {b"fine_label_names": [b"f%d" % i for i in range(100)],
                            b"coarse_label_names": [b"g%d" % i for i in range(20)]})
    return tmp_path


def test_cifar10_train_concatenates_batches_channels_last(cifar10):
    d = load_cifar(cifar10, "train")
    assert d.images.shape == (20, 32, 32, 3) and d.images.dtype == np.uint8
    np.testing.assert_array_equal(d.target, np.repeat([1, 2, 3, 4, 5], 4))
    # Row layout: the red plane first, so pixel (0, 1) red is byte 1, green is byte 1024.
    row = _rows(4, 1)[0]
    assert d.images[0, 0, 1, 0] == row[1] and d.images[0, 0, 1, 1] == row[1025]
    assert d.target_names[3] == "c3"


def test_cifar10_test_split_and_folder_itself(cifar10):
    d = load_cifar(cifar10 / "cifar-10-batches-py", "test")
    np.testing.assert_array_equal(d.target, [0, 1, 2])


def test_cifar100_coarse_labels_by_default(cifar100):
    d = load_cifar(cifar100, "train")
    np.testing.assert_array_equal(d.target, [10, 11, 12, 13, 14, 15])
    np.testing.assert_array_equal(d.fine_target, np.arange(6))
    assert len(d.target_names) == 20 and d.target_names[0] == "g0"


def test_cifar100_fine_labels(cifar100):
    d = load_cifar(cifar100, "test", label_mode="fine")
    np.testing.assert_array_equal(d.target, np.arange(4))
    assert len(d.target_names) == 100


def test_variant_mismatch_rejected(cifar100):
    with pytest.raises(ValueError, match="cifar-10-batches-py|cifar10"):
        load_cifar(cifar100 / "cifar-100-python", variant="cifar10")


def test_missing_batch_names_the_file(cifar10):
    (cifar10 / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar(cifar10, "train")


def test_corrupt_pickle_names_the_file(cifar10):
    (cifar10 / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="test_batch"):
        load_cifar(cifar10, "test")


def test_wrong_row_size_names_the_file(cifar100):
    _dump(cifar100 / "cifar-100-python" / "test", {b"data": np.zeros((2, 100), np.uint8),
                                                   b"fine_labels": [0, 1],
                                                   b"coarse_labels": [0, 1]})
    with pytest.raises(ValueError, match="test is corrupt.*3072"):
        load_cifar(cifar100, "test")


def test_folder_without_cifar_files(tmp_path):
    with pytest.raises(ValueError, match="holds no CIFAR files"):
        load_cifar(tmp_path)
