"""Peer baselines on raw pixels, for the same one-vs-all tables.

k-nearest-neighbour distance (:class:`KNNDistance`, cosine and L2: the
baseline a user tries first), IsolationForest and OneClassSVM (the OC-SVM
row of anomem-contrasted-memory.txt Table 1) on flattened pixels scaled to
[0, 1], as scikit-learn pipelines; PyOD's AutoEncoder and DeepSVDD when
PyOD is installed (the ``bench`` extra). Every baseline follows the
library's sign convention: ``score_samples`` is higher for normal samples.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import OneClassSVM
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["BASELINES", "KNNDistance", "PyODDetector", "flatten_pixels", "OneClassPipeline",
           "make_baseline", "pyod_available"]


def flatten_pixels(X, size: int | None = None) -> np.ndarray:
    """``(n, ...)`` images to ``(n, features)`` float32; uint8 is divided by 255.

    Parameters
    ----------
    X : array of shape (n, H, W), (n, H, W, C) or (n, H*W)
        Images; 2-D rows are read as square grayscale images when ``size``
        asks for a resize.
    size : int or None, default=None
        Resize every image to ``size x size`` first (bilinear, antialiased
        when shrinking: the resize the detectors apply to their input), so a
        baseline sees the pixels a detector with ``input_size=size`` sees.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"Expected images of shape (n, ...) with ndim >= 2, got {X.shape}.")
    scale = 255.0 if X.dtype == np.uint8 else 1.0
    if size is not None:
        X = _resized(X, int(size))
    flat = X.reshape(len(X), -1).astype(np.float32)
    return flat / scale if scale != 1.0 else flat


def _resized(X: np.ndarray, size: int) -> np.ndarray:
    import torch

    from .base import resize_images

    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise ValueError(f"Cannot resize flattened rows of {X.shape[1]} features: expected "
                             "square grayscale images (n, side*side), (n, H, W) or "
                             "(n, H, W, C).")
        X = X.reshape(len(X), side, side)
    if X.ndim == 3:
        t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))[:, None]
    elif X.ndim == 4 and X.shape[3] <= 4:
        t = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2), dtype=np.float32))
    else:
        raise ValueError(f"Expected images (n, H, W) or channels-last (n, H, W, C) to resize, "
                         f"got shape {X.shape}.")
    out = resize_images(t, size)
    return out.permute(0, 2, 3, 1).numpy() if X.ndim == 4 else out[:, 0].numpy()


def pyod_available() -> bool:
    """True when PyOD can be imported."""
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True


