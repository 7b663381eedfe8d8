"""PuzzleTintColorDetector: multi-cue self-supervised anomaly detection.

puzzle-tint-color-multicue.txt §III-V and §VI-B, plus the PuzzleGeom
variant of puzzle-geom-multitask.txt §3.2. Two networks are trained
independently on normal images (§V): an encoder that solves the piece-wise
jigsaw puzzle with intra-piece tint rotation weighted by an attention map
(and optionally MHRot's geometric task), and a UNet that re-colorizes the
image from its luminance and a coloured border as a per-pixel GMM. Every
sample is cut with ``k`` fixed permutations and tint rotations, scored in
one batched pass per network, and its OOD scores are fused.
"""

from __future__ import annotations

import math
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import GradientNormClipping

from ..base import BaseDetector, Interval, StrOptions
from ..fusion import FUSION_SCHEMES
from ..losses._classification import PuzzleTintLoss
from ..losses._density import (
    GMM_PARAMS_PER_COMPONENT,
    BinColorLoss,
    GMMColorLoss,
    attention_weights,
    bin_log_likelihood,
    gmm_log_likelihood,
)
from ..nets.heads import PuzzleTintNet
from ..nets.unet import UNet
from ..nets.wide_resnet import Standardize, WideResNet
from ..ood import odin_perturb
from ..tasks.color import (
    ColorizationTask,
    border_mask,
    elbow_color_clusters,
    partial_colorization,
    small_ab_colours,
)
from ..tasks.geometric import GEOMETRIC_LABELS, all_geometric_views
from ..tasks.puzzle import (
    PieceLayout,
    PuzzleTintTask,
    draw_permutations,
    fixed_puzzle_views,
    slots_to_pieces,
    views_per_epoch,
)
from ..tasks.puzzle_scoring import GEOMETRIC_HEADS, OUTPUT_KEYS, PuzzleTintScorer

__all__ = ["PuzzleTintColorDetector"]

TASKS = ("puzzle", "tint", "color", "geometric")
#: Parameters that set only the scoring statistics, the fusion and ``offset_``:
#: :meth:`PuzzleTintColorDetector.recalibrate` applies them without retraining.
SCORING_PARAMS = ("ood", "tint_score", "fusion", "task_fusion", "fusion_scheme",
                  "contamination")
#: Colour bins per channel when ``color_density="bins"`` and ``n_components="auto"``.
DEFAULT_BINS = 16


