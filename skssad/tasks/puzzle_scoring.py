"""OOD scores of the puzzle, tint and geometric tasks on the fixed inference views.

puzzle-tint-color-multicue.txt §IV-V: every image is cut with ``k`` fixed
permutations and tint rotations; each task's output on each view becomes
an OOD score (softmax truth, Eq. 26; ODIN, Eq. 34; or the label-likelihood
Mahalanobis score, Eq. 28-30), puzzle and tint scores are moved back to the
original position of their piece, and the per-task scores are standardised
on the training set before the fusion. :class:`PuzzleTintScorer` holds the
view labels and these statistics; the detector only runs the networks.

Conventions: ``raw`` is the dict of network outputs of
``PuzzleTintColorDetector._raw`` (``"puzzle"``, ``"tint"`` ``(b, k, n d)``,
``"attention"`` ``(b, k, n)``, ``"tint_err"`` ``(b, k, n, c)``,
``"geometric"`` ``(b, m, 10)``, ``"color"``, ``"color_cells"``); every score
is higher = more normal.
"""

from __future__ import annotations

import numpy as np
import torch

from ..fusion import combine_tasks, fuse, fuse_tasks, robust_scale, standardise
from ..losses._density import attention_weights
from ..ood import (
    MIN_TINT_ERROR,
    ODIN_TEMPERATURE,
    fit_label_gaussians,
    softmax_truth,
    tint_correction_score,
)
from .geometric import GEOMETRIC_LABELS, N_ROTATIONS, N_TRANSLATIONS
from .puzzle import slots_to_pieces

__all__ = ["PuzzleTintScorer", "GEOMETRIC_HEADS", "OUTPUT_KEYS"]

GEOMETRIC_HEADS = (N_ROTATIONS, N_TRANSLATIONS, N_TRANSLATIONS)
#: The network outputs a scorer reads, in the order the calibration pass returns them.
OUTPUT_KEYS = ("puzzle", "tint", "attention", "tint_err", "geometric", "color", "color_cells")


