"""Where one training epoch's time goes, per detector: ``torch.profiler`` on this CPU.

Each detector (``quick`` profile, two epochs) fits on small data: the
training half of scikit-learn's digits (all classes, as one normal set;
labels play no part in a profile) or, for video detectors, moving-digit
videos. The *second* epoch of every net the detector trains is profiled
(the first pays one-time initialisation) with a skorch callback, and
summed over the nets: that is one training epoch of the detector. ::

    OMP_NUM_THREADS=1 python -m benchmarks.profile_epoch
    OMP_NUM_THREADS=1 python -m benchmarks.profile_epoch --detectors geometric igd --top 10

Two tables come out:

``top ops``
    The ``--top`` operators by self CPU time (``torch.profiler``'s
    ``self_cpu_time_total``, summed over the profiled epochs): milliseconds,
    share of the profiled epoch's wall time, calls, and the phase that
    spent most of that time (below).
``phases``
    The epoch's wall time split into phases by timers on the library's
    seams, each charged only the time not spent in a nested phase:
    *data: batch* (``DeviceBatchLoader``: index the device-resident store,
    scale, resize), *data: pretext views* (the task: tile shuffles, hue
    rotations, crops, frame shuffles — made on the device), *forward*
    (``infer``), *loss*, *backward*, *optimizer* (``step``, ``zero_grad``),
    *step: other* (the rest of a training step: IGD's critic loss,
    skorch's bookkeeping), *epoch: callbacks* (LR schedule, IGD's E-step,
    history). ``data`` is the sum of the first two; ``model`` forward +
    loss + backward + optimizer.

Profiling slows the epoch down (every op is recorded); the shares are of
the profiled epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections import defaultdict
from unittest import mock

import pandas as pd
import torch
from skorch.callbacks import Callback

from benchmarks import _report as report

#: Detectors that take videos instead of images.
VIDEO_DETECTORS = frozenset({"frame_permutation"})

BATCH = "data: batch"
VIEWS = "data: pretext views"
FORWARD, LOSS, BACKWARD, OPTIMIZER = "forward", "loss", "backward", "optimizer"
STEP, LOOP, CALLBACKS = "step: other", "epoch: skorch loop", "epoch: callbacks"
PHASES = (BATCH, VIEWS, FORWARD, LOSS, BACKWARD, OPTIMIZER, STEP, LOOP, CALLBACKS)


class Timeline:
    """Exclusive wall time per phase: time goes to the innermost open phase."""

    def __init__(self):
        self.active = False
        self.stack: list[str] = []
        self.totals: dict[str, float] = defaultdict(float)
        self._t = 0.0

    def _charge(self) -> None:
        now = time.perf_counter()
        self.totals[self.stack[-1]] += now - self._t
        self._t = now

    def start(self) -> None:
        self.active, self.stack, self._t = True, [CALLBACKS], time.perf_counter()

    def stop(self) -> None:
        self._charge()
        self.active = False

    @contextlib.contextmanager
    def phase(self, label: str):
        if not self.active:
            yield
            return
        self._charge()
        self.stack.append(label)
        try:
            with torch.profiler.record_function(label):
                yield
        finally:
            self._charge()
            self.stack.pop()


TIMELINE = Timeline()
#: (net name, profiler, wall seconds) of every profiled epoch
PROFILES: list[tuple[str, torch.profiler.profile, float]] = []


class ProfileEpoch(Callback):
    """Profile epoch ``epoch`` (1-based) of the net it is given to."""

    def __init__(self, epoch: int = 2):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        self.prof_ = None
        if len(net.history) == self.epoch:  # skorch appends the epoch's row first
            self.prof_ = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof_.__enter__()
            self.t0_ = time.perf_counter()
            TIMELINE.start()

    def on_epoch_end(self, net, **kwargs):
        if getattr(self, "prof_", None) is None:
            return
        TIMELINE.stop()
        wall = time.perf_counter() - self.t0_
        self.prof_.__exit__(None, None, None)
        PROFILES.append((type(net.module_).__name__, self.prof_, wall))
        self.prof_ = None


def _wrap(label, fn):
    def wrapped(*args, **kwargs):
        with TIMELINE.phase(label):
            return fn(*args, **kwargs)
    return wrapped


def _wrap_iter(fn):
    def wrapped(self):
        it = fn(self)
        while True:
            with TIMELINE.phase(BATCH):
                try:
                    batch = next(it)
                except StopIteration:
                    return
            yield batch
    return wrapped


@contextlib.contextmanager
def instrumented():
    """Phase timers on the library's seams (see the module docstring)."""
    from skorch import NeuralNet

    from skssad.training import CriticNet, DeviceBatchLoader, PretextNet

    patches = [
        (DeviceBatchLoader, "__iter__", _wrap_iter(DeviceBatchLoader.__iter__)),
        (PretextNet, "_task_batch", _wrap(VIEWS, PretextNet._task_batch)),
        (NeuralNet, "infer", _wrap(FORWARD, NeuralNet.infer)),
        (NeuralNet, "get_loss", _wrap(LOSS, NeuralNet.get_loss)),
        (NeuralNet, "train_step", _wrap(STEP, NeuralNet.train_step)),
        (CriticNet, "train_step", _wrap(STEP, CriticNet.train_step)),
        (NeuralNet, "run_single_epoch", _wrap(LOOP, NeuralNet.run_single_epoch)),
        (torch.Tensor, "backward", _wrap(BACKWARD, torch.Tensor.backward)),
        (torch.optim.Optimizer, "zero_grad", _wrap(OPTIMIZER, torch.optim.Optimizer.zero_grad)),
    ]
    for opt in (torch.optim.SGD, torch.optim.Adam):
        patches.append((opt, "step", _wrap(OPTIMIZER, opt.step)))
    with contextlib.ExitStack() as stack:
        for owner, name, new in patches:
            stack.enter_context(mock.patch.object(owner, name, new))
        yield


