"""PuzzleTintColorDetector end to end (puzzle-tint-color-multicue.txt §III–V)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skssad import PuzzleTintColorDetector
from skssad.datasets import make_color_patches

TINY = dict(depth=10, width=1, input_size=16, max_epochs=2, n_views=2, batch_size=32,
            color_width=4, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def patches():
    d = make_color_patches(30, 16, photos=["astronaut", "coffee", "rocket"], random_state=0)
    return d.images, d.target


@pytest.fixture(scope="module")
def test_digits():
    """Every 6th digit: ~300 test images keep the scoring cheap."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return X[::6], d.target[::6]


def test_separates_one_digit_from_the_others(digits, test_digits):
    X, y = digits
    Xt, yt = test_digits
    det = PuzzleTintColorDetector(n=3, k=9, **{**TINY, "max_epochs": 5, "n_views": 4})
    det.fit(X[y == 0])
    assert det.tasks_ == ("puzzle",)
    assert roc_auc_score(yt == 0, det.score_samples(Xt)) > 0.9


def test_grayscale_drops_colour_tasks(digits):
    X, y = digits
    det = PuzzleTintColorDetector(n=2, k=4, tasks=("puzzle", "tint", "color"), **TINY)
    det.fit(X[y == 1][:40])
    assert det.tasks_ == ("puzzle",)
    assert det.net_color_ is None and det.tint_labels_ is None and not det.attention_


def test_colour_only_tasks_on_grayscale_is_an_error(digits):
    X, y = digits
    det = PuzzleTintColorDetector(n=2, k=4, tasks=("tint", "color"), **TINY)
    with pytest.raises(ValueError, match="need RGB input"):
        det.fit(X[:20])


def test_rgb_auto_uses_every_component(patches):
    X, y = patches
    det = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 0])
    assert det.tasks_ == ("puzzle", "tint", "color")
    assert det.attention_ and det.net_color_ is not None
    assert 1 <= det.n_components_ <= 10  # k-means elbow
    heads = det.net_.module_.heads
    assert heads["puzzle"][-1].out_features == 4 * 4  # n^2 outputs, Eq. (7)
    assert heads["tint"][-1].out_features == 4 * det.c  # n * c
    assert heads["attention"].out_features == 4
    assert set(det.task_center_) == {"puzzle", "tint", "color"}
    s = det.score_samples(X)
    assert np.isfinite(s).all() and s.std() > 0
    assert set(det.ood_stats_) == {"puzzle"}


@pytest.mark.parametrize("density", ["gmm", "bins"])
def test_colorization_alone_detects_other_photos(density):
    d = make_color_patches(40, 16, random_state=0)
    X, y = d.images, d.target
    K = 3 if density == "gmm" else 8  # mixture components or bins per channel
    det = PuzzleTintColorDetector(
        tasks=("color",), color_density=density, n_components=K,
        **{**TINY, "max_epochs": 10, "batch_size": 16, "color_width": 8, "lr": 0.01,
           "optimizer": "adam"})
    det.fit(X[y == 3])  # rocket
    assert det.net_ is None and det.n_components_ == K
    assert roc_auc_score(y == 3, det.score_samples(X)) > 0.8


def test_tint_with_and_without_attention(patches):
    X, y = patches
    for attention in (True, False):
        det = PuzzleTintColorDetector(n=2, k=4, tasks=("puzzle", "tint"), attention=attention,
                                      **TINY).fit(X[y == 1])
        assert det.attention_ is attention
        assert ("attention" in det.net_.module_.heads) is attention
        assert np.isfinite(det.score_samples(X[:5])).all()


def test_puzzlegeom_variant(digits, test_digits):
    X, y = digits
    Xt, yt = test_digits
    det = PuzzleTintColorDetector(puzzle="partial", k=3, tasks=("puzzle", "geometric"),
                                  ood="softmax", fusion="mean", **{**TINY, "max_epochs": 4})
    det.fit(X[y == 0])
    assert det.tasks_ == ("puzzle", "geometric")
    assert det.net_.module_.heads["puzzle"][-1].out_features == 3  # k classes
    assert det.shift_ == 2
    assert roc_auc_score(yt == 0, det.score_samples(Xt)) > 0.75


