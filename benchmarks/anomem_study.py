"""AnoMem studies (anomem-contrasted-memory.txt §4): memory, one-vs-all, γ protocol, Table 4(b).

Usage (2-core CPU, from the repository root)::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part memory --dataset mnist \
        --classes 3 8 --max-train 500 --max-test 1000
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part ablation   # digits
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part mnist
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part gamma

``--part memory`` compares memory formulations and contrastive remedies on
what issue 17 asked: retrieval concentration (median effective slots per
query on normal training data), whether the nearest stored prototype
separates held-out anomalies (AUROC), the cosine 1-NN AUROC of the learned
pooled features against an untrained network and raw pixels, and the
detector's own AUROC. Each part writes ``benchmarks/results/anomem_<part>[_<dataset>].md``
and a CSV with the command, git sha, machine, date and configuration.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skssad.benchmark import one_vs_all, semi_supervised
from skssad.datasets import load_digits_images, load_image_folder, load_mnist
from skssad.profiles import make_detector, profile_settings

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
#: default data locations: the shared folder beside the repository
DATA = {"mnist": ROOT.parent / "shared" / "data" / "mnist",
        "cifar10-dev": ROOT.parent / "shared" / "data" / "cifar10-dev"}

#: --part memory: variant name -> overrides of the quick profile
MEMORY_VARIANTS = {
    "untrained network": dict(max_epochs=1, lr=1e-12),
    "raw Eq. (1), cosine deviation": dict(normalize="none", deviation="cosine",
                                          n_retrieval_steps=1),
    "beta on the cosine": dict(normalize="cosine"),
    "layer-normalised (Alg. 1)": dict(normalize="layer"),
    "layer-normalised, beta/sqrt(d)": dict(normalize="scaled"),
    "layer-normalised + rotation negatives": dict(normalize="layer", negatives="rotation"),
    "layer-normalised + data init": dict(normalize="layer", memory_init="data"),
}


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch threads "
            f"{torch.get_num_threads()}, {gpu}")


def _git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skssad", "benchmarks"],
                               capture_output=True, text=True, cwd=ROOT).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _digits_split():
    """Stratified 50/50 split of sklearn's digits (seed 0)."""
    d = load_digits_images()
    Xtr, Xte, ytr, yte = train_test_split(d.images, d.target, test_size=0.5,
                                          stratify=d.target, random_state=0)
    return Xtr, ytr, Xte, yte


def _load(dataset: str, data_dir: str | None):
    path = Path(data_dir) if data_dir else DATA[dataset]
    if not path.exists():
        raise SystemExit(f"{dataset} not found at {path}; pass --data-dir.")
    if dataset == "mnist":
        tr, te = load_mnist(path, "train"), load_mnist(path, "t10k")
    else:
        tr, te = load_image_folder(path, "train"), load_image_folder(path, "test")
    return tr.images, np.asarray(tr.target), te.images, np.asarray(te.target)


