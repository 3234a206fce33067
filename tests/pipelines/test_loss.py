"""The fine-tuning loss: hand numbers, the naive formula, gradients, extremes, ignore."""
import math

import pytest
import torch
import torch.nn.functional as F

from hypercolumns.pipelines.inference.interpolate import axis_weights, interpolate_probabilities
from hypercolumns.pipelines.finetune.loss import (area_weights, interpolated_log_probabilities,
                                                  interpolated_logistic_loss)


def dense_alpha(K, size, dtype=torch.float64):
    """(1, K*K, size, size): alpha of every cell at every location, from interpolate.py."""
    rows, cols = axis_weights(K, size, size, torch.float64)
    alpha = torch.einsum("yr,xc->rcyx", rows, cols).reshape(1, K * K, size, size)
    return alpha.to(dtype)


def naive_loss(scores, targets, K, box_weights=None):
    """h = sum_k alpha_k sigmoid(z_k), then -[t log h + (1 - t) log(1 - h)] per box."""
    alpha = dense_alpha(K, scores.shape[-1], scores.dtype)
    h = (alpha * torch.sigmoid(scores)).sum(dim=1)
    keep = targets != -1
    t = targets.clamp(min=0).to(scores.dtype)
    per_location = -(t * torch.log(h) + (1 - t) * torch.log(1 - h))
    per_box = torch.where(keep, per_location, torch.zeros_like(h)).sum(dim=(1, 2))
    return per_box if box_weights is None else per_box * box_weights


def random_case(K, size=50, batch=3, scale=3.0, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    scores = scale * torch.randn(batch, K * K, size, size, generator=generator, dtype=dtype)
    targets = torch.randint(-1, 2, (batch, size, size), generator=generator)
    box_weights = torch.rand(batch, generator=generator, dtype=dtype)
    return scores, targets, box_weights


# (a) hand-computed numbers -------------------------------------------------------

def test_one_cell_at_zero_scores_is_log_two_per_location():
    scores = torch.zeros(2, 1, 4, 4)
    targets = torch.tensor([[1, 0, -1, 1]] * 4).expand(2, 4, 4)
    loss = interpolated_logistic_loss(scores, targets, K=1, reduction="none")
    torch.testing.assert_close(loss, torch.full((2,), 12 * math.log(2.0)))


def test_two_cells_on_a_two_grid_are_one_cell_each():
    # size 2, K 2: Y = (y + 0.5) * 2 / 2 - 0.5 = y, so location (y, x) reads cell (y, x) alone.
    z = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64)
    scores = torch.diag(z).reshape(1, 4, 2, 2)  # channel k holds z_k at location k, 0 elsewhere
    targets = torch.tensor([[[1, 0], [0, 1]]])
    expected = F.softplus(-z[0]) + F.softplus(z[1]) + F.softplus(z[2]) + F.softplus(-z[3])
    torch.testing.assert_close(interpolated_logistic_loss(scores, targets, K=2), expected)


def test_area_weights_hand_numbers():
    boxes = torch.tensor([[0.0, 0.0, 112.0, 224.0], [10.0, 10.0, 310.0, 410.0],
                          [5.0, 5.0, 5.0, 50.0]])
    torch.testing.assert_close(area_weights(boxes), torch.tensor([0.5, 1.0, 0.0]))


# (b) against the slow, obviously correct formula ----------------------------------

@pytest.mark.parametrize("K", [1, 2, 5, 10])
@pytest.mark.parametrize("reduction", ["mean_over_boxes", "sum", "none"])
def test_equals_naive_formula(K, reduction):
    scores, targets, box_weights = random_case(K, seed=K)
    per_box = naive_loss(scores, targets, K, box_weights)
    expected = {"none": per_box, "sum": per_box.sum(), "mean_over_boxes": per_box.mean()}
    loss = interpolated_logistic_loss(scores, targets, K, box_weights, reduction=reduction)
    torch.testing.assert_close(loss, expected[reduction], rtol=1e-10, atol=1e-10)


