"""Long fits checkpoint and resume through skorch callbacks (DESIGN.md, Training loop)."""

import numpy as np
import torch
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState

from skssad import GeometricTransformDetector

TINY = dict(depth=10, width=1, input_size=8, batch_size=16, n_views=2, shift=2,
            device="cpu", random_state=0)


def test_checkpoint_then_resume_continues_from_saved_state(digits, tmp_path):
    images = digits[0][digits[1] == 3][:48]
    cp = Checkpoint(dirname=str(tmp_path), monitor=None)
    first = GeometricTransformDetector(max_epochs=2, callbacks=[cp], **TINY).fit(images)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    saved = {k: v.clone() for k, v in first.net_.module_.state_dict().items()}

    resumed = GeometricTransformDetector(
        max_epochs=1, callbacks=[LoadInitState(Checkpoint(dirname=str(tmp_path),
                                                          monitor=None))], **TINY)
    resumed.fit(images)
    # the history continues the checkpointed one: 2 saved epochs + 1 new
    assert len(resumed.net_.history) == 3
    # training went on from the saved weights, not from a fresh init
    fresh = GeometricTransformDetector(max_epochs=1, **TINY).fit(images)
    w = "backbone.features.0.weight"
    d_resumed = (resumed.net_.module_.state_dict()[w] - saved[w]).abs().mean()
    d_fresh = (fresh.net_.module_.state_dict()[w] - saved[w]).abs().mean()
    assert d_resumed < d_fresh
    assert np.isfinite(resumed.score_samples(images[:5])).all()


def test_early_stopping_on_train_loss_stops_the_fit(digits):
    images = digits[0][digits[1] == 3][:32]
    det = GeometricTransformDetector(
        max_epochs=30, lr=1e-9, callbacks=[EarlyStopping(monitor="train_loss", patience=2,
                                                          threshold=1e-3)], **TINY)
    det.fit(images)
    assert len(det.net_.history) < 30
    assert torch.isfinite(torch.tensor(det.net_.history[:, "train_loss"])).all()
