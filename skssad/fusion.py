"""Fusion of many OOD scores into one anomaly score.

puzzle-tint-color-multicue.txt §IV and Table VI: the mean (used in
puzzle-geom-multitask.txt Eq. 3), the median (the paper's choice) or another
order statistic such as the 25th percentile. Scores here are normality
scores (higher = more normal), so a low percentile is a pessimistic fusion.
NaN marks a score that says nothing (a desaturated piece for the tint task)
and is left out of every fusion.

Three ways to combine several tasks (``FUSION_SCHEMES``):

``"single"``
    §V: one fusion over all raw OOD scores of all tasks together.
``"task_sum"``
    puzzle-geom-multitask.txt Eq. (3)-(4): each task's raw scores are
    summed, and the task sums averaged.
``"standardised"``
    Ours: each task's scores are fused, the task score is standardised by
    its median and interquartile range on the training data
    (:func:`robust_scale`), and the standardised task scores fused, so
    that probabilities, distances and log-likelihoods weigh alike.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch

__all__ = ["fuse", "check_fusion", "robust_scale", "standardise", "fuse_tasks",
           "task_scores", "combine_tasks", "FUSION_SCHEMES"]

FUSION_SCHEMES = ("standardised", "single", "task_sum")


def check_fusion(fusion) -> str | float:
    """Validate ``fusion``: "mean", "median", or a percentile in [0, 100]."""
    if isinstance(fusion, str):
        if fusion in ("mean", "median"):
            return fusion
    elif isinstance(fusion, Real) and not isinstance(fusion, bool) and 0 <= fusion <= 100:
        return float(fusion)
    raise ValueError(f"fusion must be 'mean', 'median' or a percentile in [0, 100]; "
                     f"got {fusion!r}.")


def fuse(scores: torch.Tensor, fusion="median", dim=-1) -> torch.Tensor:
    """Fuse ``scores`` along ``dim`` (an int or a tuple of ints) with ``fusion``.

    The median is the 50th percentile with linear interpolation (not
    torch's lower median), so it does not depend on how scores are ordered.
    NaN entries are ignored; a row of NaN fuses to NaN.
    """
    fusion = check_fusion(fusion)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % scores.ndim for d in dims)
    if fusion == "mean":
        return scores.nanmean(dims)
    q = 0.5 if fusion == "median" else fusion / 100.0
    keep = [d for d in range(scores.ndim) if d not in dims]
    flat = scores.permute(*keep, *dims).reshape(*[scores.shape[d] for d in keep], -1)
    return torch.nanquantile(flat, q, dim=-1)


def robust_scale(scores: torch.Tensor) -> tuple[float, float]:
    """``(median, interquartile range)`` of ``scores`` (NaN ignored).

    The range falls back to the standard deviation, then to 1, when the
    scores are (nearly) constant; ``(0, 1)`` when there is no finite score.
    """
    s = scores.detach().double().cpu().numpy().ravel()
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return 0.0, 1.0
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    scale = q3 - q1 if q3 > q1 else s.std()
    return float(med), float(scale) if scale > 0 else 1.0


def standardise(scores: dict, stats: dict) -> dict:
    """``(s - median) / IQR`` of every task with the ``stats`` of :func:`robust_scale`."""
    return {t: (s - stats[t][0]) / stats[t][1] for t, s in scores.items()}


def fuse_tasks(scores: dict, order, fusion="median") -> torch.Tensor:
    """Fuse per-task scores (same shape each) over the tasks named in ``order``.

    Tasks that have no score for a sample (NaN) are left out; a sample no
    task scores gets 0, the training median of a standardised score.
    """
    stacked = torch.stack([scores[t] for t in order if t in scores], -1)
    return torch.nan_to_num(fuse(stacked, fusion, dim=-1), nan=0.0)


def task_scores(values: dict, fusion, stats: dict, order) -> dict:
    """Each task's values fused by ``fusion``, then standardised by its ``stats``:
    the per-task scores that ``combine_tasks(scheme="standardised")`` fuses."""
    return standardise({t: fuse(values[t], fusion, 1) for t in order}, stats)


def combine_tasks(values: dict, scheme: str = "standardised", fusion="median",
                  stats: dict | None = None, order=None, task_fusion=None) -> torch.Tensor:
    """One score per sample from each task's raw OOD scores ``values[t]`` ``(b, m_t)``.

    ``scheme`` is one of :data:`FUSION_SCHEMES` (module docstring);
    ``"standardised"`` needs the ``stats`` of :func:`robust_scale` of each
    task's fused training scores. ``order`` lists the tasks (default: all).
    ``task_fusion`` fuses the standardised task scores (default: ``fusion``,
    which always fuses each task's own values). NaN scores are left out; a
    sample without any score gets 0.
    """
    order = list(values) if order is None else [t for t in order if t in values]
    if scheme == "single":  # §V: one fusion over every raw score
        return torch.nan_to_num(fuse(torch.cat([values[t] for t in order], 1), fusion, 1))
    if scheme == "task_sum":  # PuzzleGeom Eq. (3)-(4)
        sums = torch.stack([torch.where(values[t].isnan().all(1), float("nan"),
                                        values[t].nansum(1)) for t in order], 1)
        return torch.nan_to_num(sums.nanmean(1))
    if scheme != "standardised":
        raise ValueError(f"fusion_scheme must be one of {FUSION_SCHEMES}; got {scheme!r}.")
    return fuse_tasks(task_scores(values, fusion, stats, order), order,
                      fusion if task_fusion is None else task_fusion)