class PuzzleTintColorDetector(BaseDetector):
    """Multi-cue self-supervised anomaly detection: puzzle, tint and colorization.

    An encoder learns the piece-wise jigsaw puzzle (the original position
    of each of ``n`` pieces, Eq. 7) with intra-piece tint rotation (``c``
    hue offsets of ``360/c`` degrees per piece, Eq. 20) weighted by an
    attention map over the image's pieces (Eq. 21, 24); a UNet learns
    partial colorization (LAB, coloured border of width ``b``) as a
    per-pixel GMM (Eq. 13-19) or colour bins (Eq. 10-12). At inference
    ``k`` fixed permutations (identity first) with fixed tint rotations are
    scored in one batched pass; the OOD scores of every piece, view and
    task are fused (§IV, §V).

    The encoder pools its last feature map per puzzle slot
    (``WideResNet(grid=n)``) before the dense heads of §VI-B. The paper does
    not say how the heads meet the WRN; with global average pooling a fully
    convolutional encoder cannot tell which slot holds which piece, and
    Eq. (7) stayed at chance on photographs (issue 13), so this choice is ours.

    The attention map is indexed by original piece (a map of the image,
    Fig. 8). Eq. (23)'s spread term is degenerate either way it enters the
    loss; we use ``KL(uniform || P')`` instead, which keeps every piece
    weighted and gives more weight where the tint task is solvable (see
    :func:`skssad.losses.attention_spread_loss`). Desaturated pieces, whose
    tint cannot be told (§III-B), carry no tint score; an image with no
    coloured piece gets none, and fusion leaves the tint task out for it.

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
        "auto" is puzzle + tint + color on RGB (§V), puzzle on grayscale.
        Colour tasks are dropped on grayscale input; see ``tasks_``.
    puzzle : {"piecewise", "partial"}, default="piecewise"
        Piece-wise puzzle (§III-A) or the partial puzzle of PuzzleGeom.
    attention : bool, default=True
        Attention map weighting the intra-piece tint task (§III-D).
    ood : {"mahalanobis", "softmax", "odin", "auto"}, default="mahalanobis"
        OOD function of the classification tasks (§IV, Table V): label
        likelihood (Eq. 27-31, the paper's choice, §V), softmax truth
        (Eq. 26), or ODIN's perturbed, temperature-scaled softmax (Eq. 34).
        "auto" (ours) is the softmax truth when the tint task runs and the
        label likelihood when it does not (grayscale input: the puzzle
        alone), as measured on validation splits of the training images:
        cifar10-dev ship / frog 0.779 against 0.646 (Table V), MNIST 2 / 5 /
        8 with the mean fusion 0.886 against 0.918.
    tint_score : {"ood", "error"}, default="ood"
        Tint task scored by ``ood`` like every task (§V), or by the
        expected colour error of the correction (Eq. 9, §III-B).
    fusion : "median", "mean" or float in [0, 100], default="median"
        Fusion function (Table VI); a number is a percentile.
    task_fusion : "median", "mean", float in [0, 100] or None, default=None
        With ``fusion_scheme="standardised"``, how the standardised task
        scores are fused into the image score (and the piece scores); None
        uses ``fusion``, which always fuses each task's own views and pieces.
        The median over the tasks is §V's median applied at the task level:
        one task near chance cannot move it as far as it moves the mean. On
        cifar10-dev validation it scored lower than the mean (frog / cat /
        deer 0.704 / 0.583 / 0.673 against 0.730 / 0.606 / 0.688), so no
        profile uses it (docs/detectors/puzzle_tint_color.rst).
    fusion_scheme : {"standardised", "single", "task_sum"}, default="standardised"
        How tasks are combined (:mod:`skssad.fusion`): our per-task
        standardisation, §V's single fusion over all raw scores, or
        PuzzleGeom Eq. (3)'s mean of raw task sums.
    color_density : {"gmm", "bins"}, default="gmm"
        Colour density of the colorization head.
    n_components : int or "auto", default="auto"
        GMM components K ("auto": k-means elbow in [1, 10], §III-C); with
        "bins", bins per channel ("auto": 16).
    n_views : int or "auto", default="auto"
        Puzzle images per training image and batch (``k'``); "auto" is
        Eq. (8) clipped to [1, k].
    shift : int or None, default=None
        Translation of the geometric task; None is ``input_size // 4``
        (as MHRot, which PuzzleGeom follows: "as in [16]").
    depth, width : int, default=16, 4
        WideResNet of the encoder (the paper's 16-4).
    color_width : int, default=16
        Channels of the UNet's first level.
    dropout : float, default=0.3
        Dropout of the dense heads (§VI-B).
    input_size : int, None or "auto", default=32
        Side the images are resized to (None keeps theirs). "auto" (ours,
        the ``quick`` profile) is 16 on RGB input and 32 on grayscale, as
        chosen on validation splits of the training images:
        cifar10-dev (seven classes, 2,000 images, 20 epochs) 0.709 / 0.714
        (seeds 0 / 1) at 16 against 0.698 / 0.700 for input 32 on 1,000
        images, while on MNIST 2 / 5 / 8 input 16 costs 0.894 against 0.918
        (benchmarks/results/puzzle_input16_cifar10_dev_val). Resolved in
        ``input_size_``.
    max_epochs : int or "auto", default=15
        Epochs of each network. "auto" (ours, the ``quick`` profile) is 40
        on RGB and 10 on grayscale input; resolved in ``max_epochs_``. On the
        cifar10-dev validation split (seven classes, input 16, 2,000 images)
        40 epochs score 0.716 against 0.709 for 20 (test 0.719 against
        0.711, benchmarks/results/puzzle_input16_cifar10_dev_val). On
        grayscale see ``optimizer``.
    optimizer : {"sgd", "adam", "auto"} or torch.optim.Optimizer subclass, default="sgd"
        "sgd" is SGD with Nesterov momentum (§VI-B). "auto" (ours, the
        ``quick`` profile) is SGD on RGB and Adam on grayscale input, with
        ``lr="auto"`` 0.05 and 2e-3 and ``max_epochs="auto"`` 40 and 10: on
        the MNIST validation split (classes 2, 5, 8; 2,000 images, input 32)
        Adam for 10 epochs scores 0.939 (two seeds) against 0.927 for SGD
        for 20 in half the fit (benchmarks/results/puzzle_mnist_val_adam_e10);
        Adam is unmeasured on the photographs, so RGB keeps SGD.
    lr : float or "auto", default=0.05
        Learning rate ("auto": see ``optimizer``).
    image_shape, contamination, batch_size, \
weight_decay, callbacks, verbose, device, precision, compile, random_state
        As in :class:`GeometricTransformDetector` (defaults None, 0.1, 32,
        5e-4, None, 0, "auto", "fp32", False, None); each network gets its
        own copy of ``callbacks``.

    Attributes
    ----------
    net_, net_color_ : skssad.training.PretextNet or None
        The encoder (``nets_["encoder"]``) and the colorization UNet
        (``nets_["color"]``), None when their tasks are off.
    tasks_ : tuple of str
    input_size_ : int or None
        The side the images were resized to (``input_size``, "auto" resolved).
    max_epochs_ : int
        The epochs each network trained (``max_epochs``, "auto" resolved).
    k_, n_views_, n_components_, shift_ : int or None
        ``k``, ``k'``, K and the translation actually used.
    n_shape_ : (int, int)
    perms_ : ndarray of shape (k_, n)
        The fixed permutations (identity first).
    tint_labels_ : ndarray of shape (k_, n) or None
        Fixed tint classes of the inference views.
    attention_ : bool
    ood_stats_ : dict
        Mahalanobis statistics per task (``LabelGaussians``).
    task_stats_, piece_stats_ : dict
        Median and interquartile range of each task's image and piece
        scores on the training data (``fusion_scheme="standardised"``).
    scorer_ : PuzzleTintScorer
        The view labels, OOD function and statistics above
        (:mod:`skssad.tasks.puzzle_scoring`).
    training_health_ : dict
        Pretext loss per epoch and chance level of each network.
    offset_, device_, input_shape_, n_features_in_
        As in :class:`GeometricTransformDetector`.

    See Also
    --------
    GeometricTransformDetector : MHRot, the geometric task alone.

    References
    ----------
    .. [1] Jezequel, Vu, Beaudet, Histace, "Efficient anomaly detection using
       self-supervised multi-cue tasks", IEEE Trans. Image Process., 2023.
    .. [2] Jezequel, Vu, Beaudet, Histace, "Anomaly detection with puzzle and
       geometric multi-task self-supervision" (PuzzleGeom), 2022.

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
        "ood": [StrOptions({"mahalanobis", "softmax", "odin", "auto"})],
        "tint_score": [StrOptions({"ood", "error"})],
        "fusion": [StrOptions({"median", "mean"}), Interval(Real, 0, 100, closed="both")],
        "task_fusion": [StrOptions({"median", "mean"}), Interval(Real, 0, 100, closed="both"),
                        None],
        "fusion_scheme": [StrOptions(set(FUSION_SCHEMES))],
        "color_density": [StrOptions({"gmm", "bins"})],
        "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_views": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shift": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 10, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "color_width": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "input_size": BaseDetector._INPUT_SIZE_OR_AUTO,
        "max_epochs": BaseDetector._MAX_EPOCHS_OR_AUTO,
        "lr": BaseDetector._LR_OR_AUTO,
        "optimizer": BaseDetector._OPTIMIZER_OR_AUTO,
    }

    #: "auto" values on RGB / grayscale input (see the docstring).
    _AUTO = {"input_size": {"rgb": 16, "grayscale": 32},
             "max_epochs": {"rgb": 40, "grayscale": 10},
             "optimizer": {"rgb": "sgd", "grayscale": "adam"},
             "lr": {"rgb": 0.05, "grayscale": 2e-3}}

    def __init__(self, *, k=18, n=3, c=4, border=2, tasks="auto", puzzle="piecewise",
                 attention=True, ood="mahalanobis", tint_score="ood", fusion="median",
                 task_fusion=None, fusion_scheme="standardised", color_density="gmm",
                 n_components="auto", n_views="auto", shift=None, depth=16, width=4,
                 color_width=16, dropout=0.3,
                 input_size=32, image_shape=None, contamination=0.1, max_epochs=15,
                 batch_size=32, lr=0.05, optimizer="sgd", weight_decay=5e-4, callbacks=None,
                 verbose=0, device="auto", precision="fp32", compile=False, random_state=None):
        self.k = k
        self.n = n
        self.c = c
        self.border = border
        self.tasks = tasks
        self.puzzle = puzzle
        self.attention = attention
        self.ood = ood
        self.tint_score = tint_score
        self.fusion = fusion
        self.task_fusion = task_fusion
        self.fusion_scheme = fusion_scheme
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
        self.precision = precision
        self.compile = compile
        self.random_state = random_state

    # ------------------------------------------------------------------ configuration
    def _configure(self, X):
        C, H, W = self._prepared_shape(X)
        self._input_hw = (H, W)
        rgb = C == 3
        req = ("puzzle", "tint", "color") if self.tasks == "auto" else (
            (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks))
        if not req or any(t not in TASKS for t in req):
            raise ValueError(f"tasks must be 'auto' or a non-empty subset of {TASKS}; "
                             f"got {self.tasks!r}.")
        self.tasks_ = tuple(t for t in TASKS if t in req and (rgb or t not in ("tint", "color")))
        if not self.tasks_:
            raise ValueError(f"tasks={self.tasks!r} leaves no task for images with "
                             f"{C} channel(s): tint and color need RGB input.")
        n = (self.n, self.n) if isinstance(self.n, Integral) else tuple(self.n)
        if len(n) != 2 or not all(isinstance(v, Integral) and v >= 1 for v in n) \
                or n[0] * n[1] < 2:
            raise ValueError(f"n must be an int >= 2 or a pair (n_h, n_w) of positive ints "
                             f"with at least 2 pieces; got {self.n!r}.")
        self.n_shape_ = (int(n[0]), int(n[1]))
        self._layout = PieceLayout(H, W, *self.n_shape_)
        rng = np.random.RandomState(self._seed)
        self.k_ = int(min(self.k, math.factorial(self._layout.n)))
        self.perms_ = draw_permutations(self._layout.n, self.k_, rng)
        tint = "tint" in self.tasks_
        self.tint_labels_ = rng.randint(self.c, size=(self.k_, self._layout.n)) if tint else None
        self.attention_ = bool(self.attention and tint)
        self.n_views_ = (views_per_epoch(self._layout.n, len(X), self._epochs, self.k_)
                         if self.n_views == "auto" else int(self.n_views))
        self.shift_ = None
        if "geometric" in self.tasks_:
            self.shift_ = int(self.shift) if self.shift is not None else max(W // 4, 1)
            if self.shift_ >= min(H, W):
                raise ValueError(f"shift={self.shift_} must be smaller than the image side "
                                 f"{min(H, W)}.")

    @property
    def _ood(self) -> str:
        """``ood`` with "auto" resolved on the fitted tasks (softmax when tint runs)."""
        if self.ood != "auto":
            return self.ood
        return "softmax" if "tint" in self.tasks_ else "mahalanobis"

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        # what the networks were trained with, for recalibrate to refuse a change
        self._trained_params = {k: v for k, v in self.get_params(deep=False).items()
                                if k not in SCORING_PARAMS}
        self._configure(X)
        self.net_ = self.net_color_ = self.n_components_ = None
        if set(self.tasks_) - {"color"}:
            n, puzzle = self._layout.n, (self.puzzle if "puzzle" in self.tasks_ else None)
            heads = {"puzzle": n * n if puzzle == "piecewise" else self.k_} if puzzle else {}
            if "tint" in self.tasks_:
                heads["tint"] = n * self.c
                if self.attention_:
                    heads["attention"] = n
            if self.shift_ is not None:
                heads["geometric"] = GEOMETRIC_HEADS
            module = PuzzleTintNet(WideResNet(X.shape[1], self.depth, self.width,
                                              grid=self.n_shape_), heads, self.dropout,
                                   preprocess=Standardize(*self._channel_stats(X)))
            task = PuzzleTintTask(self._layout, self.n_views_, puzzle, self.perms_,
                                  self.c if "tint" in self.tasks_ else 0, self.shift_)
            self.net_ = self._make_net("encoder", module,
                                       PuzzleTintLoss(self.attention_, GEOMETRIC_HEADS), task)
            self.net_.fit(X, None)
            self._record_health("encoder")
        if "color" in self.tasks_:
            auto = self.n_components == "auto"
            if self.color_density == "gmm":
                K = elbow_color_clusters(None, self.border, self._seed, colours=self._map_chunks(
                    X, partial(small_ab_colours, border=self.border))) if auto \
                    else int(self.n_components)
                out, loss = GMM_PARAMS_PER_COMPONENT * K, GMMColorLoss(K)
            else:
                K = DEFAULT_BINS if auto else int(self.n_components)
                out, loss = 2 * K, BinColorLoss(K)
            self.n_components_ = K
            module = UNet(3, out, self.color_width, 2 if min(self._input_hw) >= 8 else 1)
            # The EM loss divides by exp(d): without clipping, SGD at the encoder's
            # learning rate can overshoot into NaN on flat colour regions.
            clip = ("grad_clip", GradientNormClipping(gradient_clip_value=1.0))
            self.net_color_ = self._make_net("color", module, loss, ColorizationTask(self.border),
                                             callbacks=[clip, *self._net_callbacks("color")])
            self.net_color_.fit(X, None)
            self._record_health("color")

    # ------------------------------------------------------------------ network outputs
    def _raw(self, X: torch.Tensor) -> dict:
        """Outputs of every fixed view of ``X``, one pass per network (b-leading)."""
        b, dev, L, out, sc = len(X), X.device, self._layout, {}, self.scorer_
        if self.net_ is not None:
            m = self.net_.module_
            if {"puzzle", "tint"} & set(self.tasks_):
                tint = None if self.tint_labels_ is None else torch.from_numpy(self.tint_labels_)
                pieces, err = fixed_puzzle_views(X, torch.from_numpy(sc.perms), L, tint, self.c)
                if self._ood == "odin":
                    pieces = odin_perturb(pieces, lambda p: sum(
                        v.log().sum(1) for v in sc.truths(m(pieces=p), b).values()))
                for name, v in m(pieces=pieces).items():
                    out[name] = v.view(b, self.k_, -1)
                if err is not None:
                    out["tint_err"] = err.view(b, self.k_, L.n, self.c)
            if self.shift_ is not None:
                views, _ = all_geometric_views(X, self.shift_)
                if self._ood == "odin":
                    views = odin_perturb(views, lambda v: sc.truths(
                        m(geometric=v), b)["geometric"].log())
                out["geometric"] = m(geometric=views)["geometric"].view(b, len(GEOMETRIC_LABELS),
                                                                         -1)
        if self.net_color_ is not None:
            inputs, ab = partial_colorization(X, self.border)
            params = self.net_color_.module_(inputs)
            density = gmm_log_likelihood if self.color_density == "gmm" else bin_log_likelihood
            ll = density(params, ab, self.n_components_)
            inner = ~border_mask(*ll.shape[-2:], self.border, dev)
            out["color"] = ll[:, inner]  # only the inside is predicted; the border is given
            cells = torch.where(inner, ll, float("nan"))[:, :L.cell[0] * L.n_h, :L.cell[1] * L.n_w]
            out["color_cells"] = cells.reshape(b, L.n_h, L.cell[0], L.n_w, L.cell[1]) \
                .nanmean((2, 4)).reshape(b, L.n)
        return out

    # ------------------------------------------------------------------ calibration
    def _calibrate(self, X):
        """§IV: Mahalanobis statistics (Eq. 28-30), then the per-task standardisation,
        fitted by :class:`~skssad.tasks.puzzle_scoring.PuzzleTintScorer` on the views of
        the training images (at most ``CALIBRATION_IMAGES`` of them, a seeded subsample)."""
        perms = self.perms_ if "puzzle" in self.tasks_ else \
            np.tile(np.arange(self._layout.n), (self.k_, 1))  # no puzzle: identity views
        self.scorer_ = PuzzleTintScorer(
            perms, self.tint_labels_, self.c, tasks=self.tasks_, puzzle=self.puzzle,
            attention=self.attention_, ood=self._ood, tint_score=self.tint_score,
            fusion=self.fusion, task_fusion=self.task_fusion)
        keys = [key for key, on in zip(OUTPUT_KEYS, (
            "puzzle" in self.tasks_ and self.net_ is not None, "tint" in self.tasks_,
            self.attention_, "tint" in self.tasks_, self.shift_ is not None,
            self.net_color_ is not None, self.net_color_ is not None), strict=True) if on]
        # every view of every image: fitted on a bounded subsample (CALIBRATION_IMAGES)
        def outputs(x):  # one pass per chunk (not one per key)
            raw = self._raw(x)
            return tuple(raw[key] for key in keys)

        raw = dict(zip(keys, self._map_chunks(self._calibration_subset(X), outputs),
                       strict=True))
        self.scorer_.fit(raw)
        self.ood_stats_ = self.scorer_.ood_stats
        self.task_stats_, self.piece_stats_ = self.scorer_.task_stats, self.scorer_.piece_stats

    def recalibrate(self, X, y=None):
        """Refit the scoring statistics for the current scoring parameters, keeping the nets.

        After ``set_params`` of ``ood``, ``tint_score``, ``fusion``,
        ``task_fusion``, ``fusion_scheme`` or ``contamination``, refits what ``fit`` fits
        after training (the OOD statistics of §IV Eq. 28-30, the per-task
        standardisation and ``offset_``) on the training images, without
        retraining the networks: the scores equal those of a ``fit`` with
        these parameters and the same ``random_state``. Every other
        parameter must be as in ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The training images given to ``fit``.
        y : array-like of shape (n_samples,), default=None
            The labels given to ``fit`` (``-1`` marks known anomalies, dropped).

        Returns
        -------
        self : object
            The recalibrated detector.
        """
        check_is_fitted(self, "offset_")
        self._validate_params()
        changed = sorted(k for k, v in self._trained_params.items()
                         if not (getattr(self, k) is v or getattr(self, k) == v))
        if changed:
            raise ValueError(f"recalibrate refits only {SCORING_PARAMS}, but {changed} changed "
                             "since fit; call fit instead.")
        # as fit: calibrate on the normal images, offset_ on them all
        store, train, _ = self._training_store(X, y, reset=False)
        with self._seeded(self._seed):
            self._calibrate(train)
        self._fit_offset(store)
        return self

    # ------------------------------------------------------------------ scoring
    def _score_chunk(self, X):
        return self.scorer_.image_scores(self._raw(X), self.fusion_scheme)

    def _pieces_chunk(self, X):
        return self.scorer_.piece_scores(self._raw(X))

    def _attention_chunk(self, X):
        raw = self._raw(X)
        return attention_weights(slots_to_pieces(raw["attention"],
                                                 torch.from_numpy(self.scorer_.perms))).mean(1)

    def score_pieces(self, X) -> np.ndarray:
        """Normality score of every puzzle piece (beyond the paper).

        Each task's OOD scores are moved back to the piece's original
        position and fused over the ``k`` views; each task's piece scores
        are standardised by their median and interquartile range over the
        training pieces (so a normal piece scores about 0) and fused over
        the tasks. Colorization contributes its mean log-likelihood over
        each cell; desaturated pieces have no tint score. Low values show
        where the anomaly sits.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_h, n_w)
        """
        check_is_fitted(self, "offset_")
        out = self._map_chunks(self._input_store(X, reset=False), self._pieces_chunk)
        return out.double().numpy().reshape(-1, *self.n_shape_)

    def anomaly_map(self, X) -> np.ndarray:
        """Piece-level anomaly map at the input resolution: higher = more anomalous.

        :meth:`score_pieces`, negated (skssad's map convention) and spread
        over each piece's cell of the input image (nearest-neighbour
        upsampling of the ``n_h x n_w`` grid), so it plugs into
        :mod:`skssad.localization` like every other detector's map.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W), float32
        """
        pieces = torch.from_numpy(-self.score_pieces(X)).float()[:, None]
        return F.interpolate(pieces, size=self.input_shape_[1:], mode="nearest")[:, 0].numpy()

    def attention_map(self, X) -> np.ndarray:
        """The attention map ``P'`` (Eq. 21) of every image, by original piece.

        Averaged over the ``k`` inference views; each map sums to 1. Higher
        weights mark the pieces the tint task relies on, the rough object
        mask of Fig. 8.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        weights : ndarray of shape (n_samples, n_h, n_w)
        """
        check_is_fitted(self, "offset_")
        if not self.attention_:
            raise ValueError("attention_map needs the tint task with attention=True on "
                             "RGB images; this detector was fitted without it.")
        out = self._map_chunks(self._input_store(X, reset=False), self._attention_chunk)
        return out.double().numpy().reshape(-1, *self.n_shape_)
