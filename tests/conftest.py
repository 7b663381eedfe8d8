import os

# The array-API estimator check runs only with this set before scipy loads.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# One torch thread per xdist worker: two workers on two cores, no oversubscription.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else
                      max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def seed():
    return 0


@pytest.fixture(scope="session")
def digits():
    """Real 8x8 digits as uint8 images (n, 8, 8) and their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return images, d.target


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