def _stratified(y, n, seed=0):
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    per = max(n // len(classes), 1)
    return np.concatenate([rng.choice(np.where(y == c)[0], min(per, (y == c).sum()),
                                      replace=False) for c in classes])


def _knn_auroc(train, test, normal):
    """Cosine 1-NN distance to the training features as anomaly score (PyOD's KNN)."""
    a = train / np.linalg.norm(train, axis=1, keepdims=True).clip(1e-12)
    b = test / np.linalg.norm(test, axis=1, keepdims=True).clip(1e-12)
    return roc_auc_score(normal, (b @ a.T).max(1))


def _pixels(X, size):
    t = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    t = t[:, None] if t.dim() == 3 else t.permute(0, 3, 1, 2)
    t = torch.nn.functional.interpolate(t, size=size, mode="bilinear", antialias=True)
    return t.flatten(1).numpy()


def _memory_study(a, Xtr, ytr, Xte, yte, variants):
    te = _stratified(yte, a.max_test)
    Xte, yte = Xte[te], yte[te]
    params, _ = profile_settings("anomem", a.profile)
    rows = []
    for c in a.classes:
        pool = np.where(ytr == c)[0]
        idx = np.random.RandomState(0).choice(pool, min(a.max_train, len(pool)), replace=False)
        X, normal = Xtr[idx], yte == c
        size = params.get("input_size") or Xtr.shape[1]
        rows.append(dict(normal_class=c, variant="raw pixels (cosine 1-NN)",
                         knn_auroc=[_knn_auroc(_pixels(X, size), _pixels(Xte, size), normal)]))
        for name, kw in variants.items():
            for seed in a.seeds:
                t0 = time.time()
                det = make_detector("anomem", a.profile, random_state=seed, **kw).fit(X)
                fit_s = time.time() - t0
                auroc = roc_auc_score(normal, det.score_samples(Xte))
                near = det.anomaly_prototype_distance(Xte)
                knn = [_knn_auroc(f_tr, f_te, normal)
                       for f_tr, f_te in zip(det.embed(X), det.embed(Xte), strict=True)]
                health = det.memory_health_
                loss = det.net_.history[:, "train_loss"]
                rows.append(dict(
                    normal_class=c, variant=name, seed=seed, auroc=auroc,
                    prototype_auroc=[roc_auc_score(normal, -near[:, i])
                                     for i in range(near.shape[1])],
                    knn_auroc=knn,
                    effective_slots=[h["effective_slots"] for h in health.values()],
                    n_memory=[h["n_memory"] for h in health.values()],
                    slots_used=[h["slots_used"] for h in health.values()],
                    loss_first=loss[0], loss_last=loss[-1], fit_seconds=fit_s))
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def _fmt(v):
    if isinstance(v, list):
        return " / ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in v)
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["memory", "ablation", "mnist", "gamma"], required=True)
    p.add_argument("--dataset", choices=["mnist", "cifar10-dev"], default="mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--profile", default="quick")
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--classes", nargs="*", default=None)
    p.add_argument("--variants", nargs="*", default=None)
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--draws", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    _, harness = profile_settings("anomem", a.profile)
    max_train = a.max_train or harness.get("max_train")
    a.max_train = max_train
    cmd = "OMP_NUM_THREADS=1 python -m benchmarks.anomem_study " + " ".join(
        sys.argv[1:] if argv is None else argv)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# AnoMem {a.part} ({a.profile} profile)", "", f"- Command: `{cmd}`",
            f"- git: {_git_sha()}", f"- Machine: {_machine()}", f"- Date: {now}",
            f"- Detector: `{make_detector('anomem', a.profile, random_state=0)!r}`, "
            f"max_train={max_train}", ""]
    t0 = time.time()
    part = a.part
    if a.part == "memory":
        Xtr, ytr, Xte, yte = _load(a.dataset, a.data_dir)
        cast = (lambda v: int(v)) if a.dataset == "mnist" else str
        a.classes = [cast(c) for c in (a.classes or np.unique(ytr)[:2])]
        variants = {k: v for k, v in MEMORY_VARIANTS.items()
                    if a.variants is None or k in a.variants}
        df = _memory_study(a, Xtr, ytr, Xte, yte, variants)
        part = f"memory_{a.dataset}"
        cols = ["normal_class", "variant", "seed", "auroc", "prototype_auroc", "knn_auroc",
                "effective_slots", "n_memory", "slots_used", "loss_first", "loss_last",
                "fit_seconds"]
        table = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        table += ["| " + " | ".join(_fmt(r.get(k, "")) for k in cols) + " |"
                  for r in df.to_dict("records")]
        lines = head + [
            f"{a.dataset}: train {max_train} images of the normal class (first seed-0 "
            f"subsample), test a stratified subsample of {a.max_test}. Per scale "
            "(3 / 4): prototype_auroc = AUROC of the distance to the nearest stored "
            "pattern; knn_auroc = cosine 1-NN AUROC of the pooled features (raw pixels: "
            "the resized images); effective_slots = median exp(attention entropy) over "
            "normal training positions; slots_used = share of slots that are some "
            "position's nearest.", "", *table]
    elif a.part == "ablation":
        Xtr, ytr, Xte, yte = _digits_split()
        params, _ = profile_settings("anomem", a.profile)
        scales = tuple(params.get("scales", (3, 4)))
        last = dict(scales=scales[-1:], n_memory=tuple(params["n_memory"])[-1:],
                    sampling_ratio=tuple(params.get("sampling_ratio", (0.3, 1.0)))[-1:])
        variants = {"memory, all scales": {}, "memory, last scale": last,
                    "k-means (closest centroid), all scales": dict(memory="kmeans"),
                    "k-means (closest centroid), last scale": dict(memory="kmeans", **last)}
        rows, frames = ["| variant | mean AUROC | fit s/class |", "|---|---|---|"], []
        for name, kw in variants.items():
            df = one_vs_all(make_detector("anomem", a.profile, random_state=0, **kw), Xtr,
                            ytr, Xte, yte, classes=a.classes and [int(c) for c in a.classes],
                            max_train=max_train)
            df["variant"] = name
            frames.append(df)
            rows.append(f"| {name} | {df.auroc.mean():.4f} | {df.fit_seconds.mean():.1f} |")
        df = pd.concat(frames)
        per = df.pivot(index="normal_class", columns="variant", values="auroc").round(3)
        lines = head + [f"Digits (sklearn, stratified 50/50 split seed 0; test {len(yte)} "
                        "images).", "", *rows, "", "Per class:", "", per.to_markdown()]
    else:
        Xtr, ytr, Xte, yte = _load("mnist", a.data_dir)
        classes = a.classes and [int(c) for c in a.classes]
        if a.part == "mnist":
            df = one_vs_all(make_detector("anomem", a.profile, random_state=0), Xtr, ytr,
                            Xte, yte, classes=classes, max_train=max_train,
                            max_test=a.max_test)
            lines = head + [f"MNIST one-vs-all, test subsample {a.max_test} (stratified), "
                            f"train <= {max_train} normal images per class.", "",
                            f"**mean AUROC {df.auroc.mean():.4f}**", "",
                            df.round(4).to_markdown(index=False)]
        else:
            df = semi_supervised(make_detector("anomem", a.profile, random_state=0), Xtr,
                                 ytr, Xte, yte, classes=classes, max_train=max_train,
                                 max_test=a.max_test, n_draws=a.draws)
            g = df.groupby("gamma")[["auroc", "n_known_anomalies", "fit_seconds"]].mean()
            lines = head + [f"§4.1 protocol on MNIST, classes {classes}, {a.draws} draws "
                            f"per γ > 0, test subsample {a.max_test}.", "",
                            g.round(4).to_markdown(), "", "Per class and draw:", "",
                            df.round(4).to_markdown(index=False)]
    lines += ["", f"Wall time: {time.time() - t0:.0f} s"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"anomem_{part}.md").write_text("\n".join(lines) + "\n")
    df.to_csv(RESULTS / f"anomem_{part}.csv", index=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
