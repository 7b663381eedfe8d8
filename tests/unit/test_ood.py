"""OOD functions: softmax truth (Eq. 26) and Mahalanobis label likelihood (Eq. 27–31)."""

import numpy as np
import pytest
import torch

from skssad.ood import fit_label_gaussians, mahalanobis_label_likelihood, softmax_truth


def test_softmax_truth_sums_heads():
    logits = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.0]])
    out = softmax_truth(logits, torch.tensor([[1, 2]]), [2, 3])
    assert out.item() == pytest.approx(0.5 + 1 / 3)


def test_label_gaussians_are_class_means_and_covariances():
    rng = np.random.RandomState(0)
    scores = rng.randn(200, 3)
    labels = rng.randint(0, 4, 200)
    stats = fit_label_gaussians(torch.from_numpy(scores), torch.from_numpy(labels), 5,
                                shrinkage=0.0)
    for c in range(4):
        z = scores[labels == c]
        np.testing.assert_allclose(stats.means[c].numpy(), z.mean(0), rtol=1e-5)
        cov = np.cov(z.T, bias=True)  # Eq. (30)
        np.testing.assert_allclose(np.linalg.inv(stats.precisions[c].numpy()), cov,
                                   rtol=1e-4, atol=1e-6)
    assert stats.counts[4] == 0
    np.testing.assert_allclose(stats.precisions[4].numpy(), np.eye(3))


def test_mahalanobis_equals_direct_numpy_computation():
    rng = np.random.RandomState(1)
    train = rng.randn(300, 4) @ rng.randn(4, 4)
    train_labels = rng.randint(0, 3, 300)
    stats = fit_label_gaussians(torch.from_numpy(train), torch.from_numpy(train_labels), 3)
    test = rng.randn(10, 4)
    test_labels = rng.randint(0, 3, 10)
    ours = stats.score(torch.from_numpy(test).float(), torch.from_numpy(test_labels)).numpy()
    for i in range(10):
        c = test_labels[i]
        z = train[train_labels == c]
        mu = z.mean(0)
        cov = np.cov(z.T, bias=True)
        cov = cov + 1e-2 * np.trace(cov) / 4 * np.eye(4)  # the documented shrinkage
        diff = test[i] - mu
        expected = -diff @ np.linalg.inv(cov) @ diff  # Eq. (31), negated
        assert ours[i] == pytest.approx(expected, rel=1e-4)


def test_mahalanobis_prefers_the_true_mode():
    means = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    prec = torch.eye(2).expand(2, 2, 2)
    s = mahalanobis_label_likelihood(torch.tensor([[0.1, 0.0], [0.1, 0.0]]),
                                     torch.tensor([0, 1]), means, prec)
    assert s[0] > s[1]
    assert s[0].item() == pytest.approx(-0.01)


def test_label_gaussians_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"scores \(m, d\)"):
        fit_label_gaussians(torch.zeros(5), torch.zeros(5, dtype=torch.long), 2)
