"""Tuning with GridSearchCV
Labels are 1 (normal) and -1 (anomaly); one-class detectors drop the rows
with ``y == -1`` in ``fit``, so ordinary cross-validation with
``scoring="roc_auc"`` tunes a detector unchanged.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skssad import GeometricTransformDetector

torch.set_num_threads(1)
X, digit = load_digits(return_X_y=True)
keep = np.isin(digit, [0, 1, 7])
X, digit = X[keep][::3], digit[keep][::3]
y = np.where(digit == 0, 1, -1)  # digit 0 is normal

search = GridSearchCV(
    GeometricTransformDetector(depth=10, width=1, input_size=16, max_epochs=1,
                               random_state=0),
    {"shift": [2, 4]},
    scoring="roc_auc",
    cv=StratifiedKFold(2, shuffle=True, random_state=0),
).fit(X, y)
print("best:", search.best_params_, f"AUROC {search.best_score_:.3f}")
