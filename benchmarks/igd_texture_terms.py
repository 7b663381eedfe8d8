"""Which term of IGD's anomaly map (Eq. 12) localises texture defects? A diagnostic.

Usage (2-core CPU, from the repository root)::

    OMP_NUM_THREADS=1 python -m benchmarks.igd_texture_terms --texture grass
    OMP_NUM_THREADS=1 python -m benchmarks.igd_texture_terms --texture grass \\
        --set patch_size=16 patch_stride=8 latent_dim=32

Fits one :class:`skssad.IGDDetector` (the quick profile's networks in patch
mode, ``beta=0.1`` as in ``benchmarks.igd_study --part texture``, plus any
``--set`` overrides) on the defect-free crops of
:func:`skssad.datasets.make_texture_defects`, then scores the test crops'
pixels with each part of the map, patches cut densely (``--stride``):

- ``anomaly_map``: the detector's own map (its ``map_stride``, by default the
  training patch stride);
- ``eq12_dense``: the same map with the dense stride (``map_stride=--stride``);
- ``lm_pixel``: the per-pixel reconstruction loss ℓ_m of Eq. (12) alone;
- ``lm_patch``: ℓ_m of Eq. (8) per patch, spread over the patch's pixels;
- ``lh_patch``: the descriptor (Gaussian SVDD) loss ℓ_h of Eq. (7) per patch;
- ``eq11_patch``: the image score of Eq. (11) per patch.

Each row gives the pooled pixel AUROC, the mean per-image pixel AUROC and
the per-image AUROC by defect kind. Prints a markdown table; nothing is
written.
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from benchmarks.igd_study import TEXTURE_OVERRIDES
from skssad.datasets import DEFECT_KINDS, TEXTURES, make_texture_defects
from skssad.profiles import make_detector

#: The texture study's settings, its map at the training stride (the dense one is a row).
BASE = {**TEXTURE_OVERRIDES, "map_stride": None}


def _spread(values: torch.Tensor, det, n: int, side: int, stride: int) -> np.ndarray:
    """Per-patch scalars ``(n*P,)`` or maps ``(n*P, p, p)`` -> mean over covering patches."""
    p = det.model_size_
    maps = values.view(-1, 1, 1).expand(-1, p, p) if values.ndim == 1 else values
    return det._merge_patches(maps.reshape(n, -1, p, p), (side, side), stride).numpy()


def _row(name: str, maps: np.ndarray, d) -> dict:
    bad = np.flatnonzero(d.target == -1)
    per = np.array([roc_auc_score(d.masks[i].ravel(), maps[i].ravel()) for i in bad])
    row = {"map": name, "pixel_auroc_pooled": roc_auc_score(d.masks.ravel(), maps.ravel()),
           "pixel_auroc_mean_per_image": per.mean()}
    for kind in DEFECT_KINDS:
        sel = d.kinds[bad] == kind
        row[kind] = per[sel].mean() if sel.any() else float("nan")
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--texture", choices=TEXTURES, default="grass")
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--stride", type=int, default=4, help="dense patch stride at inference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="detector overrides, values as Python literals")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    overrides = {**BASE, **{k: ast.literal_eval(v) for k, v in
                            (kv.split("=", 1) for kv in args.set)}}
    d = make_texture_defects(args.texture, n_train=args.n_train, n_test=args.n_test,
                             random_state=args.seed)
    det = make_detector("igd", "quick", random_state=args.seed, **overrides)
    t0 = time.perf_counter()
    det.fit(d.train)
    fit_s = time.perf_counter() - t0
    rows = [_row("anomaly_map", det.anomaly_map(d.test), d)]
    X = det._as_tensor(d.test, reset=False)
    det._eval_mode()
    with torch.no_grad():
        patches = det._patches(X, args.stride)  # denser patches at inference only
        _, x_rec, xi, l_h = det._anomaly(patches)
        obj = det.net_.criterion_
        lm_pixel = obj.reconstruction_map(patches, x_rec)
        lm_patch = obj.reconstruction(patches, x_rec)
    n, side = len(X), X.shape[-1]
    for name, values in [("eq12_dense", xi * lm_pixel + (1 - xi) * l_h.view(-1, 1, 1)),
                         ("lm_pixel", lm_pixel), ("lm_patch", lm_patch), ("lh_patch", l_h),
                         ("eq11_patch", xi * lm_patch + (1 - xi) * l_h)]:
        rows.append(_row(name, _spread(values, det, n, side, args.stride), d))
    print(f"texture={args.texture} n_train={args.n_train} n_test={args.n_test} "
          f"dense stride={args.stride} fit {fit_s:.0f} s; detector {det!r}".replace("\n", " "))
    print(pd.DataFrame(rows).round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
