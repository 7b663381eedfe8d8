"""PuzzleTintColorDetector end to end (puzzle-tint-color-multicue.txt §III-V).

Every accuracy check scores held-out samples, never training images.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skssad import PuzzleTintColorDetector
from skssad.datasets import make_color_patches
from skssad.fusion import fuse
from skssad.tasks.color import hsv_to_rgb, rgb_to_hsv

TINY = dict(depth=10, width=1, input_size=16, max_epochs=2, n_views=2, batch_size=32,
            color_width=4, random_state=0, device="cpu")
#: Settings under which the tint task and the attention learn in a few seconds.
TINT = dict(TINY, n=2, k=4, max_epochs=5, n_views=4, optimizer="adam", lr=3e-3)


@pytest.fixture(scope="module")
def split_digits(digits):
    """Every 6th digit is held out (~300 images), the rest trains."""
    X, y = digits
    test = np.arange(len(X)) % 6 == 0
    return X[~test], y[~test], X[test], y[test]


@pytest.fixture(scope="module")
def patches():
    """Train and held-out crops (different draws) of three photos."""
    photos = ["astronaut", "coffee", "rocket"]
    train = make_color_patches(30, 16, photos=photos, random_state=0)
    test = make_color_patches(20, 16, photos=photos, random_state=1)
    return train.images, train.target, test.images, test.target


def _objects(n, rng, side=16):
    """§III-D's case: a red textured object fills one random quadrant of a grey
    noise background; returns the images and the object's quadrant (row-major)."""
    X = np.repeat(rng.uniform(90, 160, size=(n, side, side, 1)), 3, -1)
    where = rng.randint(4, size=n)
    h = side // 2
    for i, q in enumerate(where):
        r, c = divmod(q, 2)
        X[i, r * h:(r + 1) * h, c * h:(c + 1) * h] = \
            rng.uniform(0.6, 1.0, size=(h, h, 1)) * np.array([220, 40, 30])
    return X.astype(np.uint8), where


@pytest.fixture(scope="module")
def objects():
    rng = np.random.RandomState(0)
    X, q = _objects(160, rng)
    Xt, qt = _objects(40, rng)
    det = PuzzleTintColorDetector(tasks=("puzzle", "tint"), **TINT).fit(X)
    return det, Xt, qt, X


def _rotate_hue(X, turns, region):
    """Hue of ``X[:, region]`` rotated by ``turns`` of a full turn."""
    t = torch.from_numpy(X[:, region[0], region[1]].astype(np.float32) / 255).permute(0, 3, 1, 2)
    hsv = rgb_to_hsv(t)
    hsv[:, 0] = (hsv[:, 0] + turns) % 1.0
    out = X.copy()
    out[:, region[0], region[1]] = np.round(
        hsv_to_rgb(hsv).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    return out


def test_separates_one_digit_from_the_others(split_digits):
    X, y, Xt, yt = split_digits
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
    X, y, Xt, yt = patches
    det = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 0])
    assert det.tasks_ == ("puzzle", "tint", "color")
    assert det.attention_ and det.net_color_ is not None
    assert 1 <= det.n_components_ <= 10  # k-means elbow
    heads = det.net_.module_.heads
    assert heads["puzzle"][-1].out_features == 4 * 4  # n^2 outputs, Eq. (7)
    assert heads["tint"][-1].out_features == 4 * det.c  # n * c
    assert heads["attention"][-1].out_features == 4
    assert set(det.task_stats_) == {"puzzle", "tint", "color"}
    assert set(det.ood_stats_) == {"puzzle", "tint"}  # §V: label likelihood for every task
    s = det.score_samples(Xt)
    assert np.isfinite(s).all() and s.std() > 0


@pytest.mark.parametrize("density", ["gmm", "bins"])
def test_colorization_alone_detects_other_photos(density):
    X, y = (lambda d: (d.images, d.target))(make_color_patches(40, 16, random_state=0))
    Xt, yt = (lambda d: (d.images, d.target))(make_color_patches(15, 16, random_state=1))
    K = 3 if density == "gmm" else 8  # mixture components or bins per channel
    det = PuzzleTintColorDetector(
        tasks=("color",), color_density=density, n_components=K,
        **{**TINY, "max_epochs": 10, "batch_size": 16, "color_width": 8, "lr": 0.01,
           "optimizer": "adam"})
    det.fit(X[y == 3])  # rocket
    assert det.net_ is None and det.n_components_ == K
    assert roc_auc_score(yt == 3, det.score_samples(Xt)) > 0.8


