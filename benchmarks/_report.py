"""The one reporting pipeline of the benchmark scripts.

Every script in ``benchmarks/`` loads its data, runs its study and writes
its results through this module, so that each committed table has the same
provenance and a CSV beside its Markdown. The API is small:

Paths and data
    ``ROOT``, ``RESULTS`` (``benchmarks/results``), :func:`data_dir` (where
    the shared data sets live: ``$SKSSAD_DATA`` or ``../shared/data``),
    :func:`split` (the one stratified train/test split) and
    :func:`load_dataset` (``digits``, ``mnist``, ``cifar10-dev``, ... as a
    :class:`Dataset`).
Detectors and studies
    :func:`make` builds a detector of ``skssad.profiles`` or a baseline of
    ``skssad.baselines`` by name, with overrides; :func:`config` is the full
    parameter dict of any estimator (for the CSV); :func:`run_grid` runs a
    study declared as data, ``{variant label: overrides}``, through one
    function, and :func:`one_vs_all_grid` is that function for the
    one-vs-all protocol.
Provenance and writing
    :func:`git_sha`, :func:`machine` (CPU model from ``/proc/cpuinfo``,
    cores, torch threads, CUDA device), :func:`command_line`,
    :func:`markdown_table` (no ``tabulate`` needed) and :class:`Report`,
    which collects tables and writes ``<stem>.md`` plus one CSV per table
    with the configuration and provenance on every row.

Example, a study of two overrides of the IGD detector on digits::

    from benchmarks import _report as report

    data = report.load_dataset("digits")
    grid = {"profile": {}, "no critic": {"critic_weight": 0.0}}
    rows = report.one_vs_all_grid("igd", grid, data, classes=[0, 1])
    rep = report.Report("IGD critic ablation", seed=0, profile="quick", data=data)
    rep.table("per class", rows)
    rep.table("summary", report.summarize(rows, by=["variant"]), csv=False)
    rep.write(report.RESULTS / "igd_critic")
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROOT", "RESULTS", "DATASETS", "Dataset", "Report", "command_line", "config",
           "data_dir", "describe", "git_sha", "load_dataset", "machine", "machine_line", "make",
           "markdown_table", "one_vs_all_grid", "run_grid", "split", "summarize",
           "use_omp_threads"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = ("digits", "mnist", "cifar10-dev", "cifar10", "cifar100", "image-folder", "mvtec",
            "color-patches", "moving-digits")


# --------------------------------------------------------------------------- paths, data
def data_dir(name: str | None = None) -> Path:
    """Folder of the shared data sets, or of data set ``name`` inside it.

    ``$SKSSAD_DATA`` when set; otherwise the first existing ``shared/data``
    beside the repository or one level up (a git worktree), else
    ``../shared/data`` (which may not exist: loaders then say so).
    """
    if os.environ.get("SKSSAD_DATA"):
        base = Path(os.environ["SKSSAD_DATA"])
    else:
        candidates = [ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data"]
        base = next((c for c in candidates if c.is_dir()), candidates[0])
    return base / name if name else base


def split(X, y, *, test_size: float = 0.5, random_state: int = 0):
    """The one train/test split of a single labelled set: stratified by class.

    Returns ``X_train, y_train, X_test, y_test`` (the harness's argument order).
    """
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y,
                                              random_state=random_state)
    return X_tr, y_tr, X_te, y_te


@dataclass
class Dataset:
    """A train/test pair of labelled images and a sentence that says what it is."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str
    info: dict = field(default_factory=dict)

    def __iter__(self):
        # ``one_vs_all(est, *data)`` takes the four arrays in this order.
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))


def _need(path, name: str) -> Path:
    if path is None:
        raise SystemExit(f"--dataset {name} needs --data-dir PATH.")
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"--dataset {name}: data folder {path} does not exist.")
    return path


def _generated(module: str, name: str):
    """A generator owned by another module, imported only when asked for."""
    import importlib

    try:
        return getattr(importlib.import_module(f"skssad.datasets.{module}"), name)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"skssad.datasets.{name} is not available in this checkout "
                         f"({exc}).") from exc


