"""OOD functions: softmax truth (Eq. 26), Mahalanobis label likelihood (Eq. 27–31),
ODIN (Eq. 34) and the tint correction score (Eq. 9)."""

import numpy as np
import pytest
import torch

from skssad.ood import (
    MIN_TINT_ERROR,
    fit_label_gaussians,
    mahalanobis_label_likelihood,
    odin_perturb,
    softmax_truth,
    tint_correction_score,
)


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


def test_odin_step_raises_the_true_class_probability():
    torch.manual_seed(0)
    net = torch.nn.Linear(5, 3)
    x = torch.randn(8, 5)
    y = torch.randint(3, (8,))

    def truth(v, T=10.0):
        return (net(v) / T).log_softmax(-1).gather(1, y[:, None]).squeeze(1)

    with torch.no_grad():  # Eq. (34) needs the input gradient even at inference
        x2 = odin_perturb(x, truth, epsilon=0.05)
    assert not x2.requires_grad
    torch.testing.assert_close((x2 - x).abs(), torch.full_like(x, 0.05))
    assert (truth(x2) > truth(x)).all()


def _tint_table():
    # Two pieces, c = 4; piece 0 coloured, piece 1 grey (no error whatever Theta).
    err = torch.tensor([[[0.0, 0.2, 0.4, 0.2], [0.0, 0.0, 0.0, 0.0]]])
    return err


def test_tint_score_is_one_when_solved_zero_at_chance():
    err = _tint_table()[:, :1]
    sure = torch.tensor([[[50.0, 0, 0, 0]]])
    assert tint_correction_score(err, sure).item() == pytest.approx(1.0)
    assert tint_correction_score(err, torch.zeros(1, 1, 4)).item() == pytest.approx(0.0)
    wrong = torch.tensor([[[0, 0, 50.0, 0]]])
    assert tint_correction_score(err, wrong).item() < 0  # worse than a guess


def test_desaturated_pieces_carry_no_tint_score():
    err = _tint_table()
    logits = torch.zeros(1, 2, 4)
    per_piece = tint_correction_score(err, logits)
    assert torch.isfinite(per_piece[0, 0]) and torch.isnan(per_piece[0, 1])
    # The image score is piece 0's alone, whatever the grey piece's weight.
    for w in (torch.tensor([[0.5, 0.5]]), torch.tensor([[0.01, 0.99]])):
        img = tint_correction_score(err, logits, w)
        assert img.item() == pytest.approx(per_piece[0, 0].item())
    grey = tint_correction_score(err[:, 1:], logits[:, 1:], torch.ones(1, 1))
    assert torch.isnan(grey).all()
    assert MIN_TINT_ERROR > 0


def test_attention_weights_the_tint_score():
    err = torch.tensor([[[0.0, 0.2, 0.2, 0.2], [0.0, 0.2, 0.2, 0.2]]])
    logits = torch.tensor([[[50.0, 0, 0, 0], [0.0, 0, 0, 0]]])  # piece 0 solved, 1 at chance
    on_solved = tint_correction_score(err, logits, torch.tensor([[0.9, 0.1]]))
    on_chance = tint_correction_score(err, logits, torch.tensor([[0.1, 0.9]]))
    assert on_solved.item() == pytest.approx(0.9, abs=1e-4)
    assert on_chance.item() == pytest.approx(0.1, abs=1e-4)
