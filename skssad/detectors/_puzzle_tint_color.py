"""PuzzleTintColorDetector: multi-cue self-supervised anomaly detection.

puzzle-tint-color-multicue.txt §III–V and §VI-B, plus the PuzzleGeom
variant of puzzle-geom-multitask.txt §3.2. Two networks are trained
independently on normal images (§V):

1. an encoder (WideResNet) that solves the piece-wise (or partial) jigsaw
   puzzle (§III-A), the intra-piece tint rotation task (§III-B, §III-D)
   weighted by an attention map over pieces (Fig. 8), and optionally the
   geometric task of MHRot (PuzzleGeom);
2. a UNet that re-colorizes the image from its luminance and a coloured
   border, predicting a per-pixel GMM (or colour bins) (§III-C).

At inference every sample is cut with ``k`` fixed permutations and tint
rotations (one batched forward pass), OOD scores are computed per piece and
view (softmax truth or Mahalanobis label likelihood, §IV; Eq. 9 for tint;
the colour likelihood for colorization) and fused (median by default).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import GradientNormClipping
from torch import nn

from ..base import INFERENCE_CHUNK, BaseDetector, Interval, StrOptions, padded_chunks
from ..fusion import fuse
from ..losses import MultiHeadCrossEntropy
from ..losses._density import (
    GMM_PARAMS_PER_COMPONENT,
    BinColorLoss,
    GMMColorLoss,
    attention_density_loss,
    attention_weights,
    bin_log_likelihood,
    gmm_log_likelihood,
)
from ..nets import MultiHeadNet, Standardize, WideResNet
from ..nets.unet import UNet
from ..ood import fit_label_gaussians, softmax_truth
from ..tasks.color import border_mask, partial_colorization, rgb_to_lab, tint_rotation
from ..tasks.geometric import GEOMETRIC_LABELS, all_geometric_views, geometric_transform
from ..tasks.puzzle import (
    PieceLayout,
    draw_permutations,
    piece_map,
    piece_means,
    piece_wise_puzzle,
    random_offsets,
    random_permutations,
    views_per_epoch,
)

__all__ = ["PuzzleTintColorDetector", "PuzzleTintNet", "PuzzleTintTask", "PuzzleTintLoss",
           "ColorizationTask"]

TASKS = ("puzzle", "tint", "color", "geometric")
GEOMETRIC_HEADS = (4, 3, 3)
#: Colour bins per channel when ``color_density="bins"`` and ``n_components="auto"``.
DEFAULT_BINS = 16


class PuzzleTintNet(nn.Module):
    """Encoder ``phi`` with the puzzle, tint, attention and geometric heads (Fig. 7–8).

    ``forward(pieces=..., geometric=...)`` returns a dict of logits: for the
    puzzle images ``"puzzle"`` (``n * n`` piece-wise or ``k`` partial),
    ``"tint"`` (``n * c``) and ``"attention"`` (``n``); for the geometric
    views ``"geometric"`` (4 + 3 + 3). Heads have dropout (PuzzleGeom §4).
    """

    def __init__(self, backbone: nn.Module, head_sizes: dict, dropout: float = 0.3,
                 preprocess: nn.Module | None = None):
        super().__init__()
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.backbone = backbone
        f = backbone.out_features
        self.heads = nn.ModuleDict()
        for name, size in head_sizes.items():
            if name == "geometric":
                self.heads[name] = _GeometricHeads(f, size, dropout)
            elif name == "attention":
                self.heads[name] = nn.Linear(f, size)
            else:
                self.heads[name] = nn.Sequential(nn.Dropout(dropout), nn.Linear(f, size))

    def forward(self, pieces: torch.Tensor | None = None,
                geometric: torch.Tensor | None = None) -> dict:
        out = {}
        if pieces is not None:
            z = self.backbone(self.preprocess(pieces))
            for name in ("puzzle", "tint", "attention"):
                if name in self.heads:
                    out[name] = self.heads[name](z)
        if geometric is not None:
            out["geometric"] = self.heads["geometric"](self.backbone(self.preprocess(geometric)))
        return out


class _GeometricHeads(nn.Module):
    """MHRot's three softmax heads, reusing :class:`~skssad.nets.MultiHeadNet`."""

    def __init__(self, features: int, sizes, dropout: float):
        super().__init__()
        backbone = nn.Identity()
        backbone.out_features = features
        self.net = MultiHeadNet(backbone, sizes, dropout)

    def forward(self, z):
        return self.net(z)


