"""Choose AnoMem's quick profile on the cifar10-dev *train* folders only (issue 17).

For each normal class, the detector trains on the first ``--max-train``
train images of that class; validation is a seeded draw of ``--n-val``
images per class from the *last* 1,000 train images of every class (never
used for training, disjoint from ``test/``). Each fit is scored four ways
without refitting (deviation l2 / cosine x scale weights paper / uniform),
and the memory's health is recorded (median effective slots per normal
training query, nearest-prototype AUROC on the validation images).
``--eval test`` scores every image of the test folders instead, to report a
setting once it is chosen.

Usage (2-core CPU, one thread)::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_select --classes cat ship \
        --variants base width16 --out benchmarks/results/anomem_select_cifar10-dev
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from benchmarks import _report as report

#: variant name -> overrides of the quick profile (all at input 32)
VARIANTS = {
    "in32 w8 e10": dict(input_size=32),
    "in32 w8 e10 no-rot": dict(input_size=32, negatives=None),
    "in32 w8 e10 layer": dict(input_size=32, normalize="layer"),
    "in32 w16 e10": dict(input_size=32, width=16),
    "in32 w8 e20": dict(input_size=32, max_epochs=20),
    "in32 w8 e5": dict(input_size=32, max_epochs=5),
    "in32 w8 e10 flip": dict(input_size=32, flip=True),
    "in32 w8 e10 n2000": dict(input_size=32, max_train=2000),
    "in32 w4 e10": dict(input_size=32, width=4),
    "in16 w8 e10": dict(input_size=16),
    "in32 w32 e10": dict(input_size=32, width=32),
    "in32 w8 e40": dict(input_size=32, max_epochs=40),
    "in32 untrained": dict(input_size=32, max_epochs=1, lr=1e-12),
    "in32 w8 e10 flip no-rot": dict(input_size=32, flip=True, negatives=None),
    "in32 w8 e40 flip": dict(input_size=32, flip=True, max_epochs=40),
    "in32 w8 e20 flip n2000": dict(input_size=32, flip=True, max_epochs=20, max_train=2000),
    "in32 w16 e20 flip": dict(input_size=32, flip=True, width=16, max_epochs=20),
    "in32 w8 e40 flip no-rot": dict(input_size=32, flip=True, negatives=None, max_epochs=40),
    # the curve of AUROC against epochs and width (quick = "in32 w8 e10 flip")
    "in32 w8 e5 flip": dict(input_size=32, flip=True, max_epochs=5),
    "in32 w8 e20 flip": dict(input_size=32, flip=True, max_epochs=20),
    "in32 w4 e10 flip": dict(input_size=32, flip=True, width=4),
    "in32 w16 e10 flip": dict(input_size=32, flip=True, width=16),
    "in32 w32 e10 flip": dict(input_size=32, flip=True, width=32),
    # memory_warmup (ours): plain SimCLR first, then Alg. 1 with data-placed patterns
    "in32 w8 e10 flip warmup5": dict(input_size=32, flip=True, memory_warmup=5),
    "in32 w8 e10 flip warmup8": dict(input_size=32, flip=True, memory_warmup=8),
    "in32 w8 e20 flip warmup10": dict(input_size=32, flip=True, max_epochs=20,
                                      memory_warmup=10),
    "in32 w8 e10 flip kmeans": dict(input_size=32, flip=True, memory="kmeans"),
    # a larger memory relative to the batch of 64: fewer anchors share a pattern
    "in32 w8 e10 flip mem256": dict(input_size=32, flip=True, n_memory=(256, 128)),
    "in32 w8 e10 flip mem512": dict(input_size=32, flip=True, n_memory=(512, 256)),
    # the paper's map sides: ResNet-50 at 32 px gives 2x2 after stage 3 and 1x1 after stage 4
    "in32 w8 e10 flip grid21": dict(input_size=32, flip=True, feature_grid=(2, 1)),
    "in32 w8 e10 flip grid42": dict(input_size=32, flip=True, feature_grid=(4, 2)),
    # more negatives per anchor (SimCLR's batch size), the same 160 optimiser steps
    "in32 w8 e20 flip b128": dict(input_size=32, flip=True, max_epochs=20, batch_size=128),
    "in32 w8 e40 flip b256": dict(input_size=32, flip=True, max_epochs=40, batch_size=256),
    # rotation-pretrained, frozen backbone, data-placed memory (anomem_feature_space)
    "in32 w16 e10 flip rot30": dict(input_size=32, flip=True, width=16, rotation_pretrain=30,
                                    memory_init="data"),
    # its curve of AUROC against rotation epochs, width and training images (stop 34)
    **{f"in32 w{w} e10 flip rot{r}{' n' + str(n) if n else ''}": dict(
        input_size=32, flip=True, width=w, rotation_pretrain=r, memory_init="data",
        **({"max_train": n} if n else {}))
       for w, r, n in [(8, 30, 0), (32, 30, 0), (16, 10, 0), (16, 60, 0), (16, 30, 2000)]},
    # larger memories on the frozen rotation features (cosine 1-NN on them: 0.760 vs 0.707)
    **{f"in32 w16 e10 flip rot30 mem{m}": dict(
        input_size=32, flip=True, width=16, rotation_pretrain=30, memory_init="data",
        n_memory=(m, m // 2)) for m in (256, 1024)},
    # the paper's map sides at 32 px (§4.2 ResNet-50: 2x2 after stage 3, 1x1 after stage 4)
    **{f"in32 w16 e10 flip rot30 grid{g}{h}": dict(
        input_size=32, flip=True, width=16, rotation_pretrain=30, memory_init="data",
        feature_grid=(g, h)) for g, h in [(2, 1), (4, 2)]},
    # the stop-34 quick (pooled maps) with twice the rotation epochs: five fits in budget?
    "in32 w16 e10 flip rot60 grid21": dict(input_size=32, flip=True, width=16,
                                           rotation_pretrain=60, memory_init="data",
                                           feature_grid=(2, 1)),
}


#: the quick profile's RGB settings before stop 33 (width 8, Alg. 1 from scratch) and stop 34
#: (maps unpooled), under every variant that does not set them, so that the names above keep
#: their meaning
LEGACY = dict(width=8, rotation_pretrain=0, memory_init="random", feature_grid=None)


def _split(y, n_val, seed=0):
    """Per class: train candidates = first 3,000 indices, validation = n_val of the rest."""
    rng = np.random.RandomState(seed)
    first, val = {}, []
    for c in np.unique(y):
        idx = np.where(y == c)[0]
        first[c] = idx[:len(idx) - 1000]
        val.append(rng.choice(idx[len(idx) - 1000:], n_val, replace=False))
    return first, np.sort(np.concatenate(val))


def _scale_scores(det, X, deviation):
    old = det.deviation
    det.deviation = deviation
    try:
        store = det._input_store(X, reset=False)
        return det._map_chunks(store, lambda c: det._scale_scores(c).double()).numpy()
    finally:
        det.deviation = old


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--classes", nargs="+", default=["cat", "ship"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS)[:1])
    p.add_argument("--max-train", type=int, default=1000)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval", choices=["validation", "test"], default="validation",
                   help="score the validation draw (selection) or every image of the test "
                        "folders (reporting, once the settings are chosen)")
    p.add_argument("--out", default="benchmarks/results/anomem_select_cifar10-dev")
    a = p.parse_args(argv)
    report.use_omp_threads()
    data = report.load_dataset("cifar10-dev")
    names = list(data.info["classes"])
    Xtr, ytr = data.X_train, data.y_train
    first, val = _split(ytr, a.n_val)
    Xv, yv = (Xtr[val], ytr[val]) if a.eval == "validation" else (data.X_test, data.y_test)
    out = report.RESULTS.parent.parent / a.out if not a.out.startswith("/") else a.out
    csv = pd.read_csv(f"{out}.csv") if a.out and pd.io.common.file_exists(f"{out}.csv") else None
    # resume: earlier rows keep their own command / git / date (run_* columns)
    rows = []
    for r in ([] if csv is None else csv.to_dict("records")):
        r.setdefault("detector_seed", r.get("seed"))
        for k in ("command", "git", "date"):
            if pd.isna(r.get(f"run_{k}", np.nan)):
                r[f"run_{k}"] = r.get(k)
        rows.append({k: v for k, v in r.items() if k not in
                     ("command", "git", "machine", "date", "seed", "profile")})
    run = dict(run_command=report.command_line(), run_git=report.git_sha())

    def write():
        df = pd.DataFrame(rows)
        rep = report.Report("AnoMem quick-profile selection on cifar10-dev train folders",
                            seed="per row (detector_seed)", profile="quick", data=data, notes=[
            f"train: the first {a.max_train} train images of the normal class (unless the "
            "variant says n2000); " + (
                f"validation: a seed-0 draw of {a.n_val} images per class from the last 1,000 "
                "train images of each of the 7 classes (disjoint from training; test/ "
                "untouched)." if a.eval == "validation" else
                "scored: every image of the test folders (--eval test)."),
            "auroc_profile: score_samples as fitted; auroc_{l2,cosine}_{paper,uniform}: the "
            "same fit re-scored with that deviation and scale weights; _s3/_s4 one scale.",
            "prototype_auroc: AUROC of minus the mean distance to the nearest stored "
            "pattern; effective_slots: median exp(attention entropy) over normal training "
            "positions (memory_health_); knn_cos_auroc: cosine 1-NN on pooled features; "
            "pixel_knn_l2_auroc: L2 1-NN on raw pixels of the same training images.",
            "loss_first / loss_last: Eq. (7) train loss, chance_loss its chance level "
            "(training_health_).",
            "Rows resumed from earlier runs keep their own run_command / run_git / "
            "run_date; the header's command is the last run's."])
        rep.table("per fit", df)
        keys = ["fit_seconds", "auroc_profile", "auroc_cosine_uniform",
                "prototype_auroc_s3", "prototype_auroc_s4", "effective_slots_s3",
                "effective_slots_s4", "knn_cos_auroc_s3", "knn_cos_auroc_s4",
                "pixel_knn_l2_auroc", "loss_last", "chance_loss"]
        summ = df.groupby("variant", sort=False)[keys].mean()
        summ.insert(0, "fits", df.groupby("variant", sort=False).size())
        summ.insert(1, "classes", df.groupby("variant", sort=False)["normal_class"]
                    .agg(lambda c: " ".join(sorted(set(c)))))
        rep.table("mean over fits (classes and seeds as listed)", summ.reset_index(),
                  csv=False, floatfmt=".3f")
        rep.write(out)

    for cname in a.classes:
        c = names.index(cname)
        normal = yv == c
        Xp = lambda X: X.reshape(len(X), -1).astype(np.float32)  # noqa: E731
        for vname in a.variants:
            kw = {**LEGACY, **VARIANTS[vname]}
            n_train = kw.pop("max_train", a.max_train)
            X = Xtr[first[c][:n_train]]
            det, _ = report.make("anomem", "quick", random_state=a.seed, **kw)
            if report.already_fitted(rows, dict(normal_class=cname, variant=vname,
                                                detector_seed=a.seed), det):
                continue
            t0 = time.time()
            det.fit(X)
            fit_s = time.time() - t0
            t1 = time.time()
            row = dict(normal_class=cname, variant=vname, n_train=len(X), fit_seconds=fit_s,
                       auroc_profile=roc_auc_score(normal, det.score_samples(Xv)))
            for dev in ("l2", "cosine"):
                s = _scale_scores(det, Xv, dev)
                for i, sc in enumerate(det.net_.module_.scales):
                    row[f"auroc_{dev}_s{sc}"] = roc_auc_score(normal, -s[:, i])
                for wname in ("paper", "uniform"):
                    # the detector's own Eq. (13) weights, not a copy of them
                    w = clone(det).set_params(scale_weights=wname)._check_scale_params()[1]
                    row[f"auroc_{dev}_{wname}"] = roc_auc_score(normal, -(s @ w) / w.sum())
            near = det.anomaly_prototype_distance(Xv)
            for i, (sc, h) in enumerate(det.memory_health_.items()):
                row[f"prototype_auroc_s{sc}"] = roc_auc_score(normal, -near[:, i])
                row[f"effective_slots_s{sc}"] = h["effective_slots"]
                row[f"n_memory_s{sc}"] = h["n_memory"]
                row[f"slots_used_s{sc}"] = h["slots_used"]
            for i, (f_tr, f_v) in enumerate(zip(det.embed(X), det.embed(Xv), strict=True)):
                a_ = f_tr / np.linalg.norm(f_tr, axis=1, keepdims=True).clip(1e-12)
                b_ = f_v / np.linalg.norm(f_v, axis=1, keepdims=True).clip(1e-12)
                row[f"knn_cos_auroc_s{det.net_.module_.scales[i]}"] = roc_auc_score(
                    normal, (b_ @ a_.T).max(1))
            d = torch.cdist(torch.from_numpy(Xp(Xv)), torch.from_numpy(Xp(X))).min(1).values
            row["pixel_knn_l2_auroc"] = roc_auc_score(normal, -d.numpy())
            loss = det.net_.history[:, "train_loss"]
            health = det.training_health_.get("net", {}) if hasattr(det, "training_health_") \
                else {}
            report.add_fit_row(rows, row, det, loss_first=loss[0], loss_last=loss[-1],
                               chance_loss=health.get("chance", np.nan),
                               eval_seconds=time.time() - t1, detector_seed=a.seed, **run)
            write()
    write()


if __name__ == "__main__":
    main()
