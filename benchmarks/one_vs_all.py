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
where it stopped. ``OUT`` receives, through ``benchmarks/_report.py``,
``results.csv`` (one row per detector, class and seed, with the detector's
full configuration and the run's command, git sha, machine, date and seeds)
and ``results.md`` (the same provenance, the summary and per-class tables);
when matplotlib is installed (the ``bench`` extra) also ROC curves
``roc_<detector>.png`` and the per-class bar chart ``auroc_per_class.png``.
Datasets: ``digits`` (embedded), ``mnist`` and ``cifar10-dev`` (found under
``$SKSSAD_DATA`` or ``../shared/data`` unless ``--data-dir`` is given), and
the loaders of ``skssad.datasets``.

``--dataset mvtec --data-dir ROOT`` (a folder in the MVTec AD layout:
``<category>/train/good``, ``<category>/test/{good,<defect>}``,
``<category>/ground_truth/<defect>/*_mask.png``) runs the MVTec AD
localisation protocol instead, :func:`skssad.localization.mvtec_protocol`,
once per category (``--category`` names them; default every category
folder) and seed, for every detector named that has an ``anomaly_map``
(the others are skipped, and the Markdown says so): fitted on all of
``train/good``, scored on all of ``test/`` at ``--image-size`` (default
64) pixels. ``results.csv`` has one row per detector, seed and category,
plus a ``mean`` row per detector and seed, with ``image_auroc``,
``pixel_auroc`` and ``aupro`` (FPR up to 0.3, normalised), sizes, seconds,
the configuration and the provenance. Finished categories are written to
``OUT/parts/<detector>/`` and resumed like classes::

    python -m benchmarks.one_vs_all --dataset mvtec --data-dir ../mvtec_anomaly_detection \
        --category bottle carpet --detectors igd geometric anomem --profile quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import _report as report

DATASETS = report.DATASETS
ROOT = report.ROOT


def load_dataset(args) -> report.Dataset:
    """The :class:`benchmarks._report.Dataset` that ``args`` names."""
    return report.load_dataset(args.dataset, path=args.data_dir,
                               random_state=args.random_state,
                               image_size=args.image_size, category=args.category)


def build_detector(name: str, profile: str, overrides: dict | None = None):
    """``(estimator, harness settings)`` for a detector or baseline name.

    ``overrides`` (from ``--set``) are constructor parameters of the skssad
    detectors on top of the profile; each detector takes those among its own
    parameters (``ood`` reaches PuzzleTintColor, not MHRot); baselines ignore
    them.
    """
    extra = {k: v for k, v in (overrides or {}).items() if k in _accepted(name)}
    # the profile's seed ensemble unless --set ensemble=k
    return report.make(name, profile, random_state=0, ensemble=extra.pop("ensemble", None),
                       **extra)


def _accepted(name: str) -> set:
    """Constructor parameters of the skssad detector ``name`` (none for a baseline)."""
    from skssad import profiles

    if name not in profiles.DETECTORS:
        return set()
    # "ensemble" (the profile's seed ensemble, 1: none) applies to every detector
    return {*profiles.detector_class(name)._get_param_names(), "ensemble"}


def parse_set(items: list[str] | None) -> dict:
    """``--set KEY=VALUE ...`` as a dict; values are Python literals (else strings)."""
    import ast

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}.")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def validation_split(data: report.Dataset, fraction: float, random_state: int) -> report.Dataset:
    """The training set alone, split stratified: ``fraction`` of it is scored instead of test.

    Settings are chosen on such a split (the test images stay untouched),
    then reported on the real test set.
    """
    if not 0 < fraction < 1:
        raise SystemExit(f"--validation expects a fraction in (0, 1), got {fraction}.")
    X_tr, y_tr, X_va, y_va = report.split(data.X_train, data.y_train, test_size=fraction,
                                          random_state=random_state)
    return report.Dataset(f"{data.name} (validation split)", X_tr, y_tr, X_va, y_va,
                          f"{data.description}: the *training* images only, split stratified "
                          f"holding out {fraction:g} for scoring (split seed {random_state}); "
                          "the test images are untouched", data.info)


def matplotlib_available() -> bool:
    """True when matplotlib imports (the plots need it; the tables do not)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


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
    p.add_argument("--data-dir", default=None,
                   help="folder of the dataset's files (mnist and cifar10-dev default to "
                        "$SKSSAD_DATA/<name> or ../shared/data/<name>)")
    p.add_argument("--category", nargs="+", default=None,
                   help="MVTec AD categories (default: every folder with train/good)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize image-folder / MVTec images to this size at load time "
                        "(MVTec default 64)")
    p.add_argument("--detectors", nargs="+", default=["geometric"],
                   help="skssad.profiles.DETECTORS names and baselines "
                        "(knn-cosine, knn-l2, iforest, ocsvm, pyod-ae, pyod-deepsvdd)")
    p.add_argument("--profile", choices=("tiny", "quick", "paper"), default="quick",
                   help="skssad.profiles profile (tiny: smoke runs and tests)")
    p.add_argument("--seeds", type=int, default=1, help="detector seeds 0..N-1 per class")
    p.add_argument("--classes", nargs="+", default=None, help="normal classes (default all)")
    p.add_argument("--n-jobs", type=int, default=1, help="tasks (class x seed) in parallel")
    p.add_argument("--max-test", type=int, default=None,
                   help="score a stratified subsample of this many test images")
    p.add_argument("--max-train", nargs="+", default=None, metavar="[NAME=]N",
                   help="override the profile's cap on training images per class: N for "
                        "every detector, NAME=N for one")
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
    p.add_argument("--no-plots", action="store_true",
                   help="skip the plots (skipped anyway when matplotlib is not installed)")
    p.add_argument("--quiet", action="store_true", help="no per-task progress lines")
    p.add_argument("--validation", type=float, default=None, metavar="F",
                   help="choose settings: train and score on a stratified split of the "
                        "training images only, holding out F of them (test untouched)")
    p.add_argument("--set", nargs="+", default=None, metavar="KEY=VALUE",
                   help="constructor overrides of the skssad detectors on top of the "
                        "profile (Python literals), e.g. input_size=32 max_epochs=20; each "
                        "detector takes the keys that are its parameters")
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


def _max_train(spec: list[str] | None, name: str, default: int | None) -> int | None:
    """The ``--max-train`` cap of detector ``name`` (``N`` for all, ``NAME=N`` for one)."""
    value = default
    for item in spec or []:
        key, sep, number = item.rpartition("=")
        try:
            n = int(number)
        except ValueError:
            raise SystemExit(f"--max-train expects N or NAME=N, got {item!r}.") from None
        if not sep or key == name:
            value = n
    return value


def _class_label(c, names) -> str:
    return f"{c} ({names[int(c)]})" if names is not None and 0 <= int(c) < len(names) else str(c)


# --------------------------------------------------------------------------- MVTec AD
METRICS = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}


def has_anomaly_map(estimator) -> bool:
    """True when ``estimator`` has its own ``anomaly_map`` (the MVTec protocol needs one)."""
    return callable(getattr(estimator, "anomaly_map", None))


def mvtec_categories(root: Path, requested: list[str] | None) -> list[str]:
    """``requested``, checked, or every category folder (one with ``train/good``)."""
    found = sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())
    if requested is None:
        if not found:
            raise SystemExit(f"--dataset mvtec: no category folder (with train/good) "
                             f"under {root}.")
        return found
    missing = [c for c in requested if c not in found]
    if missing:
        raise SystemExit(f"--dataset mvtec: no category {missing} under {root}; "
                         f"found {found}.")
    return list(requested)


def _mvtec_part(out: Path, name: str, category: str, seed: int, config: str) -> dict | None:
    """A finished category's row, when its part exists and has this configuration."""
    path = out / "parts" / name / f"{category}_seed_{seed}.csv"
    if not path.is_file():
        return None
    part = pd.read_csv(path)
    if len(part) != 1 or part["config"].iloc[0] != config:
        return None
    return part.drop(columns="config").iloc[0].to_dict()


def run_mvtec(args, argv, out: Path) -> pd.DataFrame:
    """``--dataset mvtec``: the MVTec AD protocol per category, seed and mapped detector."""
    from skssad.localization import mvtec_protocol

    for flag, value in (("--gammas", args.gammas), ("--classes", args.classes),
                        ("--max-test", args.max_test), ("--max-train", args.max_train)):
        if value is not None:
            raise SystemExit(f"--dataset mvtec fits each category on all of train/good and "
                             f"scores all of test/; {flag} does not apply.")
    root = report._need(args.data_dir, "mvtec")
    categories = mvtec_categories(root, args.category)
    size = args.image_size or 64
    seeds = list(range(args.seeds))
    mapped, skipped = [], []
    for name in args.detectors:
        est, _ = build_detector(name, args.profile)
        (mapped if has_anomaly_map(est) else skipped).append(name)
    if skipped:
        print(f"skipped (no anomaly_map): {', '.join(skipped)}", flush=True)
    if not mapped:
        raise SystemExit(f"--dataset mvtec needs a detector with an anomaly_map; none of "
                         f"{args.detectors} has one.")
    rep = report.Report(
        f"MVTec AD protocol on {root.name}, profile `{args.profile}`",
        prog="benchmarks.one_vs_all", argv=argv, seed=seeds, profile=args.profile,
        data=f"MVTec AD layout in {root}, categories {categories}, images and masks "
             f"resized to {size}x{size}",
        notes=["Protocol: skssad.localization.mvtec_protocol per category: fit on every "
               "train/good image, score and map every test image",
               "Metrics: image AUROC of score_samples (defective = anomalous), pixel AUROC "
               "and AUPRO (per-region overlap up to FPR 0.3, normalised; "
               "skssad.metrics.aupro) of anomaly_map against the masks; `mean` = "
               "unweighted mean over categories",
               f"Detector seeds: {seeds}; fit s / map s: seconds per category summed over "
               "seeds (the mean row: their mean over categories)"]
        + ([f"Skipped, no anomaly_map: {', '.join(skipped)}"] if skipped else []))
    rows, configs = [], {}
    for name in mapped:
        for seed in seeds:
            est, _ = report.make(name, args.profile, random_state=seed)
            cfg = json.dumps(report.config(est), sort_keys=True)
            configs.setdefault(name, f"`{report.describe(est)}` (random_state = seed)")
            key = f"{cfg} size={size}"
            per_category = []
            for category in categories:
                row = _mvtec_part(out, name, category, seed, key)
                resumed = row is not None
                if row is None:
                    t0 = time.perf_counter()
                    table = mvtec_protocol(est, root, [category], size=size)
                    row = {"category": category, **table.loc[category].to_dict()}
                    part = out / "parts" / name / f"{category}_seed_{seed}.csv"
                    part.parent.mkdir(parents=True, exist_ok=True)
                    pd.DataFrame([{**row, "config": key}]).to_csv(part, index=False)
                    if not args.quiet:
                        print(f"{name} seed {seed} {category}: "
                              + ", ".join(f"{v} {row[k]:.4f}" for k, v in METRICS.items())
                              + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
                per_category.append({**row, "resumed": resumed})
            frame = pd.DataFrame(per_category)
            mean = {"category": "mean", **frame[list(METRICS)].mean().to_dict(),
                    "resumed": bool(frame.resumed.all())}
            for col in ("n_train", "n_test", "n_defective", "fit_s", "map_s"):
                mean[col] = frame[col].mean()
            rows += [{"detector": name, "seed": seed, **r, "profile": args.profile,
                      "image_size": size, "config": cfg} for r in [*per_category, mean]]
            print(f"{name} seed {seed}: mean " + ", ".join(
                f"{v} {mean[k]:.4f}" for k, v in METRICS.items()), flush=True)
    res = pd.DataFrame(rows)
    for col in ("n_train", "n_test", "n_defective"):
        res[col] = res[col].round().astype(int)
    view = (res.groupby(["category", "detector"], sort=False)
            .agg(**{v: (k, _pm) for k, v in METRICS.items()},
                 n_train=("n_train", "first"), n_test=("n_test", "first"),
                 n_defective=("n_defective", "first"), **{"fit s": ("fit_s", "sum")},
                 **{"map s": ("map_s", "sum")})
            .reset_index())
    rep.table("Per-category rows", res, markdown=False)
    rep.table("Image AUROC, pixel AUROC and AUPRO per category (mean ± std over seeds)",
              view, csv=False, floatfmt=".1f")
    rep.text("## Configurations", "", *[f"- {k}: {v}" for k, v in configs.items()])
    rep.write(out / "results")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(view.to_string(index=False))
    resumed = int(res.resumed.sum())
    print(f"\nWritten to {out}/ (results.csv, results.md)"
          + (f"; {resumed} rows resumed from parts/" if resumed else ""))
    return res


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    from skssad.benchmark import max_train_for, one_vs_all, part_file, semi_supervised

    report.use_omp_threads()
    out = Path(args.out or report.RESULTS / "_runs" / f"{args.dataset}_{args.profile}")
    out.mkdir(parents=True, exist_ok=True)
    if args.dataset == "mvtec":
        return run_mvtec(args, argv, out)
    data = load_dataset(args)
    if args.validation is not None:
        data = validation_split(data, args.validation, args.random_state)
    overrides = parse_set(args.set)
    unused = set(overrides) - set().union(*(_accepted(n) for n in args.detectors))
    if unused:
        raise SystemExit(f"--set {sorted(unused)}: no parameter of the detectors "
                         f"{args.detectors}.")
    classes = args.classes
    if classes is not None:
        kind = type(np.asarray(data.y_train).flat[0].item())
        classes = [kind(c) for c in classes]
    seeds = list(range(args.seeds))
    n_test = len(data.X_test)
    n_scored = min(args.max_test or n_test, n_test)
    # The provenance of the code and machine that run the tasks, taken before they run.
    rep = report.Report(
        f"One-vs-all on {args.dataset}, profile `{args.profile}`"
        + (f" with {overrides}" if overrides else "")
        + (" (validation split of the training images)" if args.validation else "")
        + (" (semi-supervised, anomem §4.1)" if args.gammas else ""),
        prog="benchmarks.one_vs_all", argv=argv, seed=seeds, profile=args.profile,
        data=f"{data.description}; {len(data.X_train)} training images",
        notes=[f"Test set scored: {n_scored} of {n_test} images (--max-test {args.max_test}, "
               f"class-stratified, split seed {args.random_state})",
               f"Detector seeds: {seeds}" + (f"; gammas {args.gammas}, {args.draws} draws each"
                                             if args.gammas else ""),
               "Metrics: AUROC (normal = positive), EER, APCER at 5% BPCER; mean over "
               "classes (and seeds/draws); fit/score seconds summed over tasks (tasks resumed "
               "from an earlier run keep their own seconds; its wall time is not in this "
               "run's)",
               "Rows with `resumed` True in results.csv were computed by an earlier run (an "
               "earlier git sha, same configuration) and read back from `parts/`"])
    print(f"{args.dataset}: {len(data.X_train)} training and {n_test} test images "
          f"({data.description}); scoring {n_scored} test images",
          flush=True)
    frames, walls, configs = [], {}, {}
    started = time.time()
    with cluster(args):
        for name in args.detectors:
            est, harness = build_detector(name, args.profile, overrides)
            max_train = max_train_for(_max_train(args.max_train, name, harness.get("max_train")),
                                      data.X_train)
            configs[name] = f"`{report.describe(est)}`, max_train={max_train}"
            common = dict(classes=classes, max_train=max_train, max_test=args.max_test,
                          n_jobs=args.n_jobs, random_state=args.random_state, seeds=seeds,
                          results_dir=out / "parts" / name, backend=args.backend,
                          verbose=0 if args.quiet else 1)
            t0 = time.perf_counter()
            if args.gammas:
                res = semi_supervised(est, *data, gammas=args.gammas, n_draws=args.draws,
                                      **common)
            else:
                res = one_vs_all(est, *data, **common)
            walls[name] = time.perf_counter() - t0
            res.insert(0, "detector", name)
            # A task whose CSV predates this run was resumed: the code that computed it
            # is older than this run's git sha (which the provenance columns record).
            res["resumed"] = [
                part_file(common["results_dir"], r.normal_class,
                          None if pd.isna(r.seed) else int(r.seed), r.gamma,
                          r.draw).stat().st_mtime < started
                for r in res.itertuples()]
            frames.append(res.assign(profile=args.profile, max_train=max_train,
                                     config=json.dumps(report.config(est), sort_keys=True)))
            print(f"{name}: mean AUROC {res.auroc.mean():.4f} "
                  f"(wall {walls[name]:.0f} s)", flush=True)
    res = pd.concat(frames, ignore_index=True)
    res["seed_label"] = res["seed"].astype(str)
    keys = ["detector", "gamma"] if args.gammas else ["detector"]
    summary, per_class = summary_table(res, keys), per_class_table(res, keys)
    names = data.info.get("classes")
    if names is not None:
        per_class["normal_class"] = [_class_label(c, names) for c in per_class.normal_class]
    resumed = res.groupby("detector").resumed.agg(["sum", "size"])

    def _wall(d):
        done, n = int(resumed.loc[d, "sum"]), int(resumed.loc[d, "size"])
        return f"{walls[d]:.0f}" + ("" if not done else " (resumed)" if done == n
                                    else f" ({done} of {n} tasks resumed)")

    summary["wall s (this run)"] = [_wall(d) for d in summary["detector"]]
    rep.table("Per-task rows", res.drop(columns="seed_label"), markdown=False)
    rep.table("Summary", summary, csv=False)
    rep.table("AUROC per normal class (mean ± std over seeds/draws)", per_class, csv=False)
    rep.text("## Configurations", "", *[f"- {k}: {v}" for k, v in configs.items()])
    rep.write(out / "results")
    plots = not args.no_plots and matplotlib_available()
    if plots:
        plot_results(res, out, args.detectors)
    elif not args.no_plots:
        print("matplotlib is not installed: plots skipped (pip install 'skssad[bench]' "
              "to get them).")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nAUROC per normal class:")
        print(per_class.to_string(index=False))
        print("\nSummary:")
        print(summary.to_string(index=False))
    print(f"\nWritten to {out}/ (results.csv, results.md" + (", plots" if plots else "") + ")")
    return res


if __name__ == "__main__":
    main()
