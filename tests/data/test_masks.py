"""The mask codec: RLE round trip, polygon rasterisation in the continuous frame (hand-counted pixels)."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.masks import decode_rle, encode_rle, encode_window_rle, polygons_to_mask, polygons_to_rle


def test_square_covers_exactly_its_pixels():
    mask = polygons_to_mask([np.array([[0, 0], [10, 0], [10, 10], [0, 10]])], 20, 20)
    assert mask.dtype == bool and mask.shape == (20, 20)
    expected = np.zeros((20, 20), bool)
    expected[:10, :10] = True
    np.testing.assert_array_equal(mask, expected)


def test_pixels_count_by_their_centres():
    # Edges at 2.6 and 5.4 hold the centres 3.5 and 4.5 only; at 2.4 and 5.6, 2.5 to 5.5.
    def square(low, high):
        return np.array([[low, low], [high, low], [high, high], [low, high]])

    assert polygons_to_mask([square(2.6, 5.4)], 8, 8).sum() == 2 * 2
    assert polygons_to_mask([square(2.4, 5.6)], 8, 8).sum() == 4 * 4


def test_coco_polygons_rasterise_alike():
    # COCO's flat [x1, y1, x2, y2, ...]: the 3 x 2 pixels of columns 1..3, rows 2..3
    rle = polygons_to_rle([[1, 2, 4, 2, 4, 4, 1, 4]], 5, 6)
    expected = np.zeros((5, 6), bool)
    expected[2:4, 1:4] = True
    np.testing.assert_array_equal(decode_rle(rle), expected)
    assert not decode_rle(polygons_to_rle([], 5, 6)).any()


def test_union_and_clipping():
    left = np.array([[-5, 0], [2, 0], [2, 3], [-5, 3]])
    right = np.array([[6, 0], [9, 0], [9, 3], [6, 3]])
    mask = polygons_to_mask([left, right], 4, 8)
    assert mask[:3, :2].all() and mask[:3, 6:].all()
    assert mask.sum() == 3 * 2 + 3 * 2


def test_fewer_than_three_points_is_an_error():
    with pytest.raises(ValueError, match=r"K >= 3, got \(2, 2\)"):
        polygons_to_mask([np.array([[0, 0], [4, 4]])], 8, 8)
    with pytest.raises(ValueError, match="no polygon"):
        polygons_to_mask([], 8, 8)


def test_rle_round_trip_and_json_safe():
    rng = np.random.default_rng(0)
    mask = rng.random((7, 9)) < 0.4
    rle = encode_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [7, 9]
    np.testing.assert_array_equal(decode_rle(rle), mask)
    assert decode_rle(rle).dtype == bool
    # also from bytes counts and from uncompressed counts (column-major runs)
    np.testing.assert_array_equal(decode_rle({"size": [7, 9], "counts": rle["counts"].encode()}), mask)
    column = np.array([[0], [1], [1], [0]], dtype=bool)
    np.testing.assert_array_equal(decode_rle({"size": [4, 1], "counts": [1, 2, 1]}), column)


def test_rle_errors():
    with pytest.raises(TypeError, match="size"):
        decode_rle([1, 2, 3])
    with pytest.raises(ValueError, match=r"one \(H, W\) mask"):
        encode_rle(np.zeros((2, 3, 4), bool))
    with pytest.raises(ValueError, match=">= 6"):
        polygons_to_rle([[0, 0, 3, 3]], 5, 5)


def test_a_window_encodes_to_pycocotools_rle_of_the_image_sized_mask():
    """Every placement, including windows as tall as the image (runs that continue into the next
    column), at its edges, empty and full, against pycocotools on the image-sized array."""
    import pycocotools.mask as mask_utils

    rng = np.random.default_rng(0)
    for _ in range(3000):
        height, width = rng.integers(1, 12, 2)
        h, w = rng.integers(0, height + 1), rng.integers(0, width + 1)
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        window = rng.random((h, w)) < rng.choice([0.0, 0.5, 1.0])
        full = np.zeros((height, width), np.uint8)
        full[top:top + h, left:left + w] = window
        expected = mask_utils.encode(np.asfortranarray(full))["counts"].decode("ascii")
        assert encode_window_rle(window, top, left, (height, width)) == {"size": [height, width], "counts": expected}
    with pytest.raises(ValueError, match="leaves"):
        encode_window_rle(np.ones((3, 3), bool), 8, 0, (10, 10))
