"""Texture crops with synthetic local defects and their masks, cut from ``skimage.data``."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_texture_defects", "TEXTURES", "DEFECT_KINDS"]

#: Grayscale textures bundled with scikit-image (512x512, no download needed).
TEXTURES = ("brick", "grass", "gravel")
#: The local defects pasted into test crops.
DEFECT_KINDS = ("stain", "scratch", "swap", "smear")


def _texture(name: str, scale: float) -> np.ndarray:
    from skimage import data
    from skimage.transform import rescale

    img = getattr(data, name)().astype(np.float64) / 255.0
    return rescale(img, scale, anti_aliasing=True) if scale != 1 else img


def make_texture_defects(texture: str = "brick", *, n_train: int = 200, n_test: int = 100,
                         size: int = 64, scale: float = 0.5, defect_share: float = 0.5,
                         random_state=0) -> Bunch:
    """Defect-free training crops and test crops with synthetic local defects and masks.

    A stand-in for MVTec AD's texture categories that needs no download:
    pixel-level localisation (e.g. :meth:`skssad.IGDDetector.anomaly_map`,
    igd-interpolated-gaussian-descriptor.txt Eq. 12) is scored against the
    returned masks. Crops of ``size x size`` pixels are cut at random from a
    ``skimage.data`` texture (``"brick"``, ``"grass"`` or ``"gravel"``;
    512x512 grayscale, resized by ``scale``): training crops from the top
    half, test crops from the bottom half, so no test pixel was seen in
    training. A share ``defect_share`` of the test crops receives one local
    defect of 6-20 pixels, of a random kind:

    - ``stain``: an ellipse blended towards a dark or bright grey;
    - ``scratch``: a straight line 2-3 pixels thick of a random grey;
    - ``swap``: a square replaced by the same-sized square of another texture;
    - ``smear``: a square blurred flat (its structure removed, its mean kept).

    Parameters
    ----------
    texture : {"brick", "grass", "gravel"}, default="brick"
    n_train, n_test : int, default=200, 100
        Numbers of training (defect-free) and test crops.
    size : int, default=64
        Side of the crops; must fit in half of the resized texture.
    scale : float, default=0.5
        Resizing of the 512x512 texture before cropping.
    defect_share : float in [0, 1], default=0.5
        Share of the test crops that get a defect.
    random_state : int, RandomState or None, default=0

    Returns
    -------
    data : Bunch
        ``train`` uint8 ``(n_train, size, size)``; ``test`` uint8
        ``(n_test, size, size)``; ``masks`` bool ``(n_test, size, size)``
        (True = defect pixel); ``target`` int ``(n_test,)``, 1 normal and
        -1 defective (the detectors' convention); ``kinds`` str ``(n_test,)``
        (``""`` for normal crops); ``texture``.

    Examples
    --------
    >>> from skssad.datasets import make_texture_defects
    >>> d = make_texture_defects("brick", n_train=4, n_test=6, random_state=0)
    >>> d.train.shape, d.test.shape, d.masks.shape, int((d.target == -1).sum())
    ((4, 64, 64), (6, 64, 64), (6, 64, 64), 3)
    """
    from skimage.draw import ellipse, line

    if texture not in TEXTURES:
        raise ValueError(f"texture must be one of {TEXTURES}, got {texture!r}.")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"Expected n_train >= 1 and n_test >= 1; got {n_train}, {n_test}.")
    if not 0 <= defect_share <= 1:
        raise ValueError(f"defect_share must be in [0, 1], got {defect_share}.")
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}.")
    if size < 24:
        raise ValueError(f"size must be >= 24 to hold a defect of up to 20 pixels, got {size}.")
    rng = check_random_state(random_state)
    img = _texture(texture, scale)
    half = img.shape[0] // 2
    if half < size:
        raise ValueError(f"size={size} does not fit in half of the {img.shape} texture "
                         f"(scale={scale}).")

    def crops(rows, n):
        r = rng.randint(rows[0], rows[1] - size + 1, n)
        c = rng.randint(0, img.shape[1] - size + 1, n)
        return np.stack([img[i:i + size, j:j + size] for i, j in zip(r, c, strict=True)])

    train = crops((0, half), n_train)
    test = crops((half, img.shape[0]), n_test)
    others = [_texture(t, scale) for t in TEXTURES if t != texture]
    masks = np.zeros(test.shape, dtype=bool)
    kinds = np.array([""] * n_test, dtype=object)
    n_bad = int(round(defect_share * n_test))
    for k in rng.choice(n_test, n_bad, replace=False):
        x, m = test[k], masks[k]
        kind = DEFECT_KINDS[rng.randint(4)]
        d = rng.randint(6, 21)
        r0, c0 = rng.randint(2, size - d - 1, 2)
        if kind == "stain":
            rr, cc = ellipse(r0 + d / 2, c0 + d / 2, d / 2, rng.uniform(0.4, 1) * d / 2,
                             shape=x.shape, rotation=rng.uniform(0, np.pi))
            grey = rng.choice([rng.uniform(0, 0.15), rng.uniform(0.85, 1)])
            x[rr, cc] = 0.2 * x[rr, cc] + 0.8 * grey
            m[rr, cc] = True
        elif kind == "scratch":
            angle = rng.uniform(0, np.pi)
            dr, dc = np.sin(angle) * (d + 4) / 2, np.cos(angle) * (d + 4) / 2
            rc, cc0 = r0 + d / 2, c0 + d / 2
            grey = rng.uniform(0, 1)
            for off in range(rng.randint(2, 4)):
                rr, cc = line(*(int(round(v)) for v in (rc - dr + off, cc0 - dc,
                                                       rc + dr + off, cc0 + dc)))
                ok = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
                x[rr[ok], cc[ok]] = grey
                m[rr[ok], cc[ok]] = True
        elif kind == "swap":
            src = others[rng.randint(len(others))]
            i, j = rng.randint(0, src.shape[0] - d, 2)
            x[r0:r0 + d, c0:c0 + d] = src[i:i + d, j:j + d]
            m[r0:r0 + d, c0:c0 + d] = True
        else:  # smear
            x[r0:r0 + d, c0:c0 + d] = x[r0:r0 + d, c0:c0 + d].mean()
            m[r0:r0 + d, c0:c0 + d] = True
        kinds[k] = kind

    def to_u8(a):
        return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)

    return Bunch(train=to_u8(train), test=to_u8(test), masks=masks,
                 target=np.where(masks.any((1, 2)), -1, 1), kinds=kinds.astype(str),
                 texture=texture)
