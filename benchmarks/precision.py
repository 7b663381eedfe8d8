"""Mixed precision and ``torch.compile`` against fp32 eager, per detector, on this CPU.

For each detector (``tiny`` overrides of the ``quick`` profile keep the run
short) and each mode, one-class fit on digit ``--normal`` of scikit-learn's
digits and score a held-out stratified half: AUROC, fit and score seconds,
and the ratio to fp32 eager::

    OMP_NUM_THREADS=1 python -m benchmarks.precision --detectors geometric
    OMP_NUM_THREADS=1 python -m benchmarks.precision --modes fp32 bf16 --out precision

Modes: ``fp32`` (eager), ``bf16`` / ``fp16`` (``precision=``) and
``compile`` (``compile=True``, fp32). The first compiled fit includes the
compilation, so ``compile`` also reports a second, warm fit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from benchmarks import _report as report

MODES = {"fp32": {}, "bf16": {"precision": "bf16"}, "fp16": {"precision": "fp16"},
         "compile": {"compile": True}}


def run(name: str, mode: str, data, normal: int, epochs: int, seed: int) -> dict:
    from skssad.metrics import anomaly_auroc

    Xtr, ytr, Xte, yte = data
    train = Xtr[ytr == normal]
    y = np.where(yte == normal, 1, -1)
    det, _ = report.make(name, "quick", random_state=seed, max_epochs=epochs, device="cpu",
                         **MODES[mode])
    t0 = time.perf_counter()
    det.fit(train)
    fit_s = time.perf_counter() - t0
    warm_s = np.nan
    if mode == "compile":
        t0 = time.perf_counter()
        det.fit(train)
        warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = det.score_samples(Xte)
    score_s = time.perf_counter() - t0
    return dict(detector=name, mode=mode, auroc=anomaly_auroc(y, scores), fit_s=fit_s,
                warm_fit_s=warm_s, score_s=score_s, n_train=len(train), n_test=len(Xte),
                config=report.describe(det))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detectors", nargs="+", default=["geometric"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--normal", type=int, default=0)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="precision")
    args = p.parse_args(argv)
    report.use_omp_threads()
    ds = report.load_dataset("digits")
    rows = []
    for name in args.detectors:
        for mode in args.modes:
            rows.append(run(name, mode, ds, args.normal, args.epochs, args.seed))
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    base = df[df["mode"] == "fp32"].set_index("detector")
    df["AUROC - fp32"] = df.auroc - df.detector.map(base.auroc)
    df["fit ratio"] = df.fit_s / df.detector.map(base.fit_s)
    df["score ratio"] = df.score_s / df.detector.map(base.score_s)
    rep = report.Report("Mixed precision and torch.compile vs fp32 eager (CPU)", seed=args.seed,
                        profile="quick", data=ds)
    rep.note(f"One-class fit on digit {args.normal}, {args.epochs} epochs, scored on the "
             "held-out stratified half. Ratio > 1 means slower than fp32 eager.")
    rep.table("results", df.drop(columns=["config"]))
    rep.write(report.RESULTS / args.out)


if __name__ == "__main__":
    main()
