"""AnoMemDetector: multi-scale contrasted memory (anomem-contrasted-memory.txt).

§3.1 (Alg. 1): a ResNet and one modern Hopfield memory per tapped scale are
trained jointly with SimCLR, the memory replacing the first branch's
features of normal samples (Eq. 3-7). §3.2: the anomaly score is the
deviation between a feature map and its recollection (Eq. 8-9), or, with
labelled anomalies, a per-scale MLP on the pooled deviation trained with a
double hinge (Eq. 10-12); scales are fused by Eq. (13).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import unpack_data
from torch import nn

from ..base import INFERENCE_CHUNK, BaseDetector, Interval, StrOptions, padded_chunks
from ..losses import ContrastedMemoryLoss, DoubleHingeLoss
from ..nets import Standardize
from ..nets.hopfield import HopfieldMemory
from ..nets.resnet import RESNET_BLOCKS, ResNet
from ..tasks.contrastive import ContrastiveTask
from ..training import PretextNet

__all__ = ["AnoMemDetector", "AnoMemModule", "ContrastedMemoryNet", "ScaleDistanceHeads"]


class AnoMemModule(nn.Module):
    """Backbone ``f`` with Hopfield memories ``HF^(s)`` after the tapped stages."""

    def __init__(self, backbone: ResNet, scales, n_memory, beta: float, n_steps: int,
                 deviation: str = "cosine"):
        super().__init__()
        self.deviation = deviation
        self.backbone = backbone
        self.scales = tuple(int(s) for s in scales)
        self.memories = nn.ModuleList(
            HopfieldMemory(backbone.channels[s - 1], n, beta, n_steps)
            for s, n in zip(self.scales, n_memory, strict=True))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.backbone.forward_stages(x)
        return [maps[s - 1] for s in self.scales]

    def deviations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Eq. (8): ``Delta^(s) = z^(s) - HF^(s)(z^(s))`` for every tapped scale.

        With ``deviation="cosine"`` both vectors are L2-normalised first: the
        contrastive loss (Eq. 5) only constrains directions, so the norms of
        the learned patterns carry no information about normality.
        """
        out = []
        for z, mem in zip(self(x), self.memories, strict=True):
            r = mem.retrieve_map(z)
            if self.deviation == "cosine":
                z, r = F.normalize(z, dim=1), F.normalize(r, dim=1)
            out.append(z - r)
        return out


class ContrastedMemoryNet(PretextNet):
    """Alg. 1 as a skorch train step: two views, memory on normal first-branch features."""

    def _views(self, batch):
        Xi, yi = unpack_data(batch)
        y = (yi if yi is not None else torch.ones(len(Xi), device=Xi.device)).float()
        v1, v2 = self.task(Xi)
        return v1, v2, y

    def _loss(self, batch, training: bool):
        v1, v2, y = self._views(batch)
        # Both branches in one forward pass (batch statistics shared, as SimCLR).
        zs = self.module_(torch.cat([v1, v2]))
        z1s = [z[:len(v1)] for z in zs]
        z2s = [z[len(v1):] for z in zs]
        return self.criterion_(z1s, z2s, y, self.module_.memories)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        loss = self._loss(batch, True)
        loss.backward()
        return {"loss": loss, "y_pred": None}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        with torch.no_grad():
            loss = self._loss(batch, False)
        return {"loss": loss, "y_pred": None}


class ScaleDistanceHeads(nn.Module):
    """Eq. (10): per scale, average pooling ``phi`` then a two-layer MLP ``g^(s)``.

    Takes the concatenated pooled deviations ``(B, sum_s C_s p^2)`` and
    returns one anomaly distance per scale ``(B, S)``.
    """

    def __init__(self, dims, hidden: int):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.ReLU(),
                                                nn.Linear(hidden, 1)) for d in self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.dims, dim=1)
        return torch.cat([g(p) for g, p in zip(self.mlps, parts, strict=True)], dim=1)


