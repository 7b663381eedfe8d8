"""Can a memory of prototypes separate cifar10-dev anomalies in AnoMem's feature space? (issue 17)

The issue asks that the distance to the nearest stored prototype separate
anomalies (AUROC > 0.7) on cifar10-dev. This probe asks which feature space
of AnoMem's backbone (the quick profile's ResNet-10, width 8, input 32) could
carry such prototypes, on the cifar10-dev *train* folders only (the split of
``benchmarks.anomem_select``: the first 1,000 train images of the normal
class, 200 validation images per class from the last 1,000 of each class;
the test folders are not read). Feature spaces, per normal class:

- ``untrained``: the randomly initialised backbone.
- ``anomem``: the quick profile's RGB fit (Alg. 1 with rotation negatives).
- ``rotation``: the same backbone (``--rotation-width`` channels) trained to
  predict which of the four rotations (0/90/180/270°) a lightly augmented
  view shows (random resized crop of area 0.6-1 and flip, no colour jitter,
  blur or noise; Gidaris et al., the shift-classification task of CSI), a
  linear head on the pooled stage-4 features, SGD Nesterov 0.05 with cosine
  annealing, batch 64 (ours, a probe, not a detector option).

For each space and tapped scale (3, 4): ``knn``, the cosine 1-NN AUROC of
the pooled features; ``proto``, the AUROC of minus the mean over positions
of the L2 distance to the nearest of ``n_memory`` k-means centroids of the
layer-normalised training positions (the memory's own space under
``normalize="layer"``); for ``anomem`` also ``learned``, the same with the
trained memory's patterns (``anomaly_prototype_distance``).

Usage (2-core CPU, one thread)::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_feature_space \
        --out benchmarks/results/anomem_feature_space_cifar10-dev
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmarks import _report as report
from benchmarks.anomem_select import LEGACY, _split
from skssad.tasks import contrastive_view, rotate90

CLASSES = ["cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def train_rotation(det, X, epochs: int, seed: int) -> float:
    """Train ``det``'s backbone in place to predict the rotation of a view; last-epoch loss."""
    torch.manual_seed(seed)
    net = det.net_.module_.backbone
    head = nn.Linear(net.channels[-1], 4)
    params = [*net.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = len(X) // 64
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    x_all = det._prepare(det._as_tensor(X, reset=False))
    net.train()
    for _ in range(epochs):
        perm, losses = torch.randperm(len(x_all)), []
        for i in range(steps):
            xb = x_all[perm[i * 64:(i + 1) * 64]]
            k = torch.randint(0, 4, (len(xb),))
            rot = rotate90(xb, k)
            view = contrastive_view(rot, crop_scale=(0.6, 1.0), jitter=0.0, blur_p=0.0,
                                    noise_p=0.0)
            loss = F.cross_entropy(head(net(view)), k)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    net.eval()
    return float(np.mean(losses))


def _auroc_row(det, X, Xv, normal, n_memory, seed) -> dict:
    """knn / proto AUROCs of ``det``'s backbone at each tapped scale."""
    row = {}
    module = det.net_.module_.eval()
    maps = [det._map_chunks(det._input_store(Z, reset=False),
                            lambda c: tuple(module.features(c))) for Z in (X, Xv)]
    for s, n, a, b in zip(module.scales, n_memory, *maps, strict=True):
        pa, pb = (F.normalize(m.mean((2, 3)), dim=1) for m in (a, b))
        row[f"knn_s{s}"] = roc_auc_score(normal, (pb @ pa.T).max(1).values.numpy())
        qa, qb = (F.layer_norm(q, q.shape[1:]) for q in
                  (m.permute(0, 2, 3, 1).reshape(-1, m.shape[1]) for m in (a, b)))
        km = KMeans(n, n_init=1, random_state=seed).fit(qa.double().numpy())
        d = torch.cdist(qb, torch.from_numpy(km.cluster_centers_).float()).min(1).values
        row[f"proto_s{s}"] = roc_auc_score(normal, -d.view(len(Xv), -1).mean(1).numpy())
    return row


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", nargs="+", default=CLASSES)
    p.add_argument("--rotation-epochs", type=int, default=30)
    p.add_argument("--rotation-width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/anomem_feature_space_cifar10-dev")
    a = p.parse_args(argv)
    report.use_omp_threads()
    data = report.load_dataset("cifar10-dev")
    names = list(data.info["classes"])
    first, val = _split(data.y_train, 200)
    Xv, yv = data.X_train[val], data.y_train[val]
    run = dict(run_command=report.command_line(), run_git=report.git_sha())
    rows = []
    for cname in a.classes:
        c = names.index(cname)
        X, normal = data.X_train[first[c][:1000]], yv == c
        for space in ("untrained", "anomem", "rotation"):
            t0 = time.time()
            kw = dict(max_epochs=1, lr=1e-12) if space != "anomem" else {}
            if space == "rotation":
                kw["width"] = a.rotation_width
            det, _ = report.make("anomem", "quick", random_state=a.seed, input_size=32,
                                 flip=True, **{**LEGACY, **kw})
            det.fit(X)
            row = dict(normal_class=cname, space=space)
            if space == "anomem":
                near = det.anomaly_prototype_distance(Xv)
                for i, s in enumerate(det.net_.module_.scales):
                    row[f"learned_s{s}"] = roc_auc_score(normal, -near[:, i])
                row["detector"] = roc_auc_score(normal, det.score_samples(Xv))
                row["loss_last"] = det.net_.history[-1, "train_loss"]
                row["chance_loss"] = det.training_health_["net"]["chance"]
            elif space == "rotation":
                row["loss_last"] = train_rotation(det, X, a.rotation_epochs, a.seed)
                row["chance_loss"] = float(np.log(4))
            row.update(_auroc_row(det, X, Xv, normal, det.n_memory, a.seed))
            report.add_fit_row(rows, row, det, fit_seconds=time.time() - t0,
                               detector_seed=a.seed, **run)
    df = pd.DataFrame(rows)
    rep = report.Report("AnoMem feature spaces for a prototype memory (cifar10-dev train)",
                        seed=a.seed, profile="quick", data=data, notes=[
        "train: first 1,000 train images of the normal class; validation: a seed-0 draw of "
        "200 images per class from the last 1,000 train images of each class (test/ unread).",
        "knn_s*: cosine 1-NN on pooled features; proto_s*: nearest of n_memory k-means "
        "centroids of layer-normalised positions; learned_s*: the trained memory's patterns; "
        "detector: AnoMem's own score (anomem rows).",
        f"rotation: width {a.rotation_width}, {a.rotation_epochs} epochs of 4-way rotation "
        "prediction on lightly augmented views (a probe, ours).",
        "loss_last vs chance_loss: last-epoch pretext loss and its chance level."])
    rep.table("per fit", df)
    keys = [k for k in ("knn_s3", "knn_s4", "proto_s3", "proto_s4", "learned_s3",
                        "learned_s4", "detector", "fit_seconds") if k in df]
    rep.table("mean over classes", df.groupby("space", sort=False)[keys].mean().reset_index(),
              csv=False, floatfmt=".3f")
    rep.write(report.RESULTS.parent.parent / a.out)


if __name__ == "__main__":
    main()
