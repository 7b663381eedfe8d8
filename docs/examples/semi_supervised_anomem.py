"""Semi-supervised AnoMem with a few labelled anomalies
Rows with ``y == -1`` in ``fit`` are known anomalies: AnoMem trains its
second stage (Eq. 11-12) on them; with none it stays one-class.
"""
# requires: AnoMemDetector

import numpy as np
import torch
from sklearn.datasets import load_digits

from skssad import AnoMemDetector
from skssad.metrics import anomaly_auroc

torch.set_num_threads(1)
X, digit = load_digits(return_X_y=True)
rng = np.random.RandomState(0)
normal = X[digit == 0][:80]
known = X[rng.choice(np.flatnonzero(digit != 0), 8, replace=False)]  # 10% labelled anomalies
X_train = np.concatenate([normal, known])
y_train = np.r_[np.ones(len(normal)), -np.ones(len(known))]

tiny = dict(depth=10, width=8, n_memory=(16, 16), input_size=16, max_epochs=2,
            supervised_epochs=5, batch_size=32, random_state=0)
X_test, y_test = X[::6], np.where(digit[::6] == 0, 1, -1)
for name, y in [("one-class", None), ("semi-supervised", y_train)]:
    det = AnoMemDetector(**tiny).fit(X_train if y is not None else normal, y)
    print(f"{name}: AUROC {anomaly_auroc(y_test, det.score_samples(X_test)):.3f}")
