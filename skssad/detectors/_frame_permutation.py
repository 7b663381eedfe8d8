"""FramePermutationDetector: video anomaly detection by frame-permutation prediction.

frame-permutation-video.txt §III and §IV-D. Every video is cut into
segments of ``M`` frames (with ``skip`` frames between chosen frames,
Table VI); an M-stream siamese CNN learns which permutation shuffled the
frames of a normal segment (Eq. 1-8). The cross-entropy of the true
permutation is the segment's anomaly score (§III-D); a video is as normal
as minus the mean over its segments.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from ..base import BaseDetector, Interval, StrOptions, padded_chunks
from ..nets import Standardize
from ..nets.siamese import CaffeNetBase, SiameseFrameNet, SmallFrameCNN
from ..tasks.frames import (
    all_permutations,
    permutation_views,
    segment_indices,
    segment_span,
    shuffle_frames,
)
from ..video import video_lengths, videos_to_tensor

__all__ = ["FramePermutationDetector", "FrameShuffleTask", "minmax_anomaly_scores"]


class FrameShuffleTask:
    """Pretext hook: each segment is shuffled by a random permutation of the fitted set."""

    def __init__(self, permutations: np.ndarray):
        self.permutations = np.asarray(permutations, dtype=np.int64)

    def __call__(self, x: torch.Tensor):
        labels = torch.randint(len(self.permutations), (len(x),)).to(x.device)
        table = torch.from_numpy(self.permutations).to(x.device)
        return shuffle_frames(x, table[labels]), labels


def minmax_anomaly_scores(segment_losses):
    """Eq. (9): min-max normalise segment losses over the whole test set to [0, 1].

    Parameters
    ----------
    segment_losses : ndarray of shape (n_videos, Z) or list of 1-D arrays
        The output of :meth:`FramePermutationDetector.score_segments`.

    Returns
    -------
    A : same structure as ``segment_losses``
        ``(L - min L) / (max L - min L)``, min and max over all segments of
        all videos given (all zeros when every loss is equal). Higher = more
        anomalous. Not part of ``score_samples`` because it depends on the
        whole test set.
    """
    parts = ([np.asarray(s, dtype=np.float64) for s in segment_losses]
             if isinstance(segment_losses, list) else None)
    flat = (np.concatenate(parts) if parts is not None
            else np.asarray(segment_losses, dtype=np.float64).ravel())
    if flat.size == 0:
        raise ValueError("segment_losses is empty; expected at least one segment loss.")
    lo, hi = flat.min(), flat.max()
    span = hi - lo if hi > lo else 1.0
    if parts is not None:
        return [(p - lo) / span for p in parts]
    return (np.asarray(segment_losses, dtype=np.float64) - lo) / span


class FramePermutationDetector(BaseDetector):
    """Self-supervised video anomaly detection by frame-permutation prediction.

    Each video of ``N`` frames gives ``Z = N - span + 1`` segments of ``M``
    frames, one frame apart, the frames of a segment ``skip + 1`` apart
    (§III-A, Table VI; ``span = (M-1)(skip+1)+1``, 13 frames for the
    defaults). In training every segment is shuffled by a permutation drawn
    from the fitted set (all ``M!``, or ``n_permutations`` of them), and an
    M-stream siamese CNN — one base CNN with shared weights per frame, the
    features concatenated, a logistic top classifier (§III-B, Eq. 3-5) —
    predicts the permutation index with cross-entropy (Eq. 8). At inference
    every segment is shuffled by a fixed set of ``n_score_permutations``
    permutations and its loss is the mean cross-entropy of the true labels
    (§III-D), so scores are deterministic. ``score_samples`` is minus the
    mean loss of a video's segments; :func:`minmax_anomaly_scores` gives
    Eq. (9) for a whole test set.

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
        Base CNN: a small strided CNN, or CaffeNet conv1-fc7 with conv1
        stride 2 (§III-B, §III-C; the paper profile).
    width : int, default=16
        Channels of the small base CNN's first layer.
    feature_dim : int, default=64
        Feature size ``r_k`` per frame (CaffeNet's fc7 has 4096).
    input_size : int, default=32
        Frames are resized to ``input_size x input_size`` (time-series
        frames stay ``1x1``).
    contamination : float, default=0.1
    max_epochs : int, default=20
    batch_size : int, default=32
        Segments per batch.
    lr : float, default=0.01
    optimizer : {"sgd", "adam"} or torch optimizer class, default="sgd"
    weight_decay : float, default=5e-4
    callbacks : list or None, default=None
    verbose : int, default=0
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
        Fixes weights, the permutation sets and the training shuffles.

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
    video_kind_ : {"video", "series"}
    n_features_in_ : int
        Frames per sample of array input (time steps of 2-D input).

    See Also
    --------
    GeometricTransformDetector : the image counterpart (transformation prediction).

    References
    ----------
    .. [1] Wang et al., "Self-supervised representation learning for visual
       anomaly detection" (frame-permutation-video.txt), §III, §IV-D.

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
    }

    #: Segment views per padded inference chunk: a chunk holds
    #: ``_chunk_views // len(score_labels_)`` segments with all their views.
    _chunk_views = 256

    def __init__(self, *, M=5, skip=2, n_permutations=None, n_score_permutations=16,
                 base="small", width=16, feature_dim=64, input_size=32, contamination=0.1,
                 max_epochs=20, batch_size=32, lr=0.01, optimizer="sgd", weight_decay=5e-4,
                 callbacks=None, verbose=0, device="auto", random_state=None):
        self.M = M
        self.skip = skip
        self.n_permutations = n_permutations
        self.n_score_permutations = n_score_permutations
        self.base = base
        self.width = width
        self.feature_dim = feature_dim
        self.input_size = input_size
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

    # ------------------------------------------------------------------ input
    def _input_store(self, X, *, reset: bool) -> torch.Tensor:
        """NaN-padded ``(n, T, C, H, W)`` videos (see :mod:`skssad.video`)."""
        span = segment_span(self.M, self.skip)
        return videos_to_tensor(self, X, reset=reset, min_frames=span,
                                need=f"M={self.M} frames with skip={self.skip}",
                                input_size=self.input_size, device=self.device_)

    def _segments(self, videos: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """All segments ``(S, M, C, H, W)`` of the videos and the video each came from."""
        lengths = video_lengths(videos).cpu().numpy()
        idx = [segment_indices(t, self.M, self.skip) for t in lengths]
        owner = np.repeat(np.arange(len(videos)), [len(i) for i in idx])
        frames = np.concatenate(idx) if idx else np.empty((0, self.M), np.int64)
        own = torch.from_numpy(owner).to(videos.device)
        return videos[own[:, None], torch.from_numpy(frames).to(videos.device)], owner

    # ------------------------------------------------------------------ training
    def _fit_tensor(self, X, y=None):
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
        segments, _ = self._segments(X)
        frames = X.flatten(0, 1)
        frames = frames[~torch.isnan(frames.flatten(1)[:, 0])]
        c = X.shape[2]
        if self.base == "caffenet":
            base = CaffeNetBase(c, conv1_stride=2, fc_dim=self.feature_dim)
        else:
            base = SmallFrameCNN(c, self.width, self.feature_dim)
        module = SiameseFrameNet(base, self.M, len(perms), preprocess=Standardize.fitted(frames))
        self.net_ = self._make_net("net", module, torch.nn.CrossEntropyLoss,
                                   FrameShuffleTask(perms))
        self.net_.fit(segments, None)

    # ------------------------------------------------------------------ scoring
    def _score_chunk(self, segments: torch.Tensor) -> torch.Tensor:
        # §III-D: minus the mean cross-entropy of the true labels over the fixed
        # score permutations; all permutations of the chunk in one forward pass.
        views, labels = permutation_views(segments, torch.from_numpy(self.permutations_),
                                          torch.from_numpy(self.score_labels_))
        loss = F.cross_entropy(self.net_.module_(views), labels, reduction="none")
        return -loss.view(len(segments), len(self.score_labels_)).mean(1)

    def _segment_losses(self, videos: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        segments, owner = self._segments(videos)
        self._eval_mode()
        size, out = max(1, self._chunk_views // len(self.score_labels_)), []
        with torch.no_grad():
            for chunk, b in padded_chunks(segments, size):
                out.append(-self._score_chunk(chunk)[:b].double().cpu())
        losses = torch.cat(out).numpy() if out else np.empty(0)
        return losses, owner

    def _device_store(self, videos: torch.Tensor) -> torch.Tensor:
        return videos

    def _prepared(self, videos: torch.Tensor) -> torch.Tensor:
        return videos  # videos_to_tensor already scaled and resized the frames

    def _score_store(self, X: torch.Tensor) -> np.ndarray:
        losses, owner = self._segment_losses(X)
        counts = np.bincount(owner, minlength=len(X))
        return -np.bincount(owner, weights=losses, minlength=len(X)) / counts

    def score_segments(self, X):
        """Per-segment anomaly score: the cross-entropy of the true permutations (§III-D).

        Parameters
        ----------
        X : videos, same layouts as in ``fit``.

        Returns
        -------
        losses : ndarray of shape (n_videos, Z) or list of 1-D arrays
            Higher = more anomalous. A list when videos have different
            numbers of segments.
        """
        check_is_fitted(self, "offset_")
        losses, owner = self._segment_losses(self._as_tensor(X, reset=False))
        counts = np.bincount(owner, minlength=int(owner.max()) + 1 if len(owner) else 0)
        parts = np.split(losses, np.cumsum(counts)[:-1])
        if len(set(counts.tolist())) == 1:
            return np.stack(parts)
        return parts