class PuzzleTintTask:
    """Pretext hook of the encoder: shuffled, tinted puzzles and geometric views.

    Each image gives ``n_views`` puzzle images (``k'`` of Eq. 8) with random
    piece offsets, a random permutation (piece-wise) or one of the ``k``
    fixed permutations (partial), and a random tint class per piece; and
    ``n_views`` random MHRot compositions when the geometric task is on.
    Holds only CPU/numpy state.
    """

    def __init__(self, layout: PieceLayout, n_views: int, puzzle: str | None,
                 perms: np.ndarray, c: int, shift: int | None):
        self.layout = layout
        self.n_views = int(n_views)
        self.puzzle = puzzle
        self.perms = perms
        self.c = int(c)
        self.shift = shift

    def __call__(self, x: torch.Tensor):
        dev, L = x.device, self.layout
        inputs, targets = {}, {}
        if self.puzzle is not None or self.c:
            xr = x.repeat_interleave(self.n_views, 0)
            B = len(xr)
            if self.puzzle == "piecewise":
                perm = random_permutations(B, L.n, dev)
                targets["puzzle"] = perm
            elif self.puzzle == "partial":
                cls = torch.randint(len(self.perms), (B,), device=dev)
                perm = torch.from_numpy(self.perms).to(dev)[cls]
                targets["puzzle"] = cls
            else:
                perm = torch.arange(L.n, device=dev).expand(B, L.n)
            pieces = piece_wise_puzzle(xr, perm, L, random_offsets(B, L, dev))
            if self.c:
                t = torch.randint(self.c, (B, L.n), device=dev)
                pieces = tint_rotation(pieces, piece_map(t / self.c, L))
                targets["tint"] = t
            inputs["pieces"] = pieces
        if self.shift is not None:
            pick = torch.randint(len(GEOMETRIC_LABELS), (len(x) * self.n_views,))
            labels = GEOMETRIC_LABELS[pick].to(dev)
            inputs["geometric"] = geometric_transform(x.repeat_interleave(self.n_views, 0),
                                                      labels, self.shift)
            targets["geometric"] = labels
        return inputs, targets


class PuzzleTintLoss(nn.Module):
    """Eq. (7) + Eq. (20) or, with attention, Eq. (24); plus MHRot's loss for PuzzleGeom.

    Eq. (23) measures the spread of the attention map; §III-D adds it "to
    encourage spread matrices", so it is subtracted (a plain ``+`` would
    reward the degenerate one-piece maps it is meant to prevent).
    """

    def __init__(self, n_h: int, n_w: int, c: int, attention: bool):
        super().__init__()
        self.n_h, self.n_w, self.c, self.attention = n_h, n_w, c, attention
        self.geometric = MultiHeadCrossEntropy(GEOMETRIC_HEADS)

    def forward(self, out: dict, targets: dict) -> torch.Tensor:
        n = self.n_h * self.n_w
        loss = 0.0
        if "puzzle" in targets:
            y, logits = targets["puzzle"], out["puzzle"]
            if y.ndim == 2:  # Eq. (7): one cross-entropy per piece, averaged
                loss = loss + F.cross_entropy(logits.reshape(-1, n), y.reshape(-1))
            else:
                loss = loss + F.cross_entropy(logits, y)
        if "tint" in targets:
            t = targets["tint"]
            ce = F.cross_entropy(out["tint"].reshape(-1, self.c), t.reshape(-1),
                                 reduction="none").view(t.shape)
            if self.attention:
                w = attention_weights(out["attention"])  # Eq. (21)
                loss = loss + (w * ce).sum(1).mean() \
                    - attention_density_loss(w, self.n_h, self.n_w).mean()  # Eq. (24)
            else:
                loss = loss + ce.mean()  # Eq. (20)
        if "geometric" in targets:
            loss = loss + self.geometric(out["geometric"], targets["geometric"])
        return loss


