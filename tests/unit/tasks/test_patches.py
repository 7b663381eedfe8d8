"""PatchTiler: the local model's 32x32 patches with stride 16 (igd-...-descriptor.txt §4.2)."""

import pytest
import torch

from skssad.tasks import PatchTiler


@pytest.mark.parametrize("side, p, stride, starts",
                         [(24, 16, 8, [0, 8]), (20, 8, 5, [0, 5, 10, 12]), (16, 16, 4, [0])])
def test_positions_cover_the_far_edge(side, p, stride, starts):
    assert PatchTiler(p, stride).positions(side).tolist() == starts


def test_tile_cuts_the_patches_in_row_major_order():
    x = torch.arange(2 * 3 * 6 * 7, dtype=torch.float32).view(2, 3, 6, 7)
    tiler = PatchTiler(4, 2)
    patches = tiler.tile(x)
    rows, cols = tiler.positions(6).tolist(), tiler.positions(7).tolist()
    expected = torch.stack([x[b, :, i:i + 4, j:j + 4] for b in range(2) for i in rows
                            for j in cols])
    torch.testing.assert_close(patches, expected)


def test_merge_averages_the_patches_covering_a_pixel():
    tiler = PatchTiler(4, 2)
    n = tiler.n_patches(6, 6)  # starts 0, 2 on each side: 4 patches
    maps = torch.arange(n, dtype=torch.float32).view(1, n, 1, 1).expand(1, n, 4, 4)
    merged = tiler.merge(maps, (6, 6))[0]
    assert merged[0, 0] == 0 and merged[5, 5] == 3  # one patch each
    assert merged[2, 2] == pytest.approx(1.5)  # all four patches: mean of 0..3
    x = torch.rand(3, 6, 6)
    torch.testing.assert_close(tiler.merge(tiler.tile(x[:, None])[:, 0].view(3, n, 4, 4),
                                           (6, 6)), x)


def test_too_small_image_is_refused():
    with pytest.raises(ValueError, match="smaller than the patch"):
        PatchTiler(8, 4).tile(torch.zeros(1, 1, 6, 10))
