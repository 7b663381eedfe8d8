"""A small colour patch dataset cut from scikit-image's bundled photographs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_color_patches", "COLOR_PHOTOS"]

#: Colour photos bundled with scikit-image (no download needed).
COLOR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                "immunohistochemistry", "retina")


def _photo(name: str) -> np.ndarray:
    import skimage.data

    if name not in COLOR_PHOTOS:
        raise ValueError(f"Unknown photo {name!r}; expected one of {COLOR_PHOTOS}.")
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def make_color_patches(n_per_class: int = 100, patch_size: int = 32, *,
                       photos: Sequence[str] | None = None, scale: float = 0.5,
                       random_state=0) -> Bunch:
    """Random square patches of colour photos, one class per photo.

    For the one-vs-all protocol on colour images without a download (the
    ablations of puzzle-tint-color-multicue.txt Table VII): each class is
    one photo of ``skimage.data``, downscaled by ``scale``, and its samples
    are ``patch_size`` crops at random positions.

    Parameters
    ----------
    n_per_class : int, default=100
    patch_size : int, default=32
    photos : sequence of str or None, default=None
        Names from ``COLOR_PHOTOS``; None takes them all.
    scale : float, default=0.5
        Downscaling of each photo before cropping (more content per patch).
    random_state : int, RandomState or None, default=0

    Returns
    -------
    data : Bunch
        ``images`` uint8 ``(n, patch_size, patch_size, 3)``, ``target`` int
        ``(n,)``, ``target_names`` (the photos).
    """
    from skimage.transform import rescale

    photos = tuple(COLOR_PHOTOS if photos is None else photos)
    if n_per_class < 1 or patch_size < 2 or not photos:
        raise ValueError("Expected n_per_class >= 1, patch_size >= 2 and at least one photo; "
                         f"got {n_per_class}, {patch_size}, {photos}.")
    rng = check_random_state(random_state)
    images, target = [], []
    for label, name in enumerate(photos):
        img = _photo(name)
        if scale != 1:
            img = (rescale(img, scale, channel_axis=-1, anti_aliasing=True) * 255).round()
            img = img.astype(np.uint8)
        h, w = img.shape[:2]
        if min(h, w) < patch_size:
            raise ValueError(f"patch_size={patch_size} exceeds photo {name!r} of {h}x{w} "
                             f"pixels after scale={scale}.")
        top = rng.randint(0, h - patch_size + 1, n_per_class)
        left = rng.randint(0, w - patch_size + 1, n_per_class)
        rows = top[:, None] + np.arange(patch_size)
        cols = left[:, None] + np.arange(patch_size)
        images.append(img[rows[:, :, None], cols[:, None, :]])
        target.append(np.full(n_per_class, label, dtype=np.int64))
    return Bunch(images=np.concatenate(images), target=np.concatenate(target),
                 target_names=np.array(photos), DESCR="patches of skimage.data colour photos")
