"""ONNX / TorchScript export of the scoring path, and the torch-free OnnxDetector.

Targets of issue 20: onnxruntime scores equal skssad's within 1e-4 per
exported detector; OnnxDetector runs with torch blocked.
"""

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export tests need the onnx package (test extra)")
pytest.importorskip("onnxruntime", reason="OnnxDetector tests need onnxruntime (test extra)")

from skssad import GeometricTransformDetector, IGDDetector  # noqa: E402
from skssad.base import images_to_nchw, resize_images  # noqa: E402
from skssad.export import (  # noqa: E402
    OnnxDetector,
    _as_nhwc,
    _resize_matrices,
    export_onnx,
    export_torchscript,
)
from skssad.thresholds import ThresholdedDetector  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4  # the target: ONNX vs PyTorch max score difference


@pytest.fixture(scope="module")
def digit_split(digits):
    images, labels = digits
    # 24x24 digits (nearest upsampling) so that the resize to 16 shrinks (antialiased)
    big = np.kron(images, np.ones((1, 3, 3), np.uint8))
    train = big[labels == 0][:80]
    held_out = np.concatenate([big[labels == 0][80:100], big[labels == 3][:25]])  # 45 rows
    return train, held_out


@pytest.fixture(scope="module")
def geometric(digit_split):
    det = GeometricTransformDetector(depth=10, width=1, input_size=16, shift=2, max_epochs=1,
                                     batch_size=32, device="cpu", random_state=0)
    return det.fit(digit_split[0])


@pytest.fixture(scope="module")
def geometric_onnx(geometric, tmp_path_factory):
    return export_onnx(geometric, tmp_path_factory.mktemp("onnx") / "geometric.onnx")


@pytest.mark.parametrize("hw, size", [((24, 24), 16), ((8, 8), 16), ((12, 20), 16),
                                      ((16, 16), 16)])
def test_resize_matrices_reproduce_the_base_resize(hw, size):
    x = torch.rand(3, 2, *hw)
    m = _resize_matrices(*hw, size)
    if hw == (size, size):
        assert m is None
        return
    a_h, a_w = m
    torch.testing.assert_close(a_h @ x @ a_w.T, resize_images(x, size), atol=1e-6, rtol=0)


def test_geometric_onnx_scores_equal_pytorch(geometric, geometric_onnx, digit_split):
    held_out = digit_split[1]
    onnx_det = OnnxDetector(geometric_onnx)
    ref = geometric.score_samples(held_out)
    got = onnx_det.score_samples(held_out)
    assert got.shape == (45,) and got.dtype == np.float64  # 45 = one full and one padded chunk
    assert np.abs(got - ref).max() <= TOL
    assert ref.std() > 1e-3  # not a constant scorer
    # the same layouts as the detector: (n, H, W) and flattened (n, H*W)
    np.testing.assert_allclose(onnx_det.score_samples(held_out.reshape(45, -1)), got)
    np.testing.assert_allclose(onnx_det.score_samples(held_out[..., None]), got)


def test_onnx_metadata_carries_what_predict_needs(geometric, geometric_onnx, digit_split):
    onnx_det = OnnxDetector(geometric_onnx)
    meta = onnx_det.metadata_
    assert meta["detector"] == "GeometricTransformDetector"
    assert meta["input_layout"] == "NHWC" and meta["input_shape"] == [24, 24, 1]
    assert meta["scale"] == [0.0, 255.0] and meta["chunk_size"] == 32
    assert onnx_det.threshold_ == pytest.approx(geometric.offset_)
    held_out = digit_split[1]
    decided = np.abs(geometric.decision_function(held_out)) > TOL
    np.testing.assert_array_equal(onnx_det.predict(held_out)[decided],
                                  geometric.predict(held_out)[decided])
    np.testing.assert_allclose(onnx_det.decision_function(held_out),
                               geometric.decision_function(held_out), atol=TOL)


def test_uint8_graph(geometric, digit_split, tmp_path):
    path = export_onnx(geometric, tmp_path / "u8.onnx", input_dtype="uint8")
    onnx_det = OnnxDetector(path)
    held_out = digit_split[1]
    assert np.abs(onnx_det.score_samples(held_out) - geometric.score_samples(held_out)).max() \
        <= TOL
    with pytest.raises(ValueError, match="uint8"):
        onnx_det.score_samples(held_out.astype(np.float32))


