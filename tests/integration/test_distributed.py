"""Data-parallel training through Accelerate: two CPU processes on the gloo backend.

The same script under ``torchrun --nproc_per_node 2`` trains one model
with each batch split across the processes (gradients all-reduced): both
ranks end with identical weights, the loss falls, the fitted detector is an
ordinary picklable one, and it scores like a single-process fit of the same
total batch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate", reason="data-parallel training needs the [accelerate] extra")

SCRIPT = r'''
import json, os, pickle, sys
import numpy as np, torch
from sklearn.datasets import load_digits
from skssad import GeometricTransformDetector
from skssad.metrics import anomaly_auroc

torch.set_num_threads(1)
d = load_digits()
X = np.round(d.images * (255 / 16)).astype(np.uint8)
y = d.target
normal = X[y == 0]
train, test = normal[:80], np.concatenate([normal[80:], X[y == 7][:60]])
labels = np.r_[np.ones(len(normal) - 80), -np.ones(60)]
det = GeometricTransformDetector(depth=10, width=1, input_size=8, max_epochs=3, batch_size=16,
                                 n_views=2, shift=2, lr=0.1, device="cpu",
                                 random_state=0).fit(train)
weights = torch.cat([t.detach().double().flatten()
                     for t in det.net_.module_.state_dict().values()])
loaded = pickle.loads(pickle.dumps(det))
out = dict(net=type(loaded.net_).__name__, loss=det.training_health_["net"]["loss"],
           auroc=anomaly_auroc(labels, loaded.score_samples(test)),
           weights=weights.tolist()[:2000], norm=float(weights.norm()),
           seen=sum(b["train_batch_size"] for b in det.net_.history[0]["batches"]))
rank = os.environ.get("RANK", "single")
json.dump(out, open(os.path.join(sys.argv[1], f"{rank}.json"), "w"))
'''


def _run(args, tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, *args, str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_process_data_parallel_fit_matches_one_process(tmp_path):
    _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"], tmp_path)
    _run([], tmp_path)
    r0, r1, single = (json.loads((tmp_path / f"{k}.json").read_text())
                      for k in ("0", "1", "single"))
    # one model: identical weights (and batch-norm statistics) on both ranks
    assert np.array_equal(r0["weights"], r1["weights"]) and r0["norm"] == r1["norm"]
    # each rank trained on its half of every batch
    assert r0["seen"] == r1["seen"] == single["seen"] // 2 == 40
    assert r0["net"] == "PretextNet"  # rank 0 holds an ordinary, picklable detector
    assert r0["loss"][-1] < 0.8 * r0["loss"][0]
    assert abs(r0["auroc"] - single["auroc"]) <= 0.05