def load_dataset(name: str, *, path: str | os.PathLike | None = None, random_state: int = 0,
                 image_size: int | None = None, category: str | None = None) -> Dataset:
    """One of :data:`DATASETS` as a :class:`Dataset`.

    Parameters
    ----------
    name : str
        ``digits`` (scikit-learn's 8x8 digits, :func:`split` 50/50),
        ``mnist`` (IDX train / t10k), ``cifar10-dev`` (the seven-class
        CIFAR-10 photo folders of the shared data, train / test),
        ``cifar10`` / ``cifar100`` (python pickles), ``image-folder``,
        ``mvtec`` (needs ``category``), ``color-patches``, ``moving-digits``.
    path : path or None
        Folder of the files; ``mnist`` and ``cifar10-dev`` default to
        :func:`data_dir` ``/ name``.
    random_state : int
        Seeds the split of the single-set data sets and the generators.
    image_size : int or None
        Resize image-folder / MVTec images at load time.
    category : str or None
        MVTec AD category.
    """
    from skssad import datasets

    rs = random_state
    if name == "digits":
        d = datasets.load_digits_images()
        return Dataset(name, *split(d.images, d.target, random_state=rs),
                       f"scikit-learn digits (8x8), stratified 50/50 split (seed {rs})")
    if name == "mnist":
        p = _need(path or data_dir("mnist"), name)
        tr, te = datasets.load_mnist(p, "train"), datasets.load_mnist(p, "t10k")
        return Dataset(name, tr.images, tr.target, te.images, te.target,
                       f"MNIST IDX files (train / t10k) in {p}")
    if name in ("cifar10-dev", "image-folder"):
        p = _need(path or (data_dir("cifar10-dev") if name == "cifar10-dev" else None), name)
        tr = datasets.load_image_folder(p, "train", size=image_size)
        te = datasets.load_image_folder(p, "test", size=image_size)
        if list(tr.target_names) != list(te.target_names):
            raise SystemExit(f"train and test class folders differ: {list(tr.target_names)} "
                             f"vs {list(te.target_names)}.")
        what = ("CIFAR-10 dev split (seven classes of real 32x32 photographs, train / test "
                "folders; not the official test set)" if name == "cifar10-dev"
                else "image folders (train / test)")
        return Dataset(name, tr.images, tr.target, te.images, te.target, f"{what} in {p}",
                       {"classes": list(tr.target_names)})
    if name in ("cifar10", "cifar100"):
        p = _need(path, name)
        tr = datasets.load_cifar(p, "train", variant=name)
        te = datasets.load_cifar(p, "test", variant=name)
        what = "20 coarse classes" if name == "cifar100" else "10 classes"
        return Dataset(name, tr.images, tr.target, te.images, te.target,
                       f"{name} ({what}) from {p}")
    if name == "mvtec":
        p = _need(path, name)
        if not category:
            raise SystemExit("--dataset mvtec needs --category (e.g. bottle).")
        size = image_size or 64
        tr = datasets.load_mvtec(p, category, "train", size=size)
        te = datasets.load_mvtec(p, category, "test", size=size)
        # Normal class 0 ("good"); every defect type is anomalous.
        return Dataset(name, tr.images, tr.target, te.images, (te.target != 0).astype(int),
                       f"MVTec AD {category} from {p}, resized to {size}")
    if name == "color-patches":
        d = _generated("_color_patches", "make_color_patches")(random_state=rs)
        return Dataset(name, *split(d.images, d.target, random_state=rs),
                       "colour patches of skimage.data photos, one class per photo, "
                       f"stratified 50/50 split (seed {rs})")
    if name == "moving-digits":
        d = _generated("_video", "make_moving_digits")(random_state=rs)
        X, y = (d if isinstance(d, tuple) else
                (d["videos"] if "videos" in d else d["images"], d["target"]))
        return Dataset(name, *split(X, y, random_state=rs),
                       "synthetic moving-digit videos, one class per motion, stratified "
                       f"50/50 split (seed {rs})")
    raise SystemExit(f"Unknown dataset {name!r}; expected one of {DATASETS}.")


# --------------------------------------------------------------------------- detectors
def _names() -> tuple[list[str], list[str]]:
    from skssad import profiles
    from skssad.baselines import BASELINES

    return sorted(profiles.DETECTORS), sorted(BASELINES)


