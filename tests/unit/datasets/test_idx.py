"""IDX reader and MNIST loader on tiny files written in the official format."""

import gzip

import numpy as np
import pytest

from skssad.datasets import load_mnist, read_idx


def _idx_bytes(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def _write_mnist(folder, kind="train", n=5, gz=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for stem, arr in ((f"{kind}-images-idx3-ubyte", images), (f"{kind}-labels-idx1-ubyte", labels)):
        data = _idx_bytes(arr)
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_gz_and_raw(tmp_path, gz):
    images, labels = _write_mnist(tmp_path, "t10k", gz=gz)
    d = load_mnist(tmp_path, "t10k")
    assert d.images.dtype == np.uint8 and d.images.shape == (5, 28, 28)
    np.testing.assert_array_equal(d.images, images)
    np.testing.assert_array_equal(d.target, labels)


def test_read_idx_big_endian_types(tmp_path):
    arr = (np.arange(6).reshape(2, 3) - 3).astype(">i4")
    (tmp_path / "x.idx").write_bytes(_idx_bytes(arr))
    out = read_idx(tmp_path / "x.idx")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.byteorder in ("=", "<", "|")  # native order


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*corrupt"):
        read_idx(path)


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x02\x03\x04" + bytes(16))
    with pytest.raises(ValueError, match="bad.idx.*magic"):
        read_idx(path)


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not a gzip stream")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        read_idx(path)


def test_missing_labels_file_names_it(tmp_path):
    _write_mnist(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path, "train")


def test_mismatched_counts_rejected(tmp_path):
    _write_mnist(tmp_path, "train", n=5)
    labels = _idx_bytes(np.zeros(4, np.uint8))
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(labels)
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(tmp_path, "train")


def test_bad_kind_rejected(tmp_path):
    with pytest.raises(ValueError, match="kind must be"):
        load_mnist(tmp_path, "test")