def test_attention_marks_the_object_by_original_piece(objects):
    # §III-D, Fig. 8: the map is a rough segmentation of the object, in the image's
    # own piece order (the puzzle shuffles the slots), and it follows the input.
    det, Xt, qt, _ = objects
    A = det.attention_map(Xt).reshape(len(Xt), 4)
    np.testing.assert_allclose(A.sum(1), 1.0, rtol=1e-5)
    assert (A.argmax(1) == qt).mean() >= 0.8
    assert A[np.arange(len(Xt)), qt].mean() > 0.26  # uniform would be 0.25
    assert A.std(0).min() > 0.005  # the map varies with the input (the object moves)


def test_tint_task_learns_below_chance(objects):
    det = objects[0]
    losses = det.net_.history[:, "train_loss"]
    chance = np.log(4) + np.log(det.c)  # Eq. (7) + the tint term at a uniform guess
    assert losses[-1] < chance - 0.1


@pytest.mark.parametrize("tint_score", ["ood", "error"])
def test_hue_rotated_piece_scores_lower_than_its_original(objects, tint_score):
    det, Xt, qt, X = objects
    if tint_score == "error":  # same networks, Eq. (9)'s score calibrated on the training set
        det = pickle.loads(pickle.dumps(det)).set_params(tint_score="error")
        det._calibrate(det._as_tensor(X, reset=False))
    top = Xt[qt == 0]  # object in the top-left quadrant
    rotated = _rotate_hue(top, 0.25, (slice(0, 8), slice(0, 8)))
    before, after = det.score_pieces(top)[:, 0, 0], det.score_pieces(rotated)[:, 0, 0]
    assert (after < before).mean() >= 0.8
    assert np.median(det.score_samples(rotated)) < np.median(det.score_samples(top))


def test_grey_images_get_a_neutral_tint_contribution(objects):
    # §III-B: a desaturated piece's tint cannot be told, so it must count for
    # nothing -- neither the best score (the old bug) nor the worst.
    det, Xt, _, _ = objects
    grey = np.repeat(Xt.mean(-1, keepdims=True).round().astype(np.uint8), 3, -1)
    with torch.no_grad():
        ood = det.scorer_.scores(det._raw(det._as_tensor(grey, reset=False)))
    assert torch.isnan(ood["values"]["tint"]).all()
    assert torch.isnan(ood["pieces"]["tint"]).all()
    center, scale = det.task_stats_["puzzle"]
    puzzle_alone = (fuse(ood["values"]["puzzle"], det.fusion, 1).double() - center) / scale
    np.testing.assert_allclose(det.score_samples(grey), puzzle_alone.numpy(), rtol=1e-4,
                               atol=1e-6)


def test_score_pieces_of_held_out_normals_are_centred(objects, patches):
    det = objects[0]
    maps = det.score_pieces(objects[1])
    assert abs(np.median(maps)) < 1.0
    X, y, Xt, yt = patches
    det = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 0])
    assert abs(np.median(det.score_pieces(Xt[yt == 0]))) < 1.0


@pytest.mark.parametrize("task", ["puzzle", "color"])
def test_piece_scores_are_standardised_on_the_training_pieces(patches, task):
    # score_pieces's docstring: each task's piece scores are standardised by the
    # median and IQR of the *piece* scores of the training images (not of the image
    # scores, whose spread differs: the old bug put held-out normal pieces at z = -7.7).
    # Mutation: image statistics for the pieces -> puzzle median 0.10, colour IQR 1.25.
    # (Tint is left out: its desaturated pieces score a neutral 0, so its IQR is not 1.)
    X, y, _, _ = patches
    det = PuzzleTintColorDetector(n=2, k=4, tasks=(task,), **TINY).fit(X[y == 0])
    q25, q50, q75 = np.percentile(det.score_pieces(X[y == 0]), [25, 50, 75])
    assert abs(q50) < 0.02 and abs((q75 - q25) - 1.0) < 0.05


