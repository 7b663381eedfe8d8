"""AnoMemDetector end to end (anomem-contrasted-memory.txt §3).

Every accuracy figure is on held-out digits (``images[1000:]``), never on
the training images. The tiny settings come from the profile registry.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skssad import AnoMemDetector
from skssad.nets.anomem import UniformRetrievalWarning
from skssad.profiles import profile_settings

TINY, _ = profile_settings("anomem", "tiny")
TINY = {**TINY, "max_epochs": 4}


@pytest.fixture(scope="module")
def zeros_fit(digits):
    """One fit on the 0s of ``images[:1000]`` shared by the read-only tests below."""
    images, labels = digits
    det = AnoMemDetector(**TINY).fit(images[:1000][labels[:1000] == 0])
    return det, images[1000:1400], labels[1000:1400] == 0


def test_separates_one_digit_class(zeros_fit):
    det, X_test, normal = zeros_fit
    # Higher = more normal: a flipped sign drops this below 0.2. (0.83-0.96 over seeds
    # 0-1 and 1-2 torch threads.)
    assert roc_auc_score(normal, det.score_samples(X_test)) > 0.8
    assert not det.semi_supervised_ and det.head_net_ is None


def test_memory_recollects_few_prototypes(zeros_fit):
    # Issue 17: retrieval must concentrate (median effective slots <= N/4 on held-out
    # normal data), not average the memory (beta = 0 gives N slots).
    det, X_test, normal = zeros_fit
    module = det.net_.module_
    X = det._as_tensor(X_test[normal], reset=False)
    with torch.no_grad():
        for (q, _), mem, n in zip(module(X), module.memories, TINY["n_memory"], strict=True):
            att = mem.attention(q.permute(0, 2, 3, 1))
            slots = torch.exp(-(att * att.clamp_min(1e-12).log()).sum(-1))
            assert float(slots.median()) <= n / 4
    for s, h in det.memory_health_.items():
        assert h["effective_slots"] <= h["n_memory"] / 4, s
        assert h["slots_used"] > 0.15, s  # 0.19-0.56 over seeds and thread counts


def test_memory_patterns_are_trained_and_separate_anomalies(zeros_fit):
    det, X_test, normal = zeros_fit
    module = det.net_.module_
    init = AnoMemDetector(**{**TINY, "max_epochs": 1, "lr": 1e-12})
    init.fit(X_test[:64])  # same seed: the memory as Alg. 1 l. 2 initialises it
    for mem, mem0 in zip(module.memories, init.net_.module_.memories, strict=True):
        assert (mem.patterns - mem0.patterns).abs().max() > 1e-2
    # Nearest stored prototype is closer for held-out normal samples (§4.4's reading).
    dist = det.anomaly_prototype_distance(X_test)
    assert dist.shape == (len(X_test), 2)
    assert dist[:, 0].std() > 0
    # Scale 4 separates (0.78-0.97 over seeds 0-1 and 1-2 torch threads). Scale 3 of
    # this tiny fit does not reliably (0.21-0.64): issue 17's open memory bug, so it is
    # only required to vary here.
    assert roc_auc_score(normal, -dist[:, 1]) > 0.6


def test_every_scale_scores_and_fusion_uses_both(zeros_fit):
    det, X_test, normal = zeros_fit
    X = det._as_tensor(X_test, reset=False)
    per_scale = det._map_chunks(X, det._scale_scores).numpy()
    assert per_scale.shape == (len(X_test), 2)
    assert per_scale[:, 0].std() > 0  # a zeroed scale is constant
    # Scale 4 separates on every seed and thread count tried (0.77-0.97); scale 3 of
    # this tiny fit does not reliably (0.21-0.64, issue 17).
    assert roc_auc_score(normal, -per_scale[:, 1]) > 0.6  # a zeroed scale gives 0.5
    # Eq. (13): the fused score is the lambda-weighted mean of the scale scores.
    w = det.scale_weights_
    np.testing.assert_allclose(det.score_samples(X_test),
                               -(per_scale * w).sum(1) / w.sum(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_health_is_recorded(zeros_fit):
    det, _, _ = zeros_fit
    assert set(det.memory_health_) == {3, 4}
    assert det.training_health_["net"]["effective_slots"] == [
        h["effective_slots"] for h in det.memory_health_.values()]
    for h in det.memory_health_.values():
        assert set(h) >= {"effective_slots", "pattern_spread", "slots_used", "max_weight"}
        assert h["pattern_spread"] > 0


def test_near_uniform_retrieval_warns(digits):
    images, labels = digits
    # beta on the raw cosine: logits within [-0.2, 0.2], retrieval is an average.
    with pytest.warns(UniformRetrievalWarning, match="near uniform"):
        AnoMemDetector(**{**TINY, "normalize": "cosine", "beta": 0.1, "max_epochs": 1}).fit(
            images[:200][labels[:200] == 1])


def test_known_anomalies_train_second_stage(digits):
    images, labels = digits
    X = images[:600]
    y = np.where(labels[:600] == 0, 1, -1)
    keep = (y == 1) | (np.arange(600) % 10 == 0)
    det = AnoMemDetector(**{**TINY, "supervised_epochs": 20}).fit(X[keep], y[keep])
    assert det.semi_supervised_ and det.head_net_ is not None
    # §4.2: SGD with Nesterov momentum for the second stage too.
    assert isinstance(det.head_net_.optimizer_, torch.optim.SGD)
    assert det.head_net_.optimizer_.defaults["nesterov"]
    losses = det.head_net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    scores = det.score_samples(images[1000:1400])
    assert roc_auc_score(labels[1000:1400] == 0, scores) > 0.8


def test_labels_without_anomalies_give_one_class(digits):
    images, _ = digits
    X = images[:100]
    a = AnoMemDetector(**{**TINY, "max_epochs": 1}).fit(X, np.ones(100))
    b = AnoMemDetector(**{**TINY, "max_epochs": 1}).fit(X)
    assert a.head_net_ is None
    np.testing.assert_allclose(a.score_samples(X[:10]), b.score_samples(X[:10]))


def test_kmeans_variant_recollects_the_closest_centroid(digits):
    # §4.4 / Table 4(b): k-means centroids, and the closest one as the recollection.
    images, labels = digits
    det = AnoMemDetector(**{**TINY, "memory": "kmeans", "max_epochs": 1}).fit(
        images[:300][labels[:300] == 0])
    module = det.net_.module_
    assert module.retrieval == "nearest"
    X = det._as_tensor(images[1000:1010], reset=False)
    with torch.no_grad():
        (q, r), _ = module(X)
        stored = module.memories[0].stored_patterns()
    flat_r = r.permute(0, 2, 3, 1).reshape(-1, r.shape[1])
    flat_q = q.permute(0, 2, 3, 1).reshape(-1, q.shape[1])
    nearest = stored[torch.cdist(flat_q, stored).argmin(1)]
    torch.testing.assert_close(flat_r, nearest)


@pytest.mark.parametrize("deviation", ["l2", "cosine"])
def test_deviation_options_change_the_score(digits, deviation):
    images, labels = digits
    det = AnoMemDetector(**{**TINY, "deviation": deviation, "max_epochs": 1}).fit(
        images[:300][labels[:300] == 0])
    X = det._as_tensor(images[1000:1010], reset=False)
    with torch.no_grad():
        d = det._deviation_maps(X)[0]
        (q, r), _ = det.net_.module_(X)
    if deviation == "l2":  # Eq. (8) literally
        torch.testing.assert_close(d, q - r)
    else:
        torch.testing.assert_close(d.norm(dim=1).max() <= 2.0 + 1e-5, torch.tensor(True))


def test_scale_weight_options(digits):
    images, _ = digits
    det = AnoMemDetector(**{**TINY, "scale_weights": "uniform", "max_epochs": 1}).fit(
        images[:64])
    np.testing.assert_array_equal(det.scale_weights_, [1.0, 1.0])
    with pytest.raises(ValueError, match="scale_weights needs one entry per scale"):
        AnoMemDetector(**{**TINY, "scale_weights": (1.0,)}).fit(images[:64])


def test_rotation_negatives_train(digits):
    images, labels = digits
    det = AnoMemDetector(**{**TINY, "negatives": "rotation", "max_epochs": 2}).fit(
        images[:300][labels[:300] == 0])
    losses = det.net_.history[:, "train_loss"]
    assert np.isfinite(losses).all()
    assert np.isfinite(det.score_samples(images[1000:1010])).all()


def test_memory_warmup_trains_plain_simclr_then_alg1(digits):
    # memory_warmup=k (ours): the first k epochs are SimCLR without the memory, so with
    # the same seed their losses equal those of memory="kmeans" (plain SimCLR); then the
    # patterns are placed on normal training queries and Eq. (7) with the memory trains.
    images, labels = digits
    X = images[:300][labels[:300] == 0]
    plain = AnoMemDetector(**{**TINY, "memory": "kmeans"}).fit(X)
    warm = AnoMemDetector(**{**TINY, "memory_warmup": 2}).fit(X)
    alg1 = AnoMemDetector(**TINY).fit(X)
    lp, lw, la = (d.net_.history[:, "train_loss"] for d in (plain, warm, alg1))
    np.testing.assert_allclose(lw[:2], lp[:2], rtol=1e-5)
    assert abs(lw[0] - la[0]) > 1e-3  # Alg. 1 has the memory from the first epoch
    assert abs(lw[2] - lp[2]) > 1e-3  # the memory is in the loss after the warm-up
    assert warm.net_.criterion_.use_memory
    with pytest.raises(ValueError, match="memory_warmup .* must be below max_epochs"):
        AnoMemDetector(**{**TINY, "memory_warmup": TINY["max_epochs"]}).fit(X)


def test_anomaly_map_shape(zeros_fit):
    det, X_test, normal = zeros_fit
    maps = det.anomaly_map(X_test[:40])
    assert maps.shape == (40, 8, 8)
    assert np.all(maps >= 0) and maps.std() > 0
    # Higher = more anomalous: the maps' mean ranks anomalies above normal digits.
    assert roc_auc_score(~normal[:40], maps.mean((1, 2))) > 0.7


def test_bad_scale_parameters_raise(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="n_memory needs one entry per scale"):
        AnoMemDetector(**{**TINY, "n_memory": (8,)}).fit(images[:64])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="stages among 1-4"):
            AnoMemDetector(**{**TINY, "scales": (3, 5), "n_memory": (8, 8),
                              "sampling_ratio": (1, 1)}).fit(images[:64])


@pytest.mark.parametrize("memory", ["hopfield", "kmeans"])
def test_one_scale_fits_and_scores(digits, memory):
    # Table 4(b)'s "last scale" rows: one memory layer. The query vectors of a single
    # scale used to be wrapped in a second tuple, and the fit crashed in calibration.
    images, labels = digits
    det = AnoMemDetector(**{**TINY, "max_epochs": 1, "scales": (4,), "n_memory": (16,),
                            "sampling_ratio": (1,), "memory": memory})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(images[:200][labels[:200] == 0])
    scores = det.score_samples(images[1000:1040])
    assert scores.shape == (40,) and np.isfinite(scores).all() and scores.std() > 0


def test_feature_grid_pools_the_tapped_maps(digits):
    # feature_grid (ours): the paper's map sides of a ResNet-50 with an ImageNet stem;
    # every tapped map is pooled to that side before the memory, loss and scores. At
    # input 16 the tiny network's maps are 4x4 (scale 3) and 2x2 (scale 4).
    images, labels = digits
    X = images[:200][labels[:200] == 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = AnoMemDetector(**{**TINY, "max_epochs": 1, "feature_grid": (2, 1)}).fit(X)
        det41 = AnoMemDetector(**{**TINY, "max_epochs": 1, "feature_grid": (4, 1)}).fit(X)
    x = det._as_tensor(images[1000:1004], reset=False)
    assert [tuple(q.shape[2:]) for q, _ in det.net_.module_(x)] == [(2, 2), (1, 1)]
    assert [tuple(q.shape[2:]) for q, _ in det41.net_.module_(x)] == [(4, 4), (1, 1)]
    # The chance level of Eq. (7) counts the sampled positions of the pooled maps
    # (lambda = 1, 2): (2, 1) samples 1 and 1 -> 1.5 log(2B - 1); (4, 1) samples
    # 4 * 4 * 0.3 = 4 and 1 -> (4 + 2) / 5 = 1.2 log(2B - 1).
    log_keys = np.log(2 * TINY["batch_size"] - 1)
    assert det.training_health_["net"]["chance"] == pytest.approx(1.5 * log_keys)
    assert det41.training_health_["net"]["chance"] == pytest.approx(1.2 * log_keys)
    assert det.anomaly_map(images[1000:1004]).shape == (4, 8, 8)
    with pytest.raises(ValueError, match="feature_grid needs one entry per scale"):
        AnoMemDetector(**{**TINY, "feature_grid": (2,)}).fit(X)


def test_auto_input_size_and_flip_follow_the_channels(digits):
    # input_size="auto" / flip="auto" (the quick profile): 32 px flipped views on RGB,
    # 16 px unflipped on grayscale (a mirrored digit is not a digit); a fit with them
    # is the fit with the resolved values.
    images, labels = digits
    gray = images[:300][labels[:300] == 1]
    rgb = np.stack([gray.reshape(-1, 8, 8)] * 3, -1)
    params = {k: v for k, v in TINY.items() if k not in ("input_size", "flip")}
    params["max_epochs"] = 1
    for X, side, flip in ((rgb, 32, True), (gray, 16, False)):
        det = AnoMemDetector(input_size="auto", flip="auto", **params).fit(X)
        assert (det.input_size_, det.flip_) == (side, flip)
        same = AnoMemDetector(input_size=side, flip=flip, **params).fit(X)
        np.testing.assert_array_equal(det.score_samples(X[:20]), same.score_samples(X[:20]))
    with pytest.raises(ValueError, match="flip"):
        AnoMemDetector(flip="yes", **params).fit(gray)


def test_auto_epochs_follow_the_channels(digits, monkeypatch):
    # max_epochs="auto" (the quick profile: 10 on RGB, 40 on grayscale, resolved by the
    # base like input_size); small values here keep the test fast.
    assert AnoMemDetector._AUTO["max_epochs"] == {"rgb": 10, "grayscale": 40}
    monkeypatch.setattr(AnoMemDetector, "_AUTO", {**AnoMemDetector._AUTO,
                                                  "max_epochs": {"rgb": 1, "grayscale": 2}})
    images, labels = digits
    gray = images[:200][labels[:200] == 1]
    rgb = np.stack([gray.reshape(-1, 8, 8)] * 3, -1)
    params = {**TINY, "max_epochs": "auto"}
    for X, epochs in ((rgb, 1), (gray, 2)):
        det = AnoMemDetector(**params).fit(X)
        assert det.max_epochs_ == epochs and len(det.net_.history) == epochs
    with pytest.raises(ValueError, match="max_epochs"):
        AnoMemDetector(**{**TINY, "max_epochs": "many"}).fit(gray)


def test_rotation_pretrain_learns_then_freezes_the_backbone(digits):
    # rotation_pretrain=k (ours): the backbone first learns to tell the quarter turn of a
    # view (loss well under its chance level log 4), then Alg. 1 trains the memories alone
    # on the fixed backbone: with the same seed, one or two epochs of Alg. 1 leave the
    # backbone (weights and batch-norm statistics) identical while the patterns move.
    images, labels = digits
    X = images[:300][labels[:300] == 0]
    params = {**TINY, "rotation_pretrain": 8, "memory_init": "data"}
    one = AnoMemDetector(**{**params, "max_epochs": 1}).fit(X)
    two = AnoMemDetector(**{**params, "max_epochs": 2}).fit(X)
    health = two.training_health_["rotation"]
    assert health["chance"] == pytest.approx(np.log(4))
    assert health["loss"][-1] < 0.7 * np.log(4)
    assert list(two.nets_) == ["rotation", "net"] and two.rotation_pretrain_ == 8
    b1, b2 = (d.net_.module_.backbone.state_dict() for d in (one, two))
    for key in b1:
        torch.testing.assert_close(b1[key], b2[key], rtol=0, atol=0, msg=key)
    p1, p2 = (d.net_.module_.memories[0].patterns for d in (one, two))
    assert not torch.allclose(p1, p2)
    # the memories' chance level is Eq. (7) with one constant recollection (beta = 0) on
    # the fixed features; the trained memories end below it
    net = two.training_health_["net"]
    assert not net["at_chance"] and net["loss"][-1] < net["chance"]
    # held-out digits: the 0s separate from the other digits
    X_test, y_test = images[1000:1400], labels[1000:1400]
    assert roc_auc_score(y_test == 0, two.score_samples(X_test)) > 0.9


def test_auto_width_rotation_memory_init_and_grid_follow_the_channels(digits, monkeypatch):
    # width / rotation_pretrain / memory_init "auto" (the quick profile): a wider backbone
    # pretrained on rotations with data-placed patterns on RGB, Alg. 1 as before on
    # grayscale; a fit with "auto" is the fit with the resolved values.
    assert AnoMemDetector._AUTO["width"] == {"rgb": 16, "grayscale": 8}
    assert AnoMemDetector._AUTO["rotation_pretrain"] == {"rgb": 30, "grayscale": 0}
    monkeypatch.setattr(AnoMemDetector, "_AUTO", {**AnoMemDetector._AUTO,
                                                  "width": {"rgb": 6, "grayscale": 4},
                                                  "rotation_pretrain": {"rgb": 2, "grayscale": 0}})
    images, labels = digits
    gray = images[:200][labels[:200] == 1]
    rgb = np.stack([gray.reshape(-1, 8, 8)] * 3, -1)
    params = {**TINY, "max_epochs": 1, "width": "auto", "rotation_pretrain": "auto",
              "memory_init": "auto", "feature_grid": "auto"}
    # feature_grid "auto": on RGB the sides of the paper's ResNet-50 (§4.2) at the input
    # size (16 px here: 1x1 after stages 3 and 4); on grayscale the backbone's own maps
    for X, width, epochs, init, grid, sides in (
            (rgb, 6, 2, "data", (1, 1), [(1, 1), (1, 1)]),
            (gray, 4, 0, "random", None, [(4, 4), (2, 2)])):
        det = AnoMemDetector(**params).fit(X)
        assert (det.width_, det.rotation_pretrain_, det.feature_grid_) == (width, epochs, grid)
        assert det.net_.module_.backbone.channels[0] == width
        assert ("rotation" in det.nets_) == bool(epochs)
        x = det._as_tensor(X[:2], reset=False)
        assert [tuple(q.shape[2:]) for q, _ in det.net_.module_(x)] == sides
        same = AnoMemDetector(**{**params, "width": width, "rotation_pretrain": epochs,
                                 "memory_init": init, "feature_grid": grid}).fit(X)
        np.testing.assert_array_equal(det.score_samples(X[:20]), same.score_samples(X[:20]))
    # at 32 px 2x2 after stage 3 and 1x1 after stage 4, one entry per tapped scale
    at32 = {**params, "input_size": 32, "rotation_pretrain": 0}
    assert AnoMemDetector(**at32).fit(rgb).feature_grid_ == (2, 1)
    assert AnoMemDetector(**{**at32, "scales": (2, 4), "n_memory": (8, 4)}).fit(
        rgb).feature_grid_ == (4, 1)
    for name in ("width", "rotation_pretrain", "memory_init", "feature_grid"):
        with pytest.raises(ValueError, match=name):
            AnoMemDetector(**{**TINY, name: "wide"}).fit(gray)


def test_rotation_pretrain_with_kmeans_places_centroids_on_the_frozen_features(digits):
    # Table 4(b) in this setting: nothing trains after the rotation stage, the centroids
    # are k-means of the frozen features and the recollection is the closest one.
    images, labels = digits
    X = images[:300][labels[:300] == 0]
    det = AnoMemDetector(**{**TINY, "rotation_pretrain": 2, "memory": "kmeans"}).fit(X)
    assert len(det.net_.history) == 0 and det.net_.module_.retrieval == "nearest"
    assert det.net_.module_.frozen_backbone
    assert np.isfinite(det.score_samples(images[1000:1010])).all()
    with pytest.raises(ValueError, match="memory_warmup must be 0"):
        AnoMemDetector(**{**TINY, "rotation_pretrain": 2, "memory_warmup": 1}).fit(X)
