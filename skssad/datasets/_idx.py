"""MNIST and Fashion-MNIST in their official IDX format (gzipped or not)."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["read_idx", "load_mnist"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into an array, validating its header.

    Parameters
    ----------
    path : str or path-like
        An IDX file; gzip-compressed when its name ends in ``.gz``.

    Returns
    -------
    array : ndarray
        The file's shape and element type (uint8, int8, int16, int32,
        float32 or float64), in native byte order.

    Raises
    ------
    ValueError
        Naming the file, when it cannot be read, its magic number is wrong or
        its size does not match the shape its header announces.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"Cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: header needs {header} bytes.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    # Python ints: np.prod of four 32-bit dims wraps around int64 and can even match.
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path} is corrupt: header announces shape {shape} "
                         f"({expected} bytes) but the file has {len(raw)} bytes.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise ValueError(f"Missing IDX file {directory / stem}[.gz].")


def load_mnist(path: str | os.PathLike, kind: str = "train") -> Bunch:
    """Load MNIST or Fashion-MNIST from a folder of official IDX files.

    Parameters
    ----------
    path : str or path-like
        Folder with ``{kind}-images-idx3-ubyte[.gz]`` and
        ``{kind}-labels-idx1-ubyte[.gz]``.
    kind : {"train", "t10k"}, default="train"

    Returns
    -------
    data : Bunch
        ``images`` ``(n, 28, 28)`` in the file's element type: uint8 for the
        official files; float IDX pixels (type 0x0D/0x0E) stay float, as a
        cast to uint8 would turn values in [0, 1) into 0. ``target`` int64
        ``(n,)``.
    """
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}.")
    directory = Path(path)
    if not directory.is_dir():
        raise ValueError(f"MNIST folder {directory} does not exist.")
    img_file = _find(directory, f"{kind}-images-idx3-ubyte")
    lbl_file = _find(directory, f"{kind}-labels-idx1-ubyte")
    images, labels = read_idx(img_file), read_idx(lbl_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{img_file} and {lbl_file} do not match: images {images.shape}, "
                         f"labels {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.isfinite(labels)
                                                                  & (labels == np.round(labels))):
        raise ValueError(f"{lbl_file} holds non-integer labels; expected class indices.")
    return Bunch(images=images, target=labels.astype(np.int64),
                 target_names=np.arange(10), DESCR=f"IDX data from {directory} ({kind})")
