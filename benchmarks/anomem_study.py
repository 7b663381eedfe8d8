"""AnoMem studies (anomem-contrasted-memory.txt §4): one-vs-all, γ protocol, Table 4(b).

Usage (2-core CPU)::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part ablation   # digits
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part mnist
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part gamma

Each part writes ``benchmarks/results/anomem_<part>.md`` (and a CSV of the
per-class rows) with the command, sizes and the detector configuration.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skssad.benchmark import one_vs_all, semi_supervised
from skssad.datasets import load_digits_images, load_mnist
from skssad.profiles import make_detector, profile_settings

RESULTS = Path(__file__).parent / "results"
MNIST = "/work/shared/data/mnist"

MACHINE = "2-core x86_64 CPU, OMP_NUM_THREADS=1, shared with another benchmark job"


def _ablations() -> dict[str, dict]:
    """Table 4(b): learned memory vs k-means centroids, all profile scales vs the last one."""
    params, _ = profile_settings("anomem", "quick")
    scales = tuple(params.get("scales", (3, 4)))
    last = dict(scales=scales[-1:], n_memory=tuple(params["n_memory"])[-1:],
                sampling_ratio=tuple(params.get("sampling_ratio", (0.3, 1.0)))[-1:])
    all_name = "+".join(str(s) for s in scales)
    return {f"memory, scales {all_name}": {},
            f"memory, scale {scales[-1]}": last,
            f"k-means, scales {all_name}": dict(memory="kmeans"),
            f"k-means, scale {scales[-1]}": dict(memory="kmeans", **last)}


def _git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skssad", "benchmarks"],
                               capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _digits_split():
    d = load_digits_images()
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(d.target))
    tr, te = idx[: len(idx) // 2], idx[len(idx) // 2:]
    return d.images[tr], d.target[tr], d.images[te], d.target[te]


def _write(part: str, lines: list[str], df) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"anomem_{part}.md").write_text("\n".join(lines) + "\n")
    df.to_csv(RESULTS / f"anomem_{part}.csv", index=False)
    print("\n".join(lines))


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["ablation", "mnist", "gamma"], required=True)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--classes", type=int, nargs="*", default=None)
    p.add_argument("--draws", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    _, harness = profile_settings("anomem", "quick")
    max_train = harness.get("max_train")
    cmd = "OMP_NUM_THREADS=1 python -m benchmarks.anomem_study " + " ".join(
        sys.argv[1:] if argv is None else argv)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# AnoMem {a.part} (quick profile)", "", f"- Command: `{cmd}`",
            f"- git: {_git_sha()}", f"- Machine: {MACHINE}", f"- Date: {now}",
            f"- Detector: `{make_detector('anomem', random_state=0)!r}`, "
            f"max_train={max_train}", ""]
    t0 = time.time()
    if a.part == "ablation":
        Xtr, ytr, Xte, yte = _digits_split()
        rows, frames = ["| variant | mean AUROC | fit s/class |", "|---|---|---|"], []
        for name, kw in _ablations().items():
            df = one_vs_all(make_detector("anomem", random_state=0, **kw), Xtr, ytr, Xte,
                            yte, classes=a.classes, max_train=max_train)
            df["variant"] = name
            frames.append(df)
            rows.append(f"| {name} | {df.auroc.mean():.4f} | {df.fit_seconds.mean():.1f} |")
        import pandas as pd

        df = pd.concat(frames)
        head.append("Digits (sklearn, 50/50 split seed 0; test "
                    f"{len(yte)} images), one-vs-all over classes "
                    f"{[int(c) for c in sorted(df.normal_class.unique())]}.")
        per = df.pivot(index="normal_class", columns="variant", values="auroc").round(3)
        lines = head + ["", *rows, "", "Per class:", "", per.to_markdown()]
    else:
        tr, te = load_mnist(MNIST, "train"), load_mnist(MNIST, "t10k")
        if a.part == "mnist":
            df = one_vs_all(make_detector("anomem", random_state=0), tr.images, tr.target,
                            te.images, te.target, classes=a.classes, max_train=max_train,
                            max_test=a.max_test)
            lines = head + [f"MNIST one-vs-all, test subsample {a.max_test} (stratified), "
                            f"train <= {max_train} normal images per class.", "",
                            f"**mean AUROC {df.auroc.mean():.4f}**, total "
                            f"{df.fit_seconds.sum() + df.score_seconds.sum():.0f} s", "",
                            df.round(4).to_markdown(index=False)]
        else:
            df = semi_supervised(make_detector("anomem", random_state=0), tr.images,
                                 tr.target, te.images, te.target, classes=a.classes,
                                 max_train=max_train, max_test=a.max_test, n_draws=a.draws)
            g = df.groupby("gamma")[["auroc", "n_known_anomalies", "fit_seconds"]].mean()
            lines = head + [f"§4.1 protocol on MNIST, classes {a.classes}, {a.draws} draws "
                            f"per γ > 0, test subsample {a.max_test}.", "",
                            g.round(4).to_markdown(), "", "Per class and draw:", "",
                            df.round(4).to_markdown(index=False)]
    lines += ["", f"Wall time: {time.time() - t0:.0f} s"]
    _write(a.part, lines, df)


if __name__ == "__main__":
    main()
