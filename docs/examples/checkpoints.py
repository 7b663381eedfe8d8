"""Checkpoints, early stopping and resuming
``Checkpoint`` (skssad's atomic subclass of skorch's) saves parameters,
optimizer state and history after each epoch; after a crash, a fit with the
same parameters and ``LoadInitState`` trains the remaining epochs and ends
where the uninterrupted fit would have. ``EarlyStopping`` ends a fit whose
training loss stalls. ``nets_[role].history`` records every epoch.
"""

import tempfile

import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Callback, EarlyStopping

from skssad import GeometricTransformDetector
from skssad.callbacks import Checkpoint, LoadInitState

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
normal = X[y == 5][:60]
tiny = dict(depth=10, width=1, input_size=16, max_epochs=4, random_state=0)


class Crash(Callback):
    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 3:
            raise RuntimeError("power cut during epoch 3")


uninterrupted = GeometricTransformDetector(**tiny).fit(normal)
with tempfile.TemporaryDirectory() as tmp:
    try:
        GeometricTransformDetector(
            callbacks=[Checkpoint(dirname=tmp, monitor=None), Crash()], **tiny).fit(normal)
    except RuntimeError as e:
        print("fit interrupted:", e)
    resumed = GeometricTransformDetector(
        callbacks=[LoadInitState(Checkpoint(dirname=tmp, monitor=None))], **tiny).fit(normal)
    print("epochs in the resumed history:", len(resumed.nets_["net"].history))  # 2 saved + 2
    gap = np.abs(resumed.score_samples(X[:50]) - uninterrupted.score_samples(X[:50])).max()
    print(f"largest score difference to the uninterrupted fit: {gap:.1e}")

stopped = GeometricTransformDetector(
    callbacks=[EarlyStopping(monitor="train_loss", patience=2)],
    **{**tiny, "max_epochs": 20, "lr": 1e-9}).fit(normal)
print("early stopping after", len(stopped.net_.history), "of 20 epochs")
print("training health:", {k: round(v, 3) if isinstance(v, float) else v
                           for k, v in stopped.training_health_["net"].items() if k != "loss"})
