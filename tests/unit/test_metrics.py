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


# ---------------------------------------------------------------------- AUPRO
from scipy import ndimage  # noqa: E402

from skssad.metrics import aupro, per_category_summary, pixel_auroc, pro_curve  # noqa: E402


def _reference_pro_curve(masks, maps):
    """PRO and FPR by brute force: binarise at every distinct value and label regions."""
    masks = np.asarray(masks) > 0
    regions = []  # one boolean mask (n, H, W) per 8-connected ground-truth region
    for i, m in enumerate(masks):
        lab, k = ndimage.label(m, structure=np.ones((3, 3)))
        for r in range(1, k + 1):
            region = np.zeros_like(masks)
            region[i] = lab == r
            regions.append(region)
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        predicted = maps >= t
        pro = np.mean([(predicted & r).sum() / r.sum() for r in regions])
        fpr = (predicted & ~masks).sum() / (~masks).sum()
        points.append((fpr, pro))
    points.append((1.0, 1.0))
    return np.array(points).T


def _reference_aupro(masks, maps, limit):
    fpr, pro = _reference_pro_curve(masks, maps)
    keep = fpr <= limit
    x, y = list(fpr[keep]), list(pro[keep])
    if x[-1] < limit:  # close the area at the limit, on the segment that crosses it
        j = int(np.argmax(fpr > limit))
        x.append(limit)
        y.append(np.interp(limit, fpr[j - 1:j + 1], pro[j - 1:j + 1]))
    return np.trapezoid(y, x) / limit


def test_aupro_by_hand():
    # one region of two pixels; thresholds 0.9 (PRO .5, FPR 0), 0.5 (.5, .5),
    # 0.2 (1, .5), 0.1 (1, 1): up to FPR 0.3 the curve sits at PRO 0.5.
    masks = np.array([[[1, 1, 0, 0]]])
    maps = np.array([[[0.9, 0.2, 0.5, 0.1]]])
    assert aupro(masks, maps) == pytest.approx(0.5)
    assert aupro(masks, maps, fpr_limit=1.0) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_aupro_weighs_regions_equally():
    # a 1-pixel and an 8-pixel region (not 8-connected to each other): finding only
    # the small one gives PRO 1/2 although it is 1/9 of the anomalous pixels.
    masks = np.zeros((1, 6, 6), int)
    masks[0, 0, 0] = 1
    masks[0, 3:5, 2:6] = 1
    maps = np.zeros((1, 6, 6))
    maps[0, 0, 0] = 1.0
    fpr, pro = pro_curve(masks, maps)
    assert pro[1] == pytest.approx(0.5) and fpr[1] == 0
    # the tied zeros are one threshold: the curve then jumps to (1, 1), and is
    # interpolated at FPR 0.3 to PRO 0.65: area 0.3 * (0.5 + 0.65) / 2, over 0.3
    assert aupro(masks, maps) == pytest.approx((0.5 + 0.65) / 2)


def test_aupro_diagonal_neighbours_are_one_region():
    # 8-connectivity: (0, 0) touches (1, 1) diagonally, so the three pixels are one
    # region and finding (0, 0) is PRO 1/3 (4-connected: regions {(0,0)}, {(1,1),(1,2)}: 1/2)
    masks = np.zeros((1, 3, 3), int)
    masks[0, 0, 0] = masks[0, 1, 1] = masks[0, 1, 2] = 1
    maps = np.zeros((1, 3, 3))
    maps[0, 0, 0] = 1.0
    assert pro_curve(masks, maps)[1][1] == pytest.approx(1 / 3)


@pytest.mark.parametrize("limit", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("seed_", [0, 1, 2])
def test_aupro_matches_reference(limit, seed_):
    rng = np.random.default_rng(seed_)
    masks = np.zeros((3, 9, 9), int)
    masks[0, 1:4, 1:3] = 1
    masks[0, 6:8, 5:9] = 1
    masks[1, 4, 4] = 1  # image 2 is defect-free
    # a map correlated with the masks, quantised so that ties occur
    maps = np.round(rng.normal(size=masks.shape) + 1.5 * masks, 1)
    assert aupro(masks, maps, fpr_limit=limit) == pytest.approx(
        _reference_aupro(masks, maps, limit), abs=1e-12)


def test_aupro_perfect_and_inverted_maps():
    masks = np.zeros((2, 8, 8), int)
    masks[0, 2:5, 2:5] = 1
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)
    assert aupro(masks, -masks.astype(float)) == pytest.approx(0.0)


def test_pixel_auroc():
    masks = np.array([[[1, 1, 0, 0]]])
    maps = np.array([[[0.9, 0.2, 0.5, 0.1]]])
    assert pixel_auroc(masks, maps) == pytest.approx(3 / 4)  # 0.9>0.5,0.1; 0.2>0.1


@pytest.mark.parametrize("masks, maps, match", [
    (np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), "no anomalous pixel"),
    (np.ones((1, 4, 4)), np.zeros((1, 4, 4)), "no normal pixel"),
    (np.ones((1, 4, 4)), np.zeros((1, 4, 5)), "same shape"),
    (np.eye(4)[None], np.full((1, 4, 4), np.nan), "NaN"),
])
def test_localisation_metrics_reject_bad_input(masks, maps, match):
    with pytest.raises(ValueError, match=match):
        aupro(masks, maps)


def test_aupro_rejects_bad_limit():
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro(np.eye(4)[None], np.eye(4)[None], fpr_limit=0)


def test_per_category_summary_mean_row():
    table = per_category_summary({"bottle": {"aupro": 0.8, "pixel_auroc": 0.9},
                                  "carpet": {"aupro": 0.6, "pixel_auroc": 0.7}})
    assert list(table.index) == ["bottle", "carpet", "mean"]
    assert table.loc["mean", "aupro"] == pytest.approx(0.7)
    rows = per_category_summary([{"category": "a", "aupro": 1.0}, {"category": "b", "aupro": 0.0}])
    assert rows.loc["mean", "aupro"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="category"):
        per_category_summary([{"aupro": 1.0}])
