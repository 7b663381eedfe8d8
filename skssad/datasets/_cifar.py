"""CIFAR-10 and CIFAR-100 in their official "python version" pickles.

The one-vs-all benchmarks of anomem-contrasted-memory.txt §4.1 and
puzzle-tint-color-multicue.txt use CIFAR-10's 10 classes and CIFAR-100's
20 coarse super-classes (the 100 fine classes are too few images each).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_cifar"]

_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


#: The only globals a CIFAR pickle may name: numpy's array and dtype
#: reconstruction (numpy 1 and numpy 2 module paths, protocol 2 and 5 forms) and
#: ``_codecs.encode``, which is how a protocol-2 pickle written by Python 3
#: spells a ``bytes`` object. dict, list, bytes, str and int need no global.
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class _UnsafePickle(pickle.UnpicklingError):
    """A global outside :data:`_ALLOWED_GLOBALS` was asked for."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals the official CIFAR files use.

    A plain ``pickle.load`` calls whatever callable the file names (a
    ``__reduce__`` payload runs as the file is read); here every other
    global is refused before anything is called.
    """

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _UnsafePickle(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _UnsafePickle(f"persistent id {pid!r}")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"Missing CIFAR file {path}.")
    try:
        with open(path, "rb") as f:
            # The official files are Python 2 pickles: keys and names are bytes.
            obj = _CifarUnpickler(f, encoding="bytes").load()
    except _UnsafePickle as exc:
        raise ValueError(
            f"Refusing to load {path}: it asks the unpickler for {exc}, which is not in a "
            "CIFAR file (those hold only dicts, lists, bytes, str, int and numpy arrays). "
            "The file is not an official CIFAR batch and could run code when unpickled."
        ) from None
    except Exception as exc:  # any other unpickling failure means a corrupt file
        raise ValueError(f"Cannot read CIFAR file {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a CIFAR pickle (expected a dict, got "
                         f"{type(obj).__name__}).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(d: dict, key: str, path: Path):
    if key not in d:
        raise ValueError(f"{path} is not a CIFAR pickle: no {key!r} entry "
                         f"(has {sorted(map(str, d))}).")
    return d[key]


def _images(d: dict, path: Path) -> np.ndarray:
    data = np.asarray(_field(d, "data", path))
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path} is corrupt: data has shape {data.shape}, expected "
                         f"(n, 3072).")
    # Rows are the red, green and blue 32x32 planes one after the other.
    return data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _names(values) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])


def _resolve(path: Path, variant: str | None) -> tuple[Path, str]:
    if not path.is_dir():
        raise ValueError(f"CIFAR folder {path} does not exist.")
    if (path / "data_batch_1").exists() or (path / "batches.meta").exists():
        found = "cifar10"
    elif (path / "train").exists() or (path / "meta").exists():
        found = "cifar100"
    else:
        subs = [v for v, name in _FOLDERS.items() if (path / name).is_dir()
                and (variant is None or v == variant)]
        if len(subs) != 1:
            raise ValueError(
                f"{path} holds no CIFAR files: expected data_batch_1..5/test_batch "
                f"(CIFAR-10), train/test/meta (CIFAR-100), or one of the folders "
                f"{sorted(_FOLDERS.values())}" + (" (both found: pass variant=)"
                                                  if len(subs) > 1 else "") + ".")
        return _resolve(path / _FOLDERS[subs[0]], variant)
    if variant is not None and variant != found:
        raise ValueError(f"{path} holds {found} files, but variant={variant!r} was asked.")
    return path, found


def load_cifar(path: str | os.PathLike, kind: str = "train", *, variant: str | None = None,
               label_mode: str = "coarse") -> Bunch:
    """Load CIFAR-10 or CIFAR-100 from the official python pickles.

    The files are read with a restricted unpickler that admits only what
    the official files contain (dicts, lists, bytes, str, int and numpy
    arrays); a file that names any other Python object is refused with a
    ``ValueError`` before anything in it runs.

    Parameters
    ----------
    path : str or path-like
        The extracted ``cifar-10-batches-py`` or ``cifar-100-python`` folder,
        or a folder that contains one of them.
    kind : {"train", "test"}, default="train"
        CIFAR-10's ``data_batch_1..5`` or ``test_batch``; CIFAR-100's
        ``train`` or ``test``.
    variant : {"cifar10", "cifar100"} or None, default=None
        Which dataset to expect; None detects it from the files.
    label_mode : {"coarse", "fine"}, default="coarse"
        CIFAR-100 only: the 20 super-classes (as the papers'
        one-vs-all protocol) or the 100 fine classes.

    Returns
    -------
    data : Bunch
        ``images`` uint8 ``(n, 32, 32, 3)``, ``target`` int64 ``(n,)``,
        ``target_names``; for CIFAR-100 also ``fine_target`` and
        ``coarse_target``.

    Raises
    ------
    ValueError
        Naming the file, when one is missing, corrupt, or not a plain CIFAR
        pickle (it references Python objects beyond numpy arrays).
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}.")
    if variant not in (None, "cifar10", "cifar100"):
        raise ValueError(f"variant must be 'cifar10', 'cifar100' or None, got {variant!r}.")
    if label_mode not in ("coarse", "fine"):
        raise ValueError(f"label_mode must be 'coarse' or 'fine', got {label_mode!r}.")
    folder, found = _resolve(Path(path), variant)
    if found == "cifar10":
        files = ([folder / f"data_batch_{i}" for i in range(1, 6)] if kind == "train"
                 else [folder / "test_batch"])
        images, labels = [], []
        for f in files:
            d = _unpickle(f)
            images.append(_images(d, f))
            labels.append(np.asarray(_field(d, "labels", f), dtype=np.int64))
            if len(labels[-1]) != len(images[-1]):
                raise ValueError(f"{f} is corrupt: {len(images[-1])} images but "
                                 f"{len(labels[-1])} labels.")
        meta_file = folder / "batches.meta"
        names = (_names(_field(_unpickle(meta_file), "label_names", meta_file))
                 if meta_file.exists() else np.arange(10).astype(str))
        return Bunch(images=np.concatenate(images), target=np.concatenate(labels),
                     target_names=names, DESCR=f"CIFAR-10 ({kind}) from {folder}")
    f = folder / kind
    d = _unpickle(f)
    images = _images(d, f)
    fine = np.asarray(_field(d, "fine_labels", f), dtype=np.int64)
    coarse = np.asarray(_field(d, "coarse_labels", f), dtype=np.int64)
    if not len(fine) == len(coarse) == len(images):
        raise ValueError(f"{f} is corrupt: {len(images)} images but {len(fine)} fine and "
                         f"{len(coarse)} coarse labels.")
    meta_file = folder / "meta"
    key = f"{label_mode}_label_names"
    n_classes = 20 if label_mode == "coarse" else 100
    names = (_names(_field(_unpickle(meta_file), key, meta_file)) if meta_file.exists()
             else np.arange(n_classes).astype(str))
    return Bunch(images=images, target=coarse if label_mode == "coarse" else fine,
                 fine_target=fine, coarse_target=coarse, target_names=names,
                 DESCR=f"CIFAR-100 ({kind}, {label_mode} labels) from {folder}")
