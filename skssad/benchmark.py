"""The one-vs-all protocol as a library function.

One class of a labelled dataset is normal, every other class anomalous
(puzzle-geom-multitask.txt §5.1): the detector is fitted on the training
images of the normal class and scores the whole (possibly subsampled) test
set; the result per normal class is its AUROC, EER and APCER@5%BPCER.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state

from .metrics import anomaly_auroc, apcer_at_bpcer, equal_error_rate

__all__ = ["max_train_for", "one_vs_all", "part_file", "semi_supervised",
           "stratified_subsample", "summarize", "training_subset"]


def stratified_subsample(y, n: int | None, random_state=0) -> np.ndarray:
    """Indices of a class-stratified subsample of ``n`` of the samples (all if None)."""
    y = np.asarray(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = check_random_state(random_state)
    classes, counts = np.unique(y, return_counts=True)
    take = np.floor(counts / len(y) * n).astype(int)
    for i in np.argsort(-(counts / len(y) * n - take))[: n - take.sum()]:
        take[i] += 1
    idx = [rng.choice(np.flatnonzero(y == c), t, replace=False)
           for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(idx))


def _with_seed(estimator, seed):
    """Clone ``estimator`` with every ``*random_state`` parameter set to ``seed``."""
    est = clone(estimator)
    if seed is None:
        return est
    keys = [k for k in est.get_params(deep=True) if k.split("__")[-1] == "random_state"]
    return est.set_params(**dict.fromkeys(keys, int(seed))) if keys else est


def _config(estimator) -> str:
    """Text that identifies a configuration, to refuse resuming a different one."""
    # Object addresses ("<function f at 0x...>") differ between processes.
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(clone(estimator)))
    return re.sub(r"\s+", " ", text)


def _draw_known_anomalies(y_train, normal_class, n_normal, gamma, rng) -> np.ndarray:
    # anomem-contrasted-memory.txt §4.1: gamma is the share of anomalies in the
    # training set, so n_anomalies / (n_normal + n_anomalies) = gamma.
    if gamma <= 0:
        return np.empty(0, dtype=int)
    pool = np.flatnonzero(y_train != normal_class)
    n = min(len(pool), int(round(gamma / (1 - gamma) * n_normal)))
    return np.sort(rng.choice(pool, n, replace=False))


def training_subset(y_train, normal_class, *, max_train=None, random_state=None, draw=0,
                    gamma=0.0):
    """Indices of the training images of one one-vs-all task, as the harness draws them.

    Returns ``(normal_idx, known_idx)``: the images of ``normal_class`` (a
    seeded subset of ``max_train`` of them, sorted, when the class is larger)
    and, for ``gamma > 0``, the known anomalies of the semi-supervised
    protocol (anomem-contrasted-memory.txt §4.1: ``gamma`` is their share of
    the training set). Selection scripts that score a training split outside
    the harness call this so that they train on exactly the harness's images.
    """
    normal_idx = np.flatnonzero(np.asarray(y_train) == normal_class)
    rng = np.random.RandomState(None if random_state is None else
                                [int(random_state) % 2**31, int(draw)])
    if max_train is not None and len(normal_idx) > max_train:
        sub_rng = check_random_state(random_state) if draw == 0 else rng
        normal_idx = np.sort(sub_rng.choice(normal_idx, max_train, replace=False))
    known_idx = _draw_known_anomalies(y_train, normal_class, len(normal_idx), gamma, rng)
    return normal_idx, known_idx


def _run_class(estimator, X_train, y_train, X_test, y_test, normal_class, max_train,
               random_state, threads, seed=None, gamma=0.0, draw=0, return_scores=False):
    import torch

    if threads:
        torch.set_num_threads(threads)
    train_idx, known = training_subset(y_train, normal_class, max_train=max_train,
                                       random_state=random_state, draw=draw, gamma=gamma)
    det = _with_seed(estimator, seed)
    t0 = time.perf_counter()
    if len(known):
        fit_y = np.r_[np.ones(len(train_idx), dtype=int), -np.ones(len(known), dtype=int)]
        det.fit(X_train[np.r_[train_idx, known]], fit_y)
    else:
        det.fit(X_train[train_idx])
    t1 = time.perf_counter()
    scores = np.asarray(det.score_samples(X_test), dtype=np.float64)
    t2 = time.perf_counter()
    labels = np.where(y_test == normal_class, 1, -1)
    row = {
        "normal_class": normal_class,
        "auroc": anomaly_auroc(labels, scores),
        "eer": equal_error_rate(labels, scores),
        "apcer_at_5_bpcer": apcer_at_bpcer(labels, scores, 0.05),
        "fit_seconds": t1 - t0,
        "score_seconds": t2 - t1,
        "n_train": len(train_idx),
        "n_test": len(y_test),
        "seed": seed,
        "gamma": float(gamma),
        "draw": int(draw),
        "n_known_anomalies": len(known),
    }
    health = getattr(det, "training_health_", None)
    if health:
        # Last pretext loss and chance level per network, to read a score against
        # whether its network learned anything.
        row["pretext_loss"] = json.dumps({k: round(v["loss"][-1], 4) if v.get("loss") else None
                                          for k, v in health.items()})
        row["pretext_chance"] = json.dumps({k: None if v.get("chance") is None
                                            else round(v["chance"], 4)
                                            for k, v in health.items()})
    return (row, scores) if return_scores else row


def _run_task(task, estimator, X_train, y_train, X_test, y_test, max_train, random_state,
              threads):
    c, seed, gamma, draw = task
    row, scores = _run_class(estimator, X_train, y_train, X_test, y_test, c, max_train,
                             random_state, threads, seed, gamma, draw, return_scores=True)
    return task, row, scores


def part_file(results_dir: str | os.PathLike, normal_class, seed=None, gamma: float = 0.0,
              draw: int = 0) -> Path:
    """The CSV that ``results_dir`` holds for one finished task (its scores: ``.npz``).

    A task is one normal class, detector seed and, in the semi-supervised
    protocol, one ratio ``gamma`` and draw; see ``results_dir`` of
    :func:`one_vs_all`.
    """
    name = f"class_{normal_class}_seed_{seed}"
    if gamma:
        name += f"_gamma_{gamma:g}_draw_{draw}"
    return Path(results_dir) / f"{name}.csv"


def _part_path(results_dir, task) -> Path:
    return part_file(results_dir, *task)


def _load_part(path: Path, config: str, n_test: int) -> dict | None:
    """A finished task's row, if its CSV exists and was made by the same configuration."""
    if not path.is_file():
        return None
    try:
        part = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError):
        return None  # interrupted while writing: redo it
    if len(part) != 1 or part["config"].iloc[0] != config or part["n_test"].iloc[0] != n_test:
        return None
    row = part.iloc[0].to_dict()
    row.pop("config")
    return row