class KNNDistance(OutlierMixin, BaseEstimator):
    """Distance to the nearest training samples as an outlier score (PyOD's ``KNN``).

    A sample is normal when it lies close to the normal training samples:
    its anomaly score is the distance to its ``n_neighbors``-th nearest
    training sample (``method="largest"``), or the mean or median of the
    distances to its ``n_neighbors`` nearest ones, as in PyOD's
    ``pyod.models.knn.KNN`` (Ramaswamy et al., 2000; Angiulli and Pizzuti,
    2002). ``score_samples`` is that distance negated (higher = more
    normal). On raw pixels it is the first baseline to beat.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of nearest training samples (PyOD's default).
    method : {"largest", "mean", "median"}, default="largest"
        How the ``n_neighbors`` distances become one score.
    metric : {"cosine", "euclidean"}, default="euclidean"
        Cosine distance ``1 - cos`` or L2 distance.
    contamination : float, default=0.1
        Expected share of anomalies; sets ``offset_``.

    Attributes
    ----------
    nn_ : sklearn.neighbors.NearestNeighbors
        The index of the training samples.
    offset_ : float
        Threshold of ``decision_function``: the ``contamination`` quantile of
        ``score_samples`` of the training samples, so that ``predict`` flags
        that share of them (scikit-learn's contract; PyOD thresholds
        leave-one-out training scores instead, which ``predict`` on the
        training set would not reproduce).
    n_features_in_ : int

    See Also
    --------
    sklearn.neighbors.LocalOutlierFactor : density relative to the neighbours.

    References
    ----------
    S. Ramaswamy, R. Rastogi and K. Shim, "Efficient algorithms for mining
    outliers from large data sets", SIGMOD 2000.
    F. Angiulli and C. Pizzuti, "Fast outlier detection in high dimensional
    spaces", PKDD 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from skssad.baselines import KNNDistance
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1]])
    >>> knn = KNNDistance(n_neighbors=2).fit(X)
    >>> bool(knn.score_samples([[0.05, 0.05]])[0] > knn.score_samples([[3.0, 3.0]])[0])
    True
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"largest", "mean", "median"})],
        "metric": [StrOptions({"cosine", "euclidean"})],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
    }

    def __init__(self, n_neighbors: int = 5, *, method: str = "largest",
                 metric: str = "euclidean", contamination: float = 0.1):
        self.n_neighbors = n_neighbors
        self.method = method
        self.metric = metric
        self.contamination = contamination

    def _reduce(self, dist: np.ndarray) -> np.ndarray:
        if self.method == "largest":
            return dist[:, -1]
        return dist.mean(axis=1) if self.method == "mean" else np.median(dist, axis=1)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index the (normal) training samples ``X``; ``y`` is ignored.

        Use :class:`OneClassPipeline` (as :func:`make_baseline` does) to drop
        known anomalies (``y == -1``) first.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if len(X) < self.n_neighbors:
            raise ValueError(f"KNNDistance with n_neighbors={self.n_neighbors} needs at least "
                             f"{self.n_neighbors} training samples, got n_samples={len(X)}.")
        # Brute force: exact, and faster than trees in pixel dimensions.
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors, metric=self.metric,
                                    algorithm="brute").fit(X)
        self.offset_ = float(np.percentile(self.score_samples(X), 100 * self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """Negated distance to the nearest training samples (higher = more normal)."""
        check_is_fitted(self, "nn_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        dist, _ = self.nn_.kneighbors(X)
        return -self._reduce(dist).astype(np.float64)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1)


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


def _pixels(size: int | None = None) -> FunctionTransformer:
    # No kw_args at native size: the step (and the harness's resume key) stays as before.
    return FunctionTransformer(flatten_pixels, validate=False,
                               kw_args=None if size is None else {"size": size})


#: baseline name -> profile -> parameters of the model; ``image_size`` is the
#: pixel step's resize (None = native). ``quick`` keeps PyOD's networks small
#: and short for a 2-core CPU; the kNN baselines see 16x16 pixels in
#: ``quick``, what the detectors' quick profiles (``input_size=16``) see.
BASELINES: dict[str, dict[str, dict[str, Any]]] = {
    "knn-cosine": {"paper": dict(n_neighbors=5, metric="cosine"),
                   "quick": dict(n_neighbors=5, metric="cosine", image_size=16)},
    "knn-l2": {"paper": dict(n_neighbors=5, metric="euclidean"),
               "quick": dict(n_neighbors=5, metric="euclidean", image_size=16)},
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


# ``tiny`` (tests, smoke runs): the quick settings; PyOD's networks train 2 epochs.
for _name, _profiles in BASELINES.items():
    _profiles["tiny"] = {**_profiles["quick"],
                         **({"epoch_num": 2} if "epoch_num" in _profiles["quick"] else {}),
                         **({"epochs": 2} if "epochs" in _profiles["quick"] else {})}
del _name, _profiles


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
    size = params.pop("image_size", None)
    if name.startswith("knn"):
        model = KNNDistance(**params)
    elif name == "iforest":
        model = IsolationForest(random_state=random_state, **params)
    elif name == "ocsvm":
        model = OneClassSVM(**params)
    else:
        model = PyODDetector("AutoEncoder" if name == "pyod-ae" else "DeepSVDD", params=params,
                             random_state=random_state)
    return OneClassPipeline([("pixels", _pixels(size)), (name.replace("-", "_"), model)])
