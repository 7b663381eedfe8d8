"""One-vs-all benchmark from the command line (puzzle-geom-multitask.txt §5.1).

One class is normal, every other class anomalous; for each detector, normal
class and seed: AUROC, EER and APCER@5%BPCER, fit and score seconds. With
``--gammas``, the semi-supervised protocol of anomem-contrasted-memory.txt
§4.1 (a share gamma of known anomalies added to training, ``--draws``
random draws each). Usage, from the repository root::

    python -m benchmarks.one_vs_all --dataset digits --detectors geometric --profile quick
    python -m benchmarks.one_vs_all --dataset mnist --data-dir ../shared/data/mnist \\
        --detectors geometric iforest ocsvm --max-test 2000 --out benchmarks/results/mnist

Detectors are the names of ``skssad.profiles.DETECTORS`` and the baselines
of ``skssad.baselines.BASELINES``. Every finished class is written at once
to ``OUT/parts/<detector>/`` (CSV + scores), so an interrupted run resumes
where it stopped. ``OUT`` receives ``results.csv``, ``results.md`` (with
the command, git sha, machine, date and test-set size), ROC curves
``roc_<detector>.png`` and the per-class bar chart ``auroc_per_class.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = ("digits", "mnist", "cifar10", "cifar100", "image-folder", "mvtec",
            "color-patches", "moving-digits")
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- data
def _split(X, y, random_state):
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y,
                                              random_state=random_state)
    return X_tr, y_tr, X_te, y_te


def _need_dir(args) -> Path:
    if args.data_dir is None:
        raise SystemExit(f"--dataset {args.dataset} needs --data-dir PATH.")
    return Path(args.data_dir)


def _generated(module: str, name: str):
    """A generator owned by another module, imported only when asked for."""
    import importlib

    try:
        return getattr(importlib.import_module(f"skssad.datasets.{module}"), name)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"skssad.datasets.{name} is not available in this checkout "
                         f"({exc}).") from exc


def load_dataset(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """``X_train, y_train, X_test, y_test, description`` of ``args.dataset``."""
    from skssad import datasets

    name, rs = args.dataset, args.random_state
    if name == "digits":
        d = datasets.load_digits_images()
        return (*_split(d.images, d.target, rs),
                "scikit-learn digits (8x8), stratified 50/50 train/test split")
    if name == "mnist":
        path = _need_dir(args)
        tr, te = datasets.load_mnist(path, "train"), datasets.load_mnist(path, "t10k")
        return tr.images, tr.target, te.images, te.target, f"IDX files in {path} (train/t10k)"
    if name in ("cifar10", "cifar100"):
        path = _need_dir(args)
        tr = datasets.load_cifar(path, "train", variant=name)
        te = datasets.load_cifar(path, "test", variant=name)
        what = "20 coarse classes" if name == "cifar100" else "10 classes"
        return tr.images, tr.target, te.images, te.target, f"{name} ({what}) from {path}"
    if name == "image-folder":
        path = _need_dir(args)
        tr = datasets.load_image_folder(path, "train", size=args.image_size)
        te = datasets.load_image_folder(path, "test", size=args.image_size)
        if list(tr.target_names) != list(te.target_names):
            raise SystemExit(f"train and test class folders differ: {list(tr.target_names)} "
                             f"vs {list(te.target_names)}.")
        return tr.images, tr.target, te.images, te.target, f"image folders in {path}"
    if name == "mvtec":
        path = _need_dir(args)
        if not args.category:
            raise SystemExit("--dataset mvtec needs --category (e.g. bottle).")
        size = args.image_size or 64
        tr = datasets.load_mvtec(path, args.category, "train", size=size)
        te = datasets.load_mvtec(path, args.category, "test", size=size)
        # Normal class 0 ("good"); every defect type is anomalous.
        return (tr.images, tr.target, te.images, (te.target != 0).astype(int),
                f"MVTec AD {args.category} from {path}, resized to {size}")
    if name == "color-patches":
        d = _generated("_color_patches", "make_color_patches")(random_state=rs)
        return (*_split(d.images, d.target, rs),
                "colour patches of skimage.data photos, one class per photo, 50/50 split")
    if name == "moving-digits":
        d = _generated("_video", "make_moving_digits")(random_state=rs)
        X, y = (d if isinstance(d, tuple) else
                (d["videos"] if "videos" in d else d["images"], d["target"]))
        return (*_split(X, y, rs),
                "synthetic moving-digit videos, one class per motion, 50/50 split")
    raise SystemExit(f"Unknown dataset {name!r}; expected one of {DATASETS}.")


# --------------------------------------------------------------------------- detectors
def build_detector(name: str, profile: str):
    """``(estimator, harness settings)`` for a detector or baseline name."""
    from skssad import profiles
    from skssad.baselines import BASELINES, make_baseline

    if name in profiles.DETECTORS:
        _, harness = profiles.profile_settings(name, profile)
        return profiles.make_detector(name, profile, random_state=0), harness
    if name in BASELINES:
        return make_baseline(name, profile, random_state=0), {}
    raise SystemExit(f"Unknown detector {name!r}; expected one of "
                     f"{sorted(profiles.DETECTORS) + sorted(BASELINES)}.")


# --------------------------------------------------------------------------- report
def _git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    import torch

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, torch "
            f"{torch.__version__}, torch threads={torch.get_num_threads()}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"CUDA={'yes' if torch.cuda.is_available() else 'no'}")


def _pm(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.4f} ± {v.std():.4f}" if len(v) > 1 else f"{v.mean():.4f}"


def summary_table(res: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per detector (and gamma): means over classes, std over classes and seeds."""
    rows = []
    for key, g in res.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        per_seed = g.groupby("seed_label").auroc.mean()
        per_class = g.groupby("normal_class").auroc.mean()
        rows.append({**dict(zip(keys, key, strict=True)),
                     "AUROC": f"{g.auroc.mean():.4f}",
                     "± std over classes": f"{per_class.std(ddof=0):.4f}",
                     "± std over seeds": (f"{per_seed.std(ddof=0):.4f}" if len(per_seed) > 1
                                          else "—"),
                     "EER": f"{g.eer.mean():.4f}",
                     "APCER@5%BPCER": f"{g.apcer_at_5_bpcer.mean():.4f}",
                     "fit s": f"{g.fit_seconds.sum():.1f}",
                     "score s": f"{g.score_seconds.sum():.1f}",
                     "n_train (mean)": f"{g.n_train.mean():.0f}",
                     "n_test": int(g.n_test.iloc[0])})
    return pd.DataFrame(rows)