def make(name: str, profile: str = "quick", *, random_state: int | None = 0,
         ensemble: int | None = 1, **overrides) -> tuple[Any, dict]:
    """``(estimator, harness settings)`` of a detector or baseline named ``name``.

    Detector names are those of ``skssad.profiles`` (so a detector added
    there works here unchanged), baselines those of
    ``skssad.baselines.BASELINES``. ``overrides`` are constructor parameters
    on top of the profile; the harness settings (``max_train``) come from
    the profile and may be overridden too. ``ensemble`` is 1 by default: the
    studies look inside one fit; ``None`` takes the profile's seed ensemble
    (what ``one_vs_all`` measures), ``k`` a ``k``-fit ensemble.
    """
    from skssad import profiles
    from skssad.baselines import BASELINES, make_baseline

    harness_keys = {"max_train"}
    harness = {k: overrides.pop(k) for k in list(overrides) if k in harness_keys}
    if name in profiles.DETECTORS:
        _, defaults = profiles.profile_settings(name, profile)
        est = profiles.make_detector(name, profile, random_state=random_state,
                                     ensemble=ensemble, **overrides)
        return est, {**defaults, **harness}
    if name in BASELINES:
        return make_baseline(name, profile, random_state=random_state, **overrides), harness
    detectors, baselines = _names()
    raise SystemExit(f"Unknown detector {name!r}; expected one of {detectors + baselines}.")


def _plain(value):
    """``value`` as JSON-ready data: estimators and callables by their repr."""
    import re

    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    # Object addresses ("<function f at 0x...>") differ between processes.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def describe(estimator) -> str:
    """``repr(estimator)`` on one line, without process-specific object addresses."""
    import re

    return re.sub(r"\s+", " ", str(_plain(estimator)))


def config(estimator) -> dict:
    """Every constructor parameter of ``estimator`` (nested ones too), JSON-ready.

    Pipelines contribute the parameters of their steps (``step__param``),
    not the step objects themselves.
    """
    params = estimator.get_params(deep=True)
    out = {}
    for key, value in sorted(params.items()):
        if hasattr(value, "get_params") and key != "steps":
            continue  # a sub-estimator: its own parameters are listed as key__param
        if key == "steps":
            out[key] = [name for name, _ in value]
            continue
        out[key] = _plain(value)
    return {"estimator": type(estimator).__name__, **out}


def already_fitted(rows: list, match: dict, estimator) -> bool:
    """For the selection scripts that resume: whether a row of ``rows`` whose
    columns equal ``match`` was fitted with ``estimator``'s configuration.

    A matching row fitted with another configuration (a profile changed
    since, so its "quick" is not today's) is dropped from ``rows`` and
    reported, so the fit runs again instead of being resumed under a name
    that no longer describes it.
    """
    want = json.dumps(config(estimator), sort_keys=True)
    hits = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    if any(r.get("config") == want for r in hits):
        return True
    for r in hits:
        rows.remove(r)
        print(f"refitting {match}: the stored row was fitted with another configuration",
              flush=True)
    return False


def add_fit_row(rows: list, row: dict, estimator, **provenance) -> dict:
    """Append one fit's ``row`` to ``rows`` with ``provenance``, the date and the
    estimator's configuration (JSON), and print it (rounded, without the configuration).

    For the selection scripts that resume: each row keeps the command, git sha
    and date of the run that computed it (``run_*`` keys in ``provenance``).
    """
    row.update(**provenance, run_date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               config=json.dumps(config(estimator), sort_keys=True))
    rows.append(row)
    print({k: (round(v, 4) if isinstance(v, float) else v)
           for k, v in row.items() if k != "config"}, flush=True)
    return row


