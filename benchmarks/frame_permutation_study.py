"""FramePermutationDetector on moving real digits: one-vs-all, M study, skip study.

frame-permutation-video.txt §IV-D (one-vs-all mean AUROC, Table IV) and
Tables V (M) and VI (skip), on :func:`skssad.datasets.make_moving_digits`:
every motion class is normal in turn, the other nine (including its time
reversal) are anomalies. Also reports the AUROC of each normal class
against its time-reversed class alone.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/frame_permutation_study.py --study main
    OMP_NUM_THREADS=1 python benchmarks/frame_permutation_study.py --study M --classes 0 2 4 6 8
    OMP_NUM_THREADS=1 python benchmarks/frame_permutation_study.py --study skip --classes 0 2 4 6 8
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from skssad.benchmark import one_vs_all
from skssad.datasets import MOVING_DIGIT_MOTIONS, make_moving_digits
from skssad.profiles import make_detector

RESULTS = Path(__file__).parent / "results"


def data(n_train: int, n_test: int, n_frames: int, size: int):
    X_train, y_train = make_moving_digits(n_train, n_frames=n_frames, size=size, random_state=0,
                                          return_X_y=True)
    X_test, y_test = make_moving_digits(n_test, n_frames=n_frames, size=size, random_state=1,
                                        return_X_y=True)
    return X_train, y_train, X_test, y_test


def reversed_auroc(det, X_train, y_train, X_test, y_test, c) -> float:
    """AUROC of normal class ``c`` against its time reversal alone (pairs 2j, 2j+1)."""
    rev = c + 1 if c % 2 == 0 else c - 1
    det.fit(X_train[y_train == c])
    keep = (y_test == c) | (y_test == rev)
    return roc_auc_score(y_test[keep] == c, det.score_samples(X_test[keep]))


def run(params: dict, classes, d, seed: int) -> tuple[pd.DataFrame, float]:
    X_train, y_train, X_test, y_test = d
    det = make_detector("frame_permutation", "quick", device="cpu", random_state=seed, **params)
    t0 = time.perf_counter()
    res = one_vs_all(det, X_train, y_train, X_test, y_test, classes=classes, random_state=seed)
    return res, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", choices=["main", "M", "skip"], default="main")
    ap.add_argument("--classes", type=int, nargs="*", default=None)
    ap.add_argument("--n-train", type=int, default=600)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--n-frames", type=int, default=20)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = data(args.n_train, args.n_test, args.n_frames, args.size)
    classes = args.classes if args.classes else list(range(len(MOVING_DIGIT_MOTIONS)))
    head = (f"Data: make_moving_digits train {args.n_train} / test {args.n_test} videos, "
            f"{args.n_frames} frames, {args.size}x{args.size}, seeds 0/1; detector seed "
            f"{args.seed}; quick profile; machine {platform.machine()} CPU, torch threads 1 "
            "(2-core CPU shared with parallel agents, OMP_NUM_THREADS=1).\n")
    lines = [f"# FramePermutationDetector: {args.study} study\n", head]
    if args.study == "main":
        res, wall = run({}, classes, d, args.seed)
        det = make_detector("frame_permutation", "quick", device="cpu", random_state=args.seed)
        res["auroc_vs_reversed"] = [reversed_auroc(det, *d, c) for c in res["normal_class"]]
        res["motion"] = [MOVING_DIGIT_MOTIONS[c] for c in res["normal_class"]]
        res.to_csv(RESULTS / "frame_permutation_one_vs_all.csv", index=False)
        cols = ["normal_class", "motion", "auroc", "auroc_vs_reversed", "eer", "fit_seconds",
                "score_seconds"]
        lines += [res[cols].to_markdown(index=False, floatfmt=".3f"), "",
                  f"**mean AUROC {res.auroc.mean():.3f}** (target >= 0.90); mean AUROC vs "
                  f"time-reversed class {res.auroc_vs_reversed.mean():.3f}; one-vs-all wall "
                  f"time {wall:.0f} s (fit {res.fit_seconds.sum():.0f} s, score "
                  f"{res.score_seconds.sum():.0f} s)."]
        out = RESULTS / "frame_permutation_one_vs_all.md"
    else:
        values = [3, 4, 5, 6] if args.study == "M" else [0, 1, 2, 3]
        rows = []
        for v in values:
            res, wall = run({args.study: v}, classes, d, args.seed)
            rows.append({args.study: v, "mean_auroc": res.auroc.mean(),
                         **{f"class_{c}": a for c, a in zip(res.normal_class, res.auroc,
                                                            strict=True)},
                         "wall_seconds": wall})
            print(rows[-1], flush=True)
        table = pd.DataFrame(rows)
        fixed = "skip=2" if args.study == "M" else "M=5"
        lines += [f"Normal classes {classes}; {fixed}; other settings as the quick profile "
                  "(n_permutations=24 clipped to M! for M <= 4).\n",
                  table.to_markdown(index=False, floatfmt=".3f")]
        out = RESULTS / f"frame_permutation_{args.study}_study.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"mean AUROC per setting written to {out}")



if __name__ == "__main__":
    main()
