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
from skssad.profiles import profile_settings

torch.set_num_threads(1)
X, digit = load_digits(return_X_y=True)
rng = np.random.RandomState(0)
train, test = np.arange(len(X)) < 900, np.arange(len(X)) >= 900  # score held-out digits only
normal = X[train & (digit == 0)]
known = X[rng.choice(np.flatnonzero(train & (digit != 0)), 8, replace=False)]  # ~10% labelled
X_train = np.concatenate([normal, known])
y_train = np.r_[np.ones(len(normal)), -np.ones(len(known))]

tiny = {**profile_settings("anomem", "tiny")[0], "supervised_epochs": 10, "random_state": 0}
X_test, y_test = X[test], np.where(digit[test] == 0, 1, -1)
for name, y in [("one-class", None), ("semi-supervised", y_train)]:
    det = AnoMemDetector(**tiny).fit(X_train if y is not None else normal, y)
    print(f"{name}: AUROC {anomaly_auroc(y_test, det.score_samples(X_test)):.3f}")
