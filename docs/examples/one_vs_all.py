"""The one-vs-all protocol
``skssad.benchmark.one_vs_all`` trains one detector per normal class and
reports AUROC, EER and APCER@5%BPCER against all other classes. This
example runs two classes of the embedded digits.
"""

import torch
from sklearn.model_selection import train_test_split

from skssad import GeometricTransformDetector
from skssad.benchmark import one_vs_all, summarize
from skssad.datasets import load_digits_images

torch.set_num_threads(1)
digits = load_digits_images()
X_train, X_test, y_train, y_test = train_test_split(
    digits.images, digits.target, test_size=0.5, stratify=digits.target, random_state=0)
det = GeometricTransformDetector(depth=10, width=1, input_size=16, max_epochs=2, shift=2,
                                 random_state=0)
results = one_vs_all(det, X_train, y_train, X_test, y_test, classes=[0, 1], max_test=300)
print(results[["normal_class", "auroc", "eer", "apcer_at_5_bpcer", "fit_seconds"]])
print(summarize(results))