class ColorizationTask:
    """Pretext hook of the UNet: ``I_part`` and the (A, B) target inside the border."""

    def __init__(self, border: int):
        self.border = int(border)

    def __call__(self, x: torch.Tensor):
        inputs, ab = partial_colorization(x, self.border)
        inner = ~border_mask(x.shape[-2], x.shape[-1], self.border, x.device)
        return inputs, (ab, inner[None])


def _elbow_components(X: torch.Tensor, border: int, seed: int) -> int:
    """§III-C: K by the k-means elbow on the (A, B) colours of cropped, downsampled images."""
    from sklearn.cluster import KMeans

    h, w = X.shape[-2:]
    crop = X[:, :, border:h - border, border:w - border] if min(h, w) > 2 * border + 1 else X
    small = F.interpolate(crop, size=(8, 8), mode="bilinear", align_corners=False,
                          antialias=True)
    ab = rgb_to_lab(small)[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2).double().cpu().numpy()
    rng = np.random.RandomState(seed)
    if len(ab) > 4000:
        ab = ab[rng.choice(len(ab), 4000, replace=False)]
    ab = np.round(ab, 3)
    k_max = min(10, len(np.unique(ab, axis=0)))
    if k_max <= 2:
        return max(k_max, 1)
    ks = np.arange(1, k_max + 1)
    inertia = np.array([KMeans(k, n_init=2, random_state=seed).fit(ab).inertia_ for k in ks])
    # Elbow: the point farthest from the chord joining the first and last points.
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (inertia - inertia[-1]) / max(inertia[0] - inertia[-1], 1e-12)
    return int(ks[np.argmax(np.abs(1 - x - y))])


