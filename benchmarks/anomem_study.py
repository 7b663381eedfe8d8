"""AnoMem studies (anomem-contrasted-memory.txt §4): memory, one-vs-all, γ protocol, Table 4(b).

Usage (2-core CPU, from the repository root)::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part memory --dataset mnist \
        --classes 3 8 --max-train 500 --max-test 1000
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part ablation   # digits
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part mnist
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part gamma
    OMP_NUM_THREADS=1 python -m benchmarks.anomem_study --part linear --dataset cifar10-dev \
        --max-train 2000 --max-test 1400 --seeds 0 1

``--part linear`` is Table 4(a): linear evaluation of the encoder trained
on every class with and without the memory. ``--part memory`` compares
memory formulations and contrastive remedies on what issue 17 asked:
retrieval concentration (median effective slots per query on normal
training data), whether the nearest stored prototype
separates held-out anomalies (AUROC), the cosine 1-NN AUROC of the learned
pooled features against an untrained network and raw pixels, and the
detector's own AUROC. Each part writes ``benchmarks/results/anomem_<part>[_<dataset>].md`` and
its CSV through ``benchmarks/_report.py`` (command, git sha, machine, date,
seed and configuration on every row).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from benchmarks import _report as report
from benchmarks.anomem_select import LEGACY
from skssad.benchmark import max_train_for, modality

#: --part memory: variant name -> overrides of the quick profile
MEMORY_VARIANTS = {
    "untrained network": dict(max_epochs=1, lr=1e-12, negatives=None),
    "raw Eq. (1), cosine deviation": dict(normalize="none", deviation="cosine",
                                          n_retrieval_steps=1, negatives=None),
    "beta on the cosine": dict(normalize="cosine", negatives=None),
    "layer-normalised (Alg. 1)": dict(normalize="layer", negatives=None),
    "layer-normalised, beta/sqrt(d)": dict(normalize="scaled", negatives=None),
    "layer-normalised + rotation negatives": dict(normalize="layer", negatives="rotation"),
    "layer-normalised + data init": dict(normalize="layer", memory_init="data",
                                         negatives=None),
    "layer-normalised, beta/sqrt(d) + rotation negatives": dict(normalize="scaled",
                                                                negatives="rotation"),
}


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


def _input_side(est, X) -> int:
    """The side ``est`` resizes ``X`` to, "auto" resolved on the images' channels as fit does."""
    if est.input_size != "auto":
        return est.input_size or X.shape[1]
    return est._AUTO["input_size"][modality(X)]


def _memory_study(a, Xtr, ytr, Xte, yte, variants):
    te = _stratified(yte, a.max_test)
    Xte, yte = Xte[te], yte[te]
    est, _ = report.make("anomem", a.profile)
    size = _input_side(est, Xtr)
    rows = []
    for c in a.classes:
        pool = np.where(ytr == c)[0]
        idx = np.random.RandomState(0).choice(pool, min(a.max_train, len(pool)), replace=False)
        X, normal = Xtr[idx], yte == c
        rows.append(dict(normal_class=c, variant="raw pixels (cosine 1-NN)",
                         knn_auroc_s3=_knn_auroc(_pixels(X, size), _pixels(Xte, size), normal)))
        for name, kw in variants.items():
            for seed in a.seeds:
                t0 = time.time()
                # the variants are of the former RGB setting (on grayscale LEGACY is "auto")
                det, _ = report.make("anomem", a.profile, random_state=seed, **{**LEGACY, **kw})
                det.fit(X)
                fit_s = time.time() - t0
                auroc = roc_auc_score(normal, det.score_samples(Xte))
                near = det.anomaly_prototype_distance(Xte)
                knn = [_knn_auroc(f_tr, f_te, normal)
                       for f_tr, f_te in zip(det.embed(X), det.embed(Xte), strict=True)]
                health = det.memory_health_
                loss = det.net_.history[:, "train_loss"]
                row = dict(normal_class=c, variant=name, seed=seed, auroc=auroc)
                for i, (s, h) in enumerate(health.items()):
                    row[f"prototype_auroc_s{s}"] = roc_auc_score(normal, -near[:, i])
                    row[f"knn_auroc_s{s}"] = knn[i]
                    row[f"effective_slots_s{s}"] = h["effective_slots"]
                    row[f"slots_used_s{s}"] = h["slots_used"]
                row.update(loss_first=loss[0], loss_last=loss[-1], fit_seconds=fit_s,
                           config=json.dumps(report.config(det), sort_keys=True))
                rows.append(row)
                print({k: v for k, v in row.items() if k != "config"}, flush=True)
    return pd.DataFrame(rows)