def run_grid(grid: Mapping[str, Mapping[str, Any]],
             run: Callable[[dict], pd.DataFrame | Mapping | Sequence[Mapping]], *,
             label: str = "variant", verbose: int = 1) -> pd.DataFrame:
    """Run a study declared as data: one call of ``run`` per named set of overrides.

    Parameters
    ----------
    grid : mapping of str to mapping
        ``{variant label: overrides}``; ``{}`` is the unchanged baseline.
    run : callable
        ``run(overrides)`` returns a DataFrame, a row (mapping) or rows.
    label : str
        Name of the column that receives the variant label.
    verbose : int
        Print one line per variant when > 0.

    Returns
    -------
    rows : pandas.DataFrame
        Every row ``run`` returned, with ``label`` and ``overrides`` (JSON)
        columns first.
    """
    frames = []
    for name, overrides in grid.items():
        t0 = time.perf_counter()
        out = run(dict(overrides))
        df = (out.copy() if isinstance(out, pd.DataFrame)
              else pd.DataFrame([out] if isinstance(out, Mapping) else list(out)))
        df.insert(0, "overrides", json.dumps(_plain(dict(overrides)), sort_keys=True))
        df.insert(0, label, name)
        frames.append(df)
        if verbose:
            mean = f", mean AUROC {df['auroc'].mean():.4f}" if "auroc" in df else ""
            print(f"[{name}] {len(df)} rows{mean} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def one_vs_all_grid(detector: str, grid: Mapping[str, Mapping[str, Any]], data: Dataset, *,
                    profile: str = "quick", random_state: int | None = 0,
                    results_dir: str | os.PathLike | None = None, **harness) -> pd.DataFrame:
    """:func:`run_grid` over the one-vs-all protocol of ``skssad.benchmark``.

    Each variant builds ``make(detector, profile, **overrides)`` and runs
    :func:`skssad.benchmark.one_vs_all` (``semi_supervised`` when
    ``gammas`` is among ``harness``) on ``data``. ``harness`` are the
    harness's keyword arguments (``classes``, ``max_test``, ``seeds``,
    ``n_jobs``, ...); ``max_train`` defaults to the profile's, and a variant
    may override it like any parameter. With
    ``results_dir`` each variant resumes from ``results_dir/<label>/``.
    Rows carry ``detector``, ``profile``, ``max_train`` and ``config``
    (every detector parameter, JSON).
    """
    from skssad.benchmark import max_train_for, one_vs_all, semi_supervised

    labels = iter(grid)  # run_grid calls ``run`` once per variant, in the grid's order

    def run(overrides):
        name = next(labels)
        est, settings = make(detector, profile, random_state=random_state, **overrides)
        kw = dict(harness)
        # A variant's own max_train wins over the study's, which wins over the profile's.
        if "max_train" in overrides or "max_train" not in kw:
            kw["max_train"] = settings.get("max_train")
        kw["max_train"] = max_train_for(kw["max_train"], next(iter(data)))  # X_train
        if results_dir is not None:
            kw["results_dir"] = Path(results_dir) / name.replace(" ", "_").replace("/", "-")
        fn = semi_supervised if "gammas" in kw else one_vs_all
        df = fn(est, *data, **kw)
        df.insert(0, "detector", detector)
        df["profile"] = profile
        df["max_train"] = kw["max_train"]
        df["config"] = json.dumps(config(est), sort_keys=True)
        return df

    return run_grid(grid, run)


def summarize(rows: pd.DataFrame, by: Sequence[str] = ("detector",)) -> pd.DataFrame:
    """Per group: mean AUROC / EER / APCER over rows, std over classes, summed seconds."""
    by = list(by)
    out = []
    for key, g in rows.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        per_class = g.groupby("normal_class").auroc.mean()
        rec = {**dict(zip(by, key, strict=True)), "AUROC": g.auroc.mean(),
               "± std over classes": per_class.std(ddof=0)}
        if "seed" in g and g["seed"].nunique() > 1:
            rec["± std over seeds"] = g.groupby("seed").auroc.mean().std(ddof=0)
        for col, head in (("eer", "EER"), ("apcer_at_5_bpcer", "APCER@5%BPCER")):
            if col in g:
                rec[head] = g[col].mean()
        for col, head in (("fit_seconds", "fit s"), ("score_seconds", "score s")):
            if col in g:
                rec[head] = round(float(g[col].sum()), 1)
        if "n_train" in g:
            rec["n_train (mean)"] = int(round(g.n_train.mean()))
        if "n_test" in g:
            rec["n_test"] = int(g.n_test.iloc[0])
        out.append(rec)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- provenance
#: What the code of a result is: a change here (not in docs or results) marks the sha.
CODE_PATHS = ("skssad", "benchmarks/*.py", "setup.cfg", "pyproject.toml")


