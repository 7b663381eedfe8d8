"""FramePermutationDetector studies: moving digits one-vs-all, M, skip, time series.

Ali, Khan and Kyung, §IV-D (one-vs-all mean AUROC, Table IV), Table V (M)
and Table VI (skip), on :func:`skssad.datasets.make_moving_digits`: every
motion class is normal in turn, the other nine (its time reversal among
them) are anomalies. ``main`` also reports, from the same fit, the AUROC
against the time-reversed class alone, the pretext accuracy on held-out
normal test videos and the last training loss beside chance (log of the
number of permutation classes). ``series`` runs univariate time-series
families against four kinds of anomalies beside an IsolationForest on
sliding windows. Public API only; results through ``benchmarks/_report.py``.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.frame_permutation_study --study main
    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.frame_permutation_study --study series
    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.frame_permutation_study --study M \\
        --classes 0 6 --seeds 0 1
    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.frame_permutation_study --study skip \\
        --classes 0 6 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from benchmarks import _report as report
from skssad.datasets import MOVING_DIGIT_MOTIONS, make_moving_digits
from skssad.profiles import make_detector


def digits_data(args) -> report.Dataset:
    Xtr, ytr = make_moving_digits(args.n_train, n_frames=args.n_frames, size=args.size,
                                  random_state=0, return_X_y=True)
    Xte, yte = make_moving_digits(args.n_test, n_frames=args.n_frames, size=args.size,
                                  random_state=1, return_X_y=True)
    return report.Dataset("moving-digits", Xtr, ytr, Xte, yte,
                          f"make_moving_digits, train {args.n_train} videos (seed 0) / test "
                          f"{args.n_test} videos (seed 1), {args.n_frames} frames of "
                          f"{args.size}x{args.size}, 10 motion classes")


def run_class(data: report.Dataset, c: int, seed: int, **overrides) -> dict:
    """Fit on class ``c``'s training videos; score the whole test set."""
    det = make_detector("frame_permutation", "quick", device="cpu", random_state=seed,
                        **overrides)
    t0 = time.perf_counter()
    det.fit(data.X_train[data.y_train == c])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = det.score_samples(data.X_test)
    score_s = time.perf_counter() - t0
    rev = c + 1 if c % 2 == 0 else c - 1
    pair = (data.y_test == c) | (data.y_test == rev)
    health = det.training_health_["net"]
    return dict(normal_class=c, motion=MOVING_DIGIT_MOTIONS[c], seed=seed,
                auroc=roc_auc_score(data.y_test == c, s),
                auroc_vs_reversed=roc_auc_score(data.y_test[pair] == c, s[pair]),
                pretext_accuracy=det.pretext_accuracy(data.X_test[data.y_test == c]),
                chance_accuracy=1.0 / det.n_permutations_, last_loss=health["loss"][-1],
                chance_loss=health["chance"], at_chance=health["at_chance"],
                fit_seconds=fit_s, score_seconds=score_s,
                config=report.config(det))


# ------------------------------------------------------------------ time series
FAMILIES = ("sine_drifting_phase", "sawtooth", "random_walk_seasonal")
ANOMALIES = ("noise_burst", "reversed_segment", "frequency_change", "flat_line")


def series(family: str, n: int, T: int, rng, freq: float = 1.0) -> np.ndarray:
    """``n`` normal series of ``family`` (frequency multiplied by ``freq``)."""
    t = np.arange(T)[None, :]
    period = rng.uniform(10, 14, (n, 1)) / freq
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    if family == "sine_drifting_phase":
        drift = np.cumsum(rng.normal(0, 0.03, (n, T)), 1)  # the phase wanders slowly
        x = np.sin(2 * np.pi * t / period + phase + drift)
    elif family == "sawtooth":
        x = 2 * ((t / period + phase / (2 * np.pi)) % 1.0) - 1
    else:
        walk = np.cumsum(rng.normal(0, 0.08, (n, T)), 1)
        x = walk - walk.mean(1, keepdims=True) + np.sin(2 * np.pi * t / period + phase)
    return x + rng.normal(0, 0.05, (n, T))


