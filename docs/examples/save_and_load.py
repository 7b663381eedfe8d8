"""Saving and loading a fitted detector
Fitted detectors pickle (with ``pickle`` or ``joblib``) and score
identically after loading, also onto a CPU-only machine when they were
trained on a GPU.
"""

import io

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits

from skssad import GeometricTransformDetector

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
det = GeometricTransformDetector(depth=10, width=1, input_size=16, max_epochs=1,
                                 random_state=0).fit(X[y == 3][:80])
buffer = io.BytesIO()
joblib.dump(det, buffer)
buffer.seek(0)
loaded = joblib.load(buffer)
same = np.array_equal(det.score_samples(X[:50]), loaded.score_samples(X[:50]))
print("identical scores after reloading:", same)