@pytest.mark.parametrize("ood", ["mahalanobis", "softmax"])
def test_geometric_task_with_both_ood_functions(digits, ood):
    X, y = digits
    det = PuzzleTintColorDetector(n=2, k=2, tasks=("geometric",), ood=ood, **TINY)
    det.fit(X[y == 0][:40])
    assert ("geometric" in det.ood_stats_) is (ood == "mahalanobis")
    assert np.isfinite(det.score_samples(X[:10])).all()


def test_score_pieces_are_lower_on_anomalies(digits, test_digits):
    X, y = digits
    Xt, yt = test_digits
    det = PuzzleTintColorDetector(n=(2, 3), k=6, **{**TINY, "max_epochs": 3})
    det.fit(X[y == 0])
    maps = det.score_pieces(Xt)
    assert maps.shape == (len(Xt), 2, 3)
    assert maps[yt != 0].mean() < maps[yt == 0].mean()


def test_piece_scores_are_moved_back_to_the_original_pieces(digits):
    X, _ = digits
    det = PuzzleTintColorDetector(n=3, k=5, **TINY).fit(X[:20])
    perms = torch.from_numpy(det.perms_)
    # An OOD value per slot equal to the index of the piece it holds...
    ood = {"puzzle": perms[None].double().expand(2, -1, -1).clone()}
    out = det._piece_scores({}, ood)["puzzle"]
    # ...is that index again once moved back to the piece's original position.
    torch.testing.assert_close(out, torch.arange(9.0, dtype=torch.float64).expand(2, 9))


def test_same_random_state_same_scores(digits):
    X, y = digits
    a = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 3][:50]).score_samples(X[:30])
    b = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 3][:50]).score_samples(X[:30])
    np.testing.assert_array_equal(a, b)


def test_fixed_permutations_include_identity_and_are_reproducible(digits):
    X, y = digits
    det = PuzzleTintColorDetector(n=3, k=18, **TINY).fit(X[:30])
    assert det.k_ == 18 and det.perms_.shape == (18, 9)
    np.testing.assert_array_equal(det.perms_[0], np.arange(9))
    small = PuzzleTintColorDetector(n=(1, 2), k=18, **TINY).fit(X[:30])
    assert small.k_ == 2 and small.n_shape_ == (1, 2)  # clipped to n!


def test_training_changes_weights_and_pickles(digits):
    X, y = digits
    det = PuzzleTintColorDetector(n=2, k=4, **{**TINY, "max_epochs": 4})
    det.fit(X[y == 2][:60])
    losses = det.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]  # the pretext task is being learned
    assert det.score_samples(X[:50]).std() > 0
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(det.score_samples(X[:10]), again.score_samples(X[:10]))
    np.testing.assert_array_equal(det.score_pieces(X[:3]), again.score_pieces(X[:3]))


def test_bad_n_is_a_value_error(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="n must be"):
        PuzzleTintColorDetector(n=(2, 0), **TINY).fit(X[:20])
    with pytest.raises(ValueError, match="cannot be cut"):
        PuzzleTintColorDetector(n=20, **{**TINY, "input_size": 8}).fit(X[:20])


def test_bad_tasks_is_a_value_error(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="non-empty subset"):
        PuzzleTintColorDetector(tasks=("puzzle", "jigsaw"), **TINY).fit(X[:20])


def test_grid_search_over_k_c_n(patches):
    X, y = patches
    labels = np.where(y == 0, 1, -1)
    search = GridSearchCV(
        PuzzleTintColorDetector(tasks=("puzzle", "tint"), **{**TINY, "max_epochs": 1}),
        {"k": [2, 4], "c": [2, 3], "n": [2, (1, 2)]}, scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X, labels)
    assert set(search.best_params_) == {"k", "c", "n"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_tint_error_is_zero_for_the_true_correction(patches):
    X, y = patches
    det = PuzzleTintColorDetector(n=2, k=4, tasks=("puzzle", "tint"), **TINY).fit(X[y == 0])
    raw = det._raw_chunk(det._as_tensor(X[:8], reset=False))
    err = raw["tint_err"]  # (b, k, n, c): Eq. (9) error of each correction Theta
    true = torch.from_numpy(det.tint_labels_)[None, :, :, None].expand(8, -1, -1, 1)
    assert err.gather(-1, true).abs().max() < 1e-5
    assert err.mean() > 0.01  # wrong corrections leave coloured pieces off
    grey = np.repeat(X[:2].mean(-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    raw_grey = det._raw_chunk(det._as_tensor(grey, reset=False))
    assert raw_grey["tint_err"].abs().max() < 1e-5  # desaturated pieces carry no error
