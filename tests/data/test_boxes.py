"""Boxes: xyxy <-> xywh (hand values), box IoU (hand-computed), boxes as masks (pixel centres)."""
import numpy as np
import pytest

from hypercolumns.data.boxes import box_iou, box_to_mask, boxes_to_masks, xywh_to_xyxy, xyxy_to_xywh


def test_conversions_one_box_and_a_stack():
    np.testing.assert_array_equal(xywh_to_xyxy([10, 20, 30, 40]), [10, 20, 40, 60])
    np.testing.assert_array_equal(xyxy_to_xywh([1.5, 2, 4.5, 6]), [1.5, 2, 3, 4])
    stack = np.array([[10, 20, 30, 40], [1.5, 2, 3, 4]])
    np.testing.assert_array_equal(xywh_to_xyxy(stack), [[10, 20, 40, 60], [1.5, 2, 4.5, 6]])
    np.testing.assert_array_equal(xyxy_to_xywh(xywh_to_xyxy(stack)), stack)
    assert xywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
    assert xywh_to_xyxy([1, 2, 3, 4]).dtype == np.float64
    with pytest.raises(ValueError, match=r"\(N, 4\), got shape \(3,\)"):
        xywh_to_xyxy([1, 2, 3])


def test_box_iou_hand_computed():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    # 0 vs 1: 50 / 150; disjoint: 0; a box with itself: 1
    expected = np.array([[1, 1 / 3, 0], [1 / 3, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(box_iou(boxes, boxes), expected, rtol=0, atol=1e-15)
    assert box_iou(np.zeros((0, 4)), boxes).shape == (0, 3)
    assert box_iou([0, 0, 0, 0], [0, 0, 0, 0])[0, 0] == 0.0  # no area, no union


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
