"""Where is the anomaly? Per-piece puzzle scores
``PuzzleTintColorDetector.score_pieces`` returns the fused normality of
each puzzle piece, ``(n, n_h, n_w)``: a digit with a foreign patch pasted
into one corner gets its lowest score there.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits

from skssad import PuzzleTintColorDetector

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
images = X.reshape(-1, 8, 8)
normal = images[y == 0]
train, held_out = normal[20:], normal[:20]  # the clean and defect images are never trained on
det = PuzzleTintColorDetector(k=6, n=2, depth=10, width=1, input_size=16, max_epochs=3,
                              tasks=("puzzle",), random_state=0).fit(train)
defect = held_out.copy()
defect[:, 4:, 4:] = images[y == 1][:20, 4:, 4:]  # a piece of a "1" in the lower right
pieces = det.score_pieces(defect)
print("per-piece scores, shape", pieces.shape)
print(np.round(pieces.mean(0), 3))
print("image scores, clean vs defect:",
      np.round(det.score_samples(held_out).mean(), 3),
      np.round(det.score_samples(defect).mean(), 3))
