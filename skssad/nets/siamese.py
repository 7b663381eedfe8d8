"""M-stream siamese CNN for frame-permutation prediction.

Ali, Khan and Kyung, "Self-supervised representation learning for visual
anomaly detection", §III-B and Fig. 3: one base CNN ``B`` with shared
weights maps every frame of a (shuffled) segment to a feature ``r_k``
(Eq. 3); the ``M`` features are concatenated (Eq. 4) and the Top-CNN ``T``
gives the probabilities of the permutation classes (Eq. 5).

How we read §III-B: "the layers following the concatenation layer form
another CNN called the Top-CNN", ending in a logistic (softmax) classifier.
So the top is *fully connected layers* on the concatenated features — a
hidden layer with a ReLU, then the logistic layer over the ``M!`` classes —
not a single linear map. A single linear map gives each permutation a sum
of per-frame terms: it can sort frames by a quantity that grows with time
but cannot compare two frames, which is what telling orders apart needs
(a digit moving on a circle has no per-frame quantity that grows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CaffeNetBase", "SmallFrameCNN", "SiameseFrameNet", "permuted_feature_cross_entropy"]


class _MaxPoolIfFits(nn.MaxPool2d):
    """CaffeNet's 3x3 / stride-2 max pooling, skipped on maps smaller than the kernel.

    Time-series frames are ``1x1``; CaffeNet's unpadded pools cannot take
    them. On every map at least as large as the kernel (all of CaffeNet's
    at its 227 input, and ours down to 12x12 input) this is the plain pool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size if isinstance(self.kernel_size, int) else min(self.kernel_size)
        if min(x.shape[-2:]) < k:
            return x
        return super().forward(x)


class CaffeNetBase(nn.Module):
    """CaffeNet conv1-fc7 (§III-B) with conv1 stride 2 (§III-C) instead of 4.

    Caffe's "1-GPU" AlexNet: conv1 96x11x11, LRN, conv2 256x5x5 in two
    groups, conv3 384, conv4 384 and conv5 256 (3x3, conv4/conv5 in two
    groups), three 3x3 / stride-2 max pools, fc6 and fc7 with dropout. Our
    choices: an adaptive average pooling to 6x6 before fc6 lets any input
    size through (CaffeNet's 227 input with stride 4 gives 6x6 there), and
    pools are skipped on maps smaller than their kernel (1x1 time-series
    frames).
    """

    def __init__(self, in_channels: int = 3, conv1_stride: int = 2, fc_dim: int = 4096,
                 dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=conv1_stride, padding=5), nn.ReLU(inplace=True),
            _MaxPoolIfFits(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, 1e-4, 0.75),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
            _MaxPoolIfFits(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, 1e-4, 0.75),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            _MaxPoolIfFits(3, 2, ceil_mode=True), nn.AdaptiveAvgPool2d(6))
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(256 * 36, fc_dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_features = int(fc_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SmallFrameCNN(nn.Module):
    """A small base CNN for CPU runs (quick profile) and 1x1 time-series frames.

    Three 3x3 convolutions (strides 1, 2, 2, no pooling, so 1x1 frames
    pass) with batch norm, then an adaptive average pool to a
    ``grid x grid`` map that is *flattened*, not averaged away, so the
    feature still says where things are in the frame (a global average
    pool would discard the digit's position, the very thing that changes
    between frames), and one fully connected layer.

    Parameters
    ----------
    in_channels : int, default=1
    width : int, default=16
        Channels of the first convolution (then 2x and 4x).
    out_features : int, default=64
        Size of the frame feature ``r_k``.
    grid : int, default=4
        Side of the spatial map kept before the fully connected layer; use
        1 for 1x1 frames.
    """

    def __init__(self, in_channels: int = 1, width: int = 16, out_features: int = 64,
                 grid: int = 4):
        super().__init__()
        w, g = int(width), int(grid)

        def block(c_in, c_out, stride):
            return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(in_channels, w, 1), *block(w, 2 * w, 2),
                                      *block(2 * w, 4 * w, 2), nn.AdaptiveAvgPool2d(g),
                                      nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(4 * w * g * g, out_features), nn.ReLU(inplace=True))
        self.out_features = int(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SiameseFrameNet(nn.Module):
    """M-stream siamese CNN: shared base per frame, concatenation, Top-CNN (§III-B).

    Parameters
    ----------
    base : nn.Module
        Base CNN ``B`` with attribute ``out_features``; applied to all
        ``b * M`` frames in one batched call (shared weights, Eq. 3).
    M : int
        Frames per segment.
    n_classes : int
        Permutation classes (``M!`` or the fitted subset).
    preprocess : nn.Module or None
        Applied to frames first (e.g. fitted standardisation).
    hidden : int or None, default=256
        Width of the Top-CNN's hidden fully connected layer (ReLU, dropout)
        between the concatenation (Eq. 4) and the logistic layer (Eq. 5).
        ``None`` leaves only the logistic layer, which cannot compare
        frames (see the module docstring); kept for ablations.
    dropout : float, default=0.0
        Dropout after the hidden layer.
    """

    def __init__(self, base: nn.Module, M: int, n_classes: int, preprocess=None,
                 hidden: int | None = 256, dropout: float = 0.0):
        super().__init__()
        self.base = base
        self.M = int(M)
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        d = base.out_features * self.M
        self.top = (nn.Linear(d, n_classes) if hidden is None else
                    nn.Sequential(nn.Linear(d, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, n_classes)))

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Eq. (3): ``(n, C, H, W)`` frames -> ``(n, d)`` features ``r_k``."""
        return self.base(self.preprocess(frames))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Eq. (4)-(5): ``(b, M, d)`` frame features in segment order -> ``(b, n_classes)``."""
        return self.top(features.reshape(len(features), -1))

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        """``(b, M, C, H, W)`` segments -> ``(b, n_classes)`` logits."""
        b, m = segments.shape[:2]
        r = self.frame_features(segments.reshape(b * m, *segments.shape[2:]))
        return self.classify(r.view(b, m, -1))


def permuted_feature_cross_entropy(net: SiameseFrameNet, features: torch.Tensor,
                                   perm_table: torch.Tensor,
                                   labels: torch.Tensor) -> torch.Tensor:
    """§III-D loss of every segment under every permutation in ``labels``.

    ``features`` ``(b, M, d)`` are the base features of the segments'
    frames in true order. Because the base acts on each frame alone (Eq. 3),
    shuffling a segment by ``perm_table[j]`` shuffles its features the same
    way, so the frames go through the base once and only the Top-CNN sees
    the ``K = len(labels)`` views. Returns the cross-entropy ``(b, K)``.
    """
    b, k = len(features), len(labels)
    perms = perm_table.to(features.device)[labels.to(features.device)]  # (K, M)
    views = features[:, perms]  # (b, K, M, d), view j = features in order perms[j]
    logits = net.classify(views.reshape(b * k, *features.shape[1:]))
    target = labels.to(features.device).repeat(b)
    return F.cross_entropy(logits, target, reduction="none").view(b, k)