def git_sha() -> str:
    """Short sha of ``HEAD``, marked when the code (:data:`CODE_PATHS`) has uncommitted
    changes; edits to docs or to earlier results do not change what ran."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *CODE_PATHS], cwd=ROOT, text=True,
                               capture_output=True).stdout.strip()
        return sha + (" (with uncommitted changes to the code)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict[str, Any]:
    """The machine as detected now: CPU model, cores, threads, torch, CUDA device."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "os": f"{platform.system()} {platform.machine()}",
        "cpu": _cpu_model(), "cpus": os.cpu_count(), "cpus_usable": usable,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "python": platform.python_version(),
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda"] = ", ".join(torch.cuda.get_device_name(i)
                                 for i in range(torch.cuda.device_count()))
    else:
        info["cuda"] = "none"
    return info


def machine_line(info: Mapping[str, Any] | None = None) -> str:
    """:func:`machine` as one readable line."""
    m = dict(info or machine())
    line = (f"{m['cpu']} ({m['os']}, {m['cpus']} CPUs, {m['cpus_usable']} usable), "
            f"OMP_NUM_THREADS={m['omp_num_threads']}, Python {m['python']}")
    if "torch" in m:
        line += (f", torch {m['torch']} with {m['torch_threads']} threads, "
                 f"CUDA device: {m['cuda']}")
    return line


def command_line(prog: str | None = None, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, with ``OMP_NUM_THREADS`` when set.

    ``prog`` is the module (``benchmarks.one_vs_all``); by default the
    running script. ``argv`` defaults to ``sys.argv[1:]``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if prog is None:
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        prog = spec.name if spec is not None else sys.argv[0]
    env = (f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} "
           if "OMP_NUM_THREADS" in os.environ else "")
    return f"{env}python -m {prog} " + " ".join(shlex.quote(str(a)) for a in argv)


def use_omp_threads() -> None:
    """Give torch ``$OMP_NUM_THREADS`` threads (torch otherwise takes every core)."""
    if "OMP_NUM_THREADS" in os.environ:
        import torch

        torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))


# --------------------------------------------------------------------------- writing
def _cell(value, floatfmt: str) -> str:
    if isinstance(value, (float, np.floating)):
        return "—" if np.isnan(value) else format(float(value), floatfmt)
    if value is None:
        return "—"
    # A "|" inside a cell would end it.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".4f", index: bool = False) -> str:
    """A GitHub Markdown table of ``df``; floats formatted with ``floatfmt``."""
    if index:
        df = df.reset_index()
    cols = [_cell(c, floatfmt) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v, floatfmt) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


