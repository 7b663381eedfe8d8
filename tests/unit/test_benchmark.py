"""The one-vs-all harness, its resume, the semi-supervised protocol and the CLI."""

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from skssad.baselines import flatten_pixels, make_baseline
from skssad.benchmark import one_vs_all, semi_supervised, stratified_subsample, summarize

COLUMNS = ["normal_class", "auroc", "eer", "apcer_at_5_bpcer", "fit_seconds",
           "score_seconds", "n_train", "n_test"]


@pytest.fixture
def blobs():
    """Three well separated classes of 4x4 'images' (one bright pixel block each)."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    X = rng.normal(0, 0.3, (120, 4, 4))
    X[y == 0, :2, :2] += 3
    X[y == 1, 2:, 2:] += 3
    X[y == 2, :2, 2:] += 3
    return X[::2], y[::2], X[1::2], y[1::2]


def _iforest():
    return make_baseline("iforest", random_state=0).set_params(iforest__n_estimators=20)


def test_one_vs_all_columns_and_separation(blobs):
    res = one_vs_all(_iforest(), *blobs)
    assert list(res.columns[:len(COLUMNS)]) == COLUMNS
    assert list(res.normal_class) == [0, 1, 2]
    assert (res.auroc > 0.9).all() and res.auroc.mean() > 0.95 and (res.eer < 0.25).all()
    assert (res.n_train == 20).all() and (res.n_test == 60).all()
    assert summarize(res)["auroc"] == pytest.approx(res.auroc.mean())


def test_one_vs_all_plain_sklearn_estimator_and_max_test(blobs):
    X_tr, y_tr, X_te, y_te = blobs
    res = one_vs_all(IsolationForest(n_estimators=10, random_state=0), X_tr.reshape(60, -1),
                     y_tr, X_te.reshape(60, -1), y_te, classes=[1], max_test=30, max_train=10)
    assert len(res) == 1 and res.n_test.iloc[0] == 30 and res.n_train.iloc[0] == 10


def test_a_per_modality_cap_follows_the_images_channels():
    from skssad import profiles

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 40)
    cap = {"rgb": 12, "grayscale": 25}
    for shape, expected in [((80, 8, 8), 25), ((80, 8, 8, 1), 25), ((80, 8, 8, 3), 12)]:
        X = rng.rand(*shape)

        class Flat(IsolationForest):  # takes images, as the detectors do
            def fit(self, X, y=None):
                return super().fit(X.reshape(len(X), -1))

            def score_samples(self, X):
                return super().score_samples(X.reshape(len(X), -1))

        res = one_vs_all(Flat(n_estimators=5, random_state=0), X, y, X, y, classes=[0],
                         max_train=cap)
        assert res.n_train.iloc[0] == expected, shape
    # AnoMem quick: 1,000 photographs, 2,000 grayscale images (chosen on MNIST validation)
    _, harness = profiles.profile_settings("anomem", "quick")
    assert harness["max_train"] == {"rgb": 1000, "grayscale": 2000}


def test_seeds_set_every_random_state(blobs):
    res = one_vs_all(_iforest(), *blobs, classes=[0], seeds=[0, 1, 2])
    assert list(res.seed) == [0, 1, 2]
    assert res.auroc.nunique() > 1  # the forest's seed changed


def test_stratified_subsample_keeps_class_shares():
    y = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    idx = stratified_subsample(y, 20, random_state=0)
    np.testing.assert_array_equal(np.bincount(y[idx]), [10, 6, 3, 1])
    assert len(np.unique(idx)) == 20


def test_resume_skips_finished_classes(blobs, tmp_path):
    first = one_vs_all(_iforest(), *blobs, results_dir=tmp_path, seeds=[0])
    parts = sorted(tmp_path.glob("class_*.csv"))
    assert len(parts) == 3 and len(list(tmp_path.glob("class_*.npz"))) == 3
    stamps = {p: os.stat(p).st_mtime_ns for p in parts}
    parts[1].unlink()  # as if interrupted before class 1 finished
    second = one_vs_all(_iforest(), *blobs, results_dir=tmp_path, seeds=[0])
    timing = ["fit_seconds", "score_seconds"]
    pd.testing.assert_frame_equal(first.drop(columns=timing), second.drop(columns=timing),
                                  check_dtype=False)
    assert os.stat(parts[0]).st_mtime_ns == stamps[parts[0]]  # not redone
    assert parts[1].exists()


def test_resume_refuses_a_different_configuration(blobs, tmp_path):
    one_vs_all(_iforest(), *blobs, results_dir=tmp_path, seeds=[0], classes=[0])
    part = tmp_path / "class_0_seed_0.csv"
    before = os.stat(part).st_mtime_ns
    other = _iforest().set_params(iforest__n_estimators=5)
    res = one_vs_all(other, *blobs, results_dir=tmp_path, seeds=[0], classes=[0])
    assert os.stat(part).st_mtime_ns != before
    assert "n_estimators=5" in pd.read_csv(part)["config"].iloc[0]
    assert len(res) == 1


def test_semi_supervised_adds_gamma_share_of_anomalies(blobs):
    res = semi_supervised(_iforest(), *blobs, gammas=[0.0, 0.2], n_draws=2, classes=[0])
    assert list(res.gamma) == [0.0, 0.2, 0.2] and list(res.draw) == [0, 0, 1]
    # gamma = n_anomalies / (n_normal + n_anomalies): 20 normal -> 5 anomalies.
    assert list(res.n_known_anomalies) == [0, 5, 5]
    with pytest.raises(ValueError, match="gammas"):
        semi_supervised(_iforest(), *blobs, gammas=[1.0])


def test_pixel_baselines_drop_known_anomalies(blobs):
    X_tr, y_tr, X_te, _ = blobs
    normal, anomalies = X_tr[y_tr == 0], X_tr[y_tr == 1]
    plain = make_baseline("ocsvm").fit(normal).score_samples(X_te)
    mixed = make_baseline("ocsvm").fit(np.r_[normal, anomalies],
                                       np.r_[np.ones(20), -np.ones(20)])
    np.testing.assert_allclose(mixed.score_samples(X_te), plain)
    assert flatten_pixels(np.full((2, 3, 3), 255, np.uint8)).max() == 1.0


def test_local_dask_cluster_gives_the_same_results(blobs):
    distributed = pytest.importorskip("dask.distributed")
    local = one_vs_all(_iforest(), *blobs, seeds=[0])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        remote = one_vs_all(_iforest(), *blobs, seeds=[0], n_jobs=2, backend="dask")
    pd.testing.assert_frame_equal(local.drop(columns=["fit_seconds", "score_seconds"]),
                                  remote.drop(columns=["fit_seconds", "score_seconds"]))


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
def test_ray_backend(blobs):
    import ray
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        res = one_vs_all(_iforest(), *blobs, classes=[0], n_jobs=1, backend="ray")
    finally:
        ray.shutdown()
    assert res.auroc.iloc[0] > 0.9


def test_cli_digits_with_a_baseline(tmp_path, capsys):
    from benchmarks.one_vs_all import main

    argv = ["--dataset", "digits", "--detectors", "iforest", "ocsvm", "--classes", "0", "1",
            "--max-test", "200", "--seeds", "2", "--out", str(tmp_path), "--quiet"]
    res = main(argv)
    out = capsys.readouterr().out
    assert "AUROC per normal class" in out and "iforest: mean AUROC" in out
    assert len(res) == 8 and (res.n_test == 200).all() and (res.auroc > 0.8).all()
    md = (tmp_path / "results.md").read_text()
    assert "Test set scored: 200 of 899" in md and "--max-test 200" in md and "git:" in md
    assert len(pd.read_csv(tmp_path / "results.csv")) == 8
    for name in ("roc_iforest.png", "roc_ocsvm.png", "auroc_per_class.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert len(list((tmp_path / "parts" / "iforest").glob("*.csv"))) == 4
    assert not res.resumed.any()
    again = main(argv[:-1])  # resumes: everything already there
    assert "resuming: 4 of 4" in capsys.readouterr().out
    assert again.resumed.all() and pd.read_csv(tmp_path / "results.csv").resumed.all()


def test_cli_unknown_detector_and_missing_data_dir(tmp_path, monkeypatch):
    from benchmarks.one_vs_all import main

    with pytest.raises(SystemExit, match="Unknown detector 'nope'"):
        main(["--dataset", "digits", "--detectors", "nope", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs --data-dir"):
        main(["--dataset", "cifar10", "--out", str(tmp_path)])
    monkeypatch.setenv("SKSSAD_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="nowhere/mnist does not exist"):
        main(["--dataset", "mnist", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="expects N or NAME=N"):
        main(["--dataset", "digits", "--detectors", "iforest", "--max-train", "x=y",
              "--out", str(tmp_path)])


def test_cli_exits_cleanly_without_matplotlib(tmp_path, capsys, monkeypatch):
    # The README's main job after `pip install .` alone: no matplotlib (issue 18 item 8).
    import sys

    from benchmarks.one_vs_all import main, matplotlib_available

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises
    assert not matplotlib_available()
    res = main(["--dataset", "digits", "--detectors", "knn-cosine", "--classes", "3",
                "--max-test", "100", "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "plots skipped" in out and "knn-cosine: mean AUROC" in out
    assert res.auroc.iloc[0] > 0.9
    assert (tmp_path / "results.md").exists() and not list(tmp_path.glob("*.png"))


def test_cli_results_csv_has_configuration_and_provenance(tmp_path):
    import json

    from benchmarks.one_vs_all import main

    main(["--dataset", "digits", "--detectors", "knn-l2", "iforest", "--classes", "0",
          "--max-train", "iforest=30", "--max-test", "100", "--out", str(tmp_path),
          "--quiet", "--no-plots"])
    csv = pd.read_csv(tmp_path / "results.csv")
    assert list(csv.detector) == ["knn-l2", "iforest"]
    assert csv.n_train.iloc[1] == 30 and csv.n_train.iloc[0] > 80 and csv.max_train.isna()[0]
    assert json.loads(csv.config.iloc[0])["knn_l2__metric"] == "euclidean"
    for col in ("command", "git", "machine", "date", "seed", "profile"):
        assert csv[col].notna().all(), col
    assert "--max-train iforest=30" in csv.command.iloc[0]
    md = (tmp_path / "results.md").read_text()
    assert "- Machine: " in md and "CUDA device:" in md and "Derived from `results.csv`" in md


def test_cli_validation_scores_held_out_training_images_and_set_overrides(tmp_path):
    import json

    from benchmarks.one_vs_all import main, parse_set

    assert parse_set(["max_epochs=2", "widths=(4, 8)", "ood=odin"]) == {
        "max_epochs": 2, "widths": (4, 8), "ood": "odin"}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        parse_set(["max_epochs"])
    res = main(["--dataset", "digits", "--detectors", "knn-l2", "geometric", "--profile",
                "tiny", "--classes", "0", "--validation", "0.25", "--set", "n_views=4",
                "--out", str(tmp_path), "--quiet", "--no-plots"])
    # digits' 50/50 split keeps 898 training images: a quarter is scored, 3/4 of class 0 trains
    assert set(res.n_test) == {225} and set(res.n_train) == {67}
    csv = pd.read_csv(tmp_path / "results.csv")
    assert json.loads(csv.config.iloc[1])["n_views"] == 4  # the override reached the detector
    md = (tmp_path / "results.md").read_text()
    assert "validation split" in md and "the test images are untouched" in md
    with pytest.raises(SystemExit, match="fraction"):
        main(["--dataset", "digits", "--validation", "1.5", "--out", str(tmp_path)])


def test_set_overrides_reach_the_detectors_that_take_them(tmp_path):
    # `--set ood=softmax` for a run of PuzzleTintColor beside MHRot: the puzzle detector
    # takes it, MHRot (no `ood`) and the pixel baselines are built without it; a key
    # that no detector of the run takes is an error, not silently dropped.
    from benchmarks.one_vs_all import build_detector, main

    puzzle, _ = build_detector("puzzle_tint_color", "tiny", {"ood": "softmax"})
    geometric, _ = build_detector("geometric", "tiny", {"ood": "softmax", "n_views": 4})
    knn, _ = build_detector("knn-l2", "tiny", {"ood": "softmax"})
    assert puzzle.ood == "softmax" and geometric.n_views == 4
    assert "ood" not in geometric.get_params()
    with pytest.raises(SystemExit, match=r"--set \['nope'\]"):
        main(["--dataset", "digits", "--detectors", "knn-l2", "geometric", "--set", "nope=1",
              "--out", str(tmp_path), "--quiet", "--no-plots"])


def test_cli_cifar10_dev_reads_class_folders(tmp_path):
    from PIL import Image

    from benchmarks.one_vs_all import main

    rng = np.random.default_rng(0)
    for kind, n in (("train", 12), ("test", 6)):
        for c, name in enumerate(("cat", "ship")):
            folder = tmp_path / "data" / kind / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (32, 32, 3)) + (150 if c else 0)
                Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:04d}.png")
    res = main(["--dataset", "cifar10-dev", "--data-dir", str(tmp_path / "data"),
                "--detectors", "knn-cosine", "--out", str(tmp_path / "out"), "--quiet",
                "--no-plots"])
    assert list(res.n_test) == [12, 12] and list(res.n_train) == [12, 12]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| 0 (cat) |" in md and "| 1 (ship) |" in md and "CIFAR-10 dev split" in md


def test_throughput_writes_markdown_and_csv(tmp_path):
    import json

    from benchmarks.throughput import main

    rows = main(["--detectors", "geometric", "--n-train", "32", "--n-score", "32",
                 "--epochs", "2", "--out", str(tmp_path / "tp")])
    assert len(rows) == 1 and rows[0]["train img/s"] > 0 and rows[0]["score img/s"] > 0
    csv = pd.read_csv(tmp_path / "tp.csv")
    assert json.loads(csv.config.iloc[0])["max_epochs"] == 2 and csv.git.notna().all()
    md = (tmp_path / "tp.md").read_text()
    assert "| GeometricTransformDetector | geometric |" in md and "- Machine: " in md


def test_anomaly_maps_writes_aupro_beside_pixel_auroc_with_config(tmp_path):
    # issue 20: AUPRO beside pixel AUROC in every map result; issue 12: its CSV carries
    # the configuration and provenance.
    import json

    from benchmarks.anomaly_maps import main

    main(["--detectors", "igd", "--profile", "tiny", "--textures", "brick", "--n-train", "16",
          "--n-test", "8", "--out", str(tmp_path / "maps")])
    csv = pd.read_csv(tmp_path / "maps.csv")
    assert list(csv.category) == ["brick", "mean"] and list(csv["map"]) == ["native"] * 2
    for col in ("image_auroc", "pixel_auroc", "aupro"):
        assert csv[col].between(0, 1).all(), col
    assert json.loads(csv.config.iloc[0])["estimator"] == "IGDDetector"
    for col in ("command", "git", "machine", "date", "seed", "profile"):
        assert csv[col].notna().all(), col
    md = (tmp_path / "maps.md").read_text()
    assert "| pixel_auroc | aupro |" in md and "- Machine: " in md


def test_training_subset_is_the_harness_training_draw(blobs):
    """A selection script that calls training_subset trains on the harness's images."""
    from sklearn.metrics import roc_auc_score

    from skssad.benchmark import training_subset

    X_tr, y_tr, X_te, y_te = (a.reshape(len(a), -1) if a.ndim > 1 else a for a in blobs)
    est = IsolationForest(n_estimators=10, random_state=0)
    res = one_vs_all(est, X_tr, y_tr, X_te, y_te, classes=[1], max_train=7, random_state=5)
    idx, known = training_subset(y_tr, 1, max_train=7, random_state=5)
    assert len(idx) == 7 and (y_tr[idx] == 1).all() and len(known) == 0
    assert (np.diff(idx) > 0).all()
    own = est.fit(X_tr[idx]).score_samples(X_te)
    assert res.auroc.iloc[0] == pytest.approx(roc_auc_score(y_te == 1, own))
    other, _ = training_subset(y_tr, 1, max_train=7, random_state=6)
    assert not np.array_equal(idx, other)
    # gamma: known anomalies are the share gamma of the training set, none of the class
    idx, known = training_subset(y_tr, 1, max_train=7, random_state=5, draw=1, gamma=0.3)
    assert len(known) == 3 and (y_tr[known] != 1).all()