def _write_part(path: Path, row: dict, config: str, scores, y_test, normal_class) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Scores first, then the CSV through a rename: a CSV exists only when complete.
    np.savez_compressed(path.with_suffix(".npz"), scores=scores.astype(np.float32),
                        normal=(y_test == normal_class))
    tmp = path.with_suffix(".csv.tmp")
    pd.DataFrame([{**row, "config": config}]).to_csv(tmp, index=False)
    os.replace(tmp, path)


def max_train_for(max_train, X):
    """``max_train``, or of a ``{"rgb": n, "grayscale": m}`` cap the entry for ``X``'s images.

    A profile may cap the training images per modality (AnoMem ``quick``: 1,000
    photographs, 2,000 grayscale images); the images' channels decide, as they
    decide a detector's ``"auto"`` parameters.
    """
    if not isinstance(max_train, dict):
        return max_train
    return max_train[modality(X)]


def modality(X) -> str:
    """``"rgb"`` for three-channel images, else ``"grayscale"``: the key of a per-modality
    setting (``max_train`` caps, a detector's ``"auto"`` parameters)."""
    from ._layouts import images_to_nchw

    return "rgb" if images_to_nchw(np.asarray(X[:1]), None).shape[1] == 3 else "grayscale"


def _run_tasks(estimator, X_train, y_train, X_test, y_test, tasks, *, max_train, max_test,
               n_jobs, random_state, results_dir, backend, verbose, label):
    X_train, y_train = np.asarray(X_train), np.asarray(y_train)
    max_train = max_train_for(max_train, X_train)
    X_test, y_test = np.asarray(X_test), np.asarray(y_test)
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise ValueError("X and y must have the same number of samples.")
    test_idx = stratified_subsample(y_test, max_test, random_state)
    X_test, y_test = X_test[test_idx], y_test[test_idx]
    config = _config(estimator) + f" max_train={max_train}"
    done, todo = {}, []
    for task in tasks:
        row = (_load_part(_part_path(results_dir, task), config, len(y_test))
               if results_dir is not None else None)
        if row is not None:
            done[task] = row
        else:
            todo.append(task)
    if verbose and done:
        print(f"[{label}] resuming: {len(done)} of {len(tasks)} tasks already done",
              flush=True)
    from joblib import cpu_count, effective_n_jobs, parallel_config

    with parallel_config(backend=backend) if backend else contextlib.nullcontext():
        jobs = effective_n_jobs(n_jobs)
        threads = max(1, cpu_count() // jobs) if jobs > 1 else None
        # Results come back to this process as they finish, so the per-task CSVs
        # are written here (cluster workers need not share a file system).
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_run_task)(task, estimator, X_train, y_train, X_test, y_test, max_train,
                               random_state, threads)
            for task in todo)
        for task, row, scores in results:
            done[task] = row
            if results_dir is not None:
                _write_part(_part_path(results_dir, task), row, config, scores, y_test,
                            row["normal_class"])
            if verbose:
                extra = f" gamma {row['gamma']:g} draw {row['draw']}" if row["gamma"] else ""
                print(f"[{label}] {len(done)}/{len(tasks)} class {row['normal_class']} "
                      f"seed {row['seed']}{extra}: AUROC {row['auroc']:.4f} "
                      f"(fit {row['fit_seconds']:.1f}s, score {row['score_seconds']:.1f}s)",
                      flush=True)
    return pd.DataFrame([done[t] for t in tasks])


