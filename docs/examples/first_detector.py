"""The first detector in ten lines
Train a detector on one digit class of scikit-learn's embedded digits and
score all digits: the normal class gets the highest scores.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits

from skssad import GeometricTransformDetector
from skssad.metrics import anomaly_auroc

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
det = GeometricTransformDetector(depth=10, width=1, input_size=16, max_epochs=2,
                                 shift=2, random_state=0).fit(X[y == 0])  # normal data only
X_test, y_test = X[::5], y[::5]
scores = det.score_samples(X_test)  # higher = more normal
labels = det.predict(X_test)        # +1 normal, -1 anomaly (threshold from contamination)
print(f"AUROC digit 0 vs rest: {anomaly_auroc(np.where(y_test == 0, 1, -1), scores):.3f}")
print(f"flagged as anomalies: {np.mean(labels == -1):.1%} of all digits")
