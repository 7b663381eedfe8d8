"""The colour patch dataset cut from skimage.data photos."""

import numpy as np
import pytest

from skssad.datasets import make_color_patches


def test_make_color_patches_shapes_and_classes():
    d = make_color_patches(5, 16, photos=["astronaut", "coffee"])
    assert d.images.shape == (10, 16, 16, 3) and d.images.dtype == np.uint8
    np.testing.assert_array_equal(d.target, [0] * 5 + [1] * 5)
    assert list(d.target_names) == ["astronaut", "coffee"]


def test_make_color_patches_is_reproducible():
    a = make_color_patches(3, 8, photos=["chelsea"], random_state=1)
    b = make_color_patches(3, 8, photos=["chelsea"], random_state=1)
    np.testing.assert_array_equal(a.images, b.images)


def test_make_color_patches_rejects_unknown_photo():
    with pytest.raises(ValueError, match="Unknown photo"):
        make_color_patches(2, 8, photos=["moon"])
