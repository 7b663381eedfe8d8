"""Datasets that ship with the project's dependencies."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_digits_images"]


def load_digits_images() -> Bunch:
    """The real 8x8 handwritten digits of scikit-learn as uint8 images.

    Returns
    -------
    data : Bunch
        ``images`` uint8 ``(1797, 8, 8)`` scaled from 0..16 to 0..255,
        ``target`` int ``(1797,)`` digit classes, ``target_names``.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return Bunch(images=images, target=d.target.astype(np.int64),
                 target_names=np.arange(10), DESCR="sklearn digits as uint8 images")
