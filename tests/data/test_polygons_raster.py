"""Polygon rasterisation in the continuous frame (hand-counted pixels)."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.polygons import polygon_to_mask, polygons_to_mask


def test_square_covers_exactly_its_pixels():
    mask = polygon_to_mask(np.array([[0, 0], [10, 0], [10, 10], [0, 10]]), 20, 20)
    assert mask.dtype == bool and mask.shape == (20, 20)
    expected = np.zeros((20, 20), bool)
    expected[:10, :10] = True
    np.testing.assert_array_equal(mask, expected)


def test_pixels_count_by_their_centres():
    # Edges at 2.6 and 5.4 hold the centres 3.5 and 4.5 only; at 2.4 and 5.6, 2.5 to 5.5.
    def square(low, high):
        return np.array([[low, low], [high, low], [high, high], [low, high]])

    assert polygon_to_mask(square(2.6, 5.4), 8, 8).sum() == 2 * 2
    assert polygon_to_mask(square(2.4, 5.6), 8, 8).sum() == 4 * 4


def test_union_and_clipping():
    left = np.array([[-5, 0], [2, 0], [2, 3], [-5, 3]])
    right = np.array([[6, 0], [9, 0], [9, 3], [6, 3]])
    mask = polygons_to_mask([left, right], 4, 8)
    assert mask[:3, :2].all() and mask[:3, 6:].all()
    assert mask.sum() == 3 * 2 + 3 * 2


def test_fewer_than_three_points_is_an_error():
    with pytest.raises(ValueError, match=r"K >= 3, got \(2, 2\)"):
        polygon_to_mask(np.array([[0, 0], [4, 4]]), 8, 8)
    with pytest.raises(ValueError, match="no polygon"):
        polygons_to_mask([], 8, 8)
