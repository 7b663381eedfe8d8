"""How much a seed ensemble adds: AUROC of the mean of k seeds' scores, k = 1..n.

Reads the per-task parts that ``python -m benchmarks.one_vs_all ... --seeds n``
leaves in its output folder (``parts/<detector>/class_<c>_seed_<s>.npz``: the
scored images' normality scores and labels) and, per class, scores the mean
of every combination of ``k`` of the seeds' scores, averaged over the
combinations. Offline, the scores are averaged raw or by rank (the library's
:class:`skssad.SeedEnsemble` standardises each member by its *training*
scores, which the parts do not hold); both are reported.

Usage::

    python -m benchmarks.seed_ensemble --runs /tmp/cifar_igd_val5 --detector igd \\
        --out benchmarks/results/igd_ensemble_val/ensemble
"""

from __future__ import annotations

import argparse
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from benchmarks import _report as report
from skssad.metrics import anomaly_auroc


def load_parts(folder: Path, detector: str) -> dict[int, dict[int, tuple]]:
    """``{class: {seed: (scores, normal)}}`` from a one_vs_all output folder."""
    out: dict[int, dict[int, tuple]] = {}
    for f in sorted((Path(folder) / "parts" / detector).glob("class_*_seed_*.npz")):
        c, s = map(int, re.match(r"class_(\d+)_seed_(\d+)", f.stem).groups())
        with np.load(f) as d:
            out.setdefault(c, {})[s] = (d["scores"], d["normal"])
    if not out:
        raise SystemExit(f"No parts of {detector!r} under {folder}/parts.")
    return out


def ensemble_table(parts: dict) -> pd.DataFrame:
    """One row per (class, k): mean AUROC over the k-combinations of seeds."""
    rows = []
    for c, seeds in sorted(parts.items()):
        names = sorted(seeds)
        normal = seeds[names[0]][1].astype(bool)
        labels = np.where(normal, 1, -1)
        for k in range(1, len(names) + 1):
            raw, rank = [], []
            for combo in itertools.combinations(names, k):
                S = np.stack([seeds[s][0] for s in combo])
                raw.append(anomaly_auroc(labels, S.mean(0)))
                rank.append(anomaly_auroc(labels, np.mean([rankdata(x) for x in S], 0)))
            rows.append(dict(normal_class=c, k=k, n_seeds=len(names), auroc_raw=np.mean(raw),
                             auroc_rank=np.mean(rank), combinations=len(raw)))
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="a one_vs_all --out folder with --seeds n")
    p.add_argument("--detector", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    df = ensemble_table(load_parts(Path(a.runs), a.detector))
    full = df.groupby("normal_class").n_seeds.transform("max")
    # classes with every seed: the mean over k is over the same classes
    common = df[df.n_seeds == full.min()]
    summ = common.groupby("k")[["auroc_raw", "auroc_rank"]].mean().reset_index()
    summ.insert(1, "classes", common.groupby("k").size().values)
    rep = report.Report(f"Seed ensembles of {a.detector}: AUROC of the mean of k seeds",
                        seed=sorted({int(s) for s in range(int(df.n_seeds.max()))}),
                        data=f"parts of {a.runs}",
                        notes=["auroc_raw: the mean of the k seeds' raw scores; auroc_rank: "
                               "the mean of their ranks; both averaged over every "
                               "combination of k seeds."])
    rep.table("per class", df)
    rep.table("mean over classes", summ, csv=False)
    rep.write(a.out)


if __name__ == "__main__":
    main()
