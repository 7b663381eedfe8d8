"""Fusion of many OOD scores into one anomaly score.

puzzle-tint-color-multicue.txt §IV and Table VI: the mean (used in
puzzle-geom-multitask.txt Eq. 3), the median (the paper's choice) or another
order statistic such as the 25th percentile. Scores here are normality
scores (higher = more normal), so a low percentile is a pessimistic fusion.
"""

from __future__ import annotations

from numbers import Real

import torch

__all__ = ["fuse", "check_fusion"]


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
    """
    fusion = check_fusion(fusion)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % scores.ndim for d in dims)
    if fusion == "mean":
        return scores.mean(dims)
    q = 0.5 if fusion == "median" else fusion / 100.0
    keep = [d for d in range(scores.ndim) if d not in dims]
    flat = scores.permute(*keep, *dims).reshape(*[scores.shape[d] for d in keep], -1)
    return torch.quantile(flat, q, dim=-1)
