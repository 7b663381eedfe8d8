"""Studies of PuzzleTintColorDetector (puzzle-tint-color-multicue.txt §VI).

Usage (from the repository root; each run writes
``benchmarks/results/puzzle_tint_color_<study>.md`` and its CSVs)::

    OMP_NUM_THREADS=1 python -m benchmarks.puzzle_ablation val --classes 0 5 6
    OMP_NUM_THREADS=1 python -m benchmarks.puzzle_ablation test --classes 0 5 6
    OMP_NUM_THREADS=1 python -m benchmarks.puzzle_ablation mnist --classes 2 5 8
    OMP_NUM_THREADS=1 python -m benchmarks.puzzle_ablation mnist --validation 0.2 \
        --variants n=2 adam --classes 2 5 8

``val`` chooses settings on the cifar10-dev *train* folders only: each
class folder is split 50/50 (stratified), the detector trains on the
first half of the normal class and is scored on the second half of every
class. Its grid is Table VII's steps (puzzle -> + tint -> + attention ->
+ colorization), Table V's OOD functions and Table VI's fusions, declared
as data below. ``test`` runs the quick profile and the baselines a user
would try first (``geometric`` quick, kNN and IsolationForest on pixels) on
the dev ``test`` folders. ``mnist`` checks the quick profile on MNIST
(train -> t10k); with ``--validation F`` it trains and scores on a
stratified, seeded split of the MNIST *train* file only (a share ``F``
held out for scoring; t10k is not read), and ``--variants`` adds the
grayscale settings of :data:`MNIST_GRID` beside the quick profile.
Every study uses the public API only (``skssad.benchmark.one_vs_all``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks import _report as report
from benchmarks.one_vs_all import validation_split

#: Table VII, cumulative as in the paper (tasks "auto" on RGB is the full method).
TABLE_VII = {
    "piece-wise puzzle": {"tasks": ("puzzle",)},
    "+ tint": {"tasks": ("puzzle", "tint"), "attention": False},
    "+ attention": {"tasks": ("puzzle", "tint"), "attention": True},
    "+ colorization (full)": {"tasks": ("puzzle", "tint", "color"), "attention": True},
}
#: Table V: the OOD function of the classification tasks.
TABLE_V = {f"ood={o}": {"ood": o} for o in ("softmax", "mahalanobis", "odin")}
#: Table VI and the fusion schemes of §V / PuzzleGeom Eq. (3).
TABLE_VI = {
    "fusion=mean": {"fusion": "mean"},
    "fusion=25th percentile": {"fusion": 25},
    "scheme=single (§V)": {"fusion_scheme": "single"},
    "scheme=task_sum (PuzzleGeom Eq. 3)": {"fusion_scheme": "task_sum", "fusion": "mean"},
    "tint_score=error (Eq. 9)": {"tint_score": "error"},
}
#: Training: SGD at lr 0.05 (the paper's optimizer) ends at chance in the CPU budget.
OPTIMIZER = {"sgd lr=0.05": {"optimizer": "sgd", "lr": 0.05},
             "adam lr=2e-3": {"optimizer": "adam", "lr": 2e-3}}
#: Grayscale (MNIST) settings of the quick profile, tried one at a time on validation.
MNIST_GRID = {
    "n=2": {"n": 2},
    "epochs=15": {"max_epochs": 15},
    "epochs=20": {"max_epochs": 20},
    "k=9": {"k": 9},
    "input=28": {"input_size": 28},
    "adam": {"optimizer": "adam", "lr": 2e-3},
    "ood=softmax": {"ood": "softmax"},
    "fusion=mean": {"fusion": "mean"},
    "k=36": {"k": 36},
    "views=8": {"n_views": 8},
    "adam+epochs=15": {"optimizer": "adam", "lr": 2e-3, "max_epochs": 15},
}
STUDIES = {"table_vii": TABLE_VII, "table_v": TABLE_V, "table_vi": TABLE_VI,
           "optimizer": OPTIMIZER}


def _load(name):
    """``report.load_dataset(name)``, cached as .npz in ``$SKSSAD_CACHE`` when set
    (decoding the 35,000 cifar10-dev JPEGs takes minutes on a busy 2-core machine)."""
    cache = Path(os.environ["SKSSAD_CACHE"]) / f"{name}.npz" if "SKSSAD_CACHE" in os.environ \
        else None
    if cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        return report.Dataset(name, z["X_train"], z["y_train"], z["X_test"], z["y_test"],
                              str(z["description"]), {"classes": list(z["classes"])})
    data = report.load_dataset(name)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, X_train=data.X_train, y_train=data.y_train, X_test=data.X_test,
                 y_test=data.y_test, description=data.description,
                 classes=np.array(data.info.get("classes", []), dtype=str))
    return data


def _dev_train_split(classes, seed):
    """The cifar10-dev train folders only, split 50/50 per class (validation)."""
    data = _load("cifar10-dev")
    X, y = data.X_train, data.y_train
    keep = np.isin(y, classes)
    Xtr, ytr, Xva, yva = report.split(X[keep], y[keep], test_size=0.5, random_state=seed)
    return report.Dataset("cifar10-dev train (validation split)", Xtr, ytr, Xva, yva,
                          "cifar10-dev *train* folders only, classes "
                          f"{[data.info['classes'][c] for c in classes]}, stratified 50/50 "
                          f"split (seed {seed}); the dev test folders are untouched")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["val", "test", "mnist"])
    parser.add_argument("--classes", type=int, nargs="+", default=[0, 5, 6])
    parser.add_argument("--tables", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-test", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides of the quick profile for every variant")
    parser.add_argument("--validation", type=float, default=None, metavar="F",
                        help="mnist: hold out this share of the train file for scoring "
                             "(stratified, seeded by the first seed); t10k is not read")
    parser.add_argument("--variants", nargs="*", default=[], choices=list(MNIST_GRID),
                        help="mnist: settings of MNIST_GRID to run beside the quick profile")
    parser.add_argument("--no-quick", action="store_true",
                        help="mnist: run only --variants, not the quick profile itself")
    parser.add_argument("--baselines", nargs="*", default=["geometric", "iforest"])
    args = parser.parse_args(argv)
    report.use_omp_threads()
    base = {k: eval(v, {}) for k, v in (kv.split("=", 1) for kv in args.set)}  # noqa: S307
    if args.max_train is not None:
        base["max_train"] = args.max_train
    harness = dict(classes=args.classes, max_test=args.max_test, seeds=args.seeds)
    if args.validation is not None and not (args.study == "mnist" and 0 < args.validation < 1):
        parser.error("--validation F needs the mnist study and 0 < F < 1")
    study = args.study + ("_validation" if args.validation is not None else "")
    # Validation and test runs never share a name (nor the resume folder of their parts).
    rep_name = f"puzzle_tint_color_{study}{'_' + args.tag if args.tag else ''}"
    if args.study == "val":
        data = _dev_train_split(args.classes, args.seeds[0])
        harness["classes"] = sorted(set(data.y_train))
        grid = {"quick profile": dict(base)}
        for table in args.tables:
            grid.update({k: {**base, **v} for k, v in STUDIES[table].items()})
        rows = report.one_vs_all_grid("puzzle_tint_color", grid, data, **harness)
    elif args.study == "mnist":
        data = (_load("mnist") if args.validation is None
                else validation_split(_load("mnist"), args.validation, args.seeds[0]))
        grid = {} if args.no_quick else {"quick profile": dict(base)}
        grid.update({k: {**base, **MNIST_GRID[k]} for k in args.variants})
        rows = report.one_vs_all_grid("puzzle_tint_color", grid, data, **harness,
                                      results_dir=report.RESULTS / "_runs" / rep_name)
    else:
        data = _load("cifar10-dev")
        rows = report.one_vs_all_grid("puzzle_tint_color", {"quick profile": dict(base)},
                                      data, **harness)
        for name in args.baselines:
            extra = {"max_train": base["max_train"]} if "max_train" in base else {}
            other = report.one_vs_all_grid(name, {"quick profile": extra}, data, **harness)
            rows = report.pd.concat([rows, other], ignore_index=True)
    rep = report.Report(f"PuzzleTintColorDetector, {args.study} study", seed=args.seeds,
                        profile="quick", data=data,
                        notes=[f"classes {args.classes}, max_test {args.max_test}, "
                               f"overrides {base}"
                               + (f", validation {args.validation:g} of the train file"
                                  if args.validation is not None else "")])
    rep.table("per class", rows)
    rep.table("summary", report.summarize(rows, by=["detector", "variant"]), csv=False)
    rep.write(report.RESULTS / rep_name)


if __name__ == "__main__":
    main()
