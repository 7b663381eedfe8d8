"""benchmarks/_report.py: the one writer of benchmark results."""

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import _report as report


def test_markdown_table_formats_and_escapes():
    df = pd.DataFrame({"name": ["a|b", "c"], "auroc": [0.98765, np.nan], "n": [3, 4]})
    text = report.markdown_table(df, floatfmt=".3f")
    lines = text.splitlines()
    assert lines[0] == "| name | auroc | n |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| a\\|b | 0.988 | 3 |" and lines[3] == "| c | — | 4 |"


def test_machine_is_detected_not_written_in():
    import os
    from pathlib import Path

    import torch

    m = report.machine()
    assert m["cpus"] == os.cpu_count() and m["cpu"] and m["cpu"] != "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        assert m["cpu"] in Path("/proc/cpuinfo").read_text()
    assert m["torch_threads"] == torch.get_num_threads()
    assert isinstance(m["torch_threads"], int) and "cuda" in m
    line = report.machine_line(m)
    assert m["cpu"] in line and f"{m['torch_threads']} threads" in line


def test_split_is_stratified():
    y = np.repeat([0, 1, 2], [40, 20, 10])
    X = np.arange(len(y))
    X_tr, y_tr, X_te, y_te = report.split(X, y, random_state=3)
    np.testing.assert_array_equal(np.bincount(y_tr), [20, 10, 5])
    np.testing.assert_array_equal(np.bincount(y_te), [20, 10, 5])
    assert len(np.intersect1d(X_tr, X_te)) == 0


def test_config_lists_nested_parameters():
    est, harness = report.make("iforest", n_estimators=7, max_train=50)
    cfg = report.config(est)
    assert cfg["estimator"] == "OneClassPipeline" and cfg["iforest__n_estimators"] == 7
    assert cfg["steps"] == ["pixels", "iforest"] and harness == {"max_train": 50}
    json.dumps(cfg)  # JSON-ready
    with pytest.raises(SystemExit, match="Unknown detector 'nope'"):
        report.make("nope")


def test_add_fit_row_keeps_provenance_and_configuration(capsys):
    est, _ = report.make("iforest", n_estimators=7)
    rows = []
    row = report.add_fit_row(rows, {"auroc": 0.123456}, est, run_git="abc", loss_last=1.0)
    assert rows == [row] and row["run_git"] == "abc" and row["loss_last"] == 1.0
    assert json.loads(row["config"])["iforest__n_estimators"] == 7
    assert row["run_date"].endswith("UTC")
    printed = capsys.readouterr().out
    assert "0.1235" in printed and "config" not in printed


def test_already_fitted_resumes_only_the_same_configuration(capsys):
    est, _ = report.make("iforest", n_estimators=7)
    rows = []
    report.add_fit_row(rows, {"normal_class": 3, "variant": "quick", "auroc": 0.9}, est)
    # resumed through a CSV, as the selection scripts do
    rows = pd.DataFrame(rows).to_dict("records")
    key = dict(normal_class=3, variant="quick")
    assert report.already_fitted(rows, key, est)
    assert not report.already_fitted(rows, dict(normal_class=4, variant="quick"), est)
    assert len(rows) == 1
    # the profile changed since: the stale row goes and the fit runs again
    changed, _ = report.make("iforest", n_estimators=8)
    assert not report.already_fitted(rows, key, changed)
    assert rows == [] and "another configuration" in capsys.readouterr().out


def test_run_grid_labels_every_row():
    calls = []

    def run(overrides):
        calls.append(overrides)
        return [{"auroc": 0.5 + overrides.get("a", 0)}, {"auroc": 0.6}]

    rows = report.run_grid({"base": {}, "more": {"a": 0.25}}, run, verbose=0)
    assert calls == [{}, {"a": 0.25}]
    assert list(rows.variant) == ["base", "base", "more", "more"]
    assert json.loads(rows.overrides.iloc[2]) == {"a": 0.25}
    assert rows.auroc.iloc[2] == 0.75


def test_one_vs_all_grid_runs_each_variant_with_its_overrides():
    data = report.load_dataset("digits")
    rows = report.one_vs_all_grid("iforest", {"20 trees": {"n_estimators": 20},
                                              "5 trees": {"n_estimators": 5},
                                              "20 again": {"n_estimators": 20},
                                              "30 images": {"max_train": 30}},
                                  data, classes=[0], max_test=200, max_train=60)
    assert list(rows.variant) == ["20 trees", "5 trees", "20 again", "30 images"]
    assert (rows.n_test == 200).all() and list(rows.n_train) == [60, 60, 60, 30]
    trees = [json.loads(c)["iforest__n_estimators"] for c in rows.config]
    assert trees == [20, 5, 20, 100]
    assert (rows.auroc > 0.9).all()


def test_report_writes_markdown_and_csv_with_provenance(tmp_path):
    rows = pd.DataFrame({"normal_class": [0, 1], "auroc": [0.9, 0.8],
                         "config": ['{"k": 1}', '{"k": 1}']})
    rep = report.Report("A study", prog="benchmarks.x", argv=["--a", "b c"], seed=[0, 1],
                        profile="quick", data="toy data", notes=["n_test 2"])
    rep.table("per class", rows).table("extra", rows.head(1))
    rep.table("summary", pd.DataFrame({"auroc": [0.85]}), csv=False)
    paths = rep.write(tmp_path / "study")
    assert [p.name for p in paths] == ["study.md", "study.csv", "study_extra.csv"]
    md = (tmp_path / "study.md").read_text()
    for text in ("# A study", "python -m benchmarks.x --a 'b c'", "- git: ", "- Machine: ",
                 "- Seed: [0, 1]", "`quick`", "toy data", "n_test 2", "## summary",
                 "Derived from `study.csv`", "`study_extra.csv`", "| 0 | 0.9000 |"):
        assert text in md, text
    csv = pd.read_csv(tmp_path / "study.csv")
    assert list(csv.columns[:3]) == ["normal_class", "auroc", "config"]
    for col in ("command", "git", "machine", "date", "seed", "profile"):
        assert csv[col].notna().all(), col
    assert json.loads(csv.seed.iloc[0]) == [0, 1]
    assert not list(tmp_path.glob("*.tmp"))


def test_studies_build_one_fit_and_the_harness_the_profiles_ensemble():
    from benchmarks.one_vs_all import build_detector
    from skssad import IGDDetector, SeedEnsemble

    one, harness = report.make("igd", "quick")
    assert isinstance(one, IGDDetector) and harness["ensemble"] == 5
    assert isinstance(report.make("igd", "quick", ensemble=None)[0], SeedEnsemble)
    est, _ = build_detector("igd", "quick")
    assert isinstance(est, SeedEnsemble) and est.n_members == 5
    assert isinstance(build_detector("igd", "quick", {"ensemble": 1})[0], IGDDetector)
    assert build_detector("igd", "quick", {"ensemble": 3})[0].n_members == 3