def test_thresholded_detector_exports_its_threshold(digit_split, tmp_path):
    det = ThresholdedDetector(GeometricTransformDetector(depth=10, width=1, input_size=16,
                                                         shift=2, max_epochs=1, device="cpu",
                                                         random_state=0),
                              bpcer=0.1, random_state=0).fit(digit_split[0])
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "t.onnx"))
    assert onnx_det.threshold_ == pytest.approx(det.threshold_)
    assert onnx_det.offset_ == pytest.approx(det.estimator_.offset_)
    assert OnnxDetector(tmp_path / "t.onnx", threshold=0.5).threshold_ == 0.5


@pytest.mark.parametrize("shape, fitted", [((3, 60), (8, 8, 1)), ((3, 64), (8, 8, 1)),
                                           ((3, 48), (4, 4, 3)), ((3, 8, 8), (8, 8, 1)),
                                           ((3, 4, 4, 3), (4, 4, 3))])
def test_onnx_detector_reads_images_as_the_base(shape, fitted):
    X = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(_as_nhwc(X, fitted, None),
                                  images_to_nchw(X).transpose(0, 2, 3, 1))


def test_bad_input_to_onnx_detector(geometric_onnx):
    onnx_det = OnnxDetector(geometric_onnx)
    with pytest.raises(ValueError, match=r"\(n, 24, 24, 1\)"):
        onnx_det.score_samples(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        onnx_det.score_samples(np.full((2, 24, 24), np.nan))


def test_torchscript_scores_equal_pytorch(geometric, digit_split, tmp_path):
    path = export_torchscript(geometric, tmp_path / "g.pt")
    extra = {"skssad.json": ""}
    traced = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["skssad.json"])["offset"] == pytest.approx(geometric.offset_)
    held_out = digit_split[1][:32]
    with torch.no_grad():
        got = traced(torch.from_numpy(held_out[..., None].astype(np.float32))).double().numpy()
    assert np.abs(got - geometric.score_samples(held_out)).max() <= TOL