def one_vs_all(estimator, X_train, y_train, X_test, y_test, *,
               classes: Sequence | None = None, max_train: int | None = None,
               max_test: int | None = None, n_jobs: int | None = None,
               random_state=0, seeds: Sequence[int] | None = None,
               results_dir: str | os.PathLike | None = None, backend: str | None = None,
               verbose: int = 0) -> pd.DataFrame:
    """Run the one-vs-all protocol for every (or the given) normal class.

    Parameters
    ----------
    estimator : skssad detector or any scikit-learn outlier detector
        Cloned for each normal class; must have ``score_samples``.
    X_train, y_train : arrays
        Training images and their class labels.
    X_test, y_test : arrays
        Test images and class labels; the normal class's test images are
        normal, all others anomalies.
    classes : sequence or None
        Normal classes to run; all classes of ``y_train`` if None.
    max_train : int, dict or None
        Cap on the training images of the normal class (random subset); a
        ``{"rgb": n, "grayscale": m}`` dict caps by the images' channels
        (:func:`max_train_for`).
    max_test : int or None
        Score a class-stratified subsample of this size of the test set
        (every normal class sees the same subsample).
    n_jobs : int or None
        Tasks (classes x seeds) in parallel (joblib); each worker gets
        ``cpu_count // n_jobs`` torch threads.
    random_state : int
        Seeds the subsampling (not the detectors: see ``seeds``).
    seeds : sequence of int or None
        Repeat every class once per seed, with every ``*random_state``
        parameter of the estimator set to it; None keeps the estimator's own.
    results_dir : path or None
        Write one CSV (and the scores as ``.npz``) per class and seed as soon
        as it finishes; a rerun with the same configuration skips the tasks
        whose CSV exists (resume after an interruption).
    backend : str or None
        joblib backend (``"loky"``, ``"dask"`` with a running
        ``dask.distributed.Client``, ``"ray"`` after
        ``ray.util.joblib.register_ray()``); None keeps joblib's default.
    verbose : int
        Print one line per finished task when > 0.

    Returns
    -------
    results : pandas.DataFrame
        One row per normal class (and seed): ``normal_class, auroc, eer,
        apcer_at_5_bpcer, fit_seconds, score_seconds, n_train, n_test``, and
        ``seed, gamma, draw, n_known_anomalies``.
    """
    classes = np.unique(np.asarray(y_train)) if classes is None else list(classes)
    tasks = [(c, s, 0.0, 0) for c in classes for s in (seeds if seeds is not None else [None])]
    return _run_tasks(estimator, X_train, y_train, X_test, y_test, tasks,
                      max_train=max_train, max_test=max_test, n_jobs=n_jobs,
                      random_state=random_state, results_dir=results_dir, backend=backend,
                      verbose=verbose, label=type(estimator).__name__)