class Report:
    """The tables of one run, written as Markdown and CSV with their provenance.

    Parameters
    ----------
    title : str
        Heading of the Markdown file.
    prog, argv : str, sequence of str or None
        What :func:`command_line` records (default: the running command).
    seed : int, sequence or None
        The seed(s) of the run, recorded in the header and in every CSV row.
    profile : str or None
        The profile the detectors ran with.
    data : Dataset or str or None
        What was measured on (its description goes in the header).
    config : mapping or None
        Configuration shared by every table (e.g. the detector parameters
        of a one-detector study); written in the header and, as JSON, in
        every CSV row.
    notes : sequence of str
        Extra header bullets (sizes, what the metrics mean).

    Notes
    -----
    Each :meth:`table` with ``csv=True`` gets its own CSV: ``<stem>.csv``
    for the first, ``<stem>_<table name>.csv`` for the others. Every CSV
    row carries ``command, git, machine, date, seed, profile`` (and
    ``report_config`` when given), so a CSV alone says how it was made.
    Tables added with ``csv=False`` are views derived from a CSV table
    (summaries, pivots) and say so.
    """

    def __init__(self, title: str, *, prog: str | None = None,
                 argv: Sequence[str] | None = None, seed=None, profile: str | None = None,
                 data: Dataset | str | None = None, config: Mapping | None = None,
                 notes: Sequence[str] = ()):
        self.title = title
        self.command = command_line(prog, argv)
        self.git = git_sha()
        self.machine = machine()
        self.started = datetime.datetime.now(datetime.UTC)
        self.seed = seed
        self.profile = profile
        self.data = data.description if isinstance(data, Dataset) else data
        self.config = dict(config) if config is not None else None
        self.notes = list(notes)
        self._blocks: list[tuple[str, Any]] = []

    def note(self, *lines: str) -> Report:
        """Add header bullets."""
        self.notes.extend(lines)
        return self

    def text(self, *lines: str) -> Report:
        """Add a paragraph after the tables added so far."""
        self._blocks.append(("text", "\n".join(lines)))
        return self

    def table(self, name: str, df: pd.DataFrame, *, csv: bool = True, markdown: bool = True,
              floatfmt: str = ".4f", index: bool = False, caption: str | None = None) -> Report:
        """Add table ``name``: a section of the Markdown, and a CSV when ``csv``.

        ``markdown=False`` writes the CSV only (long per-task rows) and names
        it in the Markdown; ``csv=False`` marks a view derived from a CSV table.
        """
        if not (csv or markdown):
            raise ValueError(f"Table {name!r} would be written nowhere: csv and markdown "
                             "are both False.")
        self._blocks.append(("table", dict(name=name, df=df.reset_index() if index else df,
                                           csv=csv, markdown=markdown, floatfmt=floatfmt,
                                           caption=caption)))
        return self

    def provenance(self) -> dict[str, Any]:
        """The columns every CSV row gets."""
        prov = {"command": self.command, "git": self.git, "machine": machine_line(self.machine),
                "date": f"{self.started:%Y-%m-%d %H:%M} UTC",
                "seed": json.dumps(_plain(self.seed)), "profile": self.profile}
        if self.config is not None:
            prov["report_config"] = json.dumps(_plain(self.config), sort_keys=True)
        return prov

    def _csv_name(self, stem: Path, name: str, first: bool) -> Path:
        if first:
            return stem.with_suffix(".csv")
        slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
        return stem.parent / f"{stem.name}_{slug}.csv"

    def markdown(self, csv_names: Mapping[str, str] | None = None) -> str:
        """The Markdown text (header, then the tables and paragraphs in order)."""
        csv_names = dict(csv_names or {})
        lines = [f"# {self.title}", "", f"- Command: `{self.command}`", f"- git: {self.git}",
                 f"- Machine: {machine_line(self.machine)}",
                 f"- Date: {self.started:%Y-%m-%d %H:%M} UTC"]
        if self.seed is not None:
            lines.append(f"- Seed: {self.seed}")
        if self.profile is not None:
            lines.append(f"- Profile: `{self.profile}`")
        if self.data:
            lines.append(f"- Data: {self.data}")
        lines += [f"- {n}" for n in self.notes]
        if self.config is not None:
            lines.append(f"- Configuration: `{json.dumps(_plain(self.config), sort_keys=True)}`")
        source = next(iter(csv_names.values()), None)
        for kind, block in self._blocks:
            lines.append("")
            if kind == "text":
                lines.append(block)
                continue
            lines += [f"## {block['name']}", ""]
            if block["caption"]:
                lines += [block["caption"], ""]
            where = csv_names.get(block["name"])
            if not block["markdown"]:
                lines.append(f"{len(block['df'])} rows, in `{where}` (with configuration and "
                             "provenance per row).")
                continue
            lines.append(markdown_table(block["df"], floatfmt=block["floatfmt"]))
            if where:
                lines += ["", f"CSV (with configuration and provenance per row): `{where}`"]
            elif source:
                lines += ["", f"Derived from `{source}`."]
        return "\n".join(lines) + "\n"

    def write(self, stem: str | os.PathLike) -> list[Path]:
        """Write ``<stem>.md`` and the CSVs; returns the paths written.

        Files are written through a temporary name and renamed, so an
        interrupted run leaves the previous results intact.
        """
        stem = Path(stem)
        if stem.suffix in (".md", ".csv"):
            stem = stem.with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        written, csv_names = [], {}
        prov = self.provenance()
        for kind, block in self._blocks:
            if kind != "table" or not block["csv"]:
                continue
            path = self._csv_name(stem, block["name"], not csv_names)
            df = block["df"].copy()
            for key, value in prov.items():
                if key not in df.columns:
                    df[key] = value
            _atomic(path, df.to_csv(index=False))
            csv_names[block["name"]] = path.name
            written.append(path)
        md = stem.with_suffix(".md")
        _atomic(md, self.markdown(csv_names))
        return [md, *written]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
