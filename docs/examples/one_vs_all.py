"""The one-vs-all protocol, against the baseline a user tries first
``skssad.benchmark.one_vs_all`` trains one detector per normal class and
reports AUROC, EER and APCER@5%BPCER against all other classes. This
example runs two classes of the embedded digits for a detector and for the
k-nearest-neighbour distance on raw pixels (``knn-cosine``), the baseline
every table of ``benchmarks/results/`` shows beside the detectors.
"""

import torch
from sklearn.model_selection import train_test_split

from skssad import GeometricTransformDetector
from skssad.baselines import make_baseline
from skssad.benchmark import one_vs_all, summarize
from skssad.datasets import load_digits_images

torch.set_num_threads(1)
digits = load_digits_images()
X_train, X_test, y_train, y_test = train_test_split(
    digits.images, digits.target, test_size=0.5, stratify=digits.target, random_state=0)
det = GeometricTransformDetector(depth=10, width=1, input_size=16, max_epochs=2, shift=2,
                                 random_state=0)
knn = make_baseline("knn-cosine")  # 5th-nearest training image, cosine distance, 16x16
for name, estimator in [("geometric", det), ("knn-cosine", knn)]:
    results = one_vs_all(estimator, X_train, y_train, X_test, y_test, classes=[0, 1],
                         max_test=300)
    print(name)
    print(results[["normal_class", "auroc", "eer", "apcer_at_5_bpcer", "fit_seconds"]])
    print(summarize(results))