def semi_supervised(estimator, X_train, y_train, X_test, y_test, *,
                    gammas: Sequence[float] = (0.0, 0.01, 0.05, 0.1), n_draws: int = 10,
                    classes: Sequence | None = None, max_train: int | None = None,
                    max_test: int | None = None, n_jobs: int | None = None, random_state=0,
                    seeds: Sequence[int] | None = None,
                    results_dir: str | os.PathLike | None = None,
                    backend: str | None = None, verbose: int = 0) -> pd.DataFrame:
    """The semi-supervised one-vs-all protocol (anomem-contrasted-memory.txt §4.1).

    For each normal class and each ratio ``gamma``, known anomalies drawn
    at random from the other classes' training images are added to the
    normal training images, labelled ``-1``, so that they make up a share
    ``gamma`` of the training set; metrics are then averaged over
    ``n_draws`` random draws (``summarize`` per gamma). ``gamma = 0`` is the
    one-class setting and runs a single draw (nothing is drawn), unless
    ``max_train`` subsamples the normal images. One-class detectors drop
    the ``-1`` rows, so their rows show what the known anomalies add.

    Parameters are those of :func:`one_vs_all`, plus ``gammas`` (each in
    [0, 1)) and ``n_draws``.

    Returns
    -------
    results : pandas.DataFrame
        One row per class, seed, gamma and draw; ``n_known_anomalies`` is
        the number of anomalies added to training.
    """
    gammas = [float(g) for g in gammas]
    if any(not 0 <= g < 1 for g in gammas):
        raise ValueError(f"gammas must be in [0, 1), got {gammas}.")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}.")
    classes = np.unique(np.asarray(y_train)) if classes is None else list(classes)
    tasks = [(c, s, g, d) for c in classes for s in (seeds if seeds is not None else [None])
             for g in gammas
             for d in range(n_draws if g > 0 or max_train is not None else 1)]
    return _run_tasks(estimator, X_train, y_train, X_test, y_test, tasks,
                      max_train=max_train, max_test=max_test, n_jobs=n_jobs,
                      random_state=random_state, results_dir=results_dir, backend=backend,
                      verbose=verbose, label=type(estimator).__name__)


def summarize(results: pd.DataFrame) -> pd.Series:
    """Mean of the metrics and total seconds over normal classes."""
    out = results[["auroc", "eer", "apcer_at_5_bpcer"]].mean()
    out["fit_seconds"] = results["fit_seconds"].sum()
    out["score_seconds"] = results["score_seconds"].sum()
    return out
