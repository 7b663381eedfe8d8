"""FramePermutationDetector: video anomaly detection by frame-permutation prediction.

Ali, Khan and Kyung, §III and §IV-D. Every video is cut into segments of
``M`` frames (with ``skip`` frames between chosen frames, Table VI); an
M-stream siamese CNN learns which permutation shuffled the frames of a
normal segment (Eq. 1-8). The cross-entropy of the true permutation is the
segment's anomaly score (§III-D); a video's score reduces its segments'.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..base import BaseDetector, ImagePrep, Interval, StrOptions
from ..nets import Standardize
from ..nets.siamese import (
    CaffeNetBase,
    SiameseFrameNet,
    SmallFrameCNN,
    permuted_feature_cross_entropy,
)
from ..tasks.frames import (
    FrameShuffleTask,
    all_permutations,
    segment_indices,
    segment_span,
)
from ..training import autocast_context
from ..video import (
    FRAME_CHUNK,
    check_min_frames,
    fit_frame_scale,
    frame_moments,
    map_segments,
    minmax_anomaly_scores,
    reduce_segments,
    segment_starts,
    validate_videos,
)

__all__ = ["FramePermutationDetector", "minmax_anomaly_scores"]


class FramePermutationDetector(BaseDetector):
    """Self-supervised video anomaly detection by frame-permutation prediction.

    Each video of ``N`` frames gives ``Z = N - span + 1`` segments of ``M``
    frames, one frame apart, the frames of a segment ``skip + 1`` apart
    (§III-A, Table VI; ``span = (M-1)(skip+1)+1``, 13 frames for the
    defaults). In training every segment is shuffled by a permutation drawn
    from the fitted set (all ``M!``, or ``n_permutations`` of them), and an
    M-stream siamese CNN predicts the permutation index with cross-entropy
    (Eq. 8): one base CNN with shared weights per frame (Eq. 3), the
    features concatenated (Eq. 4), and the Top-CNN — fully connected layers
    ending in a logistic classifier (Eq. 5). We read §III-B's "the layers
    following the concatenation layer form another CNN" as a hidden fully
    connected layer before the logistic layer: a logistic layer alone sums
    per-frame terms and cannot compare frames (see
    :mod:`skssad.nets.siamese`). At inference every segment is shuffled by
    a fixed set of ``n_score_permutations`` permutations and its anomaly
    score is the mean cross-entropy of the true labels (§III-D), so scores
    are deterministic; :func:`minmax_anomaly_scores` gives Eq. (9) for a
    whole test set.

    Parameters
    ----------
    M : int, default=5
        Frames per segment (Table V: 5 is best); ``M!`` permutation classes.
    skip : int, default=2
        Frames skipped between the chosen frames of a segment (Table VI).
    n_permutations : int or None, default=None
        Size of the permutation set drawn at fit (the identity always in it);
        ``None`` = all ``M!``. Clipped to ``M!`` (see ``n_permutations_``).
    n_score_permutations : int, default=16
        Fixed permutations applied to every segment at inference (clipped to
        the permutation set).
    base : {"small", "caffenet"}, default="small"
        Base CNN: a small CNN that keeps a 4x4 spatial map (CPU runs), or
        CaffeNet conv1-fc7 with conv1 stride 2 (§III-B, §III-C; the paper
        profile). Both take 1x1 time-series frames.
    width : int, default=16
        Channels of the small base CNN's first layer.
    feature_dim : int, default=64
        Feature size ``r_k`` per frame (CaffeNet's fc7 has 4096).
    top_hidden : int or None, default=256
        Width of the Top-CNN's hidden layer; ``None`` = logistic layer only
        (an ablation: it cannot compare frames).
    frame_jitter : float, default=0.0
        Strength of independent per-frame colour jitter in training
        (brightness, contrast, channel gains; :func:`skssad.tasks.frames.frame_jitter`),
        which hides low-level order cues such as lighting drift. Our
        addition; the paper trains on raw frames.
    crop_jitter : int, default=0
        Per-frame random translation in training, in pixels of the
        network input. Our addition.
    video_score : {"mean", "max", "top_k"}, default="mean"
        How a video's anomaly comes from its segments': their mean, their
        maximum (a short event), or the mean of the ``top_k`` largest.
    top_k : int, default=3
        Segments averaged by ``video_score="top_k"`` (clipped to ``Z``).
    input_size : int, default=32
        Frames are resized to ``input_size x input_size`` (time-series
        frames stay ``1x1``).
    contamination : float, default=0.1
        Share of training videos below ``offset_``.
    max_epochs : int, default=20
    batch_size : int, default=32
        Segments per batch.
    lr : float, default=0.01
    optimizer : {"sgd", "momentum", "adam"} or torch optimizer class, default="sgd"
        ``"sgd"``: Nesterov momentum 0.9 (the library default);
        ``"momentum"``: plain SGD with momentum 0.9, as §IV-D.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine annealing over ``max_epochs`` or a constant learning rate
        (§IV-D gives no schedule).
    weight_decay : float, default=5e-4
    callbacks : list or None, default=None
        skorch callbacks, after ours.
    verbose : int, default=0
    device : str, default="auto"
        "auto" takes CUDA when available.
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Mixed precision of training and of the base CNN at scoring
        (``torch.autocast``; ``"fp16"`` with loss scaling). Weights stay float32.
    compile : bool, default=False
        ``torch.compile`` the network (skorch's ``compile=True``).
    random_state : int, RandomState or None, default=None
        Fixes weights, the permutation sets, the training shuffles and jitter.

    Attributes
    ----------
    net_ : skssad.training.PretextNet
        The fitted skorch net (``net_.history`` has the losses).
    permutations_ : ndarray of shape (n_permutations_, M)
        The permutation classes; row ``j`` maps output frame ``k`` to input
        frame ``permutations_[j, k]``.
    n_permutations_ : int
    score_labels_ : ndarray of shape (n_score_permutations_,)
        Indices into ``permutations_`` used at inference.
    offset_ : float
    input_shape_ : tuple
        ``(C, H, W)`` of the frames seen in fit.
    scale_ : tuple
        ``(lo, hi)``: the range frames are scaled by.
    video_kind_ : {"video", "series"}
    n_features_in_ : int
        Frames per sample of array input (time steps of 2-D input).

    See Also
    --------
    GeometricTransformDetector : the image counterpart (transformation prediction).

    References
    ----------
    .. [1] R. Ali, M. U. K. Khan and C. M. Kyung, "Self-supervised
       representation learning for visual anomaly detection", arXiv
       preprint, 2020. §III (method), §IV-D (video setting, Tables V, VI).

    Examples
    --------
    >>> from skssad import FramePermutationDetector
    >>> from skssad.datasets import make_moving_digits
    >>> X, y = make_moving_digits(40, n_frames=8, size=16, random_state=0, return_X_y=True)
    >>> det = FramePermutationDetector(M=3, skip=1, width=4, input_size=16,
    ...                                max_epochs=1, random_state=0)
    >>> det.fit(X[y == 0]).score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseDetector._parameter_constraints.items() if k != "image_shape"},
        "M": [Interval(Integral, 2, 8, closed="both")],
        "skip": [Interval(Integral, 0, None, closed="left")],
        "n_permutations": [Interval(Integral, 2, None, closed="left"), None],
        "n_score_permutations": [Interval(Integral, 1, None, closed="left")],
        "base": [StrOptions({"small", "caffenet"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "feature_dim": [Interval(Integral, 1, None, closed="left")],
        "top_hidden": [Interval(Integral, 1, None, closed="left"), None],
        "frame_jitter": [Interval(Real, 0, None, closed="left")],
        "crop_jitter": [Interval(Integral, 0, None, closed="left")],
        "video_score": [StrOptions({"mean", "max", "top_k"})],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "momentum", "adam"}), type],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
    }

    # ``_fit_tensor`` gets the raw :class:`~skssad.video.VideoFrames`; segments are
    # cut and prepared per batch.

    def __init__(self, *, M=5, skip=2, n_permutations=None, n_score_permutations=16,
                 base="small", width=16, feature_dim=64, top_hidden=256, frame_jitter=0.0,
                 crop_jitter=0, video_score="mean", top_k=3, input_size=32,
                 contamination=0.1, max_epochs=20, batch_size=32, lr=0.01, optimizer="sgd",
                 lr_schedule="cosine", weight_decay=5e-4, callbacks=None, verbose=0,
                 device="auto", precision="fp32", compile=False, random_state=None):
        self.M = M
        self.skip = skip
        self.n_permutations = n_permutations
        self.n_score_permutations = n_score_permutations
        self.base = base
        self.width = width
        self.feature_dim = feature_dim
        self.top_hidden = top_hidden
        self.frame_jitter = frame_jitter
        self.crop_jitter = crop_jitter
        self.video_score = video_score
        self.top_k = top_k
        self.input_size = input_size
        self.contamination = contamination
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.precision = precision
        self.compile = compile
        self.random_state = random_state

    # ------------------------------------------------------------------ input
    def _input_store(self, X, *, reset: bool):
        """The raw :class:`~skssad.video.VideoFrames` of ``X`` (converted per chunk later)."""
        videos = validate_videos(self, X, reset=reset,
                                 min_samples=self._min_samples if reset else 1)
        check_min_frames(videos, segment_span(self.M, self.skip),
                         f"M={self.M} frames with skip={self.skip}",
                         array_series=videos.kind == "series" and len(set(videos.lengths)) == 1)
        if reset:
            self.input_shape_, self.video_kind_ = videos.frame_shape, videos.kind
            self.scale_ = fit_frame_scale(videos)
        elif videos.frame_shape != self.input_shape_:
            raise ValueError(f"X holds frames of shape (C, H, W)={videos.frame_shape}, but "
                             f"{type(self).__name__} was fitted on {self.input_shape_}.")
        return videos

    def _device_store(self, videos):
        return videos  # frames stay raw in host memory; chunks and batches go to the device

    @property
    def _prepare(self) -> ImagePrep:
        # Time-series frames are single values: they stay 1x1.
        return ImagePrep(None if self.video_kind_ == "series" else self.input_size)

    def _prepare_frames(self, raw: np.ndarray) -> torch.Tensor:
        """Raw ``(b, C, H, W)`` frames -> network input (scaled in float64, resized)."""
        return self._prepare(self._to_device(raw))

    def _frame_features(self, raw: np.ndarray) -> torch.Tensor:
        """Eq. (3) for raw frames, through the base's chunk mapper."""
        return self._map_chunks(raw, self.net_.module_.frame_features, size=FRAME_CHUNK)

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, videos, y=None):
        rng = np.random.RandomState(self._seed)
        perms = all_permutations(self.M).numpy()
        self.n_permutations_ = min(self.n_permutations or len(perms), len(perms))
        if self.n_permutations_ < len(perms):
            # A fixed subset drawn at fit; keep the identity (true order) as a class.
            pick = np.sort(np.r_[0, 1 + rng.choice(len(perms) - 1, self.n_permutations_ - 1,
                                                   replace=False)])
            perms = perms[pick]
        self.permutations_ = perms
        k = min(self.n_score_permutations, len(perms))
        self.score_labels_ = (np.arange(len(perms)) if k == len(perms) else
                              np.sort(rng.choice(len(perms), k, replace=False)))
        c = self.input_shape_[0]
        side = 1 if self.video_kind_ == "series" else (self.input_size or self.input_shape_[1])
        if self.base == "caffenet":
            base = CaffeNetBase(c, conv1_stride=2, fc_dim=self.feature_dim)
        else:
            base = SmallFrameCNN(c, self.width, self.feature_dim, grid=min(4, side))
        mean, std = frame_moments(videos, self._prepare_frames)
        module = SiameseFrameNet(base, self.M, len(perms), preprocess=Standardize(mean, std),
                                 hidden=self.top_hidden)
        starts, _ = segment_starts(videos.lengths, self.M, self.skip)
        def source(idx: torch.Tensor) -> torch.Tensor:  # a batch's frames, read raw
            return self._prepare_frames(videos.frames[idx.cpu().numpy()])

        task = FrameShuffleTask(perms, self.M, self.skip, source=source,
                                jitter=self.frame_jitter, crop=self.crop_jitter)
        extra = {}
        if self.optimizer == "momentum":  # §IV-D: SGD with momentum 0.9, no Nesterov
            extra.update(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
        self.net_ = self._make_net(
            "net", module, torch.nn.CrossEntropyLoss, task, images=False,
            schedule=None if self.lr_schedule == "constant" else "cosine",
            chance_loss=np.log(len(perms)), **extra)  # Eq. (8) of a uniform guess
        try:
            self.net_.fit(torch.from_numpy(starts).to(self.device_), None)
        finally:
            task.source = None  # the fitted detector does not carry its training videos
        self._record_health("net")

    # ------------------------------------------------------------------ scoring
    def _segment_anomaly(self, videos) -> tuple[np.ndarray, np.ndarray]:
        """§III-D: each segment's mean cross-entropy over the fixed score permutations."""
        starts, owner = segment_starts(videos.lengths, self.M, self.skip)
        self._eval_mode()
        net = self.net_.module_
        table = torch.from_numpy(self.permutations_)
        labels = torch.from_numpy(self.score_labels_)
        # The segment head runs under the net's autocast too (the features come back float32).
        with torch.no_grad(), autocast_context(self.precision, self.device_):
            out = map_segments(
                videos, starts, self.M, self.skip, self._frame_features,
                lambda feats: permuted_feature_cross_entropy(net, feats, table, labels).mean(1))
        return out.double().numpy(), owner

    def _score_video_chunk(self, frames: torch.Tensor) -> torch.Tensor:
        """Scores of ``(b, T, C, H, W)`` prepared videos of ``T`` frames: the exported path.

        The steps of :meth:`_score_store` for equal-length videos, as one
        traceable graph for :mod:`skssad.export`: all ``b * T`` frames
        through the base CNN (Eq. 3), the segments and the score
        permutations as constant indices (no data-dependent indexing), the
        §III-D cross-entropies and the ``video_score`` reduction.
        """
        b, t = int(frames.shape[0]), int(frames.shape[1])
        net = self.net_.module_
        feats = net.frame_features(frames.reshape(b * t, *frames.shape[2:])).view(b, t, -1)
        idx = torch.from_numpy(segment_indices(t, self.M, self.skip))  # (Z, M), constant
        z = len(idx)
        segments = feats[:, idx].reshape(b * z, self.M, feats.shape[-1])
        losses = permuted_feature_cross_entropy(
            net, segments, torch.from_numpy(self.permutations_),
            torch.from_numpy(self.score_labels_)).mean(1).view(b, z)
        # skssad.video.reduce_segments for equal-length videos: the mean of the k largest
        k = {"mean": z, "max": 1}.get(self.video_score, min(int(self.top_k), z))
        return -losses.topk(k, dim=1).values.mean(1)

    def _score_store(self, videos) -> np.ndarray:
        losses, owner = self._segment_anomaly(videos)
        return -reduce_segments(losses, owner, len(videos), self.video_score, self.top_k)

    def anomaly_segments(self, X):
        """Per-segment anomaly score: the cross-entropy of the true permutations (§III-D).

        Parameters
        ----------
        X : videos, same layouts as in ``fit``.

        Returns
        -------
        anomaly : ndarray of shape (n_videos, Z) or list of 1-D arrays
            Higher = more anomalous; segment ``i`` starts at frame ``i``. A
            list when videos have different numbers of segments.
        """
        check_is_fitted(self, "offset_")
        videos = self._input_store(X, reset=False)
        losses, owner = self._segment_anomaly(videos)
        parts = np.split(losses, np.cumsum(np.bincount(owner, minlength=len(videos)))[:-1])
        return np.stack(parts) if len({len(p) for p in parts}) == 1 else parts

    def score_segments(self, X):
        """Per-segment normality score, ``-anomaly_segments(X)``: higher = more normal.

        Parameters
        ----------
        X : videos, same layouts as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_videos, Z) or list of 1-D arrays
        """
        a = self.anomaly_segments(X)
        return [-p for p in a] if isinstance(a, list) else -a


    def pretext_accuracy(self, X) -> float:
        """Share of (segment, score permutation) views whose permutation is predicted right.

        A health check on held-out normal videos: ``1 / n_permutations_`` is
        chance; a network that cannot solve the pretext task gives scores
        that mean nothing, whatever their AUROC.

        Parameters
        ----------
        X : videos, same layouts as in ``fit``.

        Returns
        -------
        accuracy : float
        """
        check_is_fitted(self, "offset_")
        videos = self._input_store(X, reset=False)
        starts, _ = segment_starts(videos.lengths, self.M, self.skip)
        self._eval_mode()
        net = self.net_.module_
        perms = torch.from_numpy(self.permutations_)
        labels = torch.from_numpy(self.score_labels_)

        def correct(feats: torch.Tensor) -> torch.Tensor:
            views = feats[:, perms[labels]]  # (b, K, M, d)
            logits = net.classify(views.reshape(-1, *feats.shape[1:]))
            hit = logits.argmax(1) == labels.to(logits.device).repeat(len(feats))
            return hit.view(len(feats), -1).double().mean(1)

        with torch.no_grad(), autocast_context(self.precision, self.device_):
            hits = map_segments(videos, starts, self.M, self.skip, self._frame_features, correct)
        return float(hits.mean())
