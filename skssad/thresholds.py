"""Decision thresholds users can set: by false-reject rate, by F1, or by contamination.

A detector's own ``offset_`` is a percentile of its *training* scores
(``contamination``), which is optimistic (the network has seen those
images) and forces users to guess the share of anomalies.
:class:`ThresholdedDetector` wraps any outlier detector with
``score_samples`` (skssad's or scikit-learn's) in the spirit of
scikit-learn's ``FixedThresholdClassifier`` / ``TunedThresholdClassifierCV``:
it fits the detector on one part of the data and sets ``threshold_`` on a
held-out validation part (or on validation data the user passes to
:meth:`ThresholdedDetector.set_threshold`), with one of three targets:

``"bpcer"``
    The share of *normal* validation samples rejected (the false-reject
    rate; BPCER in ISO/IEC 30107-3 presentation-attack terms) is at most
    ``bpcer``. Needs normal samples only.
``"f1"``
    The F1 score of the anomaly class (``y == -1`` positive) on labelled
    validation data is maximal.
``"contamination"``
    A share ``flag_rate`` of the validation samples falls below the
    threshold (the detector's own ``contamination`` rule, moved to held-out
    data; the parameter has another name so that it is not mistaken for
    the share of flagged *training* samples).
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, _fit_context, clone
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

__all__ = ["ThresholdedDetector", "threshold_for_target"]


def threshold_for_target(scores, y=None, *, target: str = "bpcer", bpcer: float = 0.05,
                         flag_rate: float = 0.1) -> float:
    """The normality-score threshold that meets ``target`` on validation ``scores``.

    Samples with ``score < threshold`` are anomalies (``predict == -1``).

    Parameters
    ----------
    scores : array-like of shape (n,)
        Normality scores (higher = more normal) of validation samples.
    y : array-like of shape (n,) or None
        ``-1`` for anomalies, anything else normal. ``"bpcer"`` uses only
        the normal samples (all samples when ``y`` is None); ``"f1"`` needs
        both kinds.
    target : {"bpcer", "f1", "contamination"}, default="bpcer"
    bpcer : float, default=0.05
        Largest share of normal samples rejected, in [0, 1).
    flag_rate : float, default=0.1
        Share of all validation samples below the threshold (target
        ``"contamination"``), in (0, 0.5].

    Returns
    -------
    threshold : float
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not len(s):
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {s.shape}.")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf.")
    normal = np.ones(len(s), bool) if y is None else np.asarray(y) != -1
    if normal.shape != s.shape:
        raise ValueError(f"y has shape {normal.shape} but scores have {s.shape}.")
    if target == "bpcer":
        if not 0 <= bpcer < 1:
            raise ValueError(f"bpcer must be in [0, 1), got {bpcer}.")
        bona_fide = np.sort(s[normal])
        if not len(bona_fide):
            raise ValueError("target='bpcer' needs normal validation samples (y != -1).")
        # reject the floor(bpcer * n) lowest normal scores: accept scores >= threshold
        return float(bona_fide[int(np.floor(bpcer * len(bona_fide) + 1e-9))])
    if target == "contamination":
        if not 0 < flag_rate <= 0.5:
            raise ValueError(f"flag_rate must be in (0, 0.5], got {flag_rate}.")
        return float(np.percentile(s, 100.0 * flag_rate))
    if target == "f1":
        if y is None or normal.all() or not normal.any():
            raise ValueError("target='f1' needs labelled validation data with both normal "
                             "samples and anomalies (y == -1).")
        # anomaly class positive, anomaly score -s: flagged iff -s >= t iff s <= -t
        precision, recall, t = precision_recall_curve(~normal, -s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(precision + recall > 0,
                          2 * precision * recall / (precision + recall), 0.0)[:-1]
        cut = -t[int(np.argmax(f1))]  # flag every s <= cut
        above = s[s > cut]
        # put the threshold half-way to the next score, so unseen samples near
        # the cut are not decided by a tie
        return float((cut + above.min()) / 2) if len(above) else float(np.nextafter(cut, np.inf))
    raise ValueError(f"target must be 'bpcer', 'f1' or 'contamination', got {target!r}.")


def _indexable(X):
    """``X`` as something ``_safe_indexing`` cuts; sparse input is refused."""
    if sp.issparse(X):
        check_array(X, accept_sparse=False)  # raises the standard TypeError
    if isinstance(X, (list, tuple, np.ndarray)) or hasattr(X, "iloc"):
        return X  # lists stay lists: variable-length videos
    return np.asarray(X)


class ThresholdedDetector(MetaEstimatorMixin, OutlierMixin, BaseEstimator):
    """An outlier detector whose ``predict`` threshold is set on held-out data.

    ``fit`` splits ``X`` (stratified by ``y`` when given), fits a clone of
    ``estimator`` on the training part and sets ``threshold_`` on the
    validation part with :func:`threshold_for_target`. ``score_samples`` is
    the estimator's; ``decision_function = score_samples - threshold_`` and
    ``predict`` is ``-1`` where it is negative. :meth:`set_threshold` moves
    the threshold on other validation data without refitting.

    The estimator is not refitted on the whole data after the threshold is
    chosen: a retrained network shifts its scores, and the threshold would
    no longer mean what ``target`` says.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``score_samples``
        E.g. any skssad detector or ``sklearn.ensemble.IsolationForest``.
    target : {"bpcer", "f1", "contamination"}, default="bpcer"
        How ``threshold_`` is chosen (see the module docstring).
    bpcer : float, default=0.05
        Largest false-reject rate on normal validation data (``target="bpcer"``).
    flag_rate : float, default=0.1
        Share of validation samples flagged (``target="contamination"``).
    validation_fraction : float, default=0.25
        Share of ``X`` held out to set the threshold (ignored when ``prefit``).
    prefit : bool, default=False
        ``estimator`` is already fitted: ``fit(X, y)`` only sets the
        threshold on ``X`` (all of it is validation data).
    random_state : int, RandomState or None, default=None
        Fixes the train / validation split.

    Attributes
    ----------
    estimator_ : estimator
        The fitted detector (``estimator`` itself when ``prefit``).
    threshold_ : float
        Normality scores below it are anomalies.
    offset_ : float
        Same as ``threshold_`` (scikit-learn's name for it).
    validation_scores_ : ndarray
        Scores of the validation samples the threshold was set on.
    validation_bpcer_ : float
        Share of normal validation samples rejected at ``threshold_``.

    See Also
    --------
    sklearn.model_selection.FixedThresholdClassifier
    sklearn.model_selection.TunedThresholdClassifierCV
    skssad.metrics.apcer_at_bpcer : APCER at the same kind of threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skssad.thresholds import ThresholdedDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> det = ThresholdedDetector(IsolationForest(random_state=0), bpcer=0.05,
    ...                           random_state=0).fit(X)
    >>> round(det.validation_bpcer_, 2)
    0.04
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"])],
        "target": [StrOptions({"bpcer", "f1", "contamination"})],
        "bpcer": [Interval(Real, 0, 1, closed="left")],
        "flag_rate": [Interval(Real, 0, 0.5, closed="right")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "prefit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, target="bpcer", bpcer=0.05, flag_rate=0.1,
                 validation_fraction=0.25, prefit=False, random_state=None):
        self.estimator = estimator
        self.target = target
        self.bpcer = bpcer
        self.flag_rate = flag_rate
        self.validation_fraction = validation_fraction
        self.prefit = prefit
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the detector on a training part of ``X``, the threshold on the rest.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Whatever ``estimator.fit`` accepts.
        y : array-like of shape (n_samples,), default=None
            ``-1`` marks known anomalies (needed for ``target="f1"``).

        Returns
        -------
        self : object
        """
        X = _indexable(X)
        y = None if y is None else np.asarray(y)
        n = _num_samples(X)
        if y is not None and _num_samples(y) != n:
            raise ValueError(f"y has {_num_samples(y)} entries but X has {n} samples.")
        if self.target == "f1" and (y is None or not np.any(np.asarray(y) == -1)):
            raise ValueError("target='f1' needs y with known anomalies (y == -1) to choose "
                             "the threshold; use target='bpcer' for normal data only.")
        if self.prefit:
            check_is_fitted(self.estimator)
            self.estimator_ = self.estimator
            X_val, y_val = X, y
        else:
            if n < 4:
                raise ValueError(f"ThresholdedDetector needs at least 4 samples to hold out "
                                 f"validation data; got n_samples = {n}.")
            index = np.arange(n)
            strat = None
            if y is not None:
                labels = np.where(np.asarray(y) == -1, -1, 1)
                # stratify only when both classes can go to both parts
                if np.bincount(labels == -1, minlength=2).min() >= 2:
                    strat = labels
            train, val = train_test_split(index, test_size=self.validation_fraction,
                                          stratify=strat, random_state=self.random_state)
            y_train = None if y is None else _safe_indexing(y, train)
            self.estimator_ = clone(self.estimator).fit(_safe_indexing(X, train), y_train)
            X_val = _safe_indexing(X, val)
            y_val = None if y is None else _safe_indexing(y, val)
        self._set_threshold(X_val, y_val)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def set_threshold(self, X_val, y_val=None):
        """Choose ``threshold_`` on validation data, keeping the fitted detector.

        Parameters
        ----------
        X_val : array-like of shape (n_samples, ...)
            Validation samples, never training samples (their scores are
            optimistic).
        y_val : array-like of shape (n_samples,), default=None
            ``-1`` for anomalies; required for ``target="f1"``.

        Returns
        -------
        self : object
        """
        check_is_fitted(self, "estimator_")
        self._validate_params()
        return self._set_threshold(X_val, y_val)

    def _set_threshold(self, X_val, y_val):
        scores = np.asarray(self.estimator_.score_samples(X_val), dtype=np.float64)
        self.threshold_ = threshold_for_target(scores, y_val, target=self.target,
                                               bpcer=self.bpcer,
                                               flag_rate=self.flag_rate)
        self.offset_ = self.threshold_
        self.validation_scores_ = scores
        normal = np.ones(len(scores), bool) if y_val is None else np.asarray(y_val) != -1
        self.validation_bpcer_ = float(np.mean(scores[normal] < self.threshold_)) \
            if normal.any() else float("nan")
        return self

    def score_samples(self, X) -> np.ndarray:
        """The wrapped detector's normality scores (higher = more normal)."""
        check_is_fitted(self, "threshold_")
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - threshold_``: negative for anomalies."""
        return self.score_samples(X) - self.threshold_

    def predict(self, X) -> np.ndarray:
        """``+1`` for normal samples, ``-1`` for anomalies (score below ``threshold_``)."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(int)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.input_tags = inner.input_tags
        tags.input_tags.sparse = False  # validation splits index rows of dense input
        tags.non_deterministic = inner.non_deterministic
        return tags