#: --part linear (Table 4(a)): variant name -> overrides of the quick profile
#: (the rows of the former RGB setting keep it through LEGACY: width 8, Alg. 1 from scratch)
LINEAR_VARIANTS = {
    "untrained network": dict(LEGACY, max_epochs=1, lr=1e-12),
    "contrastive, no memory (SimCLR)": dict(LEGACY, memory="kmeans"),
    "contrastive with memory (Alg. 1)": dict(LEGACY),
    "memory after a 5-epoch warm-up (ours)": dict(LEGACY, memory_warmup=5),
    # stop 34: the quick profile's RGB setting (width 16, 30 rotation epochs, frozen)
    "untrained network, width 16": dict(width=16, rotation_pretrain=0, max_epochs=1,
                                        lr=1e-12),
    "contrastive with memory (Alg. 1), width 16": dict(width=16, rotation_pretrain=0,
                                                       memory_init="random"),
    "rotation-pretrained, frozen; Alg. 1 on the memories (quick, ours)": {},
}


def _linear_study(a, Xtr, ytr, Xte, yte):
    """Table 4(a): linear evaluation of the encoder trained on every class, with and
    without the memory in the first branch (§4.4), and of raw pixels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tr = _stratified(ytr, a.max_train)
    te = _stratified(yte, a.max_test)
    Xtr, ytr, Xte, yte = Xtr[tr], ytr[tr], Xte[te], yte[te]

    def probe(f_tr, f_te):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        return float(clf.fit(f_tr, ytr).score(f_te, yte))

    est, _ = report.make("anomem", a.profile)
    size = _input_side(est, Xtr)
    rows = [dict(variant="raw pixels", seed=0,
                 accuracy_s3=probe(_pixels(Xtr, size), _pixels(Xte, size)))]
    for name, kw in LINEAR_VARIANTS.items():
        if a.variants and name not in a.variants:
            continue
        for seed in a.seeds:
            t0 = time.time()
            det, _ = report.make("anomem", a.profile, random_state=seed, **kw)
            det.fit(Xtr)
            row = dict(variant=name, seed=seed, fit_seconds=time.time() - t0,
                       loss_last=det.net_.history[-1, "train_loss"],
                       chance_loss=det.training_health_["net"]["chance"])
            for s, f_tr, f_te in zip(det.net_.module_.scales, det.embed(Xtr), det.embed(Xte),
                                     strict=True):
                row[f"accuracy_s{s}"] = probe(f_tr, f_te)
            row["config"] = json.dumps(report.config(det), sort_keys=True)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "config"}, flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["memory", "ablation", "mnist", "gamma", "linear"],
                   required=True)
    p.add_argument("--dataset", choices=["mnist", "cifar10-dev"], default="mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--profile", default="quick")
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--classes", nargs="*", default=None)
    p.add_argument("--variants", nargs="*", default=None)
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--draws", type=int, default=2)
    p.add_argument("--gammas", type=float, nargs="*", default=[0.0, 0.01, 0.05, 0.10])
    p.add_argument("--out", default=None,
                   help="stem under benchmarks/results (default: anomem_<part>[_<dataset>])")
    a = p.parse_args(argv)
    report.use_omp_threads()
    _, harness = report.make("anomem", a.profile)
    a.max_train = a.max_train or harness.get("max_train")
    t0 = time.time()
    # --part linear / memory read --dataset; ablation / gamma run on the dev photographs'
    # test folders with --dataset cifar10-dev, otherwise on digits (ablation) and MNIST.
    dataset = (a.dataset if a.part in ("linear", "memory") or a.dataset == "cifar10-dev"
               else "digits" if a.part == "ablation" else "mnist")
    data = report.load_dataset(dataset, path=a.data_dir if dataset != "digits" else None)
    a.max_train = max_train_for(a.max_train, data.X_train)
    if a.part == "linear":
        df = _linear_study(a, *data)
        rep = report.Report(f"AnoMem Table 4(a): linear evaluation on {a.dataset}",
                            seed=a.seeds, profile=a.profile, data=data, notes=[
            f"The encoder trains on a stratified subsample of {a.max_train} training images "
            f"of every class (all normal); a logistic regression (standardised features) on "
            f"the pooled features of each tapped scale (embed) of the same images is scored "
            f"on a stratified subsample of {a.max_test} test images (accuracy over "
            f"{len(np.unique(data.y_train))} classes).",
            "raw pixels: the same probe on the images resized to the input size "
            "(accuracy_s3 column)."])
        rep.table("per fit", df, csv=True, markdown=False)
        shown = df.drop(columns=["config"], errors="ignore")
        rep.table("per fit (config in the CSV)", shown, csv=False, floatfmt=".3f")
        summ = shown.groupby("variant", sort=False).agg(["mean", "std"]).drop(
            columns=["seed"], level=0, errors="ignore")
        summ.columns = [f"{k} {v}" for k, v in summ.columns]
        rep.table("mean and std over seeds", summ.reset_index(), csv=False, floatfmt=".3f")
        stem = f"anomem_linear_{a.dataset}"
    elif a.part == "memory":
        names = list(data.info.get("classes", []))
        classes = a.classes or list(np.unique(data.y_train)[:2])
        # Image folders label by index; accept their class names on the command line.
        a.classes = [names.index(c) if c in names else int(c) for c in classes]
        variants = {k: v for k, v in MEMORY_VARIANTS.items()
                    if a.variants is None or k in a.variants}
        df = _memory_study(a, *data, variants)
        rep = report.Report(f"AnoMem memory study on {a.dataset}", seed=a.seeds,
                            profile=a.profile, data=data, notes=[
            f"train: {a.max_train} images of the normal class (seed-0 subsample); test: a "
            f"stratified subsample of {a.max_test}.",
            "Per scale s: prototype_auroc = AUROC of the distance to the nearest stored "
            "pattern (anomaly_prototype_distance); knn_auroc = cosine 1-NN AUROC of the "
            "pooled features (embed; for raw pixels: the resized images, in the s3 column); "
            "effective_slots = median exp(attention entropy) over normal training "
            "positions; slots_used = share of slots that are some position's nearest."])
        shown = df.drop(columns=["config"], errors="ignore")
        rep.table("per class", df, csv=True)
        rep.table("summary", shown.groupby("variant", sort=False).mean(numeric_only=True)
                  .drop(columns=["seed"], errors="ignore"), csv=False, index=True,
                  floatfmt=".3f")
        stem = f"anomem_memory_{a.dataset}"
    else:
        names = list(data.info.get("classes", []))
        classes = a.classes and [names.index(c) if c in names else int(c) for c in a.classes]
        kw = dict(classes=classes, max_train=a.max_train)
        if dataset == "cifar10-dev":
            kw.update(max_test=a.max_test, seeds=a.seeds)
        if a.part == "ablation":
            est, _ = report.make("anomem", a.profile)
            scales = tuple(est.scales)
            last = dict(scales=scales[-1:], n_memory=tuple(est.n_memory)[-1:],
                        sampling_ratio=tuple(est.sampling_ratio)[-1:])
            grid = {"memory, all scales": {}, "memory, last scale": last,
                    "k-means (closest centroid), all scales": dict(memory="kmeans"),
                    "k-means (closest centroid), last scale": dict(memory="kmeans", **last)}
        elif a.part == "mnist":
            grid = {"profile": {}}
            kw["max_test"] = a.max_test
        else:
            grid = {"profile": {}}
            kw.update(max_test=a.max_test, gammas=tuple(a.gammas), n_draws=a.draws)
        if a.variants:
            grid = {k: v for k, v in grid.items() if k in a.variants}
        df = report.one_vs_all_grid("anomem", grid, data, profile=a.profile, **kw)
        by = ["variant", "gamma"] if a.part == "gamma" else ["variant"]
        rep = report.Report(f"AnoMem {a.part}", seed=kw.get("seeds", 0), profile=a.profile,
                            data=data)
        rep.table("per class", df)
        rep.table("summary", report.summarize(df, by=by), csv=False)
        stem = f"anomem_{a.part}" + ("_cifar10-dev" if dataset == "cifar10-dev" else "")
    rep.note(f"wall time {time.time() - t0:.0f} s")
    stem = a.out or stem
    rep.write(report.RESULTS / stem)
    print((report.RESULTS / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
