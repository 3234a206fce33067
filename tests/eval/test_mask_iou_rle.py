"""Masks: pairwise IoU (hand-computed), void, RLE round trip, boxes as masks."""
import numpy as np
import pytest

from hypercolumns.eval.masks import (
    box_to_mask, boxes_to_masks, decode_rle, encode_rle, mask_iou, paired_mask_iou, polygons_to_rle,
)


def strip(start, stop, width=20):
    """A 1 x width mask holding columns start..stop-1."""
    mask = np.zeros((1, width), dtype=bool)
    mask[0, start:stop] = True
    return mask


def test_pairwise_iou_hand_computed():
    a = [strip(0, 10), strip(5, 15)]
    b = [strip(0, 10), strip(0, 5), np.zeros((1, 20), bool)]
    iou = mask_iou(a, b)
    # [0,10) vs [5,15): 5 / 15; [5,15) vs [0,5): 0; empty vs anything: 0
    expected = np.array([[1.0, 0.5, 0.0], [5 / 15, 0.0, 0.0]])
    np.testing.assert_allclose(iou, expected, rtol=0, atol=1e-15)
    assert iou.shape == (2, 3) and iou.dtype == np.float64


def test_iou_exact_decimal():
    # 7 of 10 pixels: the float IoU must equal the literal 0.7 for strict/non-strict tests
    assert mask_iou([strip(0, 7)], [strip(0, 10)])[0, 0] == 0.7


def test_void_excluded_from_intersection_and_union():
    void = strip(0, 5)[0][None, :]
    # outside the void: [5,10) vs [5,15): 5 / 10 (15 without the void)
    assert mask_iou([strip(0, 10)], [strip(5, 15)], void=void)[0, 0] == 0.5


def test_empty_sets_and_shape_errors():
    assert mask_iou(np.zeros((0, 3, 4), bool), np.ones((2, 3, 4), bool)).shape == (0, 2)
    with pytest.raises(ValueError, match="image is"):
        mask_iou([np.ones((3, 4), bool)], [np.ones((4, 3), bool)])


def test_paired_iou_across_image_sizes():
    pairs_a = [strip(0, 10), np.ones((2, 2), bool)]
    pairs_b = [strip(5, 15), np.eye(2, dtype=bool)]
    np.testing.assert_allclose(paired_mask_iou(pairs_a, pairs_b), [5 / 15, 0.5])


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


def test_box_to_mask_pixel_convention():
    # a box holding exactly pixels columns 1..2, row 1: x0=1, x1=3, y0=1, y1=2
    expected = np.zeros((3, 4), bool)
    expected[1, 1:3] = True
    np.testing.assert_array_equal(box_to_mask([1, 1, 3, 2], 3, 4), expected)
    # fractional: pixel centres decide; clipped at the border
    np.testing.assert_array_equal(box_to_mask([0.6, -5, 2.4, 1.4], 3, 4)[0], [False, True, False, False])
    assert boxes_to_masks(np.zeros((0, 4)), 3, 4).shape == (0, 3, 4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        boxes_to_masks(np.zeros((2, 3)), 3, 4)


def test_rle_path_equals_pixel_path():
    rng = np.random.default_rng(5)
    masks_a = rng.random((6, 13, 11)) < 0.5
    masks_b = rng.random((4, 13, 11)) < 0.3
    masks_b[0] = False  # an empty mask: IoU 0 on both paths
    from_pixels = mask_iou(masks_a, masks_b)
    from_runs = mask_iou([encode_rle(m) for m in masks_a], [encode_rle(m) for m in masks_b])
    np.testing.assert_array_equal(from_runs, from_pixels)
    assert mask_iou([encode_rle(masks_a[0])], []).shape == (1, 0)
    # a void forces the pixel path, on decoded RLEs
    void = rng.random((13, 11)) < 0.2
    np.testing.assert_array_equal(mask_iou([encode_rle(m) for m in masks_a], masks_b, void=void),
                                  mask_iou(masks_a, masks_b, void=void))