def test_float_targets_and_no_box_weights_equal_naive():
    scores, targets, _ = random_case(5, seed=3)
    loss = interpolated_logistic_loss(scores, targets.double(), K=5)
    torch.testing.assert_close(loss, naive_loss(scores, targets, 5).mean(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("K", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probability_equals_eq3_interpolation(K, dtype):
    scores, _, _ = random_case(K, batch=2, dtype=dtype, seed=K)
    expected = interpolate_probabilities(torch.sigmoid(scores))
    tolerance = 1e-6 if dtype == torch.float32 else 1e-12
    log_h, log_1mh = interpolated_log_probabilities(scores, K)
    torch.testing.assert_close(log_h.exp(), expected, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(log_1mh.exp(), 1 - expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("K", [2, 5])
def test_float32_agrees_with_float64(K):
    scores, targets, box_weights = random_case(K, seed=7)
    loss64 = interpolated_logistic_loss(scores, targets, K, box_weights)
    loss32 = interpolated_logistic_loss(scores.float(), targets, K, box_weights.float())
    assert loss32.dtype == torch.float32
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-5, atol=0)


# gradients ---------------------------------------------------------------------------

@pytest.mark.parametrize("K", [2, 5])
def test_gradcheck_small_grid(K):
    scores, targets, box_weights = random_case(K, size=10, batch=2, scale=2.0, seed=K)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda s: interpolated_logistic_loss(s, targets, K, box_weights), (scores,))
    assert torch.autograd.gradcheck(
        lambda s: interpolated_logistic_loss(s, targets, K, box_weights, reduction="none"),
        (scores,))


@pytest.mark.parametrize("K", [1, 2, 5])
def test_gradient_is_the_responsibilities_form(K):
    scores, targets, _ = random_case(K, seed=11)
    scores.requires_grad_(True)
    interpolated_logistic_loss(scores, targets, K, reduction="sum").backward()
    with torch.no_grad():
        alpha = dense_alpha(K, 50)
        sigma = torch.sigmoid(scores)
        h = (alpha * sigma).sum(dim=1, keepdim=True)
        positive = -(alpha * sigma / h) * (1 - sigma)  # d(-log h)/dz_k
        negative = (alpha * (1 - sigma) / (1 - h)) * sigma  # d(-log(1 - h))/dz_k
        t = targets[:, None].expand_as(scores)
        expected = torch.where(t == 1, positive, torch.where(t == 0, negative, 0.0))
    torch.testing.assert_close(scores.grad, expected, rtol=1e-10, atol=1e-12)


# extreme scores ------------------------------------------------------------------------

@pytest.mark.parametrize("z", [50.0, 100.0])
@pytest.mark.parametrize("K", [1, 2, 5])
def test_extreme_scores_are_finite_and_analytic(z, K):
    # Every cell has the same score, so h = sigmoid(+-z) and the loss per location is a
    # softplus.  Positives at -z and negatives at +z: the confidently wrong cases.
    size = 50
    targets = torch.zeros(2, size, size, dtype=torch.long)
    targets[0] = 1
    scores = torch.full((2, K * K, size, size), z)
    scores[0] = -z
    naive = naive_loss(scores, targets, K)
    assert not torch.isfinite(naive).all()  # the naive formula overflows in float32 ...
    scores.requires_grad_(True)
    loss = interpolated_logistic_loss(scores, targets, K, reduction="none")
    loss.sum().backward()
    # ... ours does not: -log sigmoid(-z) = z + log(1 + e^-z) at each of size^2 locations.
    per_location = z + math.log1p(math.exp(-z))
    torch.testing.assert_close(loss, torch.full((2,), size * size * per_location),
                               rtol=1e-6, atol=0)
    assert torch.isfinite(scores.grad).all()
    # Responsibilities with all sigma_k equal: d/dz_k = -alpha_k (1 - sigma) ~ -alpha_k
    # on the positive box, +alpha_k sigma ~ +alpha_k on the negative one.  In float32 the
    # terms log alpha_k - z carry the rounding of numbers near z (ulp(50) ~ 4e-6), hence
    # the tolerance on alpha_k.
    alpha = dense_alpha(K, size, torch.float32)[0]
    factor = 1.0 / (1.0 + math.exp(-z))
    torch.testing.assert_close(scores.grad[0], -alpha * factor, rtol=0, atol=2e-5)
    torch.testing.assert_close(scores.grad[1], alpha * factor, rtol=0, atol=2e-5)


@pytest.mark.parametrize("z", [50.0, 100.0])
def test_mixed_extreme_scores_float32_matches_float64(z):
    # Cells of +-z mixed at every location: float32 stays finite and agrees with float64.
    K = 5
    generator = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (2, K * K, 50, 50), generator=generator) * 2 - 1
    targets = torch.randint(-1, 2, (2, 50, 50), generator=generator)
    scores64 = (z * signs).double().requires_grad_(True)
    scores32 = (z * signs).float().requires_grad_(True)
    loss64 = interpolated_logistic_loss(scores64, targets, K)
    loss32 = interpolated_logistic_loss(scores32, targets, K)
    assert not torch.isfinite(naive_loss(scores32.detach(), targets, K)).all()
    loss64.backward()
    loss32.backward()
    assert torch.isfinite(loss32) and torch.isfinite(scores32.grad).all()
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-5, atol=0)
    torch.testing.assert_close(scores32.grad.double(), scores64.grad, rtol=1e-4, atol=1e-6)


# ignored locations -----------------------------------------------------------------

@pytest.mark.parametrize("K", [1, 2, 5])
def test_ignored_locations_carry_no_loss_and_no_gradient(K):
    scores, targets, box_weights = random_case(K, seed=5)
    ignored = (targets == -1)[:, None].expand_as(scores)
    changed = torch.where(ignored, 1e3 * torch.randn_like(scores), scores)
    losses, grads = [], []
    for values in (scores, changed):
        values = values.clone().requires_grad_(True)
        loss = interpolated_logistic_loss(values, targets, K, box_weights)
        loss.backward()
        losses.append(loss.detach())
        grads.append(values.grad)
    assert torch.equal(losses[0], losses[1])
    assert torch.equal(grads[0], grads[1])
    assert (grads[1][ignored] == 0).all()
    assert (grads[1][~ignored] != 0).any()


def test_all_ignored_is_zero_loss():
    scores = torch.randn(2, 4, 50, 50, requires_grad=True)
    loss = interpolated_logistic_loss(scores, torch.full((2, 50, 50), -1), K=2)
    loss.backward()
    assert loss.item() == 0.0 and (scores.grad == 0).all()


def test_zero_boxes():
    loss = interpolated_logistic_loss(torch.zeros(0, 4, 50, 50), torch.zeros(0, 50, 50), K=2)
    assert loss.item() == 0.0


# errors ------------------------------------------------------------------------------

def test_errors_say_what_was_expected():
    scores, targets = torch.zeros(2, 4, 50, 50), torch.zeros(2, 50, 50)
    with pytest.raises(ValueError, match=r"\(B, 9, S, S\) for K = 3"):
        interpolated_logistic_loss(scores, targets, K=3)
    with pytest.raises(ValueError, match="targets must be"):
        interpolated_logistic_loss(scores, targets[:, :10], K=2)
    with pytest.raises(ValueError, match="1 \\(positive\\), 0 \\(negative\\) or -1"):
        interpolated_logistic_loss(scores, targets + 0.5, K=2)
    with pytest.raises(ValueError, match="box_weights must be"):
        interpolated_logistic_loss(scores, targets, K=2, box_weights=torch.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        interpolated_logistic_loss(scores, targets, K=2, reduction="mean")
    with pytest.raises(TypeError, match="float tensor"):
        interpolated_log_probabilities(scores.long(), K=2)
    with pytest.raises(ValueError, match="positive integer"):
        interpolated_log_probabilities(scores, K=0)
