"""Image trees on disk: one folder per class, and the MVTec AD layout.

``load_image_folder`` reads ``root/{train,test}/<class>/*.png`` (any format
imageio reads); ``load_mvtec`` reads MVTec AD's
``root/<category>/{train/good, test/<defect>, ground_truth/<defect>}``
with the defect masks as arrays, for the pixel-level evaluation of
igd-interpolated-gaussian-descriptor.txt.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_image_folder", "load_mvtec", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _read(path: Path, size: int | tuple[int, int] | None) -> np.ndarray:
    import imageio.v3 as iio

    try:
        img = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for broken files
        raise ValueError(f"Cannot read image file {path}: {exc}") from exc
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]  # drop alpha
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (1, 3)):
        raise ValueError(f"{path} is not a grayscale or RGB image (array shape {img.shape}).")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        # 16-bit and float images: rescale to 0..255 by their type's range.
        hi = np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
        img = np.clip(img.astype(np.float64) / hi * 255.0, 0, 255).round().astype(np.uint8)
    if size is not None:
        from skimage.transform import resize

        shape = (size, size) if np.isscalar(size) else tuple(size)
        if img.shape[:2] != shape:
            img = resize(img, shape, order=1, preserve_range=True,
                         anti_aliasing=True).round().astype(np.uint8)
    return img


def _stack(images: list[np.ndarray], files: list[Path]) -> np.ndarray:
    if not images:
        return np.empty((0, 0, 0), dtype=np.uint8)
    sizes = {im.shape[:2] for im in images}
    if len(sizes) > 1:
        first = images[0].shape[:2]
        odd = next(f for f, im in zip(files, images, strict=True) if im.shape[:2] != first)
        raise ValueError(f"Images have different sizes ({files[0]} is {first}, {odd} is "
                         f"not); pass size= to resize them.")
    if any(im.ndim == 3 for im in images):  # mixed: grayscale images become RGB
        images = [im if im.ndim == 3 else np.repeat(im[..., None], 3, -1) for im in images]
    return np.stack(images)


def load_image_folder(path: str | os.PathLike, kind: str | None = "train", *,
                      size: int | tuple[int, int] | None = None) -> Bunch:
    """Load a class-per-folder image tree.

    Parameters
    ----------
    path : str or path-like
        Root folder holding ``train/`` and ``test/`` sub-trees, each with one
        folder of images per class (``root/train/cat/001.png``).
    kind : str or None, default="train"
        Sub-tree to read; None reads ``root/<class>/`` directly.
    size : int, (height, width) or None, default=None
        Resize every image to this size; None requires equal sizes.

    Returns
    -------
    data : Bunch
        ``images`` uint8 ``(n, H, W)`` or ``(n, H, W, 3)``, ``target`` int64
        (index into ``target_names``, the sorted folder names), ``filenames``.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"Image folder {root} does not exist.")
    base = root if kind is None else root / kind
    if not base.is_dir():
        raise ValueError(f"Missing sub-tree {base}: expected {root}/<kind>/<class>/images.")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{base} holds no class folders.")
    images, files, target = [], [], []
    for i, name in enumerate(classes):
        for f in _image_files(base / name):
            images.append(_read(f, size))
            files.append(f)
            target.append(i)
    if not images:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under {base}.")
    return Bunch(images=_stack(images, files), target=np.asarray(target, dtype=np.int64),
                 target_names=np.array(classes), filenames=np.array([str(f) for f in files]),
                 DESCR=f"image folder {base}")


def load_mvtec(path: str | os.PathLike, category: str, kind: str = "train", *,
               size: int | tuple[int, int] | None = None) -> Bunch:
    """Load one category of the MVTec AD layout, with defect masks.

    Parameters
    ----------
    path : str or path-like
        The MVTec AD root (holding ``<category>/``) or the category folder.
    category : str
        E.g. ``"bottle"``, ``"carpet"``.
    kind : {"train", "test"}, default="train"
        ``train`` has only ``good`` images; ``test`` has ``good`` and one
        folder per defect type, whose masks are in
        ``ground_truth/<defect>/<name>_mask.png``.
    size : int, (height, width) or None, default=None
        Resize images (bilinear) and masks (nearest) to this size.

    Returns
    -------
    data : Bunch
        ``images`` uint8 ``(n, H, W[, 3])``; ``target`` int64, 0 = good and
        ``i`` = ``target_names[i]`` defect type; ``is_normal`` (+1 good, -1
        defective, the detectors' convention); ``masks`` bool ``(n, H, W)``
        (all False for good images); ``filenames``.
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}.")
    root = Path(path)
    folder = root if root.name == category and (root / "train").is_dir() else root / category
    if not folder.is_dir():
        raise ValueError(f"MVTec category folder {folder} does not exist.")
    base = folder / kind
    if not (base / "good").is_dir():
        raise ValueError(f"Missing folder {base / 'good'} (MVTec AD layout expected).")
    defects = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name != "good")
    names = ["good", *defects]
    images, masks, files, target = [], [], [], []
    for i, name in enumerate(names):
        for f in _image_files(base / name):
            img = _read(f, size)
            images.append(img)
            files.append(f)
            target.append(i)
            if name == "good":
                masks.append(np.zeros(img.shape[:2], dtype=bool))
                continue
            mask_file = folder / "ground_truth" / name / f"{f.stem}_mask.png"
            if not mask_file.is_file():
                raise ValueError(f"Missing mask {mask_file} for defective image {f}.")
            mask = _read(mask_file, None)
            if mask.ndim == 3:
                mask = mask.max(-1)
            if size is not None and mask.shape != img.shape[:2]:
                from skimage.transform import resize

                mask = resize(mask, img.shape[:2], order=0, preserve_range=True,
                              anti_aliasing=False)
            if mask.shape != img.shape[:2]:
                raise ValueError(f"Mask {mask_file} has shape {mask.shape}, its image {f} "
                                 f"has {img.shape[:2]}.")
            masks.append(mask > 0)
    if not images:
        raise ValueError(f"No images under {base}.")
    target = np.asarray(target, dtype=np.int64)
    return Bunch(images=_stack(images, files), target=target,
                 is_normal=np.where(target == 0, 1, -1), masks=np.stack(masks),
                 target_names=np.array(names), filenames=np.array([str(f) for f in files]),
                 DESCR=f"MVTec AD {category} ({kind}) from {folder}")
