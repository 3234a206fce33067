"""Eq. 3 coefficients: hand-computed values, the one-hot upsampling identity, edge cases."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hypercolumns.pipelines.inference.interpolate import (axis_weights, interpolate_probabilities,
                                                          neighbours)


def interpolation_coefficients(K, size=50):
    """alpha[y, x, r, c] as float64 numpy, from the separable factors."""
    rows, cols = axis_weights(K, size, size, torch.float64)
    return torch.einsum("yr,xc->yxrc", rows, cols).numpy()


@pytest.mark.parametrize("K", [1, 2, 3, 5, 7, 10])
def test_coefficients_are_weights_summing_to_one(K):
    alpha = interpolation_coefficients(K)
    assert alpha.shape == (50, 50, K, K)
    assert alpha.min() >= 0
    np.testing.assert_allclose(alpha.sum(axis=(2, 3)), 1.0, atol=1e-12)


def test_one_cell_is_the_identity():
    np.testing.assert_array_equal(interpolation_coefficients(1), np.ones((50, 50, 1, 1)))
    probabilities = torch.rand(3, 1, 50, 50, dtype=torch.float64)
    torch.testing.assert_close(interpolate_probabilities(probabilities), probabilities[:, 0],
                               rtol=0, atol=0)


@pytest.mark.parametrize("K", [2, 3, 5, 10])
def test_equals_upsampling_one_hot_cell_maps(K):
    one_hot = torch.eye(K * K, dtype=torch.float64).reshape(1, K * K, K, K)
    upsampled = F.interpolate(one_hot, size=(50, 50), mode="bilinear", align_corners=False)[0]
    alpha = interpolation_coefficients(K).reshape(50, 50, K * K)
    np.testing.assert_allclose(alpha.transpose(2, 0, 1), upsampled.numpy(), atol=1e-12)


# K = 2 on a 50 grid: Y = (y + 0.5) / 25 - 0.5, clamped to [0, 1]; row weights (1 - Y, Y)
#   y = 0 -> clamp -> (1, 0);  y = 12 -> 0 -> (1, 0);  y = 20 -> 0.32 -> (0.68, 0.32)
#   y = 24 -> 0.48 -> (0.52, 0.48);  y = 25 -> 0.52 -> (0.48, 0.52);  y = 49 -> clamp -> (0, 1)
@pytest.mark.parametrize("y, x, expected", [
    (24, 20, [[0.52 * 0.68, 0.52 * 0.32], [0.48 * 0.68, 0.48 * 0.32]]),
    (0, 49, [[0, 1], [0, 0]]),
    (12, 12, [[1, 0], [0, 0]]),
    (49, 25, [[0, 0], [0.48, 0.52]]),
])
def test_hand_computed_k2(y, x, expected):
    np.testing.assert_allclose(interpolation_coefficients(2)[y, x], expected, atol=1e-12)


def test_blends_probabilities_of_the_cells():
    cell_values = np.array([0.1, 0.2, 0.3, 0.4])  # cells (0,0), (0,1), (1,0), (1,1)
    probabilities = torch.from_numpy(cell_values)[None, :, None, None].expand(1, 4, 50, 50)
    heatmap = interpolate_probabilities(probabilities)
    assert heatmap.dtype == torch.float64 and heatmap.shape == (1, 50, 50)
    expected = 0.52 * 0.68 * 0.1 + 0.52 * 0.32 * 0.2 + 0.48 * 0.68 * 0.3 + 0.48 * 0.32 * 0.4
    assert heatmap[0, 24, 20] == pytest.approx(expected, abs=1e-12)
    assert heatmap[0, 0, 0] == pytest.approx(0.1)
    assert heatmap[0, 49, 49] == pytest.approx(0.4)


def test_matches_the_coefficients_on_random_input():
    K = 5
    probabilities = torch.rand(2, K * K, 50, 50, dtype=torch.float64)
    alpha = torch.from_numpy(interpolation_coefficients(K).reshape(50, 50, K * K))
    expected = torch.einsum("yxk,bkyx->byx", alpha, probabilities)
    torch.testing.assert_close(interpolate_probabilities(probabilities), expected)


@pytest.mark.parametrize("K", [1, 2, 3, 7])
def test_neighbours_are_the_cells_of_nonzero_weight(K):
    size = 20
    cell_maps = torch.arange(K * K, dtype=torch.float64)[None, :, None, None].expand(2, -1, size, size)
    cells, log_alpha = neighbours(cell_maps)  # the values are the cells' own indices
    assert cells.shape == (2, min(K, 2) ** 2, size, size)
    dense = torch.zeros(size, size, K * K, dtype=torch.float64)
    dense.scatter_add_(2, cells[0].long().permute(1, 2, 0), log_alpha[0].exp().permute(1, 2, 0))
    alpha = interpolation_coefficients(K, size).reshape(size, size, K * K)
    np.testing.assert_allclose(dense.numpy(), alpha, atol=1e-12)


def test_rejects_non_square_cell_count():
    with pytest.raises(ValueError, match="square"):
        interpolate_probabilities(torch.zeros(1, 3, 50, 50))
    with pytest.raises(ValueError, match="K"):
        axis_weights(0, 50, 50)