class AnoMemDetector(BaseDetector):
    """Anomaly detection with multi-scale contrasted memory (AnoMem), OC and SS.

    First stage (§3.1, Alg. 1): a ResNet and a modern Hopfield memory layer
    per tapped stage are trained with the contrasted memory loss (Eq. 7):
    SimCLR's NT-Xent (τ) between two augmented views, where the spatial
    feature vectors of the first view of *normal* samples are replaced by
    their memory recollection (Eq. 3), on a random share ``r^(s)`` of the
    positions, scales weighted by ``λ^(s) = 2^(s-1)``, plus the variance loss
    (Eq. 6). Second stage (§3.2): with no labelled anomaly (``y`` has no
    ``-1``), a scale's anomaly score is ``‖z^(s) − HF^(s)(z^(s))‖₂`` (Eq. 8-9);
    with labelled anomalies, a per-scale average pooling + two-layer MLP is
    trained on the deviation maps with the double-hinge loss (Eq. 10-12).
    Scales are fused by Eq. (13); ``score_samples`` returns minus that
    anomaly score, so higher means more normal.

    Parameters
    ----------
    scales : tuple of int, default=(3, 4)
        ResNet stages (1-4) whose output maps get a memory (paper: 3 and 4).
    n_memory : tuple of int, default=(512, 256)
        Hopfield layer sizes ``N_Mem^(s)``, one per scale.
    beta : float, default=2.0
        Hopfield inverse temperature.
    n_retrieval_steps : int, default=1
        Iterations of Eq. (1).
    sampling_ratio : tuple of float, default=(0.3, 1.0)
        ``r^(s)`` of Eq. (7), one per scale.
    tau : float, default=0.1
        NT-Xent temperature.
    lambda_v : float, default=0.05
        Variance-loss weight ``λ_V``.
    margin : float, default=2.0
        Double-hinge margin ``M`` (Eq. 11).
    deviation : {"cosine", "l2"}, default="cosine"
        "l2" is Eq. (8) literally; "cosine" normalises ``z`` and ``HF(z)``
        per position before the difference (not in the paper; the NT-Xent
        training only fixes directions; digits class 3: 0.77 vs 0.52 AUROC).
    memory : {"hopfield", "kmeans"}, default="hopfield"
        "kmeans" is the ablation of Table 4(b): plain SimCLR, then k-means
        centroids of the normal feature vectors replace the learned patterns.
    depth : int, default=18
        ResNet depth (10, 18, 34, 50).
    width : int, default=64
        Channels of the first ResNet stage.
    pool_size : int, default=2
        Output side of the average pooling ``φ`` (semi-supervised head).
    hidden : int, default=64
        Hidden units of each MLP ``g^(s)``.
    supervised_epochs : int, default=30
        Epochs of the semi-supervised second stage (Adam, lr 1e-3).
    crop_scale : tuple of float, default=(0.3, 1.0)
        Area range of the random resized crop.
    flip : bool, default=True
        Random horizontal symmetry in the views (§4.2, as SimCLR). False
        is beyond the paper: on digits, where a mirrored digit is not a
        normal sample, learning flip invariance only blurs the normal class.
    input_size, image_shape, contamination, max_epochs, batch_size, lr, optimizer, \
weight_decay, callbacks, verbose, device, random_state
        As in :class:`~skssad.base.BaseDetector` (defaults: input 32, 20 epochs,
        batch 64, lr 0.05, SGD Nesterov).

    Attributes
    ----------
    net_ : ContrastedMemoryNet
        The first-stage skorch net (``net_.history``).
    head_net_ : skorch net or None
        The semi-supervised second stage, None in the one-class setting.
    semi_supervised_ : bool
        Whether labelled anomalies were used.
    scale_weights_ : ndarray
        ``λ^(s) = 2^(s-1)`` for the tapped scales (s counted 1..S).
    offset_, device_, input_shape_, n_features_in_

    See Also
    --------
    GeometricTransformDetector : one-class, transformation prediction.

    Notes
    -----
    The one-class score is only as good as the first stage. With a tiny
    backbone the retrieval of Eq. (1) at β = 2 is a soft average over many
    patterns (feature norms are small, so ``β ξ X`` is flat): the learned
    memory then acts as a smooth map that reproduces normal directions,
    and the deviation behaves like a distance to the normal manifold. A
    sharper memory (β = 8) trains worse on MNIST, since a near-one-hot
    recollection cannot keep the instances of a batch apart in NT-Xent.
    The literal ``"l2"`` deviation scales with ``‖z‖``, which the
    contrastive loss leaves free and which is often *larger* on the normal
    class, so it can rank anomalies as more normal; ``"cosine"`` avoids it.

    References
    ----------
    .. [1] L. Jézéquel, N.-S. Vu, J. Beaudet and A. Histace, "Anomaly Detection
       via Multi-Scale Contrasted Memory" (anomem-contrasted-memory.txt).

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
        "sampling_ratio": [tuple, list],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "lambda_v": [Interval(Real, 0, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "memory": [StrOptions({"hopfield", "kmeans"})],
        "deviation": [StrOptions({"cosine", "l2"})],
        "depth": [Interval(Integral, 10, 50, closed="both")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "supervised_epochs": [Interval(Integral, 1, None, closed="left")],
        "crop_scale": [tuple, list],
        "flip": ["boolean"],
    }

    def __init__(self, *, scales=(3, 4), n_memory=(512, 256), beta=2.0, n_retrieval_steps=1,
                 sampling_ratio=(0.3, 1.0), tau=0.1, lambda_v=0.05, margin=2.0,
                 deviation="cosine", memory="hopfield", depth=18, width=64, pool_size=2, hidden=64,
                 supervised_epochs=30, crop_scale=(0.3, 1.0), flip=True, input_size=32,
                 image_shape=None, contamination=0.1, max_epochs=20, batch_size=64, lr=0.05,
                 optimizer="sgd", weight_decay=5e-4, callbacks=None, verbose=0, device="auto",
                 random_state=None):
        self.scales = scales
        self.n_memory = n_memory
        self.beta = beta
        self.n_retrieval_steps = n_retrieval_steps
        self.sampling_ratio = sampling_ratio
        self.tau = tau
        self.lambda_v = lambda_v
        self.margin = margin
        self.deviation = deviation
        self.memory = memory
        self.depth = depth
        self.width = width
        self.pool_size = pool_size
        self.hidden = hidden
        self.supervised_epochs = supervised_epochs
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
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_scale_params(self):
        scales = tuple(int(s) for s in self.scales)
        if not scales or any(s not in (1, 2, 3, 4) for s in scales):
            raise ValueError(f"scales must be ResNet stages among 1-4, got {self.scales}.")
        for name in ("n_memory", "sampling_ratio"):
            if len(getattr(self, name)) != len(scales):
                raise ValueError(f"{name} needs one entry per scale ({len(scales)}), "
                                 f"got {getattr(self, name)}.")
        if any(not 0 < r <= 1 for r in self.sampling_ratio):
            raise ValueError(f"sampling_ratio entries must lie in (0, 1], got "
                             f"{self.sampling_ratio}.")
        if int(self.depth) not in RESNET_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(RESNET_BLOCKS)}, got {self.depth}.")
        return scales

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
        scales = self._check_scale_params()
        y01 = (np.ones(len(X)) if y is None else (np.asarray(y) != -1)).astype(np.float32)
        if y01.sum() < 1:
            raise ValueError("fit needs at least one normal sample (y != -1).")
        normal = torch.from_numpy(y01 > 0).to(X.device)
        self.semi_supervised_ = bool((y01 == 0).any())
        # Eq. (7): lambda^(s) = 2^(s-1), s counted over the tapped scales.
        self.scale_weights_ = 2.0 ** np.arange(len(scales))
        backbone = ResNet(X.shape[1], int(self.depth), self.width,
                          preprocess=Standardize.fitted(X[normal]))
        module = AnoMemModule(backbone, scales, self.n_memory, self.beta,
                              self.n_retrieval_steps, self.deviation)
        use_memory = self.memory == "hopfield"
        criterion = ContrastedMemoryLoss(self.tau, self.lambda_v, self.scale_weights_,
                                         self.sampling_ratio, use_memory=use_memory)
        task = ContrastiveTask(self.crop_scale, flip=self.flip)
        self.net_ = self._make_net("net", module, criterion, task, net_class=ContrastedMemoryNet)
        self.net_.fit(X, torch.from_numpy(y01).to(X.device))
        if not use_memory:
            self._fit_kmeans_memory(X[normal])
        self.head_net_ = None
        if self.semi_supervised_:
            self._fit_distance_heads(X, y01)

    def _features(self, X):
        """Tapped feature maps of ``X`` in eval mode, chunk by chunk."""
        self._eval_mode()
        with torch.no_grad():
            for start in range(0, len(X), INFERENCE_CHUNK):
                yield self.net_.module_(X[start:start + INFERENCE_CHUNK])

    def _fit_kmeans_memory(self, X_normal):
        """Table 4(b) ablation: k-means centroids of the normal vectors as patterns."""
        per_scale = [[] for _ in self.net_.module_.memories]
        for zs in self._features(X_normal):
            for lst, z in zip(per_scale, zs, strict=True):
                lst.append(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).cpu())
        for mem, lst in zip(self.net_.module_.memories, per_scale, strict=True):
            vecs = torch.cat(lst).double().numpy()
            k = min(mem.patterns.shape[0], len(vecs))
            km = KMeans(k, n_init=1, random_state=self._seed).fit(vecs)
            centroids = torch.as_tensor(km.cluster_centers_, dtype=torch.float32)
            with torch.no_grad():
                mem.patterns.data = centroids.to(mem.patterns.device)

    def _pooled_deviations(self, X):
        module = self.net_.module_
        return torch.cat([F.adaptive_avg_pool2d(d, self.pool_size).flatten(1)
                          for d in module.deviations(X)], dim=1)

    def _fit_distance_heads(self, X, y01):
        """§3.2 semi-supervised: train g^(s) on pooled Delta^(s) with Eq. (12)."""
        self._eval_mode()
        with torch.no_grad():
            feats = torch.cat([self._pooled_deviations(X[i:i + INFERENCE_CHUNK])
                               for i in range(0, len(X), INFERENCE_CHUNK)])
        dims = [self.net_.module_.backbone.channels[s - 1] * self.pool_size ** 2
                for s in self.net_.module_.scales]
        self.head_net_ = self._make_net(
            "head",
            ScaleDistanceHeads(dims, self.hidden), DoubleHingeLoss(self.margin), None,
            max_epochs=self.supervised_epochs, lr=1e-3, optimizer="adam", weight_decay=0.0,
            callbacks=None)
        self.head_net_.fit(feats, torch.from_numpy(y01).to(X.device))

    def _eval_mode(self):
        super()._eval_mode()
        head = getattr(self, "head_net_", None)
        if head is not None:
            head.module_.eval()

    # ------------------------------------------------------------------ scoring
    def _scale_scores(self, X) -> torch.Tensor:
        """Per-scale anomaly scores ``(B, S)``: Eq. (9) or Eq. (10)."""
        if self.head_net_ is not None:
            return self.head_net_.module_(self._pooled_deviations(X))
        return torch.stack([d.flatten(1).norm(dim=1)
                            for d in self.net_.module_.deviations(X)], dim=1)

    def _score_chunk(self, X):
        w = torch.as_tensor(self.scale_weights_, dtype=torch.float32, device=X.device)
        # Eq. (13), sign flipped: higher = more normal.
        return -(self._scale_scores(X) * w).sum(1) / w.sum()

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
        Xt = self._as_tensor(X, reset=False)
        h, w_ = self.input_shape_[1:]
        weights = torch.as_tensor(self.scale_weights_, dtype=torch.float32)
        self._eval_mode()
        out = []
        with torch.no_grad():
            for chunk, b in padded_chunks(Xt):  # fixed-size chunks: batch-independent maps
                devs = self.net_.module_.deviations(chunk)
                merged = sum(lam * F.interpolate(d.norm(dim=1, keepdim=True), size=(h, w_),
                                                 mode="bilinear", align_corners=False)
                             for lam, d in zip(weights.tolist(), devs, strict=True))
                out.append((merged[:b, 0] / weights.sum()).double().cpu())
        return torch.cat(out).numpy() if out else np.empty((0, h, w_))
