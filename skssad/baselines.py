"""Peer baselines on raw pixels, for the same one-vs-all tables.

IsolationForest and OneClassSVM (the OC-SVM row of
anomem-contrasted-memory.txt Table 1) on flattened pixels scaled to
[0, 1], as scikit-learn pipelines; PyOD's AutoEncoder and DeepSVDD when
PyOD is installed (the ``bench`` extra). Every baseline follows the
library's sign convention: ``score_samples`` is higher for normal samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import OneClassSVM
from sklearn.utils.validation import check_is_fitted

__all__ = ["BASELINES", "PyODDetector", "flatten_pixels", "OneClassPipeline", "make_baseline",
           "pyod_available"]


def flatten_pixels(X) -> np.ndarray:
    """``(n, ...)`` images to ``(n, features)`` float32; uint8 is divided by 255."""
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"Expected images of shape (n, ...) with ndim >= 2, got {X.shape}.")
    flat = X.reshape(len(X), -1).astype(np.float32)
    return flat / 255.0 if X.dtype == np.uint8 else flat


def pyod_available() -> bool:
    """True when PyOD can be imported."""
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True


class PyODDetector(OutlierMixin, BaseEstimator):
    """A PyOD model behind scikit-learn's outlier-detector API and sign convention.

    Parameters
    ----------
    model : {"AutoEncoder", "DeepSVDD"}, default="AutoEncoder"
        PyOD model class (``pyod.models.auto_encoder.AutoEncoder`` or
        ``pyod.models.deep_svdd.DeepSVDD``).
    params : dict or None, default=None
        Constructor parameters of the PyOD model.
    contamination : float, default=0.1
    random_state : int or None, default=None

    Attributes
    ----------
    model_ : PyOD detector
        The fitted PyOD model.
    offset_ : float
        Threshold of ``decision_function``.
    """

    def __init__(self, model: str = "AutoEncoder", params: dict | None = None,
                 contamination: float = 0.1, random_state=None):
        self.model = model
        self.params = params
        self.contamination = contamination
        self.random_state = random_state

    def _model(self, n_features: int):
        if not pyod_available():
            raise ImportError("PyOD baselines need PyOD: pip install 'skssad[bench]'.")
        params = dict(self.params or {})
        params.setdefault("contamination", self.contamination)
        params.setdefault("verbose", 0)
        if self.random_state is not None:
            params.setdefault("random_state", int(self.random_state))
        if self.model == "AutoEncoder":
            from pyod.models.auto_encoder import AutoEncoder

            return AutoEncoder(**params)
        if self.model == "DeepSVDD":
            from pyod.models.deep_svdd import DeepSVDD

            return DeepSVDD(n_features=n_features, **params)
        raise ValueError(f"model must be 'AutoEncoder' or 'DeepSVDD', got {self.model!r}.")

    def fit(self, X, y=None):
        """Fit the PyOD model on (normal) rows of ``X``; ``y == -1`` rows are dropped."""
        X = flatten_pixels(X)
        if y is not None:
            X = X[np.asarray(y) != -1]
        self.model_ = self._model(X.shape[1]).fit(X)
        self.n_features_in_ = X.shape[1]
        self.offset_ = float(np.percentile(self.score_samples(X), 100 * self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """Normality score: PyOD's outlier score negated (higher = more normal)."""
        check_is_fitted(self, "model_")
        return -np.asarray(self.model_.decision_function(flatten_pixels(X)), dtype=np.float64)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1)


class OneClassPipeline(Pipeline):
    """A Pipeline that follows the detectors' label convention in ``fit``.

    Rows with ``y == -1`` (known anomalies) are dropped and the remaining
    rows are fitted without labels, as skssad's one-class detectors do;
    scikit-learn's outlier detectors would otherwise ignore ``y`` and train
    on the anomalies as if they were normal.
    """

    def fit(self, X, y=None, **params):
        if y is not None:
            keep = np.asarray(y) != -1
            if len(keep) != len(X):
                raise ValueError(f"y has {len(keep)} entries but X has {len(X)} samples.")
            X = np.asarray(X)[keep]
        return super().fit(X, None, **params)


def _pixels() -> FunctionTransformer:
    return FunctionTransformer(flatten_pixels, validate=False)


#: baseline name -> profile -> (estimator kind, parameters). ``quick`` keeps
#: PyOD's networks small and short for a 2-core CPU.
BASELINES: dict[str, dict[str, dict[str, Any]]] = {
    "iforest": {"paper": dict(n_estimators=100), "quick": dict(n_estimators=100)},
    "ocsvm": {"paper": dict(nu=0.1, gamma="scale"), "quick": dict(nu=0.1, gamma="scale")},
    "pyod-ae": {
        "paper": dict(epoch_num=100, hidden_neuron_list=[128, 64], batch_size=32),
        "quick": dict(epoch_num=20, hidden_neuron_list=[64, 32], batch_size=32),
    },
    "pyod-deepsvdd": {
        "paper": dict(epochs=100, hidden_neurons=[128, 64], batch_size=32),
        "quick": dict(epochs=20, hidden_neurons=[64, 32], batch_size=32),
    },
}


def make_baseline(name: str, profile: str = "quick", random_state=None, **params):
    """The baseline ``name`` as an unfitted outlier detector (a Pipeline on pixels).

    Parameters
    ----------
    name : str
        A key of :data:`BASELINES`.
    profile : str, default="quick"
        Which of its parameter sets to use.
    random_state : int or None, default=None
        Seed of the randomised baselines (ignored by deterministic ones).
    **params
        Constructor parameters of the model on top of the profile's.
    """
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; expected one of {sorted(BASELINES)}.")
    if profile not in BASELINES[name]:
        raise ValueError(f"Unknown profile {profile!r}; expected one of "
                         f"{sorted(BASELINES[name])}.")
    params = {**BASELINES[name][profile], **params}
    if name == "iforest":
        model = IsolationForest(random_state=random_state, **params)
    elif name == "ocsvm":
        model = OneClassSVM(**params)
    else:
        model = PyODDetector("AutoEncoder" if name == "pyod-ae" else "DeepSVDD", params=params,
                             random_state=random_state)
    return OneClassPipeline([("pixels", _pixels()), (name.replace("-", "_"), model)])
