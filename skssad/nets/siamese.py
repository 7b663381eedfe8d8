"""M-stream siamese CNN for frame-permutation prediction.

frame-permutation-video.txt §III-B, Fig. 3: one base CNN ``B`` with shared
weights maps every frame of a (shuffled) segment to a feature ``r_k``
(Eq. 3); the ``M`` features are concatenated (Eq. 4) and a top classifier
``T`` gives logits over the permutation classes (Eq. 5).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CaffeNetBase", "SmallFrameCNN", "SiameseFrameNet"]


class CaffeNetBase(nn.Module):
    """CaffeNet conv1–fc7 (§III-B) with conv1 stride 2 (§III-C) instead of 4.

    An adaptive pooling to 6x6 before fc6 lets any input size through
    (CaffeNet's 227 input gives 6x6 there with stride 4).
    """

    def __init__(self, in_channels: int = 3, conv1_stride: int = 2, fc_dim: int = 4096,
                 dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=conv1_stride, padding=5), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, 1e-4, 0.75),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, 1e-4, 0.75),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True), nn.AdaptiveAvgPool2d(6))
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(256 * 36, fc_dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_features = fc_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SmallFrameCNN(nn.Module):
    """A small base CNN for CPU runs (quick profile) and 1x1 time-series frames.

    Strided 3x3 convolutions (no pooling, so 1x1 frames pass) with batch
    norm, global average pooling and one fully connected layer.
    """

    def __init__(self, in_channels: int = 1, width: int = 16, out_features: int = 64):
        super().__init__()
        w = int(width)

        def block(c_in, c_out, stride):
            return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(in_channels, w, 1), *block(w, 2 * w, 2),
                                      *block(2 * w, 4 * w, 2), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(4 * w, out_features), nn.ReLU(inplace=True))
        self.out_features = int(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SiameseFrameNet(nn.Module):
    """M-stream siamese CNN: shared base per frame, concatenation, top classifier.

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
    hidden : int or None
        Width of a hidden layer of the top classifier; ``None`` = logistic (Eq. 5).
    """

    def __init__(self, base: nn.Module, M: int, n_classes: int, preprocess=None,
                 hidden: int | None = None):
        super().__init__()
        self.base = base
        self.M = int(M)
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        d = base.out_features * self.M
        self.top = (nn.Linear(d, n_classes) if hidden is None else
                    nn.Sequential(nn.Linear(d, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, n_classes)))

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        """``(b, M, C, H, W)`` segments -> ``(b, n_classes)`` logits."""
        b, m = segments.shape[:2]
        frames = self.preprocess(segments.reshape(b * m, *segments.shape[2:]))
        r = self.base(frames)                       # Eq. (3)
        return self.top(r.reshape(b, m * r.shape[1]))  # Eq. (4), (5)
