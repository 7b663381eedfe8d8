"""overlay_anomaly_map: anomaly maps drawn over their images."""

import os
import subprocess
import sys

import numpy as np
import pytest

import skssad
from skssad.visualization import overlay_anomaly_map


def test_overlay_anomaly_map():
    image = np.full((6, 5), 128, dtype=np.uint8)
    amap = np.zeros((6, 5))
    amap[2, 3] = 4.0
    out = overlay_anomaly_map(image, amap, alpha=0.5)
    assert out.shape == (6, 5, 3) and out.min() >= 0 and out.max() <= 1
    hot, cold = out[2, 3], out[0, 0]
    assert hot[0] > cold[0] + 0.4  # the anomalous pixel is drawn hot
    np.testing.assert_allclose(cold, 0.5 * 128 / 255)  # coldest colour is black
    with pytest.raises(ValueError, match="same"):
        overlay_anomaly_map(image, amap[:3])


def test_importable_from_the_package_root_without_matplotlib():
    assert skssad.overlay_anomaly_map is overlay_anomaly_map
    # A fresh interpreter: other tests in this process may have imported pyplot already.
    code = ("import sys, numpy as np, skssad; "
            "skssad.overlay_anomaly_map(np.zeros((3, 3)), np.eye(3)); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