class PuzzleTintScorer:
    """Labels of the fixed views, their OOD scores and the training statistics.

    Parameters
    ----------
    perms : ndarray of shape (k, n)
        Permutation of each inference view (the identity rows when there is
        no puzzle task): slot ``s`` of view ``v`` holds piece ``perms[v, s]``.
    tint_labels : ndarray of shape (k, n) or None
        Tint rotation of every slot of every view (None without the tint task).
    c : int
        Number of tint rotations.
    tasks : tuple of str
        The fitted tasks (``tasks_`` of the detector).
    puzzle : {"piecewise", "partial"}
        Eq. (7)'s per-slot heads, or one head over the ``k`` permutations.
    attention : bool
        Weight the image-level tint score by the attention map (Eq. 21).
    ood : {"mahalanobis", "softmax", "odin"}
        The OOD function of Table V.
    tint_score : {"ood", "error"}
        The tint task's OOD score, or Eq. (9)'s correction score.
    fusion : {"median", "mean"} or float
        Fusion over views and pieces (a float is a percentile).
    task_fusion : {"median", "mean"}, float or None
        Fusion of the standardised task scores (None: ``fusion``).
    """

    def __init__(self, perms, tint_labels, c, *, tasks, puzzle, attention, ood, tint_score,
                 fusion, task_fusion=None):
        self.perms = np.asarray(perms)
        self.k, self.n = self.perms.shape
        self.tint_labels = tint_labels
        self.c = int(c)
        self.tasks = tuple(tasks)
        self.puzzle = puzzle
        self.attention = bool(attention)
        self.ood = ood
        self.tint_score = tint_score
        self.fusion = fusion
        self.task_fusion = fusion if task_fusion is None else task_fusion
        #: ODIN's temperature scaling of the softmax (Eq. 34); 1 otherwise
        self.temperature = ODIN_TEMPERATURE if ood == "odin" else 1.0
        self.ood_stats, self.task_stats, self.piece_stats = {}, {}, {}

    # ------------------------------------------------------------------ labels and truths
    def labelled(self, raw: dict, task: str):
        """Raw score vectors ``(M, d)``, labels ``(M,)`` and class count of Eq. (28).

        Each slot has its own head, so a class is a (slot, label) pair.
        """
        dev, n, k = raw[task].device, self.n, self.k
        b = len(raw[task])
        if task == "geometric":
            m = raw[task].shape[1]
            return raw[task].reshape(b * m, -1), torch.arange(m, device=dev).repeat(b), m
        if task == "puzzle" and self.puzzle == "partial":
            return raw[task].reshape(b * k, k), torch.arange(k, device=dev).repeat(b), k
        d = n if task == "puzzle" else self.c
        truth = self.perms if task == "puzzle" else self.tint_labels
        cls = torch.arange(n, device=dev) * d + torch.from_numpy(truth).to(dev)  # (k, n)
        return raw[task].reshape(-1, d), cls.repeat(b, 1).reshape(-1), n * d

    def truths(self, out: dict, b: int) -> dict:
        """Softmax truth (Eq. 26, temperature-scaled for ODIN) per task, ``(b, ...)``."""
        res = {}
        for task in ("puzzle", "tint", "geometric"):
            if task not in out or task not in self.tasks:
                continue
            shape = (b, len(GEOMETRIC_LABELS), -1) if task == "geometric" else (b, -1)
            vec, lab, _ = self.labelled({task: out[task].reshape(shape)}, task)
            vec = vec / self.temperature
            if task == "geometric":
                s = softmax_truth(vec, GEOMETRIC_LABELS.to(vec.device)[lab], GEOMETRIC_HEADS)
            else:
                s = vec.softmax(-1).gather(1, (lab % vec.shape[-1])[:, None]).squeeze(1)
            res[task] = s.view(b, -1)
        return res

    # ------------------------------------------------------------------ OOD scores
    def scores(self, raw: dict) -> dict:
        """Per-task OOD scores: image values ``(b, m)`` per task under ``"values"``
        and per original piece ``(b, n)`` under ``"pieces"``."""
        b, k, n = len(next(iter(raw.values()))), self.k, self.n
        perms = torch.from_numpy(self.perms)
        if self.ood == "mahalanobis":
            ood = {t: self.ood_stats[t].score(*self.labelled(raw, t)[:2]).view(b, -1)
                   for t in self.ood_stats}
        else:
            ood = self.truths(raw, b)
        values, pieces = {}, {}
        if "puzzle" in ood:
            values["puzzle"] = ood["puzzle"]
            per_view = ood["puzzle"].view(b, k, -1)
            pieces["puzzle"] = (fuse(slots_to_pieces(per_view, perms), self.fusion, 1)
                                if self.puzzle == "piecewise" else
                                fuse(per_view, self.fusion, (1, 2))[:, None].expand(b, n))
        if "tint" in self.tasks:
            values["tint"], pieces["tint"] = self._tint(raw, ood, perms, b)
        if "geometric" in ood:
            values["geometric"] = ood["geometric"]
            pieces["geometric"] = fuse(ood["geometric"], self.fusion, 1)[:, None].expand(b, n)
        if "color" in raw:
            values["color"], pieces["color"] = raw["color"], raw["color_cells"]
        return {"values": values, "pieces": pieces}

    def _tint(self, raw, ood, perms, b):
        """Image-level and per-piece tint scores (§III-B, §III-D)."""
        k, n = self.k, self.n
        err = slots_to_pieces(raw["tint_err"].transpose(-1, -2), perms[:, None]).transpose(-1, -2)
        w = attention_weights(slots_to_pieces(raw["attention"], perms)) \
            if self.attention else torch.ones(b, k, n, device=err.device)
        if self.tint_score == "error":  # Eq. (9) relative to chance
            logits = raw["tint"].view(b, k, n, self.c).transpose(-1, -2)
            logits = slots_to_pieces(logits, perms[:, None]).transpose(-1, -2)
            return tint_correction_score(err, logits, w), \
                fuse(tint_correction_score(err, logits), self.fusion, 1)
        # the task's OOD score, left out on desaturated pieces (§III-B)
        coloured = err.mean(-1) >= MIN_TINT_ERROR
        per_piece = torch.where(coloured, slots_to_pieces(ood["tint"].view(b, k, n), perms),
                                float("nan"))
        wc = w * coloured
        value = torch.where(coloured.any(-1), (wc * per_piece.nan_to_num()).sum(-1)
                            / wc.sum(-1).clamp_min(1e-12), float("nan"))
        return value, fuse(per_piece, self.fusion, 1)

    # ------------------------------------------------------------------ calibration
    def fit(self, raw: dict) -> PuzzleTintScorer:
        """§IV on the training views: Mahalanobis statistics (Eq. 28-30), then the
        median / IQR of every task's image and piece scores (the standardisation)."""
        self.ood_stats = {}
        if self.ood == "mahalanobis":
            for task in ("puzzle", "geometric") + (("tint",) if self.tint_score == "ood" else ()):
                if task in raw and task in self.tasks:
                    vec, lab, n_cls = self.labelled(raw, task)
                    keep = slice(None)
                    if task == "tint":  # desaturated pieces say nothing about the tint
                        keep = (raw["tint_err"].mean(-1) >= MIN_TINT_ERROR).reshape(-1)
                    self.ood_stats[task] = fit_label_gaussians(vec[keep], lab[keep], n_cls)
        ood = self.scores(raw)
        self.task_stats = {t: robust_scale(fuse(v, self.fusion, 1))
                           for t, v in ood["values"].items()}
        self.piece_stats = {t: robust_scale(v) for t, v in ood["pieces"].items()}
        return self

    # ------------------------------------------------------------------ fusion
    def image_scores(self, raw: dict, scheme: str) -> torch.Tensor:
        """The fused image score (§V, or PuzzleGeom Eq. 3 with ``scheme="mean"``)."""
        return combine_tasks(self.scores(raw)["values"], scheme, self.fusion,
                             self.task_stats, self.tasks, task_fusion=self.task_fusion)

    def piece_scores(self, raw: dict) -> torch.Tensor:
        """Standardised piece scores fused over the tasks, ``(b, n)``."""
        pieces = standardise(self.scores(raw)["pieces"], self.piece_stats)
        return fuse_tasks(pieces, self.tasks, self.task_fusion)
