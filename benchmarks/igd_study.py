"""IGDDetector studies (igd-interpolated-gaussian-descriptor.txt §4): one-vs-all, Table 5, maps.

Usage (2-core CPU, from the repository root)::

    OMP_NUM_THREADS=1 python -m benchmarks.igd_study --part digits
    OMP_NUM_THREADS=1 python -m benchmarks.igd_study --part mnist --max-test 2000
    OMP_NUM_THREADS=1 python -m benchmarks.igd_study --part ablation            # digits
    OMP_NUM_THREADS=1 python -m benchmarks.igd_study --part texture
    OMP_NUM_THREADS=1 python -m benchmarks.igd_study --part cifar10 --classes 0 1 5 \
        --max-train 1000 --max-test 1400

``digits`` / ``mnist``: one-vs-all with the ``quick`` profile (digits: the
stratified 50/50 split of scikit-learn's digits used by the harness; MNIST:
the official train/t10k IDX files, training images capped by the profile's
``max_train``, a stratified ``--max-test`` subsample of t10k).
``cifar10``: one-vs-all on ``../shared/data/cifar10-dev`` (real CIFAR-10
photographs, seven classes; its ``train/`` folders train, its ``test/``
folders are scored; nothing was tuned on it).
``ablation``: Table 5 without knowledge distillation (no pre-trained
teacher is available offline): MS-SSIM auto-encoder alone, + soft-boundary
Deep SVDD, + Gaussian SVDD, + ACAI interpolation (the full model), on
digits (``--dataset mnist`` for a MNIST run). ``texture``: pixel-level AUROC
of ``anomaly_map`` (Eq. 12) on :func:`skssad.datasets.make_texture_defects`, one model per
texture of ``skimage.data`` (brick, grass, gravel) trained on defect-free
crops, in patch mode (``input_size=None``) with the quick profile's networks.

Each part writes, through ``benchmarks/_report.py``,
``benchmarks/results/igd_<part>.md`` and a CSV of its rows with the
configuration (JSON) and the provenance on every row (``igd_ablation_mnist``
for ``--part ablation --dataset mnist``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from benchmarks import _report as report
from benchmarks.one_vs_all import parse_set
from skssad.benchmark import one_vs_all
from skssad.datasets import (
    DEFECT_KINDS,
    TEXTURES,
    load_digits_images,
    load_image_folder,
    load_mnist,
    make_texture_defects,
)
from skssad.metrics import aupro
from skssad.profiles import make_detector, profile_settings
from skssad.tasks import PatchTiler

RESULTS = report.RESULTS

#: Table 5 (§4.5) without KD: (label, detector overrides).
ABLATION = [
    ("MS-SSIM", dict(descriptor=None, interpolation=False)),
    ("MS-SSIM + DSVDD", dict(descriptor="dsvdd", interpolation=False)),
    ("MS-SSIM + GSVDD", dict(descriptor="gsvdd", interpolation=False)),
    ("MS-SSIM + GSVDD + INTER (full)", dict(descriptor="gsvdd", interpolation=True)),
]
#: Patch mode for the textures: the quick profile's networks on 32x32 patches
#: (the paper's local model input, §4.2) cut from 64x64 crops, maps from patches
#: every 4 pixels (closer to Eq. 12's patch at every pixel), and the paper's
#: MVTec AD weight of the global MS-SSIM, beta = 0.1 (§4.2).
TEXTURE_OVERRIDES = dict(input_size=None, patch_size=32, patch_stride=16, map_stride=4,
                         beta=0.1)
#: Learning-free map baselines: window of the local standard deviation, side and
#: strides of the raw patches matched to their nearest training patch.
STD_WINDOW, NN_PATCH, NN_STRIDE_TEST, NN_STRIDE_TRAIN = 7, 16, 4, 8


# --------------------------------------------------------------------------- data
def _digits_split(seed: int):
    d = load_digits_images()
    Xtr, Xte, ytr, yte = train_test_split(d.images, d.target, test_size=0.5,
                                          stratify=d.target, random_state=seed)
    return Xtr, ytr, Xte, yte


# --------------------------------------------------------------------------- report
def _config(det) -> str:
    """Every parameter of ``det`` as JSON (the CSV's ``config`` column)."""
    return json.dumps(report.config(det), sort_keys=True) if det is not None else "none"


def _report(title: str, argv, seed, notes) -> report.Report:
    return report.Report(title, prog="benchmarks.igd_study", argv=argv, seed=seed,
                         profile="quick", notes=notes)


def _write(part: str, rep: report.Report, tag: str = "") -> None:
    md, *_ = rep.write(RESULTS / f"igd_{part}{'_' + tag if tag else ''}")
    print(md.read_text(), flush=True)


def _one_vs_all_text(df: pd.DataFrame, wall: float) -> str:
    return (f"**Mean AUROC {df.auroc.mean():.4f}** (min {df.auroc.min():.4f}), mean EER "
            f"{df.eer.mean():.4f}; wall time {wall:.0f} s (fit {df.fit_seconds.sum():.0f} s, "
            f"score {df.score_seconds.sum():.0f} s)")


# --------------------------------------------------------------------------- parts
def _data(dataset: str, seed: int):
    if dataset == "cifar10":
        folder = report.data_dir("cifar10-dev")
        tr = load_image_folder(folder, "train")
        te = load_image_folder(folder, "test")
        return (tr.images, tr.target, te.images, te.target,
                f"cifar10-dev image folders in {folder} (real CIFAR-10 photographs, seven "
                f"classes {list(tr.target_names)}): {len(tr.target)} train / "
                f"{len(te.target)} test")
    if dataset == "digits":
        Xtr, ytr, Xte, yte = _digits_split(seed)
        return Xtr, ytr, Xte, yte, ("scikit-learn digits (8x8, upsampled to the model input), "
                                    f"stratified 50/50 split (seed {seed}): {len(ytr)} train, "
                                    f"{len(yte)} test images")
    mnist = report.data_dir("mnist")
    tr, te = load_mnist(mnist, "train"), load_mnist(mnist, "t10k")
    return (tr.images, tr.target, te.images, te.target,
            f"MNIST IDX files in {mnist}: {len(tr.target)} train / {len(te.target)} t10k")


def run_one_vs_all(args, argv) -> None:
    Xtr, ytr, Xte, yte, desc = _data(args.part, args.seed)
    _, harness = profile_settings("igd", "quick")
    max_train = args.max_train if args.max_train is not None else harness.get("max_train")
    max_test = args.max_test if args.part != "digits" else None
    det = make_detector("igd", "quick", random_state=args.seed, ensemble=1, **args.overrides)
    t0 = time.perf_counter()
    df = one_vs_all(det, Xtr, ytr, Xte, yte, classes=args.classes, max_train=max_train,
                    max_test=max_test, random_state=args.seed, verbose=1)
    wall = time.perf_counter() - t0
    rep = _report(f"IGD one-vs-all on {args.part}, quick profile", argv, args.seed, [
        f"Data: {desc}; training images per normal class capped at max_train={max_train}; "
        f"test images scored: {int(df.n_test.iloc[0])}"
        + (f" (class-stratified subsample, --max-test {max_test})" if max_test else ""),
        f"Detector: `{report.describe(det)}`"])
    rep.text(_one_vs_all_text(df, wall))
    cols = ["normal_class", "auroc", "eer", "apcer_at_5_bpcer", "fit_seconds",
            "score_seconds", "n_train", "n_test"]
    rep.table("Per class", df.assign(detector="igd", max_train=max_train,
                                     config=_config(det)), markdown=False)
    rep.table("AUROC per normal class", df[cols], csv=False)
    _write(args.part, rep, args.tag)


def run_ablation(args, argv) -> None:
    Xtr, ytr, Xte, yte, desc = _data(args.dataset, args.seed)
    _, harness = profile_settings("igd", "quick")
    max_train = args.max_train if args.max_train is not None else harness.get("max_train")
    max_test = args.max_test if args.dataset != "digits" else None
    rows, frames = [], []
    t_all = time.perf_counter()
    seeds = args.seeds or [args.seed]
    for label, kw in ABLATION:
        det = make_detector("igd", "quick", ensemble=1, **{**args.overrides, **kw})
        t0 = time.perf_counter()
        df = one_vs_all(det, Xtr, ytr, Xte, yte, classes=args.classes, max_train=max_train,
                        max_test=max_test, random_state=args.seed, seeds=seeds, verbose=1)
        wall = time.perf_counter() - t0
        per_seed = df.groupby("seed").auroc.mean()
        rows.append({"variant": label, "mean_auroc": per_seed.mean(),
                     "std_over_seeds": per_seed.std(ddof=1) if len(seeds) > 1 else float("nan"),
                     "min_class_auroc": df.groupby("normal_class").auroc.mean().min(),
                     "seeds": " ".join(map(str, seeds)), "wall_s": f"{wall:.0f}",
                     "overrides": ", ".join(f"{k}={v!r}" for k, v in kw.items())})
        frames.append(df.assign(variant=label, overrides=json.dumps(kw, sort_keys=True),
                                detector="igd", max_train=max_train, config=_config(det)))
        print(rows[-1], flush=True)
    df = pd.concat(frames, ignore_index=True)
    per = df.pivot_table(index="normal_class", columns="variant", values="auroc")
    per = per[[label for label, _ in ABLATION]].reset_index()
    wall = time.perf_counter() - t_all
    base = make_detector("igd", "quick", random_state=args.seed, ensemble=1, **args.overrides)
    rep = _report(f"IGD ablation (Table 5, without KD) on {args.dataset}, quick profile",
                  argv, seeds, [
        f"Data: {desc}; max_train={max_train}"
        + (f", --max-test {max_test} (class-stratified)" if max_test else ""),
        "Base detector: "
        f"`{report.describe(base)}`",
        "KD (Eq. 10) is left out: it needs an ImageNet-pre-trained teacher, and nothing is "
        "downloaded."])
    rep.table("Per class and variant", df, markdown=False)
    rep.table("Mean AUROC over the one-vs-all classes", pd.DataFrame(rows), csv=False)
    rep.table("AUROC per normal class", per, csv=False)
    rep.text(f"Wall time: {wall:.0f} s")
    _write("ablation" if args.dataset == "digits" else f"ablation_{args.dataset}", rep,
           args.tag)


def _local_std_map(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Learning-free: |local standard deviation - its median over the training crops|."""
    from scipy.ndimage import uniform_filter

    def local_std(x):
        x = x.astype(np.float64) / 255.0
        size = (1, STD_WINDOW, STD_WINDOW)
        m, m2 = uniform_filter(x, size), uniform_filter(x * x, size)
        return np.sqrt(np.clip(m2 - m * m, 0, None))

    return np.abs(local_std(test) - np.median(local_std(train)))


def _nn_patch_map(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Learning-free: L2 distance of each raw test patch to its nearest training patch,
    merged per pixel (the mean over the patches covering it)."""
    def patches(x, stride):
        t = torch.from_numpy(x.astype(np.float32) / 255.0)[:, None]
        return PatchTiler(NN_PATCH, stride).tile(t).flatten(1)

    bank = patches(train, NN_STRIDE_TRAIN)
    query = patches(test, NN_STRIDE_TEST)
    dist = torch.cat([torch.cdist(q, bank).amin(1) for q in query.split(2048)])
    tiler = PatchTiler(NN_PATCH, NN_STRIDE_TEST)
    per_patch = dist.view(len(test), -1, 1, 1).expand(-1, -1, NN_PATCH, NN_PATCH)
    return tiler.merge(per_patch.contiguous(), test.shape[1:]).numpy()


def _map_row(texture: str, method: str, d, maps: np.ndarray, scores=None) -> dict:
    bad = d.target == -1
    per_image = np.array([roc_auc_score(d.masks[i].ravel(), maps[i].ravel())
                          for i in np.flatnonzero(bad)])
    row = {"texture": texture, "method": method,
           "pixel_auroc_mean_per_image": float(per_image.mean()),
           "aupro": aupro(d.masks, maps),
           "pixel_auroc_pooled": roc_auc_score(d.masks.ravel(), maps.ravel()),
           "image_auroc": (roc_auc_score(d.target == 1, scores) if scores is not None
                           else roc_auc_score(d.target == -1, maps.reshape(len(maps), -1)
                                              .max(1)))}
    kinds = d.kinds[bad]
    for kind in DEFECT_KINDS:
        sel = kinds == kind
        row[f"per_image_{kind}"] = float(per_image[sel].mean()) if sel.any() else float("nan")
    return row


def _texture_igd(args, texture, d, rows):
    # §4.2's augmentation: random horizontal flips (here: the flipped copies added)
    train = np.concatenate([d.train, d.train[:, :, ::-1]])
    extra = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    det = make_detector("igd", "quick", random_state=args.seed, ensemble=1,
                        **{**TEXTURE_OVERRIDES, **extra, **args.overrides})
    t0 = time.perf_counter()
    det.fit(train)
    fit_s = time.perf_counter() - t0
    maps = det.anomaly_map(d.test)
    health = det.training_health_["net"]
    row = _map_row(texture, "IGD (Eq. 12)", d, maps, det.score_samples(d.test))
    row.update(fit_seconds=round(fit_s, 1), rec_loss=round(health["reconstruction"], 4),
               rec_loss_flat_patch=round(health["reconstruction_flat"], 4))
    rows.append(row)
    print(row, flush=True)
    return det, maps


def run_texture(args, argv) -> None:
    rows = []
    t_all = time.perf_counter()
    det = None
    for texture in args.textures:
        d = make_texture_defects(texture, n_train=args.n_train, n_test=args.n_test,
                                 random_state=args.seed)
        if texture in (args.igd_textures or args.textures):
            det, maps = _texture_igd(args, texture, d, rows)
            if args.figure:
                _texture_figure(det, d, maps, texture)
        for method, fn in (("local std (learning-free)", _local_std_map),
                           ("raw-patch NN (learning-free)", _nn_patch_map)):
            rows.append(_map_row(texture, method, d, fn(d.train, d.test)))
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    wall = time.perf_counter() - t_all
    rep = _report("IGD pixel-level anomaly maps (Eq. 12) on synthetic texture defects, "
                  "beside learning-free maps", argv, args.seed, [
        f"Data: skssad.datasets.make_texture_defects(texture, n_train={args.n_train}, "
        f"n_test={args.n_test}, size=64, scale=0.5, defect_share=0.5, random_state={args.seed})"
        ": 64x64 crops of the skimage.data texture resized to 256x256; train crops from the "
        "whole top half (defect-free), test crops from the bottom half, half of them with "
        "one stain / scratch / swapped-texture square / smeared square of 6-20 px and its "
        "mask. IGD trains on the crops and their horizontal flips (§4.2's augmentation).",
        f"IGD (on {args.igd_textures or args.textures}): "
        + (f"`{report.describe(det)}`" if det is not None else "not fitted")
        + " (the quick profile's networks; input_size=None: 32x32 "
        "patches, stride 16 in training and scoring, 4 in the maps; a pixel averages the "
        "patches covering it; beta=0.1 as the paper's MVTec AD setting, §4.2)",
        f"local std: the absolute difference between the std over a {STD_WINDOW}x"
        f"{STD_WINDOW} window and its median over the training crops; raw-patch NN: L2 "
        f"distance of each raw {NN_PATCH}x{NN_PATCH} test "
        f"patch (stride {NN_STRIDE_TEST}) to its nearest training patch (stride "
        f"{NN_STRIDE_TRAIN}), averaged per pixel. Image AUROC of a baseline: its map's max.",
        "pixel_auroc_mean_per_image: mean over defective crops of each crop's pixel AUROC "
        "(the paper's Table 4 protocol); pixel_auroc_pooled: all pixels of all test crops; "
        "image_auroc: normal vs defective crops; per_image_<kind>: per-image pixel AUROC by "
        "defect kind; aupro: skssad.metrics.aupro (PRO curve up to FPR 0.3, all test crops); "
        "rec_loss: IGD's Eq. (8) loss on the training patches, beside "
        "rec_loss_flat_patch, that of reconstructing each patch by its mean grey."])
    configs = {"IGD (Eq. 12)": _config(det),
               "local std (learning-free)": json.dumps({"window": STD_WINDOW}),
               "raw-patch NN (learning-free)": json.dumps(
                   {"patch": NN_PATCH, "stride_test": NN_STRIDE_TEST,
                    "stride_train": NN_STRIDE_TRAIN})}
    rep.table("Maps per texture and method", df.assign(config=df.method.map(configs)),
              markdown=False)
    rep.table("Pixel AUROC and AUPRO per texture and method", df, csv=False)
    rep.text(f"Wall time: {wall:.0f} s")
    _write("texture", rep, args.tag)


def _texture_figure(det, d, maps, texture) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skssad import overlay_anomaly_map

    idx = np.flatnonzero(d.target == -1)[:4]
    fig, axes = plt.subplots(3, len(idx), figsize=(2 * len(idx), 6))
    lo, hi = np.percentile(maps, [1, 99.9])
    for col, i in enumerate(idx):
        axes[0, col].imshow(d.test[i], cmap="gray")
        axes[0, col].set_title(d.kinds[i], fontsize=8)
        axes[1, col].imshow(d.masks[i], cmap="gray")
        axes[2, col].imshow(overlay_anomaly_map(d.test[i], maps[i], vmin=lo, vmax=hi))
        for r in range(3):
            axes[r, col].set_axis_off()
    fig.tight_layout()
    fig.savefig(RESULTS / f"igd_texture_{texture}.png", dpi=80)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["digits", "mnist", "cifar10", "ablation", "texture"],
                   required=True)
    p.add_argument("--dataset", choices=["digits", "mnist", "cifar10"], default="digits",
                   help="ablation only")
    p.add_argument("--max-test", type=int, default=2000, help="MNIST test subsample")
    p.add_argument("--max-train", type=int, default=None,
                   help="override the quick profile's max_train")
    p.add_argument("--classes", type=int, nargs="*", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="ablation: seeds")
    p.add_argument("--textures", nargs="+", default=list(TEXTURES), choices=TEXTURES)
    p.add_argument("--n-train", type=int, default=200, help="texture training crops")
    p.add_argument("--n-test", type=int, default=100, help="texture test crops")
    p.add_argument("--figure", action="store_true", help="texture: save overlay figures")
    p.add_argument("--igd-textures", nargs="*", default=None, choices=[*TEXTURES, "none"],
                   help="texture: fit IGD on these only (others: learning-free rows only)")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="texture: override the quick profile's epochs (CPU budget)")
    p.add_argument("--set", nargs="+", default=None, metavar="KEY=VALUE",
                   help="IGDDetector overrides on top of the quick profile (Python literals)")
    p.add_argument("--tag", default="", help="suffix of the results file name")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    args.overrides = parse_set(args.set)
    report.use_omp_threads()
    {"digits": run_one_vs_all, "mnist": run_one_vs_all, "cifar10": run_one_vs_all,
     "ablation": run_ablation,
     "texture": run_texture}[args.part](args, argv)


if __name__ == "__main__":
    main()
