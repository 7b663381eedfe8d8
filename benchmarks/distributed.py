"""Two-process CPU data-parallel training against one process, on this machine.

The detector (``geometric``, ``quick`` profile) fits one class of
scikit-learn's digits at a time (stratified 50/50 split) and scores the
held-out half, in three launches of the same worker:

``1 process``
    ``python -m benchmarks.distributed --worker`` with one torch thread;
``1 process, 2 threads``
    the same with two torch threads (what one process can get from 2 cores);
``2 processes (DP)``
    ``torchrun --standalone --nproc_per_node 2`` with one thread each: one
    model, each global batch split across the ranks, gradients all-reduced
    through gloo (``skssad.training``, Accelerate).

``batch_size`` is the global batch in every launch. Each worker first runs
an untimed one-epoch fit (process group set-up, kernels), then times every
fit (the slowest rank's, under DP) and scores on rank 0. ::

    OMP_NUM_THREADS=1 python -m benchmarks.distributed
    OMP_NUM_THREADS=1 python -m benchmarks.distributed --classes 0 1 2 --epochs 10

A data-parallel fit draws other random transformations than a one-process
fit (each rank its own, from the seed and the rank) and its batch-norm
statistics are rank 0's shard's, so AUROC agrees statistically, not bit for
bit: compare the means over classes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import _report as report

LAUNCHES = {
    "1 process": dict(procs=1, threads=1),
    "1 process, 2 threads": dict(procs=1, threads=2),
    "2 processes (DP)": dict(procs=2, threads=1),
}


def worker(args) -> None:
    import torch
    import torch.distributed as dist

    from skssad.metrics import anomaly_auroc

    torch.set_num_threads(args.threads)
    rank = int(os.environ.get("RANK", "0"))
    data = report.load_dataset("digits")
    y_test = data.y_test

    def make(seed, **kw):
        epochs = {"max_epochs": args.epochs} if args.epochs else {}
        return report.make(args.detector, "quick", random_state=seed, device="cpu",
                           **{**epochs, **kw})[0]

    make(0, max_epochs=1).fit(data.X_train[data.y_train == args.classes[0]])  # warm-up
    rows = []
    for c in args.classes:
        for seed in args.seeds:
            train = data.X_train[data.y_train == c]
            det = make(seed)
            if dist.is_available() and dist.is_initialized():
                dist.barrier()
            t0 = time.perf_counter()
            det.fit(train)
            fit_s = torch.tensor(time.perf_counter() - t0, dtype=torch.float64)
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(fit_s, op=dist.ReduceOp.MAX)  # the slowest rank's
            if rank != 0:
                continue
            t0 = time.perf_counter()
            scores = det.score_samples(data.X_test)
            score_s = time.perf_counter() - t0
            loss = det.training_health_["net"]["loss"]
            seen = sum(b["train_batch_size"] for b in det.net_.history[-1]["batches"])
            rows.append(dict(normal_class=int(c), seed=int(seed),
                             auroc=anomaly_auroc(np.where(y_test == c, 1, -1), scores),
                             fit_s=float(fit_s), score_s=score_s, first_loss=loss[0],
                             last_loss=loss[-1], n_train=len(train),
                             rank0_samples_last_epoch=seen, config=report.describe(det)))
            print(rows[-1], flush=True)
    if rank == 0:
        Path(args.worker).write_text(json.dumps(rows))


def launch(label: str, args, out: Path) -> tuple[pd.DataFrame, float]:
    spec = LAUNCHES[label]
    worker_args = ["-m", "benchmarks.distributed", "--worker", str(out),
                   "--threads", str(spec["threads"]), "--detector", args.detector,
                   "--classes", *map(str, args.classes), "--seeds", *map(str, args.seeds)]
    if args.epochs:
        worker_args += ["--epochs", str(args.epochs)]
    prefix = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(spec["procs"])] if spec["procs"] > 1
              else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(report.ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    env.pop("WORLD_SIZE", None)
    t0 = time.perf_counter()
    proc = subprocess.run([*prefix, *worker_args], cwd=report.ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    df = pd.DataFrame(json.loads(out.read_text()))
    df.insert(0, "launch", label)
    df.insert(1, "processes", spec["procs"])
    df.insert(2, "threads per process", spec["threads"])
    return df, wall


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", default="geometric")
    p.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=None, help="default: the quick profile's")
    p.add_argument("--launches", nargs="+", default=list(LAUNCHES), choices=list(LAUNCHES))
    p.add_argument("--contention", default=None,
                   help="a note on other load on the machine during the run")
    p.add_argument("--out", default="distributed_cpu")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if "1 process" not in args.launches:
        raise SystemExit("--launches needs '1 process': every ratio is to it.")
    # Made before the runs: the git revision is that of the code measured.
    name = report.make(args.detector, "quick")[0]
    rep = report.Report(f"Two-process CPU data-parallel vs one process: {args.detector}",
                        seed=args.seeds, profile="quick",
                        data=report.load_dataset("digits").description)
    load_start = os.getloadavg()
    frames, walls = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.launches:
            df, walls[label] = launch(label, args, Path(tmp) / "rows.json")
            frames.append(df)
            print(f"[{label}] mean AUROC {df.auroc.mean():.4f}, fits {df.fit_s.sum():.1f} s, "
                  f"launch wall {walls[label]:.1f} s", flush=True)
    load_end = os.getloadavg()
    rows = pd.concat(frames, ignore_index=True)
    base = rows[rows.launch == "1 process"].set_index(["normal_class", "seed"])
    key = pd.MultiIndex.from_frame(rows[["normal_class", "seed"]])
    rows["AUROC - 1 process"] = rows.auroc.values - base.auroc.reindex(key).values
    summary = []
    for label, g in rows.groupby("launch", sort=False):
        summary.append({
            "launch": label, "fits": len(g), "mean AUROC": g.auroc.mean(),
            "mean AUROC - 1 process": g["AUROC - 1 process"].mean(),
            "max abs per-class AUROC - 1 process": g["AUROC - 1 process"].abs().max(),
            "fit s (sum)": g.fit_s.sum(),
            "fit wall / 1 process": g.fit_s.sum() / base.fit_s.sum(),
            "launch wall s": walls[label],
            "launch wall / 1 process": walls[label] / walls["1 process"],
            "last loss (mean)": g.last_loss.mean()})
    rep.note(f"One-class fit per digit class {args.classes}, epochs: "
             f"{args.epochs or name.max_epochs}; scored on the held-out half (899 images).",
             "fit s: wall time of fit, the slowest rank's under DP, after an untimed warm-up "
             "fit; launch wall: the whole launch (interpreter, imports, process group, "
             "warm-up, scoring on rank 0). Ratio < 1 means faster than one process.",
             "DP draws other random transforms per rank and keeps rank 0's batch-norm "
             "statistics: AUROC agrees statistically, not bit for bit.",
             f"1-minute load average at start / end: {load_start[0]:.2f} / {load_end[0]:.2f} "
             f"on {os.cpu_count()} CPUs")
    if args.contention:
        rep.note(f"Load: {args.contention}")
    rep.table("summary", pd.DataFrame(summary))
    rep.table("fits", rows, markdown=False)
    rep.table("per fit", rows.drop(columns=["config"]), csv=False)
    rep.write(report.RESULTS / args.out)


if __name__ == "__main__":
    main()
