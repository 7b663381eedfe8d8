"""AnoMemDetector: multi-scale contrasted memory (anomem-contrasted-memory.txt).

§3.1 (Alg. 1): a ResNet and one modern Hopfield memory per tapped scale are
trained jointly with SimCLR, the memory replacing the first branch's
features of normal samples (Eq. 3-7). §3.2: the anomaly score is the
deviation between a feature map and its recollection (Eq. 8-9), or, with
labelled anomalies, a per-scale MLP on the pooled deviation trained with a
double hinge (Eq. 10-12); scales are fused by Eq. (13).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted

from ..base import BaseDetector, Interval, StrOptions
from ..callbacks import MemoryWarmup
from ..losses import ContrastedMemoryLoss, DoubleHingeLoss
from ..nets import Standardize
from ..nets.anomem import (
    MultiScaleMemoryNet,
    RotationNet,
    ScaleDistanceHeads,
    UniformRetrievalWarning,
)
from ..nets.hopfield import NORMALIZATIONS, effective_slots, hopfield_attention
from ..nets.resnet import RESNET_BLOCKS, ResNet
from ..tasks.contrastive import ContrastiveTask, RotationTask

__all__ = ["AnoMemDetector"]

#: median effective slots per query above this share of the memory warns
UNIFORM_SHARE = 0.5


class AnoMemDetector(BaseDetector):
    """Anomaly detection with multi-scale contrasted memory (AnoMem), OC and SS.

    First stage (§3.1, Alg. 1): a ResNet and a modern Hopfield memory layer
    per tapped stage are trained with the contrasted memory loss (Eq. 7):
    SimCLR's NT-Xent (τ) between two augmented views, where the spatial
    feature vectors of the first view of *normal* samples are replaced by
    their memory recollection (Eq. 3), on a random share ``r^(s)`` of the
    positions, plus the variance loss (Eq. 6). Second stage (§3.2): with no
    labelled anomaly (``y`` has no ``-1``), a scale's anomaly score is the
    norm of the deviation ``Δ^(s) = z^(s) − HF^(s)(z^(s))`` (Eq. 8-9); with
    labelled anomalies, a per-scale average pooling + two-layer MLP is
    trained on the deviation maps with the double-hinge loss (Eq. 10-12),
    with SGD (Nesterov) and cosine annealing as the first stage (§4.2).
    Scales are fused by Eq. (13); ``score_samples`` returns minus that
    anomaly score, so higher means more normal.

    The memory (:class:`~skssad.nets.hopfield.HopfieldMemory`) works on
    layer-normalised queries and patterns by default (``normalize="layer"``,
    as Ramsauer et al.'s Hopfield layer): with β = 2 on raw features of a
    small backbone, Eq. (1) returned a near-uniform average of the memory
    (issue 17); on the normalised scale β = 2 gives a recollection of a few
    patterns, and ``training_health_`` records how many
    (``effective_slots``, exp of the attention entropy).

    Parameters
    ----------
    scales : tuple of int, default=(3, 4)
        ResNet stages (1-4) whose output maps get a memory (paper: 3 and 4).
    n_memory : tuple of int, default=(512, 256)
        Hopfield layer sizes ``N_Mem^(s)``, one per scale.
    beta : float, default=2.0
        Hopfield inverse temperature (§4.2: 2).
    n_retrieval_steps : int, default=3
        Most iterations of Eq. (1); at inference they stop at the fixed point
        (max change below 1e-4), the paper's "until convergence".
    normalize : {"layer", "cosine", "none"}, default="layer"
        Scale of queries and patterns in Eq. (1): "layer" layer-normalises
        both (Ramsauer et al.; ours, the paper does not say), "cosine" puts β
        on the cosine, "none" is Eq. (1) on raw features.
    sampling_ratio : tuple of float, default=(0.3, 1.0)
        ``r^(s)`` of Eq. (7), one per scale.
    tau : float, default=0.1
        NT-Xent temperature.
    lambda_v : float, default=0.05
        Variance-loss weight ``λ_V`` (Eq. 6-7).
    margin : float, default=2.0
        Double-hinge margin ``M`` (Eq. 11).
    deviation : {"l2", "cosine"}, default="l2"
        One-class score of a scale. "l2" is Eq. (8)-(9): ``‖z − HF(z)‖₂``
        over the whole map (``z`` in the memory's query space). "cosine"
        (ours) L2-normalises ``z`` and ``HF(z)`` per position before the
        difference, so only directions count.
    scale_weights : {"paper", "uniform"} or tuple of float, default="paper"
        ``λ^(s)`` of Eq. (7) and (13): "paper" is ``2^(s−1)`` with ``s``
        counted over the tapped scales (§4.2), "uniform" weights all scales
        equally, a tuple gives one weight per scale.
    memory : {"hopfield", "kmeans"}, default="hopfield"
        "kmeans" is the baseline of Table 4(b): plain SimCLR, then k-means
        centroids of the normal feature vectors, and the closest centroid as
        the recollection (§4.4).
    negatives : {None, "rotation"}, default=None
        None is Alg. 1. "rotation" (ours, after CSI and Sohn et al.) adds a
        third branch of views of the batch rotated by 90/180/270°, used as
        extra negatives in NT-Xent, so that the one-class contrastive stage
        cannot reach its optimum by spreading the normal class uniformly.
    memory_init : {"random", "data", "auto"}, default="random"
        "random" is Alg. 1 (random patterns). "data" (ours) starts the
        patterns at query vectors of random normal training positions, so
        that a sharp retrieval does not leave most slots unused. "auto" (ours,
        the ``quick`` profile) is "data" on RGB and "random" on grayscale
        input (with ``rotation_pretrain`` the features are fixed before the
        memory trains, so the patterns start on them).
    rotation_pretrain : int or "auto", default=0
        0 is Alg. 1 (encoder and memories trained together from scratch).
        ``k > 0`` (ours): the backbone first trains ``k`` epochs to predict
        which of four rotations a lightly augmented view of a normal image
        shows (Gidaris et al., ICLR 2018; the shift classification of CSI),
        a linear head on its pooled last stage; then it is frozen (weights
        and batch-norm statistics) and Alg. 1 trains the memories alone.
        At CPU scale Alg. 1 does not learn features that hold prototypes:
        on the cifar10-dev train folders (seven classes, k-means centroids
        placed in each space, scale 4) its features give a nearest-prototype
        AUROC of 0.590, an untrained network 0.577, the rotation-trained
        backbone 0.704 (benchmarks/results/anomem_feature_space_cifar10-dev);
        letting Alg. 1 train the rotation-trained backbone afterwards
        brought the features back to chance (horse: 1-NN 0.83 to 0.53), so
        the backbone stays frozen. With ``memory="kmeans"`` the centroids are
        placed on the frozen features and nothing else trains (Table 4(b) in
        this setting). The chance level of the memories' Eq. (7) is then that
        of a memory recollecting one constant vector (β = 0), measured on the
        fixed features (``training_health_["net"]["chance"]``). "auto" (the
        ``quick`` profile) is 30 on RGB and 0 on grayscale input; resolved in
        ``rotation_pretrain_``.
    memory_warmup : int, default=0
        0 is Alg. 1 (the memory from the first epoch). ``k > 0`` (ours)
        trains plain SimCLR (memory bypassed) for the first ``k`` epochs,
        then places the patterns on query vectors of normal training
        positions (as ``memory_init="data"``) and trains Alg. 1 for the
        rest. At CPU scale the memory in the first branch from the start
        keeps the encoder near chance: on cifar10-dev ship its own NT-Xent
        (memory bypassed) ended at 6.84 against 4.25 for plain SimCLR
        (chance 7.65), as a sharp retrieval maps many anchors to one
        pattern, so positives and negatives cannot be told apart. The
        warm-up did not help the detector there (validation AUROC 0.559
        against 0.625 without it, docs/detectors/anomem.rst); it is kept
        for the ablation.
    feature_grid : sequence of int, None or "auto", default=None
        Per scale, the side each tapped feature map is average-pooled to
        before the memory, the loss and the scores (None: the backbone's own
        resolution, 8x8 and 4x4 at 32 px with our CIFAR-style stem). The
        paper's ResNet-50 (§4.2) with an ImageNet stem would give 2x2 after
        stage 3 and 1x1 after stage 4 at 32 px, where the contrast of Eq. (7)
        at scale 4 is SimCLR's image-level one; the paper does not say which
        stem it uses, so ``(2, 1)`` is offered as that reading (ours). With
        Alg. 1 training the backbone it did not help at CPU scale
        (cifar10-dev validation, cat / ship / truck, seeds 0-2: 0.612 against
        0.614, the loss at chance; ``(4, 2)`` 0.553). On the frozen
        rotation-pretrained backbone it does: the memories then hold
        prototypes of whole images at scale 4 (cifar10-dev validation, seven
        classes, the same backbones: 0.741 against 0.707;
        benchmarks/results/anomem_curve_cifar10-dev_rot). "auto" (the
        ``quick`` profile) is, on RGB, that ResNet-50's side at the input
        size (``side / 2 ** (s + 1)`` at stage ``s``: ``(2, 1)`` for stages
        3 and 4 at 32 px), and None on grayscale input; resolved in
        ``feature_grid_``.
    depth : int, default=18
        ResNet depth (10, 18, 34, 50).
    width : int or "auto", default=64
        Channels of the first ResNet stage. "auto" (ours, the ``quick``
        profile) is 16 on RGB and 8 on grayscale input; resolved in
        ``width_``.
    pool_size : int, default=2
        Output side of the average pooling ``φ`` (semi-supervised head).
    hidden : int, default=64
        Hidden units of each MLP ``g^(s)``.
    supervised_epochs : int, default=30
        Epochs of the semi-supervised second stage.
    supervised_lr : float, default=0.01
        Learning rate of the second stage (SGD Nesterov, cosine; the value
        is ours, §4.2 gives none).
    crop_scale : tuple of float, default=(0.08, 1.0)
        Area range of the random resized crop (SimCLR's).
    flip : bool or "auto", default=True
        Random horizontal symmetry in the views (§4.2). False is beyond the
        paper (a mirrored digit is not a normal digit). "auto" (ours, the
        ``quick`` profile) flips RGB input only; resolved in ``flip_``.
    input_size : int, None or "auto", default=32
        Side the images are resized to (None keeps theirs). "auto" (ours,
        the ``quick`` profile) is 32 on RGB and 16 on grayscale input;
        resolved in ``input_size_``. On a 20 % validation split of the MNIST
        training file (ten classes) the 32 px flipped views score 0.831,
        32 px unflipped 0.839, 16 px flipped 0.841, 16 px unflipped 0.863
        (benchmarks/results/anomem_grayscale_mnist_val); the photograph
        settings were chosen on cifar10-dev (docs/detectors/anomem.rst).
    max_epochs : int or "auto", default=20
        Epochs of the first stage. "auto" (ours, the ``quick`` profile) is 10
        on RGB and 40 on grayscale input; resolved in ``max_epochs_``. On the
        MNIST validation split above (16 px, unflipped) 40 epochs score
        0.912 / 0.925 (seeds 0 / 1) against 0.863 / 0.868 for 10, the
        contrastive loss ending 5-12 % below its chance level instead of
        2-5 %; on cifar10-dev 40 epochs did not help (0.611 against 0.625,
        docs/detectors/anomem.rst).
    image_shape, contamination, batch_size, lr, optimizer, \
weight_decay, callbacks, verbose, device, random_state
        As in :class:`~skssad.base.BaseDetector` (defaults: batch 64, lr
        0.05, SGD Nesterov, cosine annealing).
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Mixed precision of training and scoring (``torch.autocast``;
        ``"fp16"`` with loss scaling). Weights stay float32.
    compile : bool, default=False
        ``torch.compile`` the network (skorch's ``compile=True``).

    Attributes
    ----------
    net_ : skorch net
        The first-stage net (``net_.history``; ``net_.module_`` is a
        :class:`~skssad.nets.anomem.MultiScaleMemoryNet`).
    head_net_ : skorch net or None
        The semi-supervised second stage, None in the one-class setting.
    semi_supervised_ : bool
        Whether labelled anomalies were used.
    input_size_ : int or None
        The side the images were resized to (``input_size``, "auto" resolved).
    max_epochs_ : int
        The epochs each network trained (``max_epochs``, "auto" resolved).
    flip_ : bool
        Whether the views were flipped (``flip``, "auto" resolved).
    width_ : int
        Channels of the first ResNet stage (``width``, "auto" resolved).
    feature_grid_ : tuple of int or None
        The side each tapped map is pooled to (``feature_grid``, "auto"
        resolved).
    rotation_pretrain_ : int
        Epochs of rotation prediction before Alg. 1 (``rotation_pretrain``,
        "auto" resolved); with ``k > 0`` the rotation net is ``nets_["rotation"]``
        and its loss is in ``training_health_["rotation"]``.
    scale_weights_ : ndarray
        ``λ^(s)`` used for the tapped scales.
    memory_health_ : dict
        Per scale ``s``: ``effective_slots`` (median over normal training
        positions of exp of the attention entropy), ``max_weight`` (mean
        largest attention weight), ``slots_used`` (share of slots that are
        some position's nearest), ``pattern_spread`` (RMS distance of the
        stored patterns to their mean, in units of the query norm); on at
        most 1,024 normal training images (a seeded subsample), which also
        fit the ``memory="kmeans"`` centroids.
        Also in ``training_health_`` when the base records health.
    offset_, device_, input_shape_, n_features_in_

    See Also
    --------
    GeometricTransformDetector : one-class, transformation prediction.

    Notes
    -----
    Warns :class:`~skssad.nets.anomem.UniformRetrievalWarning` when, on
    the normal training data, the median query spreads over more than half
    of a memory: the recollection is then an average, not a prototype.

    References
    ----------
    .. [1] L. Jézéquel, N.-S. Vu, J. Beaudet and A. Histace, "Anomaly Detection
       via Multi-Scale Contrasted Memory" (anomem-contrasted-memory.txt).
    .. [2] H. Ramsauer et al., "Hopfield Networks is All You Need", ICLR 2021.
    .. [3] J. Tack et al., "CSI: Novelty Detection via Contrastive Learning on
       Distributionally Shifted Instances", NeurIPS 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skssad import AnoMemDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = AnoMemDetector(depth=10, width=4, n_memory=(16, 8), input_size=16,
    ...                      max_epochs=1, random_state=0)
    >>> det.fit(X[y == 0]).score_samples(X[:3]).shape
    (3,)
    """

    _uses_known_anomalies = True
    _parameter_constraints = {
        **BaseDetector._parameter_constraints,
        "scales": [tuple, list],
        "n_memory": [tuple, list],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "n_retrieval_steps": [Interval(Integral, 1, None, closed="left")],
        "normalize": [StrOptions(set(NORMALIZATIONS))],
        "sampling_ratio": [tuple, list],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "lambda_v": [Interval(Real, 0, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "memory": [StrOptions({"hopfield", "kmeans"})],
        "deviation": [StrOptions({"cosine", "l2"})],
        "scale_weights": [StrOptions({"paper", "uniform"}), tuple, list],
        "negatives": [StrOptions({"rotation"}), None],
        "memory_init": [StrOptions({"random", "data", "auto"})],
        "rotation_pretrain": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "feature_grid": ["array-like", None, StrOptions({"auto"})],
        "memory_warmup": [Interval(Integral, 0, None, closed="left")],
        "depth": [Interval(Integral, 10, 50, closed="both")],
        "width": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "supervised_epochs": [Interval(Integral, 1, None, closed="left")],
        "supervised_lr": [Interval(Real, 0, None, closed="neither")],
        "crop_scale": [tuple, list],
        "flip": ["boolean", StrOptions({"auto"})],
        "input_size": BaseDetector._INPUT_SIZE_OR_AUTO,
        "max_epochs": BaseDetector._MAX_EPOCHS_OR_AUTO,
    }

    #: "auto" values on RGB / grayscale input (see the docstring).
    _AUTO = {"input_size": {"rgb": 32, "grayscale": 16},
             "max_epochs": {"rgb": 10, "grayscale": 40},
             "flip": {"rgb": True, "grayscale": False},
             "width": {"rgb": 16, "grayscale": 8},
             "rotation_pretrain": {"rgb": 30, "grayscale": 0},
             "memory_init": {"rgb": "data", "grayscale": "random"}}

    def __init__(self, *, scales=(3, 4), n_memory=(512, 256), beta=2.0, n_retrieval_steps=3,
                 normalize="layer", sampling_ratio=(0.3, 1.0), tau=0.1, lambda_v=0.05,
                 margin=2.0, deviation="l2", scale_weights="paper", memory="hopfield",
                 negatives=None, memory_init="random", memory_warmup=0, rotation_pretrain=0,
                 feature_grid=None, depth=18, width=64,
                 pool_size=2, hidden=64,
                 supervised_epochs=30, supervised_lr=0.01, crop_scale=(0.08, 1.0), flip=True,
                 input_size=32, image_shape=None, contamination=0.1, max_epochs=20,
                 batch_size=64, lr=0.05, optimizer="sgd", weight_decay=5e-4, callbacks=None,
                 verbose=0, device="auto", precision="fp32", compile=False, random_state=None):
        self.scales = scales
        self.n_memory = n_memory
        self.beta = beta
        self.n_retrieval_steps = n_retrieval_steps
        self.normalize = normalize
        self.sampling_ratio = sampling_ratio
        self.tau = tau
        self.lambda_v = lambda_v
        self.margin = margin
        self.deviation = deviation
        self.scale_weights = scale_weights
        self.memory = memory
        self.negatives = negatives
        self.memory_init = memory_init
        self.memory_warmup = memory_warmup
        self.rotation_pretrain = rotation_pretrain
        self.feature_grid = feature_grid
        self.depth = depth
        self.width = width
        self.pool_size = pool_size
        self.hidden = hidden
        self.supervised_epochs = supervised_epochs
        self.supervised_lr = supervised_lr
        self.crop_scale = crop_scale
        self.flip = flip
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

    # ------------------------------------------------------------------ checks
    def _check_scale_params(self):
        scales = tuple(int(s) for s in self.scales)
        if not scales or any(s not in (1, 2, 3, 4) for s in scales):
            raise ValueError(f"scales must be ResNet stages among 1-4, got {self.scales}.")
        names = ["n_memory", "sampling_ratio"]
        if not isinstance(self.scale_weights, str):
            names.append("scale_weights")
        if self.feature_grid is not None and not isinstance(self.feature_grid, str):
            names.append("feature_grid")
            if any(int(g) < 1 for g in self.feature_grid):
                raise ValueError(f"feature_grid entries must be sides >= 1, got "
                                 f"{self.feature_grid}.")
        for name in names:
            if len(getattr(self, name)) != len(scales):
                raise ValueError(f"{name} needs one entry per scale ({len(scales)}), "
                                 f"got {getattr(self, name)}.")
        if any(not 0 < r <= 1 for r in self.sampling_ratio):
            raise ValueError(f"sampling_ratio entries must lie in (0, 1], got "
                             f"{self.sampling_ratio}.")
        if int(self.depth) not in RESNET_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(RESNET_BLOCKS)}, got {self.depth}.")
        if self.scale_weights == "paper":
            # §4.2: lambda^(s) = 2^(s-1), s counted over the tapped scales.
            weights = 2.0 ** np.arange(len(scales))
        elif self.scale_weights == "uniform":
            weights = np.ones(len(scales))
        else:
            weights = np.asarray(self.scale_weights, dtype=float)
            if np.any(weights < 0) or weights.sum() <= 0:
                raise ValueError(f"scale_weights must be non-negative with a positive sum, "
                                 f"got {self.scale_weights}.")
        return scales, weights

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        scales, self.scale_weights_ = self._check_scale_params()
        y01 = (np.ones(len(X)) if y is None else (np.asarray(y) != -1)).astype(np.float32)
        if y01.sum() < 1:
            raise ValueError("fit needs at least one normal sample (y != -1).")
        self.semi_supervised_ = bool((y01 == 0).any())
        X_normal = self._normal_store(X, y01)
        self.width_ = int(self._resolved("width"))
        self.flip_ = bool(self._resolved("flip"))
        self.rotation_pretrain_ = int(self._resolved("rotation_pretrain"))
        self.feature_grid_ = self._resolved_grid(scales, self._prepared_shape(X)[-1])
        backbone = ResNet(X.shape[1], int(self.depth), self.width_,
                          preprocess=Standardize(*self._channel_stats(X_normal)))
        module = MultiScaleMemoryNet(backbone, scales, self.n_memory, self.beta,
                                     self.n_retrieval_steps, self.normalize,
                                     grid=self.feature_grid_)
        if self.rotation_pretrain_:
            self._pretrain_rotation(module, X_normal)
        if self._resolved("memory_init") == "data":
            self._patterns_from_data(module.to(X.device), X_normal)
        use_memory = self.memory == "hopfield"
        criterion = ContrastedMemoryLoss(self.tau, self.lambda_v, self.scale_weights_,
                                         self.sampling_ratio, use_memory=use_memory)
        task = ContrastiveTask(self.crop_scale, flip=self.flip_, negatives=self.negatives)
        callbacks = self._net_callbacks("net")
        if use_memory and self.memory_warmup:
            if self.memory_warmup >= self._epochs:
                raise ValueError(f"memory_warmup ({self.memory_warmup}) must be below "
                                 f"max_epochs ({self._epochs}): the memory never trains.")
            start = lambda X_, y_: self._patterns_from_data(  # noqa: E731
                self.net_.module_, self._normal_store(X_, y_.cpu().numpy()))
            callbacks = [("memory_warmup", MemoryWarmup(self.memory_warmup, start)), *callbacks]
        extra = {}
        if not self.rotation_pretrain_:
            extra["chance_loss"] = self._chance_loss(self._prepared_shape(X)[-1], task)
        elif use_memory:
            extra["chance_loss"] = self._constant_memory_loss(module.to(X.device), criterion,
                                                              task, X_normal)
        else:  # k-means centroids of the frozen features: nothing left to train
            extra["max_epochs"] = 0
        self.net_ = self._make_net("net", module, criterion, task, callbacks=callbacks, **extra)
        self.net_.fit(X, torch.from_numpy(y01).to(X.device))
        self._y01 = y01

    def _pretrain_rotation(self, module, X_normal):
        """Ours: the backbone learns rotation prediction, then is frozen (see the docstring)."""
        if self.memory_warmup:
            raise ValueError("rotation_pretrain trains the memories alone on the frozen "
                             "backbone, so there is no SimCLR warm-up: memory_warmup must be "
                             f"0, got {self.memory_warmup}.")
        net = self._make_net("rotation", RotationNet(module.backbone),
                             torch.nn.CrossEntropyLoss(), RotationTask(flip=self.flip_),
                             max_epochs=self.rotation_pretrain_)
        net.fit(X_normal, None)
        module.freeze_backbone()

    def _patterns_from_data(self, module, X_normal):
        """Patterns on query vectors of 256 random normal training images (ours)."""
        sample = torch.randperm(len(X_normal), device=X_normal.device)[:256]
        module.init_patterns_from(self._prepare(X_normal[sample]))

    def _resolved_grid(self, scales, side: int) -> tuple[int, ...] | None:
        """``feature_grid`` with "auto" resolved: on RGB the sides a ResNet-50 with an
        ImageNet stem (stride 4, then 2 per stage) gives at input ``side`` (§4.2; at 32 px
        2x2 after stage 3 and 1x1 after stage 4), on grayscale None (the backbone's own)."""
        if not isinstance(self.feature_grid, str):
            return None if self.feature_grid is None else tuple(int(g) for g in self.feature_grid)
        return tuple(max(side >> (s + 1), 1) for s in scales) if self._rgb_input else None

    @staticmethod
    def _normal_store(X, y01):
        """The normal rows of the raw store (no copy when every row is normal)."""
        return X if y01.all() else X[torch.from_numpy(y01 > 0).to(X.device)]

    def _chance_loss(self, side: int, task: ContrastiveTask) -> float:
        """Eq. (7) of a model whose similarities carry no information: ``log(#keys)``.

        Every anchor then gives ``log(2B - 1)`` (plus ``B`` rotation negatives),
        and Eq. (7) weights scale ``s`` by ``λ^(s) |Ω^(s)|`` over ``Σ |Ω^(s)|``.
        Map sides follow the ResNet's strides (stages 2-4 halve the side).
        """
        b = min(int(self.batch_size), 10**9)
        n_keys = 2 * b - 1 + (b if task.n_branches == 3 else 0)
        scales, _ = self._check_scale_params()
        grid = self.feature_grid_ or [side] * len(scales)
        ks = [max(int(min(max(side // 2 ** (s - 1), 1), g) ** 2 * r), 1)
              for s, r, g in zip(scales, self.sampling_ratio, grid, strict=True)]
        weighted = sum(w * k for w, k in zip(self.scale_weights_, ks, strict=True))
        return float(np.log(n_keys) * weighted / sum(ks))

    def _constant_memory_loss(self, module, criterion, task, X_normal, n_batches=4) -> float:
        """Eq. (7) on the frozen backbone when every recollection is the patterns' mean.

        With ``rotation_pretrain`` only the memories learn, and what a memory
        that knows nothing scores depends on the fixed features (how far the
        views of one image lie apart), not only on the number of keys as in
        :meth:`_chance_loss`. A memory that recollects one constant vector for
        every query, what Eq. (1) gives at β = 0, is that chance level; it is
        measured on the first ``n_batches`` batches of training views.
        """
        b, losses = int(self.batch_size), []
        with torch.no_grad():
            for start in range(0, min(len(X_normal), n_batches * b), b):
                inputs, y = task(self._prepare(X_normal[start:start + b]), None)
                outputs = [(q, mem.stored_patterns().mean(0).view(1, -1, 1, 1).expand_as(q))
                           for (q, _), mem in zip(module(inputs), module.memories, strict=True)]
                losses.append(float(criterion(outputs, y)))
        return float(np.mean(losses))

    def _query_vectors(self, X):
        """Per scale, every position's query vector ``(n HW, C)`` of ``X``."""
        module = self.net_.module_

        def fn(chunk):
            return tuple(q.permute(0, 2, 3, 1).reshape(len(chunk), -1, q.shape[1])
                         for q, _ in module(chunk))

        # _map_chunks returns a tuple whenever fn does, one scale included.
        return [o.reshape(-1, o.shape[-1]) for o in self._map_chunks(X, fn)]

    def _calibrate(self, X):
        """After Alg. 1: k-means prototypes (Table 4(b)), memory health, then stage 2."""
        y01 = self._y01
        del self._y01
        # the queries of every position of every image: fitted on a bounded subsample
        self._calibrate_memory(self._calibration_subset(self._normal_store(X, y01)))
        self.head_net_ = None
        if self.semi_supervised_:
            self._fit_distance_heads(X, y01)

    def _calibrate_memory(self, X_normal):
        """k-means prototypes (Table 4(b)) and the memory's health on normal training data."""
        module = self.net_.module_
        queries = self._query_vectors(X_normal)
        if self.memory == "kmeans":
            for mem, q in zip(module.memories, queries, strict=True):
                k = min(mem.patterns.shape[0], len(q))
                km = KMeans(k, n_init=1, random_state=self._seed).fit(q.double().numpy())
                centroids = torch.as_tensor(km.cluster_centers_, dtype=torch.float32)
                with torch.no_grad():
                    mem.patterns.data = centroids.to(mem.patterns.device)
            module.retrieval = "nearest"
        self.memory_health_ = {}
        for s, mem, q in zip(module.scales, module.memories, queries, strict=True):
            with torch.no_grad():
                p = mem.stored_patterns().detach().cpu()
                att = hopfield_attention(q, p, mem.effective_beta)
                spread = float((p - p.mean(0)).pow(2).sum(1).mean().sqrt()
                               / q.norm(dim=1).mean().clamp_min(1e-12))
                used = att.argmax(1).unique().numel() / p.shape[0]
            self.memory_health_[s] = dict(
                effective_slots=float(effective_slots(att).median()),
                max_weight=float(att.max(1).values.mean()), slots_used=float(used),
                pattern_spread=spread, n_memory=int(p.shape[0]))
            if (self.memory == "hopfield"
                    and self.memory_health_[s]["effective_slots"] > UNIFORM_SHARE * p.shape[0]):
                warnings.warn(
                    f"AnoMem memory at scale {s}: the median normal query spreads over "
                    f"{self.memory_health_[s]['effective_slots']:.1f} of {p.shape[0]} slots; "
                    "retrieval is near uniform, so HF(z) is an average, not a prototype "
                    "(raise beta, use normalize='layer' or train longer).",
                    UniformRetrievalWarning, stacklevel=4)
        self._record_health("net", memory={f"scale{s}": h for s, h in self.memory_health_.items()},
                            effective_slots=[h["effective_slots"]
                                             for h in self.memory_health_.values()],
                            pattern_spread=[h["pattern_spread"]
                                            for h in self.memory_health_.values()])

    def _deviation_maps(self, X) -> list[torch.Tensor]:
        """Eq. (8): ``Δ^(s) = z^(s) − HF^(s)(z^(s))`` per scale (``deviation`` applied)."""
        out = []
        for q, r in self.net_.module_(X):
            if self.deviation == "cosine":
                q, r = F.normalize(q, dim=1), F.normalize(r, dim=1)
            out.append(q - r)
        return out

    def _pooled_deviations(self, X):
        return torch.cat([F.adaptive_avg_pool2d(d, self.pool_size).flatten(1)
                          for d in self._deviation_maps(X)], dim=1)

    def _fit_distance_heads(self, X, y01):
        """§3.2 semi-supervised: train g^(s) on pooled Δ^(s) with Eq. (12), SGD + cosine (§4.2)."""
        feats = self._map_chunks(X, self._pooled_deviations).to(X.device)
        dims = [self.net_.module_.backbone.channels[s - 1] * self.pool_size ** 2
                for s in self.net_.module_.scales]
        self.head_net_ = self._make_net(
            "head", ScaleDistanceHeads(dims, self.hidden), DoubleHingeLoss(self.margin), None,
            max_epochs=self.supervised_epochs, lr=self.supervised_lr, optimizer="sgd",
            weight_decay=0.0, images=False)
        self.head_net_.fit(feats, torch.from_numpy(y01).to(X.device))
        self._record_health("head")

    # ------------------------------------------------------------------ scoring
    def _scale_scores(self, X) -> torch.Tensor:
        """Per-scale anomaly scores ``(B, S)``: Eq. (9) or Eq. (10)."""
        if self.head_net_ is not None:
            return self.head_net_.module_(self._pooled_deviations(X))
        return torch.stack([d.flatten(1).norm(dim=1) for d in self._deviation_maps(X)], dim=1)

    def _score_chunk(self, X):
        w = torch.as_tensor(self.scale_weights_, dtype=torch.float32, device=X.device)
        # Eq. (13), sign flipped: higher = more normal.
        return -(self._scale_scores(X) * w).sum(1) / w.sum()

    def anomaly_prototype_distance(self, X) -> np.ndarray:
        """Distance of each sample's features to the closest stored prototype, per scale.

        For every position the L2 distance (in the memory's query space) to
        the nearest pattern of that scale's memory, averaged over positions:
        a diagnostic of whether the memory holds normal prototypes (§4.4).
        Higher = more anomalous.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_scales)
        """
        check_is_fitted(self, "offset_")
        module = self.net_.module_

        def fn(chunk):
            out = []
            for (q, _), mem in zip(module(chunk), module.memories, strict=True):
                flat = q.permute(0, 2, 3, 1).reshape(-1, q.shape[1])
                d = torch.cdist(flat, mem.stored_patterns()).min(1).values
                out.append(d.view(len(chunk), -1).mean(1))
            return torch.stack(out, 1).double()

        return self._map_chunks(self._input_store(X, reset=False), fn).numpy()

    def embed(self, X) -> list[np.ndarray]:
        """Average-pooled backbone features ``z^(s)`` of each tapped scale.

        Returns
        -------
        features : list of ndarray, one ``(n_samples, C_s)`` per scale
        """
        check_is_fitted(self, "offset_")
        module = self.net_.module_

        def fn(chunk):
            return tuple(z.mean((2, 3)).double() for z in module.features(chunk))

        out = self._map_chunks(self._input_store(X, reset=False), fn)
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    def anomaly_map(self, X) -> np.ndarray:
        """Pixel-level anomaly heatmaps (beyond the paper, its future work).

        Each scale's deviation norm ``‖Δ^(s)_{i,j}‖₂`` is upsampled
        bilinearly to the input's size and the scales are merged with the
        weights of Eq. (13). Higher = more anomalous.

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W)
            ``H, W`` are the image sides seen in ``fit``.
        """
        check_is_fitted(self, "offset_")
        store = self._input_store(X, reset=False)
        h, w_ = self.input_shape_[1:]
        weights = self.scale_weights_.tolist()

        def fn(chunk):
            merged = sum(lam * F.interpolate(d.norm(dim=1, keepdim=True), size=(h, w_),
                                             mode="bilinear", align_corners=False)
                         for lam, d in zip(weights, self._deviation_maps(chunk), strict=True))
            return (merged[:, 0] / sum(weights)).double()

        return self._map_chunks(store, fn).numpy() if len(store) else np.empty((0, h, w_))
