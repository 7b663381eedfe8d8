"""Metrics against values computed by hand (y: 1 normal, -1 anomaly; higher = more normal)."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV

from skssad.metrics import (
    anomaly_auroc,
    apcer_at_bpcer,
    apcer_scorer,
    eer_scorer,
    equal_error_rate,
    relative_error_reduction,
)

# 3 normal, 3 anomalies. Pairs (normal > anomaly): 0.9 beats all 3, 0.6 beats
# 0.5 and 0.1, 0.3 beats 0.1 -> 6 of 9 pairs.
Y = np.array([1, 1, 1, -1, -1, -1])
S = np.array([0.9, 0.6, 0.3, 0.7, 0.5, 0.1])


def test_auroc_counts_ordered_pairs():
    assert anomaly_auroc(Y, S) == pytest.approx(6 / 9)


def test_auroc_ties_count_half():
    assert anomaly_auroc([1, -1], [0.5, 0.5]) == pytest.approx(0.5)


def test_auroc_any_non_minus_one_label_is_normal():
    assert anomaly_auroc(np.where(Y == 1, 7, -1), S) == pytest.approx(6 / 9)


def test_eer_perfect_and_reversed():
    assert equal_error_rate(Y, np.array([3, 2, 1, -1, -2, -3.])) == pytest.approx(0.0)
    assert equal_error_rate(Y, -np.array([3, 2, 1, -1, -2, -3.])) == pytest.approx(1.0)


def test_eer_hand_computed():
    # Accepting scores >= 0.6: 1 of 3 anomalies accepted (0.7), 1 of 3 normal
    # rejected (0.3): both error rates are 1/3 at the same threshold.
    assert equal_error_rate(Y, S) == pytest.approx(1 / 3)


def test_apcer_at_bpcer_hand_computed():
    # bpcer=0 keeps every normal sample: threshold 0.3 accepts 0.7 and 0.5 -> 2/3.
    assert apcer_at_bpcer(Y, S, 0.0) == pytest.approx(2 / 3)
    # 20 normal samples, 5% -> one may be rejected: threshold is the 2nd lowest.
    y = np.r_[np.ones(20), -np.ones(4)]
    s = np.r_[np.arange(20.0), [0.5, 1.0, 1.5, 30.0]]
    assert apcer_at_bpcer(y, s, 0.05) == pytest.approx(3 / 4)  # 1.0, 1.5, 30 accepted
    assert apcer_at_bpcer(y, s, 0.10) == pytest.approx(1 / 4)  # threshold 2.0


def test_relative_error_reduction():
    # anomem §4.1: AUROC 0.90 -> 0.95 halves the error.
    assert relative_error_reduction(0.95, 0.90) == pytest.approx(0.5)
    assert relative_error_reduction(0.80, 0.90) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="no error"):
        relative_error_reduction(0.9, 1.0)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="both normal"):
        anomaly_auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="shape"):
        equal_error_rate(Y, S[:-1])
    with pytest.raises(ValueError, match="NaN"):
        apcer_at_bpcer(Y, np.r_[S[:-1], np.nan])
    with pytest.raises(ValueError, match="bpcer"):
        apcer_at_bpcer(Y, S, 1.0)


def test_scorers_in_grid_search():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (12, 2))]
    y = np.r_[np.ones(60, int), -np.ones(12, int)]
    perm = rng.permutation(len(y))
    X, y = X[perm], y[perm]
    grid = GridSearchCV(IsolationForest(random_state=0), {"n_estimators": [5, 50]},
                        scoring={"eer": eer_scorer, "apcer": apcer_scorer, "auc": "roc_auc"},
                        refit="eer", cv=3).fit(X, y)
    res = grid.cv_results_
    # Lower-is-better metrics come back negated; well-separated data: small errors.
    assert np.all(res["mean_test_eer"] <= 0) and np.all(res["mean_test_eer"] > -0.2)
    assert np.all(res["mean_test_apcer"] <= 0)
    assert np.all(res["mean_test_auc"] > 0.9)
