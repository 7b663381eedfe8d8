"""Mixed precision and ``torch.compile`` against fp32 eager, per detector, on this CPU.

For each detector (the ``quick`` profile with few epochs keeps the run
short), each seed and each mode, one-class fit on class ``--normal`` and
score the test set: AUROC, fit and score seconds, and the ratios to fp32
eager::

    OMP_NUM_THREADS=1 python -m benchmarks.precision --detectors geometric
    OMP_NUM_THREADS=1 python -m benchmarks.precision --modes fp32 bf16 --out precision
    OMP_NUM_THREADS=1 python -m benchmarks.precision --dataset cifar10-dev --normal ship \\
        --max-train 500 --modes fp32 bf16 --out precision_cifar10_dev

Modes: ``fp32`` (eager), ``bf16`` / ``fp16`` (``precision=``) and
``compile`` (``compile=True``, fp32). Every mode fits the same detector
``--repeats`` times in a row (same seed, so the same model): the first fit
is *cold* (for ``compile`` it includes the compilation, with a fresh
Inductor cache directory unless ``TORCHINDUCTOR_CACHE_DIR`` is set), the
fastest of the others is *warm*; scoring is timed after every fit in the
same way. Before the first mode of a detector, one untimed one-epoch fp32
fit warms the process up (thread pools, oneDNN kernels), so that fp32 does
not pay it for the others.

Data: ``--dataset`` for the image detectors (``digits``: scikit-learn's
digits, stratified 50/50; ``cifar10-dev``: the shared photo folders);
video detectors (``frame_permutation``) always run on
:func:`skssad.datasets.make_moving_digits` as ``benchmarks.frame_permutation_study``
does (600 training videos of seed 0, 200 test videos of seed 1, 20 frames
of 16x16), with ``--normal`` a motion class.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

from benchmarks import _report as report

MODES = {"fp32": {}, "bf16": {"precision": "bf16"}, "fp16": {"precision": "fp16"},
         "compile": {"compile": True}}
#: Detectors that take videos instead of images.
VIDEO_DETECTORS = frozenset({"frame_permutation"})


def moving_digits() -> report.Dataset:
    """The moving-digit videos of ``benchmarks.frame_permutation_study`` (its defaults)."""
    from skssad.datasets import make_moving_digits

    Xtr, ytr = make_moving_digits(600, n_frames=20, size=16, random_state=0, return_X_y=True)
    Xte, yte = make_moving_digits(200, n_frames=20, size=16, random_state=1, return_X_y=True)
    return report.Dataset("moving-digits", Xtr, ytr, Xte, yte,
                          "make_moving_digits, train 600 videos (seed 0) / test 200 videos "
                          "(seed 1), 20 frames of 16x16, 10 motion classes")


def class_index(data: report.Dataset, normal: str) -> int:
    """``--normal`` as the class label of ``data`` (an index or a class folder name)."""
    names = data.info.get("classes")
    if names and normal in names:
        return names.index(normal)
    try:
        return int(normal)
    except ValueError:
        raise SystemExit(f"--normal {normal!r}: expected a class index or one of "
                         f"{names}.") from None


def task(data: report.Dataset, normal: int, max_train: int | None, max_test: int | None,
         random_state: int = 0):
    """Training images of class ``normal`` (at most ``max_train``) and a labelled test set.

    Subsampled as :func:`skssad.benchmark.one_vs_all` does (a random subset of
    the class; a class-stratified test subsample).
    """
    from sklearn.utils import check_random_state

    from skssad.benchmark import stratified_subsample

    idx = np.flatnonzero(data.y_train == normal)
    if max_train is not None and len(idx) > max_train:
        idx = np.sort(check_random_state(random_state).choice(idx, max_train, replace=False))
    test = stratified_subsample(data.y_test, max_test, random_state)
    return data.X_train[idx], data.X_test[test], np.where(data.y_test[test] == normal, 1, -1)


def run(name: str, mode: str, train, X_test, y_test, *, epochs: int, seed: int,
        repeats: int, first: bool) -> dict:
    """Fit and score ``repeats`` times; with ``first`` (the mode's first seed) the first
    fit and score are *cold* and the fastest of the others *warm*, else all are warm."""
    from skssad.metrics import anomaly_auroc

    epochs_kw = {"max_epochs": epochs} if epochs else {}  # 0: the profile's own
    det, _ = report.make(name, "quick", random_state=seed, device="cpu", **epochs_kw,
                         **MODES[mode])
    fits, scores_s, aurocs = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        det.fit(train)
        fits.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scores = det.score_samples(X_test)
        scores_s.append(time.perf_counter() - t0)
        aurocs.append(anomaly_auroc(y_test, scores))
    health = det.training_health_
    loss = next(iter(health.values()))["loss"] if health else [np.nan]
    cold = 1 if first else 0
    return dict(detector=name, mode=mode, seed=seed, auroc=aurocs[-1],
                # same seed, same model: a refit that scores differently is reported
                auroc_refit_spread=max(aurocs) - min(aurocs), first_loss=loss[0],
                last_loss=loss[-1], cold_fit_s=fits[0] if first else np.nan,
                warm_fit_s=min(fits[cold:], default=np.nan),
                cold_score_s=scores_s[0] if first else np.nan,
                warm_score_s=min(scores_s[cold:], default=np.nan),
                n_train=len(train), n_test=len(X_test), epochs=det.max_epochs,
                config=report.describe(det))


def warm_up(name: str, train) -> None:
    det, _ = report.make(name, "quick", random_state=0, max_epochs=1, device="cpu")
    det.fit(train[:64])
    det.score_samples(train[:64])


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per detector and mode: mean AUROC - fp32 (and its largest size) and time ratios."""
    df = df.reindex(columns=[*df.columns, *(c for c in ("error",) if c not in df)])
    base = df[df["mode"] == "fp32"].set_index(["detector", "seed"])
    key = pd.MultiIndex.from_frame(df[["detector", "seed"]])
    df = df.assign(d_auroc=df.auroc.values - base.auroc.reindex(key).values)
    for col in ("cold_fit_s", "warm_fit_s", "cold_score_s", "warm_score_s"):
        df[col + "_ratio"] = df[col].values / base[col].reindex(key).values
    rows = []
    for (det, mode), g in df.groupby(["detector", "mode"], sort=False):
        b = base.loc[det]
        rows.append({"detector": det, "mode": mode, "seeds": len(g), "AUROC": g.auroc.mean(),
                     "AUROC - fp32": g.d_auroc.mean(),
                     "max abs(AUROC - fp32)": g.d_auroc.abs().max(),
                     "fp32 AUROC std over seeds": b.auroc.std(ddof=0),
                     "cold fit / fp32": g.cold_fit_s_ratio.mean(),
                     "warm fit / fp32": g.warm_fit_s_ratio.mean(),
                     "cold score / fp32": g.cold_score_s_ratio.mean(),
                     "warm score / fp32": g.warm_score_s_ratio.mean(),
                     "cold fit s": g.cold_fit_s.mean(), "warm fit s": g.warm_fit_s.mean(),
                     "warm score s": g.warm_score_s.mean(),
                     "errors": "; ".join(sorted(set(g.error.dropna()))) or None})
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detectors", nargs="+", default=["geometric"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--dataset", default="digits", choices=["digits", "cifar10-dev"],
                   help="data of the image detectors (video detectors: moving digits)")
    p.add_argument("--normal", default="0", help="normal class: index or class folder name")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--max-test", type=int, default=None,
                   help="score a stratified subsample of this many test samples")
    p.add_argument("--epochs", type=int, default=4, help="0: the quick profile's max_epochs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--repeats", type=int, default=2, help="fits per mode (cold, then warm)")
    p.add_argument("--contention", default=None,
                   help="a note on other load on the machine during the run")
    p.add_argument("--out", default="precision")
    args = p.parse_args(argv)
    if "fp32" not in args.modes:
        raise SystemExit("--modes needs fp32: every ratio is to fp32 eager.")
    report.use_omp_threads()
    load_start = os.getloadavg()
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor_"))
    images = report.load_dataset(args.dataset)
    videos = moving_digits() if VIDEO_DETECTORS & set(args.detectors) else None
    # The report (git revision, date) is made before the runs: what is measured is the
    # code checked out now, even if HEAD moves during a long run.
    data_text = images.description + (f"; {videos.name} for {sorted(VIDEO_DETECTORS)}: "
                                       f"{videos.description}" if videos else "")
    rep = report.Report("Mixed precision and torch.compile vs fp32 eager (CPU)",
                        seed=args.seeds, profile="quick", data=data_text)
    rows = []
    for name in args.detectors:
        data = videos if name in VIDEO_DETECTORS else images
        normal = class_index(data, args.normal)
        train, X_test, y_test = task(data, normal, args.max_train, args.max_test)
        warm_up(name, train)
        for mode in args.modes:
            for i, seed in enumerate(args.seeds):
                try:
                    # compiled code and kernels are warm after the mode's first seed
                    row = run(name, mode, train, X_test, y_test, epochs=args.epochs,
                              seed=seed, repeats=args.repeats, first=i == 0)
                except Exception as exc:  # a mode that fails is a result too
                    row = dict(detector=name, mode=mode, seed=seed,
                               error=f"{type(exc).__name__}: {exc}"[:300])
                rows.append({"dataset": data.name, "normal": normal, **row})
                print({k: v for k, v in rows[-1].items() if k != "config"}, flush=True)
    df = pd.DataFrame(rows)
    epochs = args.epochs or "the profile's own"
    rep.note(f"One-class fit on class {args.normal} (index, or class folder name), "
             f"{epochs} epochs of the quick profile, max_train={args.max_train}, "
             f"max_test={args.max_test}; AUROC on the (subsampled) test set.",
             f"Each mode fits {args.repeats} time(s) per seed with that seed: cold = the "
             "first fit of the mode's first seed (for compile: with the compilation, fresh "
             "Inductor cache), warm = the fastest of the other fits of that seed (every fit "
             "of later seeds); scoring timed after each fit likewise. One untimed 1-epoch "
             "fp32 fit per detector warms the process up first.",
             "Ratio > 1 means slower than fp32 eager.")
    load_end = os.getloadavg()
    rep.note(f"1-minute load average at start / end: {load_start[0]:.2f} / {load_end[0]:.2f} "
             f"on {os.cpu_count()} CPUs")
    if args.contention:
        rep.note(f"Load: {args.contention}")
    rep.table("summary", summary(df))
    rep.table("runs", df, markdown=False)
    rep.table("per run", df.drop(columns=["config"]), csv=False)
    rep.write(report.RESULTS / args.out)


if __name__ == "__main__":
    main()
