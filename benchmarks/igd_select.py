"""Choose IGD's quick-profile settings and ξ of Eq. (11) on training images only (issue 14).

igd-interpolated-gaussian-descriptor.txt §4.2: "During inference, we set
ξ = 0.5 in (11) based on the evaluation on the validation set". This study
does the same at CPU scale: the *training* file of a dataset is split
stratified (``--validation F`` held out, as ``one_vs_all --validation``; the
test images are never read), each variant of the quick profile is fitted on
the normal class's training images (``max_train`` drawn as the harness
does), and every fit is scored with each ξ of ``--xis`` without refitting
(ξ only enters the score). The pretext health (reconstruction loss first /
last) is recorded beside it.

Usage (2-core CPU, one thread)::

    OMP_NUM_THREADS=1 python -m benchmarks.igd_select --dataset mnist --classes 2 5 8 9 \
        --variants quick epochs20 --out benchmarks/results/igd_select_mnist
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from benchmarks import _report as report
from benchmarks.one_vs_all import validation_split
from skssad.benchmark import stratified_subsample, training_subset
from skssad.metrics import anomaly_auroc

#: variant name -> overrides of the quick profile (``max_train`` is the harness's)
VARIANTS = {
    "quick": {},
    "epochs5": dict(max_epochs=5),
    "epochs20": dict(max_epochs=20),
    "epochs1": dict(max_epochs=1),
    "epochs3": dict(max_epochs=3),
    "epochs5 n2000": dict(max_epochs=5, max_train=2000),
    "no-inter epochs20": dict(interpolation=False, max_epochs=20),
    "no-inter": dict(interpolation=False),
    "no-inter n2000": dict(interpolation=False, max_train=2000),
    "no-inter epochs5": dict(interpolation=False, max_epochs=5),
    "no-inter latent32": dict(interpolation=False, latent_dim=32),
    "no-inter latent8": dict(interpolation=False, latent_dim=8),
    "no-inter wider": dict(interpolation=False, encoder_widths=(32, 64, 128),
                           decoder_widths=(64, 32, 16)),
    "n2000": dict(max_train=2000),
    "latent32": dict(latent_dim=32),
    "wider": dict(encoder_widths=(32, 64, 128), decoder_widths=(64, 32, 16)),
    "lr3e-4 epochs20": dict(lr=3e-4, max_epochs=20),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10-dev"])
    p.add_argument("--classes", type=int, nargs="+", default=[2, 5, 8, 9])
    p.add_argument("--variants", nargs="+", default=["quick"], choices=list(VARIANTS))
    p.add_argument("--validation", type=float, default=0.25)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--xis", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    report.use_omp_threads()
    out = a.out or f"benchmarks/results/igd_select_{a.dataset}"
    data = validation_split(report.load_dataset(a.dataset), a.validation, 0)
    keep = stratified_subsample(data.y_test, a.max_test, 0)
    Xv, yv = data.X_test[keep], data.y_test[keep]
    csv = f"{out}.csv"
    prov = ("command", "git", "machine", "date", "profile")
    rows = ([{k: v for k, v in r.items() if k not in prov}
             for r in pd.read_csv(csv).to_dict("records")]
            if pd.io.common.file_exists(csv) else [])
    run = dict(run_command=report.command_line(), run_git=report.git_sha())

    def write():
        df = pd.DataFrame(rows)
        rep = report.Report(f"IGD quick-profile and xi selection on a validation split of "
                            f"{a.dataset} train", seed=a.seeds, profile="quick", data=data,
                            notes=[f"validation: {a.validation:g} of the training images held "
                                   f"out (stratified, split seed 0), {len(yv)} of them scored; "
                                   "test images untouched.",
                                   "auroc_xi{v}: the same fit scored with xi = v in Eq. (11) "
                                   "(1: reconstruction loss alone, 0: descriptor alone).",
                                   "Rows resumed from earlier runs keep their run_command / "
                                   "run_git / run_date."])
        rep.table("per fit", df, markdown=False)
        rep.table("per fit (config in the CSV)", df.drop(columns=["config"]), csv=False)
        keys = ["fit_seconds", *[c for c in df.columns if c.startswith("auroc_xi")],
                "loss_first", "loss_last"]
        summ = df.groupby("variant", sort=False)[keys].mean()
        summ.insert(0, "fits", df.groupby("variant", sort=False).size())
        # variants may run on fewer classes than quick: quick's mean on the same fits
        if "auroc_xi0.5" in df and (df.variant == "quick").any():
            quick = df[df.variant == "quick"].set_index(["normal_class", "seed"])["auroc_xi0.5"]
            summ["quick_xi0.5_same_fits"] = [
                quick.reindex(pd.MultiIndex.from_frame(g[["normal_class", "seed"]])).mean()
                for _, g in df.groupby("variant", sort=False)]
        rep.table("mean over fits", summ.reset_index(), csv=False, floatfmt=".4f")
        rep.write(out)

    for c in a.classes:
        labels = np.where(yv == c, 1, -1)
        for vname in a.variants:
            for seed in a.seeds:
                kw = dict(VARIANTS[vname])
                det, harness = report.make("igd", "quick", random_state=seed, **kw)
                if report.already_fitted(rows, dict(normal_class=c, variant=vname, seed=seed),
                                         det):
                    continue
                idx, _ = training_subset(data.y_train, c, max_train=harness.get("max_train"),
                                         random_state=seed)
                t0 = time.perf_counter()
                det.fit(data.X_train[idx])
                row = dict(normal_class=c, variant=vname, seed=seed, n_train=len(idx),
                           n_scored=len(yv), fit_seconds=time.perf_counter() - t0)
                for xi in a.xis:
                    det.set_params(xi=xi)
                    row[f"auroc_xi{xi:g}"] = anomaly_auroc(labels, det.score_samples(Xv))
                loss = det.training_health_.get("net", {}).get("loss") or [np.nan]
                report.add_fit_row(rows, row, det, loss_first=loss[0], loss_last=loss[-1],
                                   **run)
                write()
    write()


if __name__ == "__main__":
    main()
