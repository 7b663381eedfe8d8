"""Loader reliability (issue 18, items 7 and 9) on small files written in the real formats.

Every case here was a silent wrong answer or a bare library error before: a
single-page RGB TIFF read as 16 frames of 16x3 pixels, ``max_frames=-1``
dropping a frame, a truncated PNG raising a bare ``OSError``, float IDX
pixels cast to 0, and a CIFAR "batch" that ran its ``__reduce__`` payload.
"""

import pickle

import numpy as np
import pytest

from skssad.datasets import load_cifar, load_mnist, load_video_folder, read_idx

iio = pytest.importorskip("imageio.v3")
tifffile = pytest.importorskip("tifffile")


def _rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- videos
def test_single_page_rgb_tiff_is_one_rgb_frame(tmp_path):
    # (16, 20, 3): before the fix this came back as 16 frames of 20x3 pixels.
    rgb = _rng().integers(0, 256, (16, 20, 3), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    tifffile.imwrite(tmp_path / "a" / "one.tif", rgb)
    v = load_video_folder(tmp_path).videos[0]
    assert v.shape == (1, 16, 20, 3)
    np.testing.assert_array_equal(v[0], rgb)


def test_tiff_written_page_by_page_keeps_every_page(tmp_path):
    # Five separate RGB pages (five tifffile series); imageio's imread returns only the first.
    clip = _rng(1).integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    with tifffile.TiffWriter(tmp_path / "a" / "pages.tif") as w:
        for frame in clip:
            w.write(frame)
    np.testing.assert_array_equal(load_video_folder(tmp_path).videos[0], clip)


@pytest.mark.parametrize("shape", [(6, 12, 10), (6, 12, 10, 3)])
def test_tiff_stack_frames_and_grayscale(tmp_path, shape):
    clip = _rng(2).integers(0, 256, shape, dtype=np.uint8)
    (tmp_path / "a").mkdir()
    tifffile.imwrite(tmp_path / "a" / "stack.tif", clip)
    np.testing.assert_array_equal(load_video_folder(tmp_path).videos[0], clip)
    gray = load_video_folder(tmp_path, as_gray=True).videos[0]
    assert gray.shape == (6, 12, 10) and gray.dtype == np.uint8


@pytest.mark.parametrize("bad", [-1, 0, 1.5, True, "3"])
def test_bad_max_frames_rejected(tmp_path, bad):
    (tmp_path / "a").mkdir()
    iio.imwrite(tmp_path / "a" / "v.gif", np.zeros((4, 8, 8), np.uint8), loop=0)
    with pytest.raises(ValueError, match="max_frames must be a positive int"):
        load_video_folder(tmp_path, max_frames=bad)


def test_max_frames_keeps_the_first_frames_of_every_format(tmp_path):
    clip = _rng(3).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    (tmp_path / "a" / "frames").mkdir(parents=True)
    for i, frame in enumerate(clip):
        iio.imwrite(tmp_path / "a" / "frames" / f"{i:02d}.png", frame)
    iio.imwrite(tmp_path / "a" / "g.gif", clip, loop=0)
    tifffile.imwrite(tmp_path / "a" / "t.tif", clip)
    data = load_video_folder(tmp_path, max_frames=2, as_gray=True)
    assert [v.shape for v in data.videos] == [(2, 8, 8)] * 3
    # PNG and TIFF are lossless: exactly the first two frames.
    np.testing.assert_array_equal(data.videos[0], clip[:2])
    np.testing.assert_array_equal(data.videos[2], clip[:2])


def test_corrupt_png_in_frame_folder_names_the_file(tmp_path):
    folder = tmp_path / "a" / "clip"
    folder.mkdir(parents=True)
    for i in range(3):
        iio.imwrite(folder / f"{i}.png", np.full((8, 8), 40 * i, np.uint8))
    good = (folder / "1.png").read_bytes()
    (folder / "1.png").write_bytes(good[: len(good) // 2])  # truncated mid-stream
    with pytest.raises(ValueError, match=r"1\.png"):
        load_video_folder(tmp_path)


def test_mixed_frame_sizes_name_the_path_and_shapes(tmp_path):
    folder = tmp_path / "a" / "clip"
    folder.mkdir(parents=True)
    iio.imwrite(folder / "0.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(folder / "1.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=r"clip.1\.png.*\(8, 9\).*\(8, 8\)"):
        load_video_folder(tmp_path)


def test_mixed_rgb_and_gray_frames_name_the_path(tmp_path):
    folder = tmp_path / "a" / "clip"
    folder.mkdir(parents=True)
    iio.imwrite(folder / "0.png", np.zeros((8, 8, 3), np.uint8))
    iio.imwrite(folder / "1.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"1\.png.*same size and channels"):
        load_video_folder(tmp_path)


def test_corrupt_tiff_names_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "v.tif").write_bytes(b"II*\x00" + bytes(20))
    with pytest.raises(ValueError, match=r"v\.tif"):
        load_video_folder(tmp_path)


# --------------------------------------------------------------------------- IDX
def _idx(arr: np.ndarray, code: int, shape=None) -> bytes:
    shape = arr.shape if shape is None else shape
    head = bytes([0, 0, code, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)
    return head + arr.tobytes()


def test_float_idx_pixels_stay_float(tmp_path):
    # Type 0x0D (big-endian float32) pixels in [0, 1): a uint8 cast made every one 0.
    images = _rng(4).uniform(0, 1, (3, 28, 28)).astype(">f4")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(images, 0x0D))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.array([1, 2, 3], np.uint8), 8))
    d = load_mnist(tmp_path)
    assert d.images.dtype == np.float32
    np.testing.assert_array_equal(d.images, images)
    np.testing.assert_array_equal(d.target, [1, 2, 3])


def test_uint8_idx_pixels_stay_uint8(tmp_path):
    images = _rng(5).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(images, 0x08))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.array([0, 9], np.uint8), 8))
    d = load_mnist(tmp_path, "t10k")
    assert d.images.dtype == np.uint8
    np.testing.assert_array_equal(d.images, images)


