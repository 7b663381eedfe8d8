"""Long fits checkpoint and resume through skorch callbacks (DESIGN.md, Training loop).

Resume must train: the learning-rate schedule is a function of the epoch
index and the RNG is re-seeded per epoch, so an interrupted and resumed fit
ends with the weights of an uninterrupted one. Checkpoints are written
atomically, write errors are raised, and an incomplete checkpoint refuses
to resume.
"""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EarlyStopping

from skssad import GeometricTransformDetector, PuzzleTintColorDetector
from skssad.callbacks import Checkpoint, LoadInitState

TINY = dict(depth=10, width=1, input_size=8, batch_size=16, n_views=2, shift=2,
            device="cpu", random_state=0, lr=0.1)


class CrashAt(Callback):
    """Simulates a crash at the start of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise RuntimeError("simulated crash")


def _weights(det):
    return {k: v.clone() for k, v in det.net_.module_.state_dict().items()}


@pytest.fixture(scope="module")
def threes(digits):
    return digits[0][digits[1] == 3][:48]


@pytest.mark.parametrize("crash_epoch", [2, 3])
def test_resume_after_a_crash_equals_the_uninterrupted_fit(threes, tmp_path, crash_epoch):
    full = GeometricTransformDetector(max_epochs=3, **TINY).fit(threes)
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    with pytest.raises(RuntimeError, match="simulated crash"):
        GeometricTransformDetector(max_epochs=3, callbacks=[cp, CrashAt(crash_epoch)],
                                   **TINY).fit(threes)
    resumed = GeometricTransformDetector(
        max_epochs=3, callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path),
                                                          monitor=None))], **TINY).fit(threes)
    assert len(resumed.net_.history) == 3  # the remaining epochs only
    a, b = _weights(full), _weights(resumed)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    np.testing.assert_allclose(full.score_samples(threes[:8]),
                               resumed.score_samples(threes[:8]), atol=1e-5)


def test_resumed_epochs_change_the_weights(threes, tmp_path):
    """The old recipe resumed at lr 0 (the annealed optimizer state) and trained nothing."""
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    first = GeometricTransformDetector(max_epochs=4, callbacks=[cp, CrashAt(3)], **TINY)
    with pytest.raises(RuntimeError):
        first.fit(threes)
    saved = torch.load(tmp_path / "net_params.pt", weights_only=True)
    resumed = GeometricTransformDetector(
        max_epochs=4, callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path),
                                                          monitor=None))], **TINY).fit(threes)
    w = "backbone.features.0.weight"
    assert (resumed.net_.module_.state_dict()[w] - saved[w]).abs().max() > 1e-4
    assert resumed.net_.optimizer_.param_groups[0]["lr"] > 0


def test_a_failed_write_is_raised_and_keeps_the_last_good_checkpoint(threes, tmp_path,
                                                                     monkeypatch):
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    det = GeometricTransformDetector(max_epochs=1, callbacks=[cp], **TINY).fit(threes)
    good = torch.load(tmp_path / "net_params.pt", weights_only=True)
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        det.set_params(max_epochs=2).fit(threes)
    monkeypatch.undo()
    kept = torch.load(tmp_path / "net_params.pt", weights_only=True)
    assert all(torch.equal(good[k], kept[k]) for k in good)
    assert not list(tmp_path.glob("*.tmp"))


def test_an_incomplete_checkpoint_refuses_to_resume(threes, tmp_path):
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    GeometricTransformDetector(max_epochs=1, callbacks=[cp], **TINY).fit(threes)
    (tmp_path / "net_optimizer.pt").unlink()
    with pytest.raises(ValueError, match="incomplete.*net_optimizer.pt"):
        GeometricTransformDetector(
            max_epochs=2, callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path),
                                                              monitor=None))],
            **TINY).fit(threes)


def test_each_net_of_a_detector_has_its_own_checkpoint_files(tmp_path):
    rng = np.random.RandomState(0)
    X = (rng.rand(24, 12, 12, 3) * 255).astype(np.uint8)
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    det = PuzzleTintColorDetector(k=4, n=2, depth=10, width=1, color_width=4, n_components=2,
                                  input_size=12, max_epochs=1, batch_size=8, device="cpu",
                                  random_state=0, callbacks=[cp]).fit(X)
    names = {p.name for p in tmp_path.iterdir()}
    roles = sorted(det.nets_)
    assert len(roles) == 2
    for role in roles:
        assert {f"{role}_params.pt", f"{role}_optimizer.pt", f"{role}_history.json"} <= names
    # the user's callback object itself is never mutated or shared between nets
    assert cp.fn_prefix == ""


def test_early_stopping_on_train_loss_stops_the_fit(digits):
    images = digits[0][digits[1] == 3][:32]
    det = GeometricTransformDetector(
        max_epochs=30, callbacks=[EarlyStopping(monitor="train_loss", patience=2,
                                                threshold=1e3)],
        **{**TINY, "lr": 1e-9})
    det.fit(images)
    assert len(det.net_.history) < 30
    assert torch.isfinite(torch.tensor(det.net_.history[:, "train_loss"])).all()


def _all_weights(det):
    return {f"{name}.{k}": v.clone() for name, net in det.nets_.items()
            for k, v in net.module_.state_dict().items()}


def _resume_data(name, digits):
    if name == "frame_permutation":
        from skssad.datasets import make_moving_digits

        return make_moving_digits(24, n_frames=8, size=16, motions=[0], random_state=0,
                                  return_X_y=True)[0]
    if name == "puzzle_tint_color":  # colour: the encoder and the colorization UNet
        return np.repeat(digits[0][digits[1] == 3][:48, :, :, None], 3, -1)
    return digits[0][digits[1] == 3][:48]


@pytest.mark.parametrize("name", ["puzzle_tint_color", "anomem", "igd", "frame_permutation"])
def test_every_detector_resumes_to_the_uninterrupted_fit(name, digits, tmp_path):
    """Issue 18: a crash at epoch 2 of 3 and a resume give the uninterrupted weights,
    for every net of every detector (per-net checkpoint files, EM and two-stage fits)."""
    from skssad.profiles import make_detector

    X = _resume_data(name, digits)
    full = make_detector(name, "tiny", max_epochs=3).fit(X)
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    with pytest.raises(RuntimeError, match="simulated crash"):
        make_detector(name, "tiny", max_epochs=3, callbacks=[cp, CrashAt(2)]).fit(X)
    resumed = make_detector(name, "tiny", max_epochs=3, callbacks=[
        LoadInitState(Checkpoint(dirname=str(tmp_path), monitor=None))]).fit(X)
    a, b = _all_weights(full), _all_weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    np.testing.assert_allclose(full.score_samples(X[:8]), resumed.score_samples(X[:8]),
                               atol=1e-5)


def test_seed_ensemble_members_checkpoint_and_resume_apart(digits, tmp_path):
    """Each member of a SeedEnsemble writes its own (member<k>_) checkpoint files: a crash
    in the first member and a resume give the uninterrupted ensemble, and the second
    member does not start from the first one's state."""
    from skssad import SeedEnsemble
    from skssad.profiles import make_detector

    X = _resume_data("igd", digits)
    base = make_detector("igd", "tiny", max_epochs=3)
    full = SeedEnsemble(base, n_members=2, random_state=0).fit(X)
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    with pytest.raises(RuntimeError, match="simulated crash"):
        SeedEnsemble(base.set_params(callbacks=[cp, CrashAt(2)]), n_members=2,
                     random_state=0).fit(X)
    assert any(p.name.startswith("member0_") for p in tmp_path.iterdir())
    assert not any(p.name.startswith("member1_") for p in tmp_path.iterdir())
    resumed = SeedEnsemble(base.set_params(callbacks=[
        LoadInitState(Checkpoint(dirname=str(tmp_path), monitor=None))]), n_members=2,
        random_state=0).fit(X)
    np.testing.assert_allclose(full.score_samples(X[:8]), resumed.score_samples(X[:8]),
                               atol=1e-5)