def _phase_of(event, labels) -> str:
    p = event.cpu_parent
    while p is not None and p.name not in labels:
        p = p.cpu_parent
    return p.name if p is not None else "outside phases"


def profile_detector(name: str, X, *, epochs: int, seed: int, top: int):
    PROFILES.clear()
    TIMELINE.totals.clear()
    det, _ = report.make(name, "quick", random_state=seed, max_epochs=epochs, device="cpu",
                         callbacks=[ProfileEpoch(epochs)])
    t0 = time.perf_counter()
    with instrumented():
        det.fit(X)
    fit_s = time.perf_counter() - t0
    wall = sum(w for _, _, w in PROFILES)
    ops: dict[str, dict] = defaultdict(lambda: dict(us=0.0, calls=0, by_phase=defaultdict(float)))
    labels = set(PHASES)
    for _, prof, _ in PROFILES:
        for evt in prof.events():
            if evt.name in labels or evt.name.startswith("ProfilerStep"):
                continue
            rec = ops[evt.name]
            rec["us"] += evt.self_cpu_time_total
            rec["calls"] += 1
            rec["by_phase"][_phase_of(evt, labels)] += evt.self_cpu_time_total
    ranked = sorted(ops.items(), key=lambda kv: -kv[1]["us"])[:top]
    nets = ", ".join(n for n, _, _ in PROFILES)
    top_rows = [dict(detector=name, rank=i + 1, op=op, self_cpu_ms=r["us"] / 1e3,
                     share_of_epoch=r["us"] / 1e6 / wall, calls=r["calls"],
                     mostly_in=max(r["by_phase"], key=r["by_phase"].get))
                for i, (op, r) in enumerate(ranked)]
    totals = dict(TIMELINE.totals)
    phase_row = {"detector": name, "nets profiled": nets, "epoch wall s": wall}
    for ph in PHASES:
        phase_row[ph] = totals.get(ph, 0.0) / wall
    phase_row["data"] = phase_row[BATCH] + phase_row[VIEWS]
    phase_row["model"] = sum(phase_row[p] for p in (FORWARD, LOSS, BACKWARD, OPTIMIZER))
    phase_row["n_train"] = len(X)
    phase_row["fit s (with profiling)"] = fit_s
    phase_row["config"] = report.describe(det)
    return top_rows, phase_row


def training_data(name: str, n_videos: int):
    if name in VIDEO_DETECTORS:
        from skssad.datasets import make_moving_digits

        X, _ = make_moving_digits(n_videos, n_frames=20, size=16, random_state=0,
                                  return_X_y=True)
        return X, f"{n_videos} moving-digit videos (20 frames of 16x16, seed 0)"
    data = report.load_dataset("digits")
    return data.X_train, f"digits training half ({len(data.X_train)} images, 8x8)"


def main(argv=None):
    from skssad import profiles

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detectors", nargs="+", default=sorted(profiles.DETECTORS))
    p.add_argument("--epochs", type=int, default=2, help="the last one is profiled")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--videos", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--contention", default=None,
                   help="a note on other load on the machine during the run")
    p.add_argument("--out", default="profile_epoch")
    args = p.parse_args(argv)
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2: the first epoch is not profiled.")
    report.use_omp_threads()
    load_start = os.getloadavg()
    # Made before the runs: the git revision is that of the code measured.
    rep = report.Report("One training epoch per detector under torch.profiler (CPU)",
                        seed=args.seed, profile="quick")
    tops, phases, data_notes = [], [], {}
    for name in args.detectors:
        X, what = training_data(name, args.videos)
        data_notes[what] = data_notes.get(what, []) + [name]
        t, ph = profile_detector(name, X, epochs=args.epochs, seed=args.seed, top=args.top)
        tops += t
        phases.append(ph)
        print(pd.DataFrame(t).to_string(index=False), flush=True)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in ph.items()
               if k != "config"}, flush=True)
    load_end = os.getloadavg()
    rep.data = "; ".join(f"{w} for {', '.join(n)}" for w, n in data_notes.items())
    rep.note(f"Quick profile with max_epochs={args.epochs}; epoch {args.epochs} of every net "
             "the detector trains is profiled and summed (one detector epoch).",
             "self_cpu_ms: torch.profiler self CPU time summed over calls; share_of_epoch: of "
             "the profiled epoch's wall time; mostly_in: the phase that spent most of it.",
             "Phases: exclusive wall-time shares (see the script's docstring); data = batch "
             "+ pretext views, model = forward + loss + backward + optimizer.",
             f"1-minute load average at start / end: {load_start[0]:.2f} / {load_end[0]:.2f} "
             f"on {os.cpu_count()} CPUs")
    if args.contention:
        rep.note(f"Load: {args.contention}")
    ph = pd.DataFrame(phases)
    rep.table("phases", ph, markdown=False)
    rep.table("phase shares", ph.drop(columns=["config"]), csv=False, floatfmt=".3f")
    rep.table("top ops", pd.DataFrame(tops))
    rep.write(report.RESULTS / args.out)


if __name__ == "__main__":
    main()
