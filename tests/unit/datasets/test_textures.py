"""Texture crops with synthetic defects cut from skimage.data (make_texture_defects)."""

import numpy as np
import pytest

from skssad.datasets import DEFECT_KINDS, TEXTURES, make_texture_defects


@pytest.mark.parametrize("texture", TEXTURES)
def test_shapes_dtypes_and_labels(texture):
    d = make_texture_defects(texture, n_train=5, n_test=12, size=32, random_state=0)
    assert d.train.shape == (5, 32, 32) and d.train.dtype == np.uint8
    assert d.test.shape == d.masks.shape == (12, 32, 32)
    assert d.test.dtype == np.uint8 and d.masks.dtype == bool
    # half of the test crops are defective; the label follows the mask
    assert (d.target == -1).sum() == 6
    np.testing.assert_array_equal(d.target == -1, d.masks.any((1, 2)))
    assert set(d.kinds[d.target == -1]) <= set(DEFECT_KINDS)
    assert set(d.kinds[d.target == 1]) == {""}


def test_defects_change_only_masked_pixels():
    """The same seed without defects gives the same crops outside every mask."""
    clean = make_texture_defects("gravel", n_train=3, n_test=40, defect_share=0.0,
                                 random_state=7)
    bad = make_texture_defects("gravel", n_train=3, n_test=40, defect_share=1.0,
                               random_state=7)
    np.testing.assert_array_equal(clean.train, bad.train)
    assert not clean.masks.any() and (clean.target == 1).all()
    assert bad.masks.any((1, 2)).all()
    outside = ~bad.masks
    np.testing.assert_array_equal(clean.test[outside], bad.test[outside])
    # the defect really alters its pixels (a smear of a flat area aside)
    changed = np.abs(clean.test.astype(int) - bad.test.astype(int)) > 0
    assert changed[bad.masks].mean() > 0.5
    # every kind occurs with 40 defective crops; each defect is local: 6-20 pixels
    # across (a scratch up to 24 long and 2-3 thick, plus its thickness on a diagonal)
    assert set(bad.kinds) == set(DEFECT_KINDS)
    extent = np.maximum(bad.masks.any(1).sum(1), bad.masks.any(2).sum(1))
    assert extent.min() >= 6 and extent.max() <= 27


def test_train_and_test_crops_come_from_different_halves():
    d = make_texture_defects("brick", n_train=50, n_test=50, defect_share=0.0, random_state=0)
    train = {c.tobytes() for c in d.train}
    assert not any(c.tobytes() in train for c in d.test)


def test_reproducible_and_seed_dependent():
    a = make_texture_defects("grass", n_train=2, n_test=4, random_state=3)
    b = make_texture_defects("grass", n_train=2, n_test=4, random_state=3)
    c = make_texture_defects("grass", n_train=2, n_test=4, random_state=4)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.test, c.test)


@pytest.mark.parametrize("kwargs, match", [
    (dict(texture="moon"), "texture must be one of"),
    (dict(n_train=0), "n_train >= 1"),
    (dict(defect_share=1.5), "defect_share"),
    (dict(size=16), "size must be >= 24"),
    (dict(size=200), "does not fit"),
    (dict(scale=0.0), "scale"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_texture_defects(**kwargs)
