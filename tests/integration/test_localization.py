"""The MVTec AD protocol end to end on a folder the test writes in MVTec AD layout."""

import numpy as np
import pytest

from skssad import IGDDetector
from skssad.datasets import make_texture_defects
from skssad.localization import evaluate_localization, mvtec_protocol
from skssad.metrics import aupro, pixel_auroc

iio = pytest.importorskip("imageio.v3", reason="writing the MVTec fixture needs imageio")

CATEGORIES = ("brick", "grass")


def _igd():
    return IGDDetector(encoder_widths=(4, 4, 4), decoder_widths=(4, 4, 4), latent_dim=4,
                       input_size=32, max_epochs=1, batch_size=16, device="cpu",
                       random_state=0)


def _data(texture):
    return make_texture_defects(texture, n_train=16, n_test=8, size=32, random_state=0)


@pytest.fixture(scope="module")
def mvtec_root(tmp_path_factory):
    """<root>/<category>/{train/good, test/good, test/<defect>, ground_truth/<defect>}."""
    root = tmp_path_factory.mktemp("mvtec")
    for category in CATEGORIES:
        d = _data(category)
        folder = root / category
        (folder / "train" / "good").mkdir(parents=True)
        for i, img in enumerate(d.train):
            iio.imwrite(folder / "train" / "good" / f"{i:03d}.png", img)
        for i, (img, mask, kind) in enumerate(zip(d.test, d.masks, d.kinds, strict=True)):
            defect = kind or "good"
            (folder / "test" / defect).mkdir(parents=True, exist_ok=True)
            iio.imwrite(folder / "test" / defect / f"{i:03d}.png", img)
            if kind:
                (folder / "ground_truth" / defect).mkdir(parents=True, exist_ok=True)
                iio.imwrite(folder / "ground_truth" / defect / f"{i:03d}_mask.png",
                            mask.astype(np.uint8) * 255)
    return root


def test_mvtec_protocol_end_to_end(mvtec_root):
    table = mvtec_protocol(_igd(), mvtec_root)
    assert list(table.index) == [*CATEGORIES, "mean"]
    for col in ("image_auroc", "pixel_auroc", "aupro"):
        assert table[col].between(0, 1).all()
        assert table.loc["mean", col] == pytest.approx(table.loc[list(CATEGORIES), col].mean())
    # the PNG round trip is lossless: the same numbers as on the arrays themselves
    # (folder order differs from array order, which changes no metric)
    for category in CATEGORIES[:1]:  # one re-check keeps the test short
        d = _data(category)
        direct = evaluate_localization(_igd(), d.train, d.test, d.target, d.masks)
        for col in ("image_auroc", "pixel_auroc", "aupro"):
            assert table.loc[category, col] == pytest.approx(direct[col], abs=1e-6), col
        assert table.loc[category, "n_defective"] == int((d.target == -1).sum())


def test_evaluate_localization_uses_the_native_map():
    d = _data("brick")
    result = evaluate_localization(_igd(), d.train, d.test, d.target, d.masks)
    maps = result["detector"].anomaly_map(d.test)
    assert result["pixel_auroc"] == pytest.approx(pixel_auroc(d.masks, maps))
    assert result["aupro"] == pytest.approx(aupro(d.masks, maps))


def test_map_shape_and_mask_checks():
    d = _data("brick")
    with pytest.raises(ValueError, match="input resolution"):
        evaluate_localization(_igd(), d.train, d.test, d.target, d.masks,
                              map_fn=lambda det, X: np.zeros((len(X), 8, 8)))
    bad = d.masks.copy()
    bad[np.flatnonzero(d.target == 1)[0], 0, 0] = True
    with pytest.raises(ValueError, match="empty masks"):
        evaluate_localization(_igd(), d.train, d.test, d.target, bad)


def test_no_category_raises(tmp_path):
    with pytest.raises(ValueError, match="No MVTec AD category"):
        mvtec_protocol(_igd(), tmp_path)


def test_harness_runs_the_mvtec_protocol_per_category(mvtec_root, tmp_path, capsys):
    # issue 20 item 3: `--dataset mvtec` writes image AUROC, pixel AUROC and AUPRO per
    # category (and their mean) for every named detector with an anomaly_map.
    import json

    import pandas as pd

    from benchmarks.one_vs_all import main

    out = tmp_path / "out"
    argv = ["--dataset", "mvtec", "--data-dir", str(mvtec_root), "--image-size", "32",
            "--detectors", "igd", "knn-cosine", "--profile", "tiny", "--out", str(out)]
    res = main(argv)
    assert "skipped (no anomaly_map): knn-cosine" in capsys.readouterr().out
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.category) == [*CATEGORIES, "mean"] and set(csv.detector) == {"igd"}
    for col in ("image_auroc", "pixel_auroc", "aupro"):
        assert csv[col].between(0, 1).all(), col
        assert csv[col].iloc[-1] == pytest.approx(csv[col].iloc[:-1].mean()), col
    assert list(csv.n_defective[:-1]) == [int((_data(c).target == -1).sum())
                                          for c in CATEGORIES]
    assert json.loads(csv.config.iloc[0])["estimator"] == "IGDDetector"
    for col in ("command", "git", "machine", "date", "seed", "profile"):
        assert csv[col].notna().all(), col
    md = (out / "results.md").read_text()
    assert "pixel AUROC" in md and "AUPRO" in md and "Skipped, no anomaly_map: knn-cosine" in md
    # every category is a part of its own: a rerun reads them back instead of refitting
    assert not res.resumed.any()
    again = main(argv)
    assert again.resumed.all()
    assert list(again.aupro) == pytest.approx(list(res.aupro))


def test_harness_mvtec_refuses_options_that_do_not_apply(mvtec_root, tmp_path):
    from benchmarks.one_vs_all import main

    base = ["--dataset", "mvtec", "--data-dir", str(mvtec_root), "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="--max-test does not apply"):
        main([*base, "--detectors", "igd", "--max-test", "10"])
    with pytest.raises(SystemExit, match="no category \\['carpet'\\]"):
        main([*base, "--detectors", "igd", "--category", "carpet"])
    with pytest.raises(SystemExit, match="needs a detector with an anomaly_map"):
        main([*base, "--detectors", "knn-l2"])