def test_onnx_detector_runs_with_torch_blocked(geometric, geometric_onnx, digit_split,
                                               tmp_path):
    held_out = digit_split[1]
    np.save(tmp_path / "x.npy", held_out)
    np.save(tmp_path / "ref.npy", geometric.score_samples(held_out))
    script = textwrap.dedent(f"""
        import sys
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, BlockTorch())
        import numpy as np
        from skssad.export import OnnxDetector
        det = OnnxDetector({str(geometric_onnx)!r})
        got = det.score_samples(np.load({str(tmp_path / 'x.npy')!r}))
        ref = np.load({str(tmp_path / 'ref.npy')!r})
        assert "torch" not in sys.modules
        print(float(np.abs(got - ref).max()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) <= TOL


def test_igd_onnx_scores_equal_pytorch(digits, tmp_path):
    images, labels = digits
    det = IGDDetector(encoder_widths=(4, 4, 4), decoder_widths=(4, 4, 4), latent_dim=4,
                      input_size=16, max_epochs=1, device="cpu", random_state=0)
    det.fit(images[labels == 1][:80])
    held_out = np.concatenate([images[labels == 1][80:100], images[labels == 7][:20]])
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "igd.onnx"))
    assert onnx_det.metadata_["detector"] == "IGDDetector"
    # MS-SSIM's paddings are python ints: the fast TorchScript-based exporter takes it
    assert onnx_det.metadata_["exporter"] == "torchscript"
    ref = det.score_samples(held_out)
    assert np.abs(onnx_det.score_samples(held_out) - ref).max() <= TOL
    assert ref.std() > 1e-4


def test_anomem_onnx_scores_equal_pytorch(digits, tmp_path):
    from skssad import AnoMemDetector

    images, labels = digits
    det = AnoMemDetector(depth=10, width=2, n_memory=(4, 4), input_size=16, max_epochs=1,
                         device="cpu", random_state=0).fit(images[labels == 2][:64])
    held_out = np.concatenate([images[labels == 2][64:84], images[labels == 5][:20]])
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "anomem.onnx"))
    ref = det.score_samples(held_out)
    assert np.abs(onnx_det.score_samples(held_out) - ref).max() <= TOL
    assert ref.std() > 0


def test_puzzle_onnx_scores_equal_pytorch(digits, tmp_path):
    pytest.importorskip("onnxscript", reason="PuzzleTintColor exports with the dynamo "
                                             "exporter (torch.quantile), which needs onnxscript")
    from skssad import PuzzleTintColorDetector

    images, labels = digits
    det = PuzzleTintColorDetector(k=4, n=2, depth=10, width=1, color_width=4, n_components=2,
                                  input_size=16, max_epochs=1, device="cpu", random_state=0)
    det.fit(images[labels == 0][:64])
    held_out = np.concatenate([images[labels == 0][64:84], images[labels == 8][:20]])
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "puzzle.onnx"))
    assert onnx_det.metadata_["exporter"] == "dynamo"
    ref = det.score_samples(held_out)
    assert np.abs(onnx_det.score_samples(held_out) - ref).max() <= TOL
    assert ref.std() > 0


@pytest.fixture(scope="module")
def frame_permutation():
    from skssad.datasets import make_moving_digits
    from skssad.profiles import make_detector

    # 12x12 frames, so the resize to the tiny profile's 8 shrinks (antialiased); 10 epochs
    # so that the scores spread (1 epoch leaves every video near log 2)
    X, y = make_moving_digits(48, n_frames=6, size=12, motions=[0, 1], random_state=0,
                              return_X_y=True)
    det = make_detector("frame_permutation", "tiny", max_epochs=10, lr=0.05)
    return det.fit(X[:24][y[:24] == 0]), X[24:]


@pytest.mark.parametrize("video_score", ["mean", "max", "top_k"])
def test_frame_permutation_onnx_scores_equal_pytorch(frame_permutation, video_score, tmp_path):
    fitted, held_out = frame_permutation
    det = copy.deepcopy(fitted).set_params(video_score=video_score)  # a scoring-time choice
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "fp.onnx"))
    meta = onnx_det.metadata_
    assert meta["input_layout"] == "NTHWC" and meta["input_shape"] == [6, 12, 12, 1]
    assert meta["chunk_size"] == 21  # 128 frames // 6: 24 videos = one full, one padded chunk
    ref = det.score_samples(held_out)
    got = onnx_det.score_samples(held_out)
    assert got.shape == (24,) and np.abs(got - ref).max() <= TOL
    assert ref.std() > 0.05
    np.testing.assert_allclose(onnx_det.score_samples(held_out[..., None]), got)  # 5-D input
    decided = np.abs(det.decision_function(held_out)) > TOL
    assert decided.sum() >= 20
    np.testing.assert_array_equal(onnx_det.predict(held_out)[decided],
                                  det.predict(held_out)[decided])


def test_frame_permutation_exports_other_lengths(frame_permutation, tmp_path):
    from skssad.datasets import make_moving_digits

    det, held_out = frame_permutation
    with pytest.raises(ValueError, match="n_frames=8"):
        OnnxDetector(export_onnx(det, tmp_path / "fp6.onnx")).score_samples(
            np.zeros((2, 8, 12, 12), np.uint8))
    longer, _ = make_moving_digits(5, n_frames=8, size=12, motions=[0, 1], random_state=1,
                                   return_X_y=True)
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "fp8.onnx", n_frames=8))
    assert np.abs(onnx_det.score_samples(longer) - det.score_samples(longer)).max() <= TOL
    path = export_torchscript(det, tmp_path / "fp.pt", chunk_size=4)
    with torch.no_grad():
        got = torch.jit.load(str(path))(torch.from_numpy(held_out[:4, ..., None]))
    assert np.abs(got.double().numpy() - det.score_samples(held_out[:4])).max() <= TOL


def test_seed_ensemble_exports_as_one_graph(digits, tmp_path):
    """The IGD quick profile is a SeedEnsemble: its ONNX graph runs every member and
    their standardised mean, and scores as the ensemble does."""
    from skssad import SeedEnsemble

    images, labels = digits
    base = IGDDetector(encoder_widths=(4, 4, 4), decoder_widths=(4, 4, 4), latent_dim=4,
                       input_size=16, max_epochs=1, device="cpu")
    det = SeedEnsemble(base, n_members=2, random_state=0).fit(images[labels == 1][:80])
    held_out = np.concatenate([images[labels == 1][80:100], images[labels == 7][:20]])
    onnx_det = OnnxDetector(export_onnx(det, tmp_path / "ens.onnx"))
    assert onnx_det.metadata_["detector"] == "SeedEnsemble(IGDDetector)"
    assert onnx_det.metadata_["offset"] == pytest.approx(det.offset_)
    ref = det.score_samples(held_out)
    assert np.abs(onnx_det.score_samples(held_out) - ref).max() <= TOL
    # the members differ: the graph is not one member twice
    one = det.members_[0].score_samples(held_out)
    assert np.abs(ref - (one - det.score_center_[0]) / det.score_scale_[0]).max() > 1e-3
    np.testing.assert_array_equal(onnx_det.predict(held_out), det.predict(held_out))
