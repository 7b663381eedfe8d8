"""Training and scoring throughput of each detector, against a plain PyTorch loop.

For every detector of ``skssad.profiles.DETECTORS`` that imports (or those
named), fit on ``--n-train`` images for ``--epochs`` epochs and score
``--n-score`` images; then run a plain PyTorch loop on the same network,
pretext task, criterion, optimizer and data: ``task(x) -> module -> loss
-> backward -> step`` per batch, and the detector's own ``_score_chunk``
under ``no_grad`` on fixed-size chunks. The ratio ``skssad / plain`` is the
share of plain-loop speed the library keeps (1.0 = no overhead from
skorch, validation and scaling). Epoch times come from skorch's history
(``dur``), the first epoch dropped as warm-up. Usage, from the repository
root::

    OMP_NUM_THREADS=1 python -m benchmarks.throughput --out benchmarks/results/throughput

The skssad side is timed through the public API (``fit``, ``score_samples``,
skorch's history); the plain-loop reference necessarily reaches into the
fitted net (``net_.module_``, its task and criterion) and the detector's
internal chunk scorer, since measuring what the wrapper adds over them is
the point. Results go through ``benchmarks/_report.py``: ``<out>.md`` and
``<out>.csv`` (one row per detector, with its configuration).
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import pandas as pd
import torch

from benchmarks import _report as report


def _data(n: int, random_state: int = 0) -> np.ndarray:
    """``n`` real 8x8 digits (one class, tiled, lightly jittered) as uint8 images."""
    from skssad.datasets import load_digits_images

    d = load_digits_images()
    base = d.images[d.target == 0]
    rng = np.random.default_rng(random_state)
    X = base[rng.integers(0, len(base), n)].astype(np.int16)
    X += rng.integers(-8, 9, X.shape).astype(np.int16)
    return np.clip(X, 0, 255).astype(np.uint8)


def _fit_inputs(det, X: torch.Tensor) -> torch.Tensor:
    """What the detector's net is fitted on: M-frame segments for the video
    detector, the images themselves otherwise."""
    return det._segments(X)[0] if hasattr(det, "_segments") else X


def _plain_train(det, X: torch.Tensor, epochs: int, batch_size: int) -> tuple[float, str]:
    """Seconds per epoch of a bare loop over the fitted net's module, and what it ran.

    For the generic :class:`~skssad.training.PretextNet` step the loop is plain
    PyTorch: ``task(x) -> module -> criterion -> backward -> step``. A net with
    its own training step (a second optimizer, two views) runs that step
    function in the bare loop instead, so the ratio still isolates skorch's
    epoch machinery (callbacks, history, batch iteration).
    """
    from skssad.training import PretextNet

    net = copy.deepcopy(det.net_)
    net.module_.train()
    X = _fit_inputs(det, X)
    if type(net).train_step is not PretextNet.train_step:
        # A net whose train_step steps its own optimizers (IGD's autoencoder and critic,
        # skorch's two-optimizer pattern): the bare loop calls that step. IGD's is an
        # auto-encoder, fitted with the inputs as targets.
        opts = []

        def step(x):
            net.train_step((x, x))
        kind = f"bare loop over {type(net).__name__}.train_step"
    elif type(net).train_step_single is PretextNet.train_step_single:
        module, criterion, task = net.module_, net.criterion_, net.task
        opts = [net.optimizer_]

        def step(x):
            inputs, targets = task(x) if task is not None else (x, None)
            # skorch's infer: a dict of inputs goes to forward as keyword arguments.
            y_pred = module(**inputs) if isinstance(inputs, dict) else module(inputs)
            criterion(y_pred, targets).backward()
        kind = "plain torch loop"
    else:
        opts = [o for o in (net.optimizer_, getattr(net, "critic_optimizer_", None)) if o]

        def step(x):
            net.train_step_single((x, None))
        kind = f"bare loop over {type(net).__name__}.train_step_single"
    durations = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(X), device=X.device)
        for start in range(0, len(X), batch_size):
            for opt in opts:
                opt.zero_grad()
            step(X[order[start:start + batch_size]])
            for opt in opts:
                opt.step()
        durations.append(time.perf_counter() - t0)
    return float(np.mean(durations[1:] if len(durations) > 1 else durations)), kind


def _plain_score(det, X: torch.Tensor) -> float:
    """Seconds to score ``X`` with the detector's ``_score_chunk`` alone, same chunking
    (segments in chunks of ``_chunk_views`` views for the video detector)."""
    from skssad.base import INFERENCE_CHUNK

    det._eval_mode()
    t0 = time.perf_counter()
    X = _fit_inputs(det, X)
    size = (max(1, det._chunk_views // len(det.score_labels_)) if hasattr(det, "_segments")
            else INFERENCE_CHUNK)
    with torch.no_grad():
        for start in range(0, len(X), size):
            chunk = X[start:start + size]
            if len(chunk) < size:
                pad = chunk.new_zeros((size - len(chunk), *chunk.shape[1:]))
                chunk = torch.cat([chunk, pad])
            det._score_chunk(chunk)
    return time.perf_counter() - t0


def measure(name: str, profile: str, n_train: int, n_score: int, epochs: int) -> dict:
    from skssad.profiles import make_detector

    det = make_detector(name, profile, max_epochs=epochs, random_state=0, device="cpu",
                        ensemble=1)
    if name == "frame_permutation":  # a video detector: moving-digit clips
        from skssad.datasets._video import make_moving_digits

        X_train = make_moving_digits(n_train, random_state=0, return_X_y=True)[0]
        X_score = make_moving_digits(n_score, random_state=1, return_X_y=True)[0]
    else:
        X_train, X_score = _data(n_train, 0), _data(n_score, 1)
    det.fit(X_train)
    durs = [h["dur"] for h in det.net_.history] if hasattr(det, "net_") else []
    epoch_s = float(np.mean(durs[1:] if len(durs) > 1 else durs)) if durs else float("nan")
    notes = []
    try:
        X_t = det._as_tensor(X_train, reset=False)
        plain_epoch, kind = _plain_train(det, X_t, epochs, det.batch_size)
        if kind != "plain torch loop":
            notes.append(f"train plain = {kind}")
        X_s = det._as_tensor(X_score, reset=False)
        _plain_score(det, X_s[:1])
    except Exception as exc:  # noqa: BLE001 - the plain loop is generic, a detector may not fit it
        notes.append(f"no plain loop ({type(exc).__name__}: {exc})")
        plain_epoch, X_s = None, None
    # Scoring is cheap to repeat: best of 3, alternating, against a shared CPU's noise.
    score_s = plain_score = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        det.score_samples(X_score)
        score_s = min(score_s, time.perf_counter() - t0)
        if X_s is not None:
            plain_score = min(plain_score, _plain_score(det, X_s))
    row = {"detector": type(det).__name__, "name": name,
           "input": f"{det.input_size}x{det.input_size}",
           "train img/s": n_train / epoch_s,
           "train img/s (plain torch)": n_train / plain_epoch if plain_epoch else float("nan"),
           "score img/s": n_score / score_s,
           "score img/s (plain torch)": (n_score / plain_score if np.isfinite(plain_score)
                                         else float("nan"))}
    row["train ratio"] = row["train img/s"] / row["train img/s (plain torch)"]
    row["score ratio"] = row["score img/s"] / row["score img/s (plain torch)"]
    row["notes"] = "; ".join(notes)
    row["config"] = json.dumps(report.config(det), sort_keys=True)
    return row


def main(argv=None) -> list[dict]:
    from skssad.profiles import DETECTORS

    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--detectors", nargs="+", default=None,
                   help=f"default: every importable one of {sorted(DETECTORS)}")
    p.add_argument("--profile", choices=("quick", "paper"), default="quick")
    p.add_argument("--n-train", type=int, default=512)
    p.add_argument("--n-score", type=int, default=512)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default=None,
                   help="results stem: writes OUT.md and OUT.csv (default: print only)")
    args = p.parse_args(argv)
    report.use_omp_threads()
    rep = report.Report(
        f"Throughput, profile `{args.profile}`", prog="benchmarks.throughput", argv=argv,
        seed=0, profile=args.profile,
        data=(f"{args.n_train} training / {args.n_score} scored 8x8 digits (upsampled to the "
              "input size; moving-digit videos for frame_permutation), "
              f"{args.epochs} epochs, first epoch dropped"),
        notes=["train img/s counts source images per second (each yields the task's views); "
               "plain torch = the same module, task, criterion and optimizer in a bare loop; "
               "scoring best of 3; score plain = the detector's chunk scorer on the same "
               "padded chunks; ratio = skssad / plain; a net with its own training step "
               "(two views, a critic) runs that step function in the bare loop instead "
               "(see notes)"])
    rows, skipped = [], []
    for name in args.detectors or sorted(DETECTORS):
        try:
            rows.append(measure(name, args.profile, args.n_train, args.n_score, args.epochs))
        except Exception as exc:  # noqa: BLE001 - one detector must not stop the others
            skipped.append(f"{name} ({type(exc).__name__}: {exc})")
            continue
        r = rows[-1]
        print(f"{name}: train {r['train img/s']:.0f} img/s "
              f"(plain {r['train img/s (plain torch)']:.0f}, ratio {r['train ratio']:.2f}); "
              f"score {r['score img/s']:.0f} img/s "
              f"(plain {r['score img/s (plain torch)']:.0f}, ratio {r['score ratio']:.2f})",
              flush=True)
    table = pd.DataFrame(rows)
    shown = table.drop(columns=["config"]) if "config" in table else table
    rep.table("Throughput", shown, csv=False, floatfmt=".2f")
    if rows:
        rep.table("Per-detector rows", table, markdown=False)
    if skipped:
        rep.text("Not measured: " + "; ".join(skipped))
    if args.out:
        rep.write(args.out)
    print(report.markdown_table(shown, floatfmt=".2f") if rows else "nothing measured")
    return rows


if __name__ == "__main__":
    main()