def test_puzzlegeom_variant(split_digits):
    X, y, Xt, yt = split_digits
    det = PuzzleTintColorDetector(puzzle="partial", k=3, tasks=("puzzle", "geometric"),
                                  ood="softmax", fusion="mean", **{**TINY, "max_epochs": 4})
    det.fit(X[y == 0])
    assert det.tasks_ == ("puzzle", "geometric")
    assert det.net_.module_.heads["puzzle"][-1].out_features == 3  # k classes
    assert det.shift_ == 16 // 4  # MHRot's translation, "as in [16]"
    assert roc_auc_score(yt == 0, det.score_samples(Xt)) > 0.75


@pytest.mark.parametrize("ood", ["mahalanobis", "softmax", "odin"])
def test_geometric_task_with_every_ood_function(split_digits, ood):
    X, y, Xt, yt = split_digits
    det = PuzzleTintColorDetector(tasks=("geometric",), ood=ood, **{**TINY, "max_epochs": 3})
    det.fit(X[y == 0][:80])
    assert ("geometric" in det.ood_stats_) is (ood == "mahalanobis")
    assert roc_auc_score(yt == 0, det.score_samples(Xt)) > 0.75


@pytest.mark.parametrize("scheme", ["standardised", "single", "task_sum"])
def test_every_fusion_scheme_separates_held_out_digits(split_digits, scheme):
    X, y, Xt, yt = split_digits
    det = PuzzleTintColorDetector(n=2, k=4, tasks=("puzzle", "geometric"), ood="softmax",
                                  fusion_scheme=scheme, **{**TINY, "max_epochs": 3})
    det.fit(X[y == 0][:80])
    assert roc_auc_score(yt == 0, det.score_samples(Xt)) > 0.75


def test_score_pieces_are_lower_on_anomalies(split_digits):
    X, y, Xt, yt = split_digits
    det = PuzzleTintColorDetector(n=(2, 3), k=6, **{**TINY, "max_epochs": 3})
    det.fit(X[y == 0])
    maps = det.score_pieces(Xt)
    assert maps.shape == (len(Xt), 2, 3)
    assert maps[yt != 0].mean() < maps[yt == 0].mean()
    # anomaly_map: the same pieces, negated, over each piece's cell of the 8x8 input
    amap = det.anomaly_map(Xt)
    assert amap.shape == (len(Xt), 8, 8) and amap.dtype == np.float32
    np.testing.assert_allclose(amap[:, ::4, ::3][:, :2, :3], -maps, rtol=1e-5, atol=1e-6)
    assert amap[yt != 0].mean() > amap[yt == 0].mean()


def test_same_random_state_same_scores(digits):
    X, y = digits
    a = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 3][:50]).score_samples(X[:30])
    b = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[y == 3][:50]).score_samples(X[:30])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scoring", [
    dict(ood="softmax"), dict(ood="odin", tint_score="error"),
    dict(fusion=25, fusion_scheme="single", contamination=0.2),
    dict(fusion="mean", task_fusion="median")])
def test_recalibrate_scores_as_a_fit_with_the_new_scoring_params(patches, scoring):
    X, _, Xt, _ = patches
    params = dict(n=2, k=4, n_components=2, **TINY)
    fitted = PuzzleTintColorDetector(**params).fit(X)
    before = fitted.score_samples(Xt)
    again = fitted.set_params(**scoring).recalibrate(X)
    assert again is fitted
    fresh = PuzzleTintColorDetector(**params, **scoring).fit(X)
    np.testing.assert_array_equal(fitted.score_samples(Xt), fresh.score_samples(Xt))
    assert fitted.offset_ == fresh.offset_
    assert not np.array_equal(fitted.score_samples(Xt), before)


