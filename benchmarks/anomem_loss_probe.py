"""Does AnoMem's encoder learn while the memory-mixed loss of Alg. 1 stays near chance?

Each fit (quick profile, one normal class of the cifar10-dev *train*
folders, the validation split of ``one_vs_all --validation 0.25``; the test
folders are not read) is probed on fresh augmented views of 512 of its
training images, in eval mode: ``mixed`` is Eq. (7) as trained (the first
branch replaced by its recollection), ``plain`` the same NT-Xent with the
memory bypassed, i.e. how well the encoder's own features tell the views of
an image from the others. Variants: an untrained network, Alg. 1 (quick),
plain SimCLR (``memory="kmeans"``, trained without the memory).

Usage::

    OMP_NUM_THREADS=1 python -m benchmarks.anomem_loss_probe --classes 5
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from benchmarks import _report as report
from benchmarks.anomem_select import LEGACY
from benchmarks.one_vs_all import validation_split
from skssad.benchmark import max_train_for, stratified_subsample
from skssad.losses import contrasted_memory_loss
from skssad.metrics import anomaly_auroc
from skssad.tasks.contrastive import ContrastiveTask

VARIANTS = {"untrained network": dict(max_epochs=1, lr=1e-12), "Alg. 1 (quick)": {},
            "plain SimCLR (memory='kmeans')": dict(memory="kmeans")}


def probe(det, X, n=512, batch=64, seed=0) -> dict:
    """Mean Eq. (7) with and without the memory on fresh views of ``X[:n]``."""
    task = ContrastiveTask(det.crop_scale, flip=det.flip, negatives=det.negatives)
    module = det.net_.module_.eval()
    x_all = det._as_tensor(X[:n], reset=False)
    out = {"mixed": [], "plain": []}
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for i in range(0, len(x_all), batch):
            inputs, y = task(x_all[i:i + batch], None)
            maps = module(inputs)
            for key, mem in (("mixed", True), ("plain", False)):
                out[key].append(float(contrasted_memory_loss(
                    maps, y, tau=det.tau, lambda_v=det.lambda_v,
                    scale_weights=det.scale_weights_, sampling_ratios=det.sampling_ratio,
                    use_memory=mem)))
    return {f"loss_{k}": float(np.mean(v)) for k, v in out.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, nargs="+", default=[5])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--max-test", type=int, default=1400)
    a = p.parse_args(argv)
    report.use_omp_threads()
    data = validation_split(report.load_dataset("cifar10-dev"), 0.25, 0)
    keep = stratified_subsample(data.y_test, a.max_test, 0)
    Xv, yv = data.X_test[keep], data.y_test[keep]
    rows = []
    for c in a.classes:
        for name, kw in VARIANTS.items():
            for seed in a.seeds:
                det, harness = report.make("anomem", "quick", random_state=seed,
                                           **{**LEGACY, **kw})
                n_train = max_train_for(harness["max_train"], data.X_train)
                X = data.X_train[np.flatnonzero(data.y_train == c)[:n_train]]
                det.fit(X)
                row = dict(normal_class=c, variant=name, seed=seed,
                           auroc=anomaly_auroc(np.where(yv == c, 1, -1), det.score_samples(Xv)),
                           train_loss_last=det.net_.history[-1, "train_loss"],
                           chance=det.training_health_["net"]["chance"], **probe(det, X))
                report.add_fit_row(rows, row, det)
    df = pd.DataFrame(rows)
    rep = report.Report("AnoMem: the encoder's own contrastive loss under Alg. 1", seed=a.seeds,
                        profile="quick", data=data, notes=[
        f"Training: the first {n_train} images of the normal class in the "
        f"training part of the split; auroc on {len(yv)} held-out training images.",
        "loss_mixed: Eq. (7) as trained; loss_plain: the same views with the memory "
        "bypassed (the encoder's own NT-Xent); chance: log(#keys) weighted as Eq. (7)."])
    rep.table("per fit", df, markdown=False)
    rep.table("per fit (config in the CSV)", df.drop(columns=["config"]), csv=False,
              floatfmt=".3f")
    rep.write(report.RESULTS / "anomem_loss_probe_cifar10-dev")


if __name__ == "__main__":
    main()