def per_class_table(res: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """AUROC per normal class (rows) and detector (columns), mean ± std over seeds/draws."""
    col = res[keys].astype(str).agg(" γ=".join, axis=1) if len(keys) > 1 else res[keys[0]]
    t = res.assign(_col=col).groupby(["normal_class", "_col"], sort=False).auroc.apply(_pm)
    return t.unstack("_col").rename_axis(columns=None).reset_index()


def _markdown(df: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return out


def plot_results(res: pd.DataFrame, out: Path, detectors: list[str]) -> list[Path]:
    """ROC curves per detector (first seed) and the per-class AUROC bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    files = []
    for det in detectors:
        parts = sorted((out / "parts" / det).glob("class_*.npz"))
        first = res[res.detector == det].seed_label.iloc[0]
        parts = [p for p in parts if p.stem.endswith(f"_seed_{first}")]
        if not parts:
            continue
        fig, ax = plt.subplots(figsize=(5, 5))
        for p in parts:
            z = np.load(p)
            fpr, tpr, _ = roc_curve(z["normal"], z["scores"])
            ax.plot(fpr, tpr, lw=1, label=p.stem.split("_")[1])
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="anomalies accepted (APCER)", ylabel="normal accepted (1 - BPCER)",
               title=f"ROC, {det} (seed {first}), one curve per normal class")
        ax.legend(fontsize=7, title="normal class", ncol=2)
        fig.tight_layout()
        files.append(out / f"roc_{det}.png")
        fig.savefig(files[-1], dpi=100)
        plt.close(fig)
    base = res[res.gamma == 0] if "gamma" in res else res
    stats = base.groupby(["normal_class", "detector"], sort=False).auroc.agg(["mean", "std"])
    mean = stats["mean"].unstack("detector")[detectors]
    std = stats["std"].unstack("detector")[detectors].fillna(0.0)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(mean) * len(detectors)), 4))
    width = 0.8 / len(detectors)
    xs = np.arange(len(mean))
    for i, det in enumerate(detectors):
        ax.bar(xs + i * width, mean[det], width, yerr=std[det], label=det, capsize=2)
    ax.set_xticks(xs + 0.4 - width / 2, [str(c) for c in mean.index])
    ax.set(xlabel="normal class", ylabel="AUROC", ylim=(max(0.0, mean.min().min() - 0.1), 1.0),
           title="One-vs-all AUROC per normal class")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.append(out / "auroc_per_class.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)
    return files


# --------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.one_vs_all",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--data-dir", default=None, help="folder of the dataset's files")
    p.add_argument("--category", default=None, help="MVTec AD category")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize image-folder / MVTec images to this size at load time")
    p.add_argument("--detectors", nargs="+", default=["geometric"],
                   help="skssad.profiles.DETECTORS names and baselines "
                        "(iforest, ocsvm, pyod-ae, pyod-deepsvdd)")
    p.add_argument("--profile", choices=("quick", "paper"), default="quick")
    p.add_argument("--seeds", type=int, default=1, help="detector seeds 0..N-1 per class")
    p.add_argument("--classes", nargs="+", default=None, help="normal classes (default all)")
    p.add_argument("--n-jobs", type=int, default=1, help="tasks (class x seed) in parallel")
    p.add_argument("--max-test", type=int, default=None,
                   help="score a stratified subsample of this many test images")
    p.add_argument("--max-train", type=int, default=None,
                   help="override the profile's cap on training images per class")
    p.add_argument("--backend", choices=("loky", "dask", "ray"), default="loky")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler / ray address (default: a local cluster)")
    p.add_argument("--gammas", type=float, nargs="+", default=None,
                   help="semi-supervised protocol: shares of known anomalies in training")
    p.add_argument("--draws", type=int, default=10, help="random draws per gamma > 0")
    p.add_argument("--random-state", type=int, default=0,
                   help="seeds the train/test split and subsampling")
    p.add_argument("--out", default=None,
                   help="output folder (default benchmarks/results/_runs/<dataset>_<profile>)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no per-task progress lines")
    return p.parse_args(argv)


@contextlib.contextmanager
def cluster(args):
    """The dask or ray engine that joblib's ``parallel_config`` backend will use."""
    if args.backend == "dask":
        from dask.distributed import Client, LocalCluster

        if args.scheduler:
            client = Client(args.scheduler)
        else:
            client = Client(LocalCluster(n_workers=max(1, args.n_jobs), threads_per_worker=1,
                                         processes=True, dashboard_address=None))
        try:
            yield
        finally:
            client.close()
    elif args.backend == "ray":
        import ray
        from ray.util.joblib import register_ray

        register_ray()
        ray.init(address=args.scheduler, ignore_reinit_error=True)
        try:
            yield
        finally:
            ray.shutdown()
    else:
        yield


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    import torch

    from skssad.benchmark import _config, one_vs_all, semi_supervised

    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
    started = datetime.datetime.now(datetime.UTC)
    out = Path(args.out or ROOT / "benchmarks" / "results" / "_runs"
               / f"{args.dataset}_{args.profile}")
    out.mkdir(parents=True, exist_ok=True)
    X_train, y_train, X_test, y_test, description = load_dataset(args)
    classes = args.classes
    if classes is not None:
        kind = type(np.asarray(y_train).flat[0].item())
        classes = [kind(c) for c in classes]
    if args.dataset == "mvtec":
        classes = [0]
    seeds = list(range(args.seeds))
    print(f"{args.dataset}: {len(X_train)} training and {len(X_test)} test images "
          f"({description}); scoring "
          f"{min(args.max_test or len(X_test), len(X_test))} test images", flush=True)
    frames, walls, configs = [], {}, {}
    with cluster(args):
        for name in args.detectors:
            est, harness = build_detector(name, args.profile)
            max_train = args.max_train if args.max_train is not None else harness.get(
                "max_train")
            configs[name] = f"`{_config(est)}`, max_train={max_train}"
            common = dict(classes=classes, max_train=max_train, max_test=args.max_test,
                          n_jobs=args.n_jobs, random_state=args.random_state, seeds=seeds,
                          results_dir=out / "parts" / name, backend=args.backend,
                          verbose=0 if args.quiet else 1)
            t0 = time.perf_counter()
            if args.gammas:
                res = semi_supervised(est, X_train, y_train, X_test, y_test,
                                      gammas=args.gammas, n_draws=args.draws, **common)
            else:
                res = one_vs_all(est, X_train, y_train, X_test, y_test, **common)
            walls[name] = time.perf_counter() - t0
            frames.append(res.assign(detector=name))
            print(f"{name}: mean AUROC {res.auroc.mean():.4f} "
                  f"(wall {walls[name]:.0f} s)", flush=True)
    res = pd.concat(frames, ignore_index=True)
    res["seed_label"] = res["seed"].astype(str)
    keys = ["detector", "gamma"] if args.gammas else ["detector"]
    res.drop(columns="seed_label").to_csv(out / "results.csv", index=False)
    summary, per_class = summary_table(res, keys), per_class_table(res, keys)
    work = res.groupby("detector").apply(lambda g: g.fit_seconds.sum() + g.score_seconds.sum(),
                                         include_groups=False)
    summary["wall s (this run)"] = [f"{walls[d]:.0f}" + (" (resumed)" if walls[d] < 0.5 * work[d]
                                                        else "") for d in summary["detector"]]
    command = ("OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "unset") + " python -m "
               "benchmarks.one_vs_all " + " ".join(shlex.quote(a) for a in
                                                  (argv if argv is not None else sys.argv[1:])))
    n_scored = int(res.n_test.iloc[0])
    lines = [f"# One-vs-all on {args.dataset}, profile `{args.profile}`"
             + (" (semi-supervised, anomem §4.1)" if args.gammas else ""), "",
             f"- Command: `{command}`", f"- git: {_git_sha()}", f"- Machine: {machine()}",
             f"- Date: {started:%Y-%m-%d %H:%M} UTC",
             f"- Data: {description}; {len(X_train)} training images",
             f"- Test set scored: {n_scored} of {len(X_test)} images "
             f"(--max-test {args.max_test}, class-stratified)",
             f"- Seeds: {seeds}" + (f"; gammas {args.gammas}, {args.draws} draws each"
                                    if args.gammas else ""),
             "- Metrics: AUROC (normal = positive), EER, APCER at 5% BPCER; mean over "
             "classes (and seeds/draws); fit/score seconds summed over tasks (tasks resumed "
             "from an earlier run keep their own seconds; its wall time is not in this run's)",
             "",
             "## Summary", "", *_markdown(summary), "",
             "## AUROC per normal class (mean ± std over seeds/draws)", "",
             *_markdown(per_class), "", "## Configurations", ""]
    lines += [f"- {k}: {v}" for k, v in configs.items()]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    if not args.no_plots:
        plot_results(res, out, args.detectors)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nAUROC per normal class:")
        print(per_class.to_string(index=False))
        print("\nSummary:")
        print(summary.to_string(index=False))
    print(f"\nWritten to {out}/ (results.csv, results.md"
          + ("" if args.no_plots else ", plots") + ")")
    return res


if __name__ == "__main__":
    main()