def test_ood_auto_is_softmax_with_tint_and_mahalanobis_on_the_puzzle_alone(patches, digits):
    # ood="auto" (the quick profile): the softmax truth when the tint task runs (colour
    # input), the label likelihood when only the puzzle runs (grayscale).
    X, _, Xt, _ = patches
    rgb = PuzzleTintColorDetector(n=2, k=4, n_components=2, ood="auto", **TINY).fit(X)
    assert "tint" in rgb.tasks_
    auto = rgb.score_samples(Xt)
    np.testing.assert_array_equal(rgb.set_params(ood="softmax").recalibrate(X)
                                  .score_samples(Xt), auto)
    images, labels = digits
    train, test = images[:300][labels[:300] == 3], images[1000:1040]
    gray = PuzzleTintColorDetector(n=2, k=4, ood="auto", **TINY).fit(train)
    assert gray.tasks_ == ("puzzle",)
    auto = gray.score_samples(test)
    np.testing.assert_array_equal(gray.set_params(ood="mahalanobis").recalibrate(train)
                                  .score_samples(test), auto)
    assert not np.array_equal(gray.set_params(ood="softmax").recalibrate(train)
                              .score_samples(test), auto)


def test_input_size_auto_is_16_on_rgb_and_32_on_grayscale(patches, digits):
    # input_size="auto" (the quick profile): the side chosen per modality on validation
    # splits (cifar10-dev 16, MNIST 32); a fit with it is the fit with that side.
    X, _, Xt, _ = patches
    params = dict(TINY, n=2, k=4, n_components=2, max_epochs=1)
    params.pop("input_size")
    X24 = np.repeat(np.repeat(X, 3, axis=1), 3, axis=2)[:, ::2, ::2]  # 24 px colour
    Xt24 = np.repeat(np.repeat(Xt, 3, axis=1), 3, axis=2)[:, ::2, ::2]
    rgb = PuzzleTintColorDetector(input_size="auto", **params).fit(X24)
    assert rgb.input_size_ == 16 and rgb._input_hw == (16, 16)
    np.testing.assert_array_equal(
        rgb.score_samples(Xt24),
        PuzzleTintColorDetector(input_size=16, **params).fit(X24).score_samples(Xt24))
    images, labels = digits
    train, test = images[:300][labels[:300] == 3], images[1000:1020]
    gray = PuzzleTintColorDetector(input_size="auto", **params).fit(train)
    assert gray.input_size_ == 32 and gray._input_hw == (32, 32)
    np.testing.assert_array_equal(
        gray.score_samples(test),
        PuzzleTintColorDetector(input_size=32, **params).fit(train).score_samples(test))
    with pytest.raises(ValueError, match="input_size"):
        PuzzleTintColorDetector(input_size="big").fit(train)


