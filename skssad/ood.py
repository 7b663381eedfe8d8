"""Out-of-distribution scores computed from pretext-task outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["softmax_truth", "LabelGaussians", "fit_label_gaussians",
           "mahalanobis_label_likelihood"]


def softmax_truth(logits: torch.Tensor, targets: torch.Tensor,
                  head_sizes: Sequence[int]) -> torch.Tensor:
    """Softmax probability of the true class, summed over heads.

    puzzle-geom-multitask.txt Eq. (4) per head, and the per-view term of
    MHRot's Eq. (2); puzzle-tint-color-multicue.txt Eq. (26). ``logits`` is
    ``(m, sum(head_sizes))``, ``targets`` ``(m, n_heads)``; returns ``(m,)``.
    """
    parts = torch.split(logits, [int(s) for s in head_sizes], dim=-1)
    return sum(p.softmax(-1).gather(1, targets[:, i:i + 1]).squeeze(1)
               for i, p in enumerate(parts))


class LabelGaussians:
    """Class-conditional means and precisions of raw score vectors (Eq. 28–30).

    Plain CPU tensors, so a fitted detector pickles anywhere. ``means`` is
    ``(C, d)``, ``precisions`` ``(C, d, d)``, ``counts`` ``(C,)``.
    """

    def __init__(self, means: torch.Tensor, precisions: torch.Tensor, counts: torch.Tensor):
        self.means = means
        self.precisions = precisions
        self.counts = counts

    def score(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`mahalanobis_label_likelihood` with these statistics."""
        return mahalanobis_label_likelihood(scores, labels, self.means.to(scores.device),
                                            self.precisions.to(scores.device))


def fit_label_gaussians(scores: torch.Tensor, labels: torch.Tensor, n_classes: int,
                        shrinkage: float = 1e-2) -> LabelGaussians:
    """Eq. (28)–(30): mean ``mu_c`` and covariance ``Sigma_c`` of the raw scores per label.

    ``scores`` ``(m, d)`` are the networks' raw outputs on the pretext views
    of the normal training data, ``labels`` ``(m,)`` their true labels in
    ``[0, n_classes)``. ``Sigma_c`` is the full covariance (the outer
    product of Eq. 30) shrunk towards ``shrinkage * trace / d`` times the
    identity so it stays invertible with few samples or saturated logits.
    Classes without samples get a zero mean and the identity precision.
    """
    scores = scores.detach().double().cpu()
    labels = labels.detach().long().cpu()
    if scores.ndim != 2 or labels.shape != (len(scores),):
        raise ValueError(f"Expected scores (m, d) and labels (m,); got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}.")
    d = scores.shape[1]
    counts = torch.bincount(labels, minlength=n_classes).double()
    sums = torch.zeros(n_classes, d, dtype=torch.float64).index_add_(0, labels, scores)
    means = sums / counts.clamp_min(1)[:, None]
    centred = scores - means[labels]
    outer = centred[:, :, None] * centred[:, None, :]
    cov = torch.zeros(n_classes, d, d, dtype=torch.float64).index_add_(0, labels, outer)
    cov = cov / counts.clamp_min(1)[:, None, None]
    ridge = shrinkage * cov.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-6)
    cov = cov + ridge[:, None, None] * torch.eye(d, dtype=torch.float64)
    cov[counts == 0] = torch.eye(d, dtype=torch.float64)
    precisions = torch.linalg.inv(cov)
    return LabelGaussians(means.float(), precisions.float(), counts.long())


def mahalanobis_label_likelihood(scores: torch.Tensor, labels: torch.Tensor,
                                 means: torch.Tensor, precisions: torch.Tensor) -> torch.Tensor:
    """Eq. (27), approximated by Eq. (31): Mahalanobis distance to the true label's mode.

    Returns the *negated* distance ``-(s - mu_y)^T Sigma_y^-1 (s - mu_y)``,
    so that, like every skssad score, higher means more normal.
    ``scores`` ``(m, d)``, ``labels`` ``(m,)``, ``means`` ``(C, d)``,
    ``precisions`` ``(C, d, d)``; returns ``(m,)``.
    """
    diff = scores - means[labels]
    return -torch.einsum("md,mde,me->m", diff, precisions[labels], diff)