@pytest.mark.parametrize("shape", [
    (2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1),
    # 2**16 * 2**16 * 2**16 * 2**16 = 2**64: np.prod wraps to 0 and the empty body matched.
    (2 ** 16, 2 ** 16, 2 ** 16, 2 ** 16),
])
def test_read_idx_overflowing_dims_is_a_clear_error(tmp_path, shape):
    path = tmp_path / "huge.idx"
    path.write_bytes(_idx(np.zeros(0, np.uint8), 0x08, shape))
    with pytest.raises(ValueError, match=r"huge\.idx is corrupt: header announces shape"):
        read_idx(path)


# --------------------------------------------------------------------------- CIFAR
class _WritesAFile:
    """A pickle payload: unpickling it calls ``exec``, which writes a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return exec, (f"open({self.target!r}, 'w').write('pwned')",)


def _cifar10_folder(tmp_path, batch_1):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rows = _rng(6).integers(0, 256, (2, 3072), dtype=np.uint8)
    for i in range(2, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": rows, b"labels": [0, 1]}, f, protocol=2)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump(batch_1, f, protocol=2)
    return folder


@pytest.mark.parametrize("where", ["top", "labels", "meta"])
def test_cifar_pickle_payload_is_refused_and_never_runs(tmp_path, where):
    target = tmp_path / "pwned.txt"
    payload = _WritesAFile(target)
    rows = _rng(7).integers(0, 256, (2, 3072), dtype=np.uint8)
    batch = {"top": payload, "labels": {b"data": rows, b"labels": [0, payload]},
             "meta": {b"data": rows, b"labels": [0, 1]}}[where]
    folder = _cifar10_folder(tmp_path, batch)
    if where == "meta":
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [payload]}, f, protocol=2)
    # The payload is live: a plain pickle.load of it does write the file.
    control = tmp_path / "control.txt"
    pickle.loads(pickle.dumps(_WritesAFile(control), protocol=2))
    assert control.exists()
    with pytest.raises(ValueError, match=r"Refusing to load .*(__builtin__|builtins)\.exec"):
        load_cifar(tmp_path)
    assert not target.exists()


def test_cifar_refuses_other_globals_and_persistent_ids(tmp_path):
    import collections
    import io

    folder = _cifar10_folder(tmp_path, collections.OrderedDict(data=1))
    with pytest.raises(ValueError, match=r"collections\.OrderedDict"):
        load_cifar(folder)

    class _Persist(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if isinstance(obj, str) and obj == "ref" else None

    buf = io.BytesIO()
    _Persist(buf, protocol=2).dump({b"data": "ref"})
    (folder / "data_batch_1").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="persistent id"):
        load_cifar(folder)


def test_cifar_numpy1_era_pickle_still_loads(tmp_path):
    # The official files were written by numpy 1 under Python 2: globals are
    # numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype.
    rows = _rng(8).integers(0, 256, (2, 3072), dtype=np.uint8)
    folder = _cifar10_folder(tmp_path, {b"data": rows, b"labels": [3, 4]})
    raw = (folder / "data_batch_1").read_bytes()
    (folder / "data_batch_1").write_bytes(raw.replace(b"numpy._core.multiarray",
                                                      b"numpy.core.multiarray"))
    d = load_cifar(folder)
    np.testing.assert_array_equal(d.target[:2], [3, 4])
    assert d.images[0, 0, 0, 0] == rows[0, 0] and d.images[0, 0, 0, 2] == rows[0, 2048]
