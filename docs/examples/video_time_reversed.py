"""Videos: detecting time-reversed motion
A ``FramePermutationDetector`` trained on videos of digits moving in one
direction scores the same motion played backwards as more anomalous, even
though every single frame looks normal: only the temporal order differs.
"""
# requires: FramePermutationDetector

import numpy as np
import torch

from skssad import FramePermutationDetector
from skssad.datasets import make_moving_digits
from skssad.metrics import anomaly_auroc

torch.set_num_threads(1)
videos, motion = make_moving_digits(60, n_frames=14, size=16, motions=[0, 1], random_state=0,
                                    return_X_y=True)
normal, reversed_ = videos[motion == 0], videos[motion == 1]  # class 1 = class 0 backwards
det = FramePermutationDetector(M=3, skip=1, width=8, feature_dim=32, top_hidden=64,
                               input_size=16, max_epochs=15, lr=0.05,
                               random_state=0).fit(normal[:20])
test = np.concatenate([normal[20:], reversed_])
y = np.r_[np.ones(len(normal) - 20), -np.ones(len(reversed_))]
scores = det.score_samples(test)               # mean over segments, higher = more normal
anomaly = det.anomaly_segments(test[-1:])[0]   # per segment, higher = more anomalous
print("segment anomaly scores of one reversed video:", np.round(anomaly, 3))
print(f"pretext accuracy on held-out normal videos: {det.pretext_accuracy(normal[20:]):.3f} "
      f"(chance {1 / det.n_permutations_:.3f})")
print(f"AUROC normal vs time-reversed: {anomaly_auroc(y, scores):.3f}")