class PuzzleTintColorDetector(BaseDetector):
    """Multi-cue self-supervised anomaly detection: puzzle, tint and colorization.

    An encoder learns the piece-wise jigsaw puzzle (predict the original
    position of each of ``n`` pieces, Eq. 7) together with intra-piece tint
    rotation recognition (``c`` hue offsets of ``360/c`` degrees per piece,
    Eq. 20) weighted by a learned attention map (Eq. 21–24); a UNet learns
    partial colorization (LAB, coloured border of width ``b``) as a
    per-pixel GMM (Eq. 13–19) or colour bins (Eq. 10–12). At inference,
    ``k`` fixed permutations (identity included) with fixed tint rotations
    are scored in one batched pass; the OOD scores of every piece, view and
    task (softmax truth Eq. 26 or Mahalanobis label likelihood Eq. 27–31 for
    puzzle and geometric tasks, the expected corrected-colour error Eq. 9
    for tint, the colour likelihood for colorization) are fused.

    The tint score divides the expected error of Eq. (9) by its chance
    level (the error averaged over all ``c`` corrections), so that
    desaturated pieces count for nothing as §III-B intends; the literal
    ``1 - E[error]`` ranks grey anomalies as normal (on colour patches its
    AUROC fell to 0.16–0.51, the ratio gave 0.56–0.77). The attention
    weights of Eq. (21) weight both sums (Eq. 25).

    Fusion is two-level: ``fusion`` over the scores of a task, then, after
    each task's score is standardised by its median and interquartile range
    on the training data (so that probabilities, Mahalanobis distances and
    log-likelihoods can be fused), ``fusion`` over the tasks.

    Parameters
    ----------
    k : int, default=18
        Permutations tested at inference (drawn at fit, identity first;
        clipped to ``n!``, see ``k_``). In the partial puzzle, the classes.
    n : int or (int, int), default=3
        Pieces per side, or ``(n_h, n_w)``.
    c : int, default=4
        Tint rotations (hue offsets of ``360/c`` degrees).
    border : int, default=2
        Colorization context border ``b`` in pixels.
    tasks : "auto" or sequence of {"puzzle", "tint", "color", "geometric"}, default="auto"
        "auto" is puzzle + tint + color on RGB, puzzle on grayscale. Colour
        tasks are dropped on grayscale input; ``tasks_`` records the result.
    puzzle : {"piecewise", "partial"}, default="piecewise"
        Piece-wise puzzle (§III-A) or the partial puzzle of PuzzleGeom.
    attention : bool, default=True
        Attention map weighting the intra-piece tint task (Fig. 8).
    ood : {"mahalanobis", "softmax"}, default="mahalanobis"
        OOD function of the puzzle and geometric tasks (§IV).
    fusion : "median", "mean" or float in [0, 100], default="median"
        Fusion function (Table VI); a number is a percentile of the
        normality scores.
    color_density : {"gmm", "bins"}, default="gmm"
        Colour density of the colorization head.
    n_components : int or "auto", default="auto"
        GMM components K ("auto": k-means elbow in [1, 10]); with "bins",
        bins per channel ("auto": 16).
    n_views : int or "auto", default="auto"
        Puzzle images per training image and batch (``k'``); "auto" is
        Eq. (8) clipped to [1, k].
    shift : int or None, default=None
        Translation of the geometric task; None is ``input_size // 8``.
    depth : int, default=16
        WideResNet depth of the encoder.
    width : int, default=4
        WideResNet widening factor.
    color_width : int, default=16
        Channels of the UNet's first level.
    dropout : float, default=0.3
        Dropout of the classification heads.
    input_size : int, default=32
    image_shape : tuple or None, default=None
    contamination : float, default=0.1
    max_epochs : int, default=15
        Epochs of each of the two networks.
    batch_size : int, default=32
    lr : float, default=0.05
    optimizer : {"sgd", "adam"} or optimizer class, default="sgd"
    weight_decay : float, default=5e-4
    callbacks : list or None, default=None
    verbose : int, default=0
    device : str, default="auto"
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    net_ : skssad.training.PretextNet or None
        The encoder with its heads (None when only "color" is on).
    net_color_ : skssad.training.PretextNet or None
        The colorization UNet.
    tasks_ : tuple of str
        Tasks actually used.
    k_ : int
    n_shape_ : (int, int)
        ``(n_h, n_w)``.
    perms_ : ndarray of shape (k_, n)
        The fixed permutations (identity first).
    tint_labels_ : ndarray of shape (k_, n) or None
        Fixed tint classes of the inference views.
    n_views_ : int
        ``k'`` used in training.
    n_components_ : int or None
        GMM components or bins actually used.
    attention_ : bool
    shift_ : int or None
    ood_stats_ : dict
        Mahalanobis statistics per task (``LabelGaussians``).
    task_center_, task_scale_ : dict
        Per-task standardisation before the fusion across tasks.
    offset_ : float
    device_ : str
    input_shape_ : tuple
    n_features_in_ : int

    See Also
    --------
    GeometricTransformDetector : MHRot, the geometric task alone.

    References
    ----------
    .. [1] Jezequel, Vu, Beaudet, Histace, "Efficient anomaly detection using
       self-supervised multi-cue tasks", IEEE TIP 2023.
    .. [2] Jezequel et al., "Anomaly detection with puzzle and geometric
       multi-task self-supervision" (PuzzleGeom), 2022.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skssad import PuzzleTintColorDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = PuzzleTintColorDetector(k=4, n=2, depth=10, width=1, input_size=16,
    ...                               max_epochs=1, random_state=0)
    >>> det.fit(X[y == 0]).score_samples(X[:3]).shape
    (3,)
    >>> det.score_pieces(X[:3]).shape
    (3, 2, 2)
    """

    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "k": [Interval(Integral, 1, None, closed="left")],
        "n": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "c": [Interval(Integral, 2, None, closed="left")],
        "border": [Interval(Integral, 0, None, closed="left")],
        "tasks": [StrOptions({"auto", *TASKS}), tuple, list],
        "puzzle": [StrOptions({"piecewise", "partial"})],
        "attention": ["boolean"],
        "ood": [StrOptions({"mahalanobis", "softmax"})],
        "fusion": [StrOptions({"median", "mean"}), Interval(Real, 0, 100, closed="both")],
        "color_density": [StrOptions({"gmm", "bins"})],
        "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_views": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shift": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 10, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "color_width": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, *, k=18, n=3, c=4, border=2, tasks="auto", puzzle="piecewise",
                 attention=True, ood="mahalanobis", fusion="median", color_density="gmm",
                 n_components="auto", n_views="auto", shift=None, depth=16, width=4,
                 color_width=16, dropout=0.3, input_size=32, image_shape=None,
                 contamination=0.1, max_epochs=15, batch_size=32, lr=0.05, optimizer="sgd",
                 weight_decay=5e-4, callbacks=None, verbose=0, device="auto",
                 random_state=None):
        self.k = k
        self.n = n
        self.c = c
        self.border = border
        self.tasks = tasks
        self.puzzle = puzzle
        self.attention = attention
        self.ood = ood
        self.fusion = fusion
        self.color_density = color_density
        self.n_components = n_components
        self.n_views = n_views
        self.shift = shift
        self.depth = depth
        self.width = width
        self.color_width = color_width
        self.dropout = dropout
        self.input_size = input_size
        self.image_shape = image_shape
        self.contamination = contamination
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ configuration
    def _resolve_tasks(self, channels: int) -> tuple[str, ...]:
        rgb = channels == 3
        if self.tasks == "auto":
            return ("puzzle", "tint", "color") if rgb else ("puzzle",)
        req = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        bad = [t for t in req if t not in TASKS]
        if bad or not req:
            raise ValueError(f"tasks must be 'auto' or a non-empty subset of {TASKS}; "
                             f"got {self.tasks!r}.")
        kept = tuple(t for t in TASKS if t in req and (rgb or t not in ("tint", "color")))
        if not kept:
            raise ValueError(f"tasks={self.tasks!r} leaves no task for images with "
                             f"{channels} channel(s): tint and color need RGB input.")
        return kept

    def _resolve_n(self) -> tuple[int, int]:
        n = self.n
        if isinstance(n, Integral):
            return int(n), int(n)
        if (len(n) == 2 and all(isinstance(v, Integral) and v >= 1 for v in n)
                and n[0] * n[1] >= 2):
            return int(n[0]), int(n[1])
        raise ValueError(f"n must be an int >= 2 or a pair (n_h, n_w) of positive ints "
                         f"with at least 2 pieces; got {n!r}.")

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        _, C, H, W = X.shape
        self.tasks_ = self._resolve_tasks(C)
        n_h, n_w = self._resolve_n()
        if n_h * n_w < 2:
            raise ValueError(f"n must give at least 2 pieces; got {self.n!r}.")
        self.n_shape_ = (n_h, n_w)
        self._layout = PieceLayout(H, W, n_h, n_w)
        n = self._layout.n
        rng = np.random.RandomState(self._seed)
        self.k_ = int(min(self.k, math.factorial(n)))
        self.perms_ = draw_permutations(n, self.k_, rng)
        tint = "tint" in self.tasks_
        self.tint_labels_ = rng.randint(self.c, size=(self.k_, n)) if tint else None
        self.attention_ = bool(self.attention and tint)
        self.n_views_ = (views_per_epoch(n, len(X), self.max_epochs, self.k_)
                         if self.n_views == "auto" else int(self.n_views))
        geometric = "geometric" in self.tasks_
        self.shift_ = (int(self.shift) if self.shift is not None else max(W // 8, 1)) \
            if geometric else None
        if geometric and self.shift_ >= min(H, W):
            raise ValueError(f"shift={self.shift_} must be smaller than the image side {W}.")
        self.net_ = self._fit_encoder(X) if set(self.tasks_) - {"color"} else None
        self.net_color_ = self._fit_colorization(X) if "color" in self.tasks_ else None
        self.n_components_ = getattr(self, "_n_components", None)

    def _fit_encoder(self, X):
        n = self._layout.n
        puzzle = self.puzzle if "puzzle" in self.tasks_ else None
        heads = {}
        if puzzle is not None:
            heads["puzzle"] = n * n if puzzle == "piecewise" else self.k_
        if "tint" in self.tasks_:
            heads["tint"] = n * self.c
            if self.attention_:
                heads["attention"] = n
        if self.shift_ is not None:
            heads["geometric"] = GEOMETRIC_HEADS
        module = PuzzleTintNet(WideResNet(X.shape[1], self.depth, self.width), heads,
                               self.dropout, preprocess=Standardize.fitted(X))
        task = PuzzleTintTask(self._layout, self.n_views_, puzzle, self.perms_,
                              self.c if "tint" in self.tasks_ else 0, self.shift_)
        loss = PuzzleTintLoss(*self.n_shape_, self.c, self.attention_)
        net = self._make_net("encoder", module, loss, task)
        net.fit(X, None)
        return net

    def _fit_colorization(self, X):
        if self.color_density == "gmm":
            K = (_elbow_components(X, self.border, self._seed)
                 if self.n_components == "auto" else int(self.n_components))
            out, loss = GMM_PARAMS_PER_COMPONENT * K, GMMColorLoss(K)
        else:
            K = DEFAULT_BINS if self.n_components == "auto" else int(self.n_components)
            out, loss = 2 * K, BinColorLoss(K)
        self._n_components = K
        levels = 2 if min(X.shape[-2:]) >= 8 else 1
        module = UNet(3, out, self.color_width, levels)
        # The EM loss divides by exp(d): without clipping, SGD at the encoder's
        # learning rate can overshoot into NaN on flat colour regions.
        clip = ("grad_clip", GradientNormClipping(gradient_clip_value=1.0))
        net = self._make_net("color", module, loss, ColorizationTask(self.border),
                             callbacks=[clip, *self._net_callbacks("color")])
        net.fit(X, None)
        return net

    # ------------------------------------------------------------------ raw outputs
    def _raw_chunk(self, X: torch.Tensor) -> dict:
        """Network outputs of every fixed view of ``X`` (one pass per network)."""
        b, dev, L = len(X), X.device, self._layout
        out = {}
        if self.net_ is not None:
            module = self.net_.module_
            if "puzzle" in self.tasks_ or "tint" in self.tasks_:
                k = self.k_
                perms = torch.from_numpy(self.perms_).to(dev)
                if "puzzle" not in self.tasks_:
                    perms = torch.arange(L.n, device=dev).expand(k, L.n)
                xr = X.repeat_interleave(k, 0)
                pieces = piece_wise_puzzle(xr, perms.repeat(b, 1), L)
                if "tint" in self.tasks_:
                    t = torch.from_numpy(self.tint_labels_).to(dev).repeat(b, 1)
                    tinted = tint_rotation(pieces, piece_map(t / self.c, L))
                    # Eq. (9): L1 error between the pieces and their hue rotated by
                    # d/c turns; correcting class Theta leaves a (t - Theta) mod c turn.
                    err = torch.stack([piece_means((tint_rotation(
                        pieces, torch.full((len(pieces),), d / self.c, device=dev))
                        - pieces).abs(), L) for d in range(self.c)], -1)  # (b k, n, c)
                    theta = torch.arange(self.c, device=dev)
                    diff = (t[..., None] - theta) % self.c
                    out["tint_err"] = err.gather(-1, diff).view(b, k, L.n, self.c)
                    pieces = tinted
                o = module(pieces=pieces)
                for name in ("puzzle", "tint", "attention"):
                    if name in o:
                        out[name] = o[name].view(b, k, -1)
            if self.shift_ is not None:
                views, _ = all_geometric_views(X, self.shift_)
                out["geometric"] = module(geometric=views)["geometric"].view(
                    b, len(GEOMETRIC_LABELS), -1)
        if self.net_color_ is not None:
            inputs, ab = partial_colorization(X, self.border)
            params = self.net_color_.module_(inputs)
            if self.color_density == "gmm":
                out["color"] = gmm_log_likelihood(params, ab, self.n_components_)
            else:
                out["color"] = bin_log_likelihood(params, ab, self.n_components_)
        return out

    # ------------------------------------------------------------------ OOD scores
    def _puzzle_labels(self, dev) -> torch.Tensor:
        """True label of every (view, slot) ``(k, n)`` or view ``(k,)``."""
        perms = torch.from_numpy(self.perms_).to(dev)
        return perms if self.puzzle == "piecewise" else torch.arange(self.k_, device=dev)

    def _mahalanobis_inputs(self, raw: dict, task: str):
        """Raw score vectors, labels and number of classes of Eq. (28)."""
        dev = next(iter(raw.values())).device
        if task == "puzzle":
            logits = raw["puzzle"]
            b = len(logits)
            labels = self._puzzle_labels(dev)
            if self.puzzle == "piecewise":
                n = self._layout.n
                # One class per (slot, original piece): each slot has its own head.
                cls = torch.arange(n, device=dev) * n + labels  # (k, n)
                return (logits.reshape(-1, n), cls.expand(b, -1, -1).reshape(-1), n * n)
            return logits.reshape(-1, self.k_), labels.expand(b, -1).reshape(-1), self.k_
        logits = raw["geometric"]
        b, m = logits.shape[:2]
        return (logits.reshape(b * m, -1), torch.arange(m, device=dev).repeat(b), m)

    def _ood_scores(self, raw: dict) -> dict:
        """OOD tensors per task: puzzle ``(b, k, n)`` or ``(b, k)``, tint ``(b, k, n)``,
        geometric ``(b, 36)``, color ``(b, H, W)``; higher = more normal."""
        out = {}
        for task in ("puzzle", "geometric"):
            if task not in raw:
                continue
            b = len(raw[task])
            if self.ood == "mahalanobis":
                vec, lab, _ = self._mahalanobis_inputs(raw, task)
                s = self.ood_stats_[task].score(vec, lab)
            elif task == "puzzle" and self.puzzle == "piecewise":
                n = self._layout.n
                vec, lab, _ = self._mahalanobis_inputs(raw, task)
                s = softmax_truth(vec, (lab % n)[:, None], [n])  # Eq. (26) per piece
            elif task == "puzzle":
                vec, lab, _ = self._mahalanobis_inputs(raw, task)
                s = softmax_truth(vec, lab[:, None], [self.k_])
            else:
                vec, lab, _ = self._mahalanobis_inputs(raw, task)
                s = softmax_truth(vec, GEOMETRIC_LABELS.to(vec.device)[lab], GEOMETRIC_HEADS)
            shape = ((b, self.k_, self._layout.n) if task == "puzzle"
                     and self.puzzle == "piecewise" else (b, -1))
            out[task] = s.view(shape)
        if "tint" in raw:
            expected, chance = self._tint_errors(raw)
            out["tint"] = 1.0 - expected / chance.clamp_min(1e-3)
        if "color" in raw:
            out["color"] = raw["color"]
        return out

    def _tint_errors(self, raw: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. (9) per piece: expected L1 error of the corrected piece, and its chance level.

        ``E_{Theta | gamma(x, theta)} ||x - gamma(x, theta - Theta)||_1`` (mean over
        pixels and channels) and the same error averaged over all ``c`` corrections
        (what a uniform prediction would get), both ``(b, k, n)``.
        """
        err = raw["tint_err"]
        p = raw["tint"].view(*err.shape).softmax(-1)
        return (p * err).sum(-1), err.mean(-1)

    def _task_scores(self, raw: dict, ood: dict) -> dict:
        """Per-sample score of each task, ``fusion`` over its OOD scores."""
        scores = {}
        for task, s in ood.items():
            if task == "tint":
                # Eq. (9) relative to chance: 1 - sum_i w_i E[err_i] / sum_i w_i chance_i,
                # so desaturated pieces (no error whatever the correction) weigh nothing,
                # as §III-B intends; the plain Eq. (9) scores grey images as normal.
                # w is the attention map (Eq. 21, 25), or uniform (Eq. 20).
                expected, chance = self._tint_errors(raw)
                w = attention_weights(raw["attention"]) if self.attention_ else 1.0
                s = 1.0 - (w * expected).sum(-1) / (w * chance).sum(-1).clamp_min(1e-6)
            elif task == "color":
                inner = ~border_mask(*s.shape[-2:], self.border, s.device)
                s = s[:, inner]  # the border is given, only the inside is predicted
            scores[task] = fuse(s.reshape(len(s), -1), self.fusion, dim=-1)
        return scores

    def _piece_scores(self, raw: dict, ood: dict) -> dict:
        """Per original piece ``(b, n)`` score of each task."""
        L, out = self._layout, {}
        perms = torch.from_numpy(self.perms_)
        for task, s in ood.items():
            b = len(s)
            if task == "color":
                full = torch.full((b, 1, *s.shape[-2:]), float("nan"), device=s.device)
                inner = ~border_mask(*s.shape[-2:], self.border, s.device)
                full[:, 0][:, inner] = s[:, inner]
                cells = full[:, :, :L.cell[0] * L.n_h, :L.cell[1] * L.n_w]
                grid = cells.reshape(b, L.n_h, L.cell[0], L.n_w, L.cell[1]).nanmean((2, 4))
                out[task] = torch.nan_to_num(grid.reshape(b, -1), nan=0.0)
            elif s.ndim == 3:  # (b, k, n) per slot: move back to the original pieces
                src = perms.to(s.device) if "puzzle" in self.tasks_ else \
                    torch.arange(L.n, device=s.device).expand(self.k_, -1)
                moved = torch.empty_like(s).scatter_(2, src.expand(b, -1, -1), s)
                out[task] = fuse(moved, self.fusion, dim=1)
            else:
                out[task] = fuse(s, self.fusion, dim=1)[:, None].expand(b, L.n)
        return out

    def _fuse_tasks(self, task_scores: dict) -> torch.Tensor:
        z = [(task_scores[t] - self.task_center_[t]) / self.task_scale_[t]
             for t in self.tasks_ if t in task_scores]
        return fuse(torch.stack(z, -1), self.fusion, dim=-1)

    def _calibrate(self, X: torch.Tensor):
        """§IV: Mahalanobis statistics (Eq. 28–30) and per-task standardisation."""
        self._eval_mode()
        with torch.no_grad():
            chunks = [self._raw_chunk(X[i:i + INFERENCE_CHUNK])
                      for i in range(0, len(X), INFERENCE_CHUNK)]
            raw = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
            self.ood_stats_ = {}
            if self.ood == "mahalanobis":
                for task in ("puzzle", "geometric"):
                    if task in raw:
                        vec, lab, n_cls = self._mahalanobis_inputs(raw, task)
                        self.ood_stats_[task] = fit_label_gaussians(vec, lab, n_cls)
            scores = self._task_scores(raw, self._ood_scores(raw))
        self.task_center_, self.task_scale_ = {}, {}
        for task, s in scores.items():
            s = s.double().cpu().numpy()
            q1, med, q3 = np.percentile(s, [25, 50, 75])
            scale = q3 - q1 if q3 > q1 else s.std()
            self.task_center_[task] = float(med)
            self.task_scale_[task] = float(scale) if scale > 0 else 1.0

    # ------------------------------------------------------------------ scoring
    def _eval_mode(self):
        for net in (getattr(self, "net_", None), getattr(self, "net_color_", None)):
            if net is not None:
                net.module_.eval()

    def _score_chunk(self, X):
        raw = self._raw_chunk(X)
        return self._fuse_tasks(self._task_scores(raw, self._ood_scores(raw)))

    def score_pieces(self, X) -> np.ndarray:
        """Fused normality score of every puzzle piece (beyond the paper).

        Each task's OOD scores are moved back to the piece's original
        position, fused over the ``k`` views, standardised as in
        ``score_samples`` and fused over tasks; colorization contributes
        its mean log-likelihood over each cell. Low values show where in
        the image the anomaly sits.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_h, n_w)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "offset_")
        X = self._as_tensor(X, reset=False)
        self._eval_mode()
        out = []
        with torch.no_grad():
            for chunk, b in padded_chunks(X):
                raw = self._raw_chunk(chunk)
                pieces = self._piece_scores(raw, self._ood_scores(raw))
                out.append(self._fuse_tasks(pieces)[:b].double().cpu())
        return torch.cat(out).numpy().reshape(-1, *self.n_shape_)

    def __setstate__(self, state):
        super().__setstate__(state)
        net = state.get("net_color_")
        if net is not None and self.device_ == "cpu":
            net.device = "cpu"
            net.module_.to("cpu")