def test_auto_optimizer_lr_and_epochs_follow_the_channels(patches, digits, monkeypatch):
    # optimizer / lr / max_epochs "auto" (the quick profile): SGD, 0.05, 40 epochs on RGB;
    # Adam, 2e-3, 10 epochs on grayscale (chosen on the MNIST validation split); a fit
    # with them is the fit with the resolved values. Small epochs keep the test fast.
    assert PuzzleTintColorDetector._AUTO["optimizer"] == {"rgb": "sgd", "grayscale": "adam"}
    assert PuzzleTintColorDetector._AUTO["lr"] == {"rgb": 0.05, "grayscale": 2e-3}
    monkeypatch.setattr(PuzzleTintColorDetector, "_AUTO", {
        **PuzzleTintColorDetector._AUTO, "max_epochs": {"rgb": 1, "grayscale": 2}})
    X, _, Xt, _ = patches
    images, labels = digits
    train, test = images[:300][labels[:300] == 3], images[1000:1020]
    params = {k: v for k, v in dict(TINY, n=2, k=4, n_components=2).items()
              if k != "max_epochs"}
    auto = dict(params, optimizer="auto", lr="auto", max_epochs="auto")
    for Xf, Xs, opt, lr, epochs in ((X, Xt, torch.optim.SGD, 0.05, 1),
                                    (train, test, torch.optim.Adam, 2e-3, 2)):
        det = PuzzleTintColorDetector(**auto).fit(Xf)
        assert isinstance(det.net_.optimizer_, opt) and det.max_epochs_ == epochs
        assert det.net_.optimizer_.param_groups[0]["initial_lr"] == lr
        same = PuzzleTintColorDetector(**params, optimizer=opt.__name__.lower(), lr=lr,
                                       max_epochs=epochs).fit(Xf)
        np.testing.assert_array_equal(det.score_samples(Xs), same.score_samples(Xs))
    for bad in ({"optimizer": "rmsprop"}, {"lr": "fast"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PuzzleTintColorDetector(**{**params, **bad}).fit(train)


def test_task_fusion_fuses_the_standardised_task_scores(patches):
    # task_fusion: each task's views and pieces are fused by `fusion` (here the mean),
    # then the standardised task scores by `task_fusion` (the median over the 3 tasks).
    import torch

    from skssad.fusion import fuse, standardise

    X, _, Xt, _ = patches
    det = PuzzleTintColorDetector(n=2, k=4, n_components=2, fusion="mean", **TINY).fit(X)
    assert det.tasks_ == ("puzzle", "tint", "color")
    sc = det.scorer_
    with torch.no_grad():
        values = sc.scores(det._raw(det._as_tensor(Xt, reset=False)))["values"]
    per_task = standardise({t: fuse(values[t], "mean", 1) for t in det.tasks_}, sc.task_stats)
    cues = torch.stack([per_task[t] for t in det.tasks_], 1).double().numpy()
    np.testing.assert_allclose(det.score_samples(Xt), np.nan_to_num(np.nanmean(cues, 1)),
                               atol=1e-5)
    median = det.set_params(task_fusion="median").recalibrate(X).score_samples(Xt)
    np.testing.assert_allclose(median, np.nan_to_num(np.nanmedian(cues, 1)), atol=1e-5)
    assert np.abs(median - np.nanmean(cues, 1)).max() > 1e-3


def test_recalibrate_needs_a_fit_with_the_same_training_params(digits):
    from sklearn.exceptions import NotFittedError

    X, y = digits
    det = PuzzleTintColorDetector(n=2, k=4, **TINY)
    with pytest.raises(NotFittedError):
        det.recalibrate(X[:30])
    det.fit(X[:30]).set_params(ood="softmax", k=3)
    with pytest.raises(ValueError, match=r"\['k'\] changed since fit"):
        det.recalibrate(X[:30])
    with pytest.raises(ValueError, match="fusion"):
        det.set_params(k=4, fusion="max").recalibrate(X[:30])


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


def test_attention_map_without_attention_is_a_value_error(digits):
    X, _ = digits
    det = PuzzleTintColorDetector(n=2, k=4, **TINY).fit(X[:20])
    with pytest.raises(ValueError, match="attention=True"):
        det.attention_map(X[:2])


def test_grid_search_over_k_c_n(split_digits):
    X, y, _, _ = split_digits
    keep = np.isin(y, [0, 1])
    labels = np.where(y[keep] == 0, 1, -1)
    search = GridSearchCV(
        PuzzleTintColorDetector(tasks=("puzzle",), **{**TINY, "max_epochs": 2}),
        {"k": [2, 4], "n": [2, (1, 2)]}, scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X[keep][::2], labels[::2])
    assert set(search.best_params_) == {"k", "n"}
    # Held-out folds score the normal class above the other digit: a random
    # scorer sits at 0.5.
    assert search.best_score_ > 0.75


def test_piece_wise_puzzle_learns_where_pieces_come_from():
    """Eq. (7) must be solvable: each piece's brightness gives its origin away.

    On a brightness ramp (dark top-left, bright bottom-right, random gain and
    noise), every piece tells where it came from, so the puzzle loss must fall
    far below chance (log 4 for 2x2 pieces). A globally pooled encoder cannot
    say *which slot* holds which piece and stays near chance (issue 13: on
    photos it ended at 2.21 vs log 9 = 2.20); the encoder's per-slot grid
    features (``WideResNet(grid=n)``) make it learn.
    """
    rng = np.random.RandomState(0)
    ramp = np.add.outer(np.arange(16), np.arange(16)) / 30.0
    X = (rng.uniform(0.7, 1.0, (200, 1, 1)) * ramp * 220
         + rng.normal(0, 8, (200, 16, 16))).clip(0, 255).astype(np.uint8)
    det = PuzzleTintColorDetector(tasks=("puzzle",), **dict(TINT, max_epochs=3)).fit(X)
    losses = det.training_health_["encoder"]["loss"]
    assert det.training_health_["encoder"]["chance"] == pytest.approx(np.log(4))
    assert losses[-1] < 0.5 * np.log(4)
