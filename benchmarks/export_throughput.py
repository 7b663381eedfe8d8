"""Scoring throughput of the exported ONNX graph (onnxruntime CPU) against PyTorch CPU.

For each detector named (default: geometric, anomem, igd, frame_permutation;
puzzle_tint_color exports too), fit on ``--n-train`` real 8x8 digits (one class), or
for frame_permutation on ``--n-train`` moving-digit videos of ``--n-frames`` frames
(one motion), with its profile, export the whole scoring path with
:func:`skssad.export.export_onnx`, and score ``--n-score`` samples with
``score_samples`` (PyTorch, the detector's own chunked path) and with
:class:`skssad.export.OnnxDetector` (onnxruntime), both on ``--threads``
threads. Reports samples (images, or videos) per second (best of
``--repeats``), the ratio and the largest score difference, through
``benchmarks/_report.py``: ``<out>.md`` and ``<out>.csv`` (one row per
detector, with its configuration and the run's provenance). Usage, from the
repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.export_throughput --threads 1 \\
        --out benchmarks/results/export_throughput
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import _report as report

EXPORTABLE = ("geometric", "anomem", "igd", "frame_permutation")
#: Detectors that score videos (the others score images).
VIDEO = ("frame_permutation",)


def _digits(n: int, label: int, seed: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    d = load_digits()
    base = np.round(d.images[d.target == label] * (255 / 16)).astype(np.uint8)
    return base[np.random.default_rng(seed).integers(0, len(base), n)]


def _videos(n: int, motion: int, seed: int, n_frames: int, size: int) -> np.ndarray:
    from skssad.datasets import make_moving_digits

    X, _ = make_moving_digits(n, n_frames=n_frames, size=size, motions=[motion],
                              random_state=seed, return_X_y=True)
    return X


def _best(fn, X, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn(X)
        best = min(best, time.perf_counter() - t)
    return len(X) / best


def run(names, profile: str, n_train: int, n_score: int, epochs: int, threads: int,
        repeats: int, n_frames: int = 20) -> list[dict]:
    from skssad.export import OnnxDetector, export_onnx
    from skssad.profiles import make_detector

    torch.set_num_threads(threads)
    rows = []
    for name in names:
        det = make_detector(name, profile, max_epochs=epochs, device="cpu", random_state=0,
                            ensemble=1)
        if name in VIDEO:  # frames at the input size; trained on one motion, scored on another
            side = det.input_size or 16
            X_train = _videos(n_train, 0, 0, n_frames, side)
            X_score = _videos(n_score, 1, 1, n_frames, side)
            sample = f"video of {n_frames} frames"
        else:
            X_train, X_score, sample = _digits(n_train, 0, 0), _digits(n_score, 3, 1), "image"
        det.fit(X_train)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            path = export_onnx(det, Path(tmp) / f"{name}.onnx")
            export_s = time.perf_counter() - t
            onnx_det = OnnxDetector(path, n_threads=threads)
            ref, got = det.score_samples(X_score), onnx_det.score_samples(X_score)
            torch_ips = _best(det.score_samples, X_score, repeats)
            onnx_ips = _best(onnx_det.score_samples, X_score, repeats)
            rows.append({"detector": type(det).__name__, "name": name, "sample": sample,
                         "input": f"{det.input_size}x{det.input_size}",
                         "exporter": onnx_det.metadata_.get("exporter", "?"),
                         "torch_img_s": round(torch_ips, 1), "onnx_img_s": round(onnx_ips, 1),
                         "onnx_over_torch": round(onnx_ips / torch_ips, 2),
                         "max_abs_diff": float(np.abs(got - ref).max()),
                         "export_s": round(export_s, 1),
                         "onnx_mb": round(path.stat().st_size / 2 ** 20, 2),
                         "config": json.dumps(report.config(det), sort_keys=True)})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--detectors", nargs="*", default=list(EXPORTABLE))
    p.add_argument("--profile", default="quick")
    p.add_argument("--n-train", type=int, default=128)
    p.add_argument("--n-score", type=int, default=256)
    p.add_argument("--n-frames", type=int, default=20, help="frames per video (video detectors)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="write <out>.csv and <out>.md")
    args = p.parse_args(argv)
    import onnxruntime
    import pandas as pd

    rows = run(args.detectors, args.profile, args.n_train, args.n_score, args.epochs,
               args.threads, args.repeats, args.n_frames)
    table = pd.DataFrame(rows)
    shown = table.drop(columns="config")
    print(shown.to_string(index=False))
    if args.out:
        rep = report.Report(
            f"ONNX (onnxruntime CPU) vs PyTorch CPU scoring, profile `{args.profile}`",
            prog="benchmarks.export_throughput", argv=argv, seed=0, profile=args.profile,
            data=(f"{args.n_train} training digits (class 0), {args.n_score} scored "
                  f"(class 3), 8x8 upsampled to the input size; video detectors: "
                  f"{args.n_train} training moving-digit videos (motion 0), {args.n_score} "
                  f"scored (motion 1), {args.n_frames} frames at the input size"),
            notes=[f"onnxruntime {onnxruntime.__version__}, {args.threads} thread(s) for both; "
                   f"{args.epochs} epoch(s) (throughput does not depend on training); best "
                   f"of {args.repeats}",
                   "img/s: samples per second (a video counts once, see `sample`): raw uint8 "
                   "samples in, scores out (validation, scaling, resize, all views, nets, OOD "
                   "statistics, fusion), chunks of 32 images or 128 frames"])
        rep.table("Per-detector rows", table, markdown=False)
        rep.table("ONNX vs PyTorch", shown, csv=False, floatfmt=".6g")
        rep.write(args.out)


if __name__ == "__main__":
    main()
