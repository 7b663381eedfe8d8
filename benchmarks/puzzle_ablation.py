"""Benchmarks of PuzzleTintColorDetector (puzzle-tint-color-multicue.txt §VI).

Usage (from the repository root; every run writes
``benchmarks/results/puzzle_tint_color_<what>.md``)::

    OMP_NUM_THREADS=1 python benchmarks/puzzle_ablation.py digits
    OMP_NUM_THREADS=1 python benchmarks/puzzle_ablation.py mnist --max-test 2000
    OMP_NUM_THREADS=1 python benchmarks/puzzle_ablation.py ablation
    OMP_NUM_THREADS=1 python benchmarks/puzzle_ablation.py cost

``digits`` / ``mnist``: one-vs-all with the ``quick`` profile (digits: a
stratified 50/50 split of scikit-learn's digits; MNIST: the official
train/t10k files, training images capped by the profile's ``max_train``,
a stratified ``--max-test`` subsample of t10k). ``ablation``: Table VII
(partial puzzle -> piece-wise -> +colorization -> +tint -> +attention) and
Table V (softmax truth vs Mahalanobis) one-vs-all on colour patches cut from
``skimage.data`` photos. ``cost``: inference time per image versus ``k``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from sklearn.model_selection import train_test_split

from skssad import PuzzleTintColorDetector
from skssad.benchmark import one_vs_all
from skssad.datasets import load_digits_images, load_mnist, make_color_patches
from skssad.profiles import profile_settings

RESULTS = Path(__file__).resolve().parent / "results"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MACHINE = (f"{os.cpu_count()}-core CPU ({platform.machine()}), shared with parallel jobs, "
           f"torch threads={torch.get_num_threads()}, OMP_NUM_THREADS="
           f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")


def _header(title: str, args) -> list[str]:
    return [f"# {title}", "", f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
            f"python benchmarks/puzzle_ablation.py {' '.join(sys.argv[1:])}`", "",
            f"Machine: {MACHINE}", f"Seed: random_state={args.seed}", ""]


def _table(rows: list[dict], cols: list[str]) -> list[str]:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])
                                     for c in cols) + " |")
    return out


def _one_vs_all_report(name, title, det, harness, Xtr, ytr, Xte, yte, args, extra=()):
    t0 = time.perf_counter()
    res = one_vs_all(det, Xtr, ytr, Xte, yte, max_train=harness.get("max_train"),
                     max_test=args.max_test, random_state=args.seed)
    wall = time.perf_counter() - t0
    lines = _header(title, args) + list(extra) + [
        f"Detector: `{det!r}`".replace("\n", " "), "",
        f"Harness: max_train={harness.get('max_train')}, max_test={args.max_test}, "
        f"n_test={int(res.n_test.iloc[0])}", "",
        f"**Mean AUROC {res.auroc.mean():.4f}**, mean EER {res.eer.mean():.4f}, "
        f"mean APCER@5%BPCER {res.apcer_at_5_bpcer.mean():.4f}; "
        f"wall time {wall:.0f} s (fit {res.fit_seconds.sum():.0f} s, "
        f"score {res.score_seconds.sum():.0f} s)", ""]
    lines += _table(res.round(4).to_dict("records"), list(res.columns))
    (RESULTS / f"puzzle_tint_color_{name}.md").write_text("\n".join(lines) + "\n")
    res.assign(seed=args.seed, config=repr(det).replace("\n", " ")).to_csv(
        RESULTS / f"puzzle_tint_color_{name}.csv", index=False)
    print("\n".join(lines), flush=True)


def run_digits(args):
    params, harness = profile_settings("puzzle_tint_color", "quick")
    d = load_digits_images()
    Xtr, Xte, ytr, yte = train_test_split(d.images, d.target, test_size=0.5,
                                          stratify=d.target, random_state=args.seed)
    det = PuzzleTintColorDetector(**{**params, "random_state": args.seed})
    _one_vs_all_report("digits", "One-vs-all on sklearn digits, quick profile", det, harness,
                       Xtr, ytr, Xte, yte, args,
                       ["Data: stratified 50/50 split of the 1797 digits (8x8, upsampled).", ""])


def run_mnist(args):
    params, harness = profile_settings("puzzle_tint_color", "quick")
    if args.max_train is not None:
        harness["max_train"] = args.max_train
    tr, te = load_mnist(args.mnist, "train"), load_mnist(args.mnist, "t10k")
    det = PuzzleTintColorDetector(**{**params, "random_state": args.seed})
    _one_vs_all_report("mnist", "One-vs-all on MNIST, quick profile", det, harness,
                       tr.images, tr.target, te.images, te.target, args,
                       ["Data: official MNIST train (capped per class) / t10k subsample.", ""])


ABLATION = [  # Table VII
    ("partial puzzle", dict(puzzle="partial", tasks=("puzzle",))),
    ("piece-wise puzzle", dict(tasks=("puzzle",))),
    ("+ colorization", dict(tasks=("puzzle", "color"))),
    ("+ intra-piece tint", dict(tasks=("puzzle", "color", "tint"), attention=False)),
    ("+ attention", dict(tasks=("puzzle", "color", "tint"), attention=True)),
]
FUSION = [  # Table VI: the full model (+ attention) with each fusion function
    (f"fusion={f}", dict(tasks=("puzzle", "color", "tint"), fusion=f))
    for f in ("mean", "median", 25)]
OOD = [  # Table V: puzzle alone, k = 9
    (f"{n}x{n} {ood}", dict(tasks=("puzzle",), k=9, n=n, ood=ood))
    for n in (3, 4) for ood in ("softmax", "mahalanobis")]


def _color_data(args):
    d = make_color_patches(args.per_class, 32, random_state=args.seed)
    return train_test_split(d.images, d.target, test_size=0.5, stratify=d.target,
                            random_state=args.seed), [str(n) for n in d.target_names]


def run_ablation(args):
    (Xtr, Xte, ytr, yte), names = _color_data(args)
    base = dict(k=18, n=3, c=4, depth=10, width=1, color_width=8, input_size=24,
                max_epochs=args.epochs, batch_size=32, lr=0.05, n_views=4,
                fusion="median", ood="mahalanobis", device="cpu", random_state=args.seed)
    lines = _header("Ablation on colour patches (Tables VII and V)", args) + [
        f"Data: make_color_patches(n_per_class={args.per_class}, patch_size=32), photos "
        f"{names}; stratified 50/50 split, one-vs-all over the {len(names)} photos.", "",
        f"Shared settings: `{base}`", ""]
    for title, configs in (("Table VII: ablation", ABLATION), ("Table V: OOD function", OOD),
                           ("Table VI: fusion function", FUSION)):
        rows = []
        for label, kw in configs:
            t0 = time.perf_counter()
            res = one_vs_all(PuzzleTintColorDetector(**{**base, **kw}), Xtr, ytr, Xte, yte,
                             random_state=args.seed)
            rows.append({"setting": label, "mean_auroc": res.auroc.mean(),
                         "min_auroc": res.auroc.min(), "max_auroc": res.auroc.max(),
                         "per_class": " ".join(f"{a:.3f}" for a in res.auroc),
                         "seconds": f"{time.perf_counter() - t0:.0f}"})
            print(rows[-1], flush=True)
        lines += [f"## {title}", ""] + _table(rows, list(rows[0])) + [""]
    (RESULTS / "puzzle_tint_color_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def run_cost(args):
    (Xtr, Xte, ytr, yte), _ = _color_data(args)
    rows = []
    X = Xte[:256]
    for tasks in (("puzzle",), ("puzzle", "tint", "color"), ("puzzle", "geometric")):
        for k in (1, 3, 9, 18, 36):
            det = PuzzleTintColorDetector(k=k, n=3, depth=10, width=1, color_width=8,
                                          input_size=24, max_epochs=1, n_views=1, tasks=tasks,
                                          device="cpu", random_state=args.seed)
            det.fit(Xtr[ytr == 0])
            det.score_samples(X[:32])  # warm-up
            t0 = time.perf_counter()
            det.score_samples(X)
            ms = (time.perf_counter() - t0) / len(X) * 1000
            rows.append({"tasks": "+".join(tasks), "k": k, "ms_per_image": f"{ms:.2f}"})
            print(rows[-1], flush=True)
    lines = _header("Inference cost per image versus k", args) + [
        "Encoder WRN-10-1, UNet width 8, input 24x24 RGB, n=3x3, c=4; "
        f"score_samples on {len(X)} images in padded chunks of 32, after a warm-up.", ""]
    lines += _table(rows, ["tasks", "k", "ms_per_image"])
    (RESULTS / "puzzle_tint_color_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["digits", "mnist", "ablation", "cost"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-test", type=int, default=None)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--mnist", default=str(MNIST))
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    RESULTS.mkdir(parents=True, exist_ok=True)
    {"digits": run_digits, "mnist": run_mnist, "ablation": run_ablation,
     "cost": run_cost}[args.what](args)


if __name__ == "__main__":
    main()
