"""Out-of-distribution scores computed from pretext-task outputs.

puzzle-tint-color-multicue.txt §IV and Table V: the softmax truth (Eq. 26),
ODIN's temperature-scaled softmax of a perturbed input (Eq. 34) and the
Mahalanobis label likelihood (Eq. 27-31); §III-B: the expected colour error
of the tint correction (Eq. 9). Every score is higher for normal data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["softmax_truth", "LabelGaussians", "fit_label_gaussians",
           "mahalanobis_label_likelihood", "odin_perturb", "tint_correction_score",
           "MIN_TINT_ERROR", "ODIN_TEMPERATURE", "ODIN_EPSILON"]

#: Mean L1 colour error (RGB in [0, 1]) of a random tint correction below which
#: a piece counts as desaturated: its tint cannot be told, so it scores nothing.
MIN_TINT_ERROR = 1e-2
#: ODIN's settings (Liang et al., ICLR 2018); the paper does not give its own.
ODIN_TEMPERATURE = 1000.0
ODIN_EPSILON = 1.4e-3


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


def odin_perturb(x: torch.Tensor, log_truth: Callable[[torch.Tensor], torch.Tensor],
                 epsilon: float = ODIN_EPSILON) -> torch.Tensor:
    """Eq. (34): ``x~ = x - eps sign(-grad_x log softmax_y(x; T))``.

    ``log_truth(x)`` returns the temperature-scaled log-softmax of the true
    classes, ``(m,)`` (summed over a sample's heads or slots). The step
    raises the true class's probability, more for normal inputs than for
    anomalies (ODIN, Liang et al., ICLR 2018). Gradients are enabled here
    even inside ``torch.no_grad()``; the network's weights are not touched.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(log_truth(x).sum(), x)
    return (x + epsilon * grad.sign()).detach()


def tint_correction_score(errors: torch.Tensor, logits: torch.Tensor,
                          weights: torch.Tensor | None = None,
                          min_error: float = MIN_TINT_ERROR) -> torch.Tensor:
    """Eq. (9), relative to chance: ``1 - sum_i w_i E[err_i] / sum_i w_i mean_Theta err_i``.

    ``errors`` ``(..., n, c)`` are the L1 errors of each correction
    ``Theta`` (:func:`~skssad.tasks.puzzle.intra_piece_tint_errors`),
    ``logits`` ``(..., n, c)`` the tint head's outputs, so
    ``E[err_i] = sum_Theta p(Theta) err_i(Theta)``. Dividing by the error of
    a uniform guess makes the score 1 for a perfect correction and 0 at
    chance whatever the piece's saturation; desaturated pieces (chance
    error below ``min_error``) are left out, as §III-B says they must be
    ("any rotation of tint would be undetectable"). With ``weights``
    ``(..., n)`` (the attention map, Eq. 21, 25) the pieces are weighted;
    ``weights=None`` scores every piece on its own, ``(..., n)``. Where no
    coloured piece is left the score is NaN: the task says nothing there.
    """
    expected = (logits.softmax(-1) * errors).sum(-1)
    chance = errors.mean(-1)
    coloured = chance >= min_error
    if weights is None:
        return torch.where(coloured, 1.0 - expected / chance.clamp_min(min_error),
                           torch.full_like(chance, float("nan")))
    w = weights * coloured
    den = (w * chance).sum(-1)
    score = 1.0 - (w * expected).sum(-1) / den.clamp_min(1e-12)
    return torch.where(coloured.any(-1), score, torch.full_like(score, float("nan")))