def anomalous(family: str, kind: str, n: int, T: int, rng) -> np.ndarray:
    x = series(family, n, T, rng)
    w = T // 3
    start = rng.integers(0, T - w, n)
    for i, s0 in enumerate(start):
        seg = slice(s0, s0 + w)
        if kind == "noise_burst":
            x[i, seg] += rng.normal(0, 0.5, w)
        elif kind == "reversed_segment":
            x[i, seg] = x[i, seg][::-1]
        elif kind == "flat_line":
            x[i, seg] = x[i, s0]
    if kind == "frequency_change":  # the second half at twice the frequency
        fast = series(family, n, T, rng, freq=2.0)
        x[:, T // 2:] = fast[:, T // 2:]
    return x


def window_forest_scores(train: np.ndarray, test: np.ndarray, width: int, seed: int):
    """IsolationForest on every window of ``width`` steps; per series mean and min."""
    def windows(X):
        return np.lib.stride_tricks.sliding_window_view(X, width, axis=1)

    forest = IsolationForest(n_estimators=200, random_state=seed)
    forest.fit(windows(train).reshape(-1, width))
    w = windows(test)
    s = forest.score_samples(w.reshape(-1, width)).reshape(w.shape[:2])
    return s.mean(1), s.min(1)


def run_series(args) -> pd.DataFrame:
    rows = []
    for fam in FAMILIES:
        rng = np.random.default_rng(0)
        train = series(fam, args.n_series, args.series_length, rng)
        rng = np.random.default_rng(1)
        normal = series(fam, args.n_series_test, args.series_length, rng)
        kinds = {k: anomalous(fam, k, args.n_series_test // 4, args.series_length, rng)
                 for k in ANOMALIES}
        for seed in args.seeds:
            det = make_detector("frame_permutation", "quick", device="cpu", random_state=seed,
                                **args.series_overrides)
            t0 = time.perf_counter()
            det.fit(train)
            fit_s = time.perf_counter() - t0
            width = (det.M - 1) * (det.skip + 1) + 1
            seg_n = det.anomaly_segments(normal)
            if_n = window_forest_scores(train, normal, width, seed)
            for kind, X in kinds.items():
                seg_a = det.anomaly_segments(X)
                if_a = window_forest_scores(train, X, width, seed)
                y = np.r_[np.ones(len(normal)), np.zeros(len(X))]
                rows.append(dict(
                    family=fam, anomaly=kind, seed=seed,
                    auroc_mean=roc_auc_score(y, -np.r_[seg_n.mean(1), seg_a.mean(1)]),
                    auroc_max=roc_auc_score(y, -np.r_[seg_n.max(1), seg_a.max(1)]),
                    iforest_mean=roc_auc_score(y, np.r_[if_n[0], if_a[0]]),
                    iforest_min=roc_auc_score(y, np.r_[if_n[1], if_a[1]]),
                    pretext_accuracy=det.pretext_accuracy(normal),
                    chance_accuracy=1.0 / det.n_permutations_, fit_seconds=fit_s,
                    config=report.config(det)))
                print({k: v for k, v in rows[-1].items() if k != "config"}, flush=True)
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", choices=["main", "M", "skip", "series"], default="main")
    ap.add_argument("--classes", type=int, nargs="*", default=None)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--n-train", type=int, default=600)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--n-frames", type=int, default=20)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--n-series", type=int, default=100)
    ap.add_argument("--n-series-test", type=int, default=100)
    ap.add_argument("--series-length", type=int, default=48)
    args = ap.parse_args()
    report.use_omp_threads()
    # Time series: the quick profile's network, bigger batches (1x1 frames are cheap).
    args.series_overrides = dict(batch_size=64, max_epochs=10)
    if args.study == "series":
        rows = run_series(args)
        rep = report.Report("FramePermutationDetector: univariate time series",
                            seed=args.seeds, profile="quick",
                            data=f"generated series of {args.series_length} steps: "
                                 f"{', '.join(FAMILIES)}; train {args.n_series} normal "
                                 f"(seed 0), test {args.n_series_test} normal + "
                                 f"{args.n_series_test // 4} per anomaly kind (seed 1)",
                            config={"overrides": args.series_overrides})
        rep.note("auroc_mean / auroc_max: the detector's video score as the mean / max of "
                 "its segment anomaly scores; iforest_mean / iforest_min: IsolationForest "
                 "(200 trees) on every window of one segment's span, mean / min window "
                 "score per series.")
        rep.table("per family and anomaly", rows.drop(columns="config"))
        summ = rows.drop(columns=["config", "family", "anomaly"]).groupby("seed").mean()
        rep.table("mean over families and anomalies", summ.reset_index(), csv=False)
        rep.write(report.RESULTS / "frame_permutation_series")
        return
    data = digits_data(args)
    classes = args.classes if args.classes else list(range(len(MOVING_DIGIT_MOTIONS)))
    if args.study == "main":
        grid = {"quick": {}}
    elif args.study == "M":
        grid = {f"M={m}": {"M": m} for m in (3, 4, 5, 6)}
    else:
        grid = {f"skip={k}": {"skip": k} for k in (0, 1, 2, 3)}

    def run(overrides):
        out = []
        for seed in args.seeds:
            for c in classes:
                out.append(run_class(data, c, seed, **overrides))
                print({k: v for k, v in out[-1].items() if k != "config"}, flush=True)
        return out

    rows = report.run_grid(grid, run)
    rows["config"] = [json.dumps(c, sort_keys=True) for c in rows["config"]]
    rep = report.Report(f"FramePermutationDetector on moving digits: {args.study} study",
                        seed=args.seeds, profile="quick", data=data)
    rep.note("auroc: one-vs-all (normal class vs the other nine); auroc_vs_reversed: vs the "
             "time-reversed class alone, same fit; pretext_accuracy: permutation prediction "
             "on the normal class's held-out test videos (chance_accuracy beside it); "
             "last_loss vs chance_loss = log(n_permutations).")
    rep.table("per class", rows)
    cols = ["auroc", "auroc_vs_reversed", "pretext_accuracy", "fit_seconds"]
    per_seed = rows.groupby(["variant", "seed"])[cols].mean().reset_index()
    summ = per_seed.groupby("variant", sort=False)[cols].agg(["mean", "std"])
    summ.columns = [f"{a}_{b}" for a, b in summ.columns]
    summ["min_class_auroc"] = rows.groupby("variant", sort=False).auroc.min()
    rep.table("summary (mean and std over seeds of the per-seed class mean)",
              summ.reset_index(), csv=False)
    rep.write(report.RESULTS / f"frame_permutation_{args.study}_study")


if __name__ == "__main__":
    main()
