"""Checkpoints, early stopping and resuming
Detectors pass ``callbacks`` to skorch: ``Checkpoint`` saves parameters and
history after each epoch, ``LoadInitState`` resumes a later fit from them
(the history continues), and ``EarlyStopping`` ends a fit whose training
loss stalls. ``net_.history`` records every epoch.
"""

import tempfile

import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState

from skssad import GeometricTransformDetector

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
normal = X[y == 5][:60]
tiny = dict(depth=10, width=1, input_size=16, random_state=0)
with tempfile.TemporaryDirectory() as tmp:
    first = GeometricTransformDetector(
        max_epochs=2, callbacks=[Checkpoint(dirname=tmp, monitor=None)], **tiny).fit(normal)
    resumed = GeometricTransformDetector(
        max_epochs=1, callbacks=[LoadInitState(Checkpoint(dirname=tmp, monitor=None))],
        **tiny).fit(normal)
    print("epochs in the resumed history:", len(resumed.net_.history))  # 2 saved + 1 new

stopped = GeometricTransformDetector(
    max_epochs=20, lr=1e-9, callbacks=[EarlyStopping(monitor="train_loss", patience=2)],
    **tiny).fit(normal)
print("early stopping after", len(stopped.net_.history), "of 20 epochs")
print("train loss per epoch:", [round(float(h["train_loss"]), 3) for h in stopped.net_.history])
