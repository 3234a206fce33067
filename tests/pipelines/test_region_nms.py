"""Region NMS on mask IoU: hand-made masks, RLE input, a plain reference on random masks."""
import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.pipelines.system2.region_nms import region_nms


def _masks(size, *rects):
    stack = np.zeros((len(rects), *size), bool)
    for mask, (x0, y0, x1, y1) in zip(stack, rects):
        mask[y0:y1, x0:x1] = True
    return stack


# a 10 x 10 square and its 10 x 20 extension: IoU 100 / 200 = 0.5
OVERLAPPING = _masks((30, 30), (0, 0, 10, 10), (0, 0, 10, 20))


def test_overlapping_masks_lower_one_suppressed_at_03_kept_at_06():
    scores = np.array([0.4, 0.9])  # the bigger mask scores higher
    np.testing.assert_array_equal(region_nms(OVERLAPPING, scores, 0.3), [1])
    np.testing.assert_array_equal(region_nms(OVERLAPPING, scores, 0.6), [1, 0])
    np.testing.assert_array_equal(region_nms(OVERLAPPING, scores), [1])  # default 0.3


def test_disjoint_masks_both_kept():
    masks = _masks((30, 30), (0, 0, 10, 10), (15, 15, 25, 25))
    np.testing.assert_array_equal(region_nms(masks, [0.2, 0.7], 0.0), [1, 0])


def test_rle_input_gives_the_same_answer():
    rles = [encode_rle(mask) for mask in OVERLAPPING]
    np.testing.assert_array_equal(region_nms(rles, [0.4, 0.9], 0.3), [1])
    np.testing.assert_array_equal(region_nms(rles, [0.4, 0.9], 0.6), [1, 0])


def test_empty_input_and_bad_shapes():
    assert region_nms(np.zeros((0, 5, 5), bool), []).shape == (0,)
    with pytest.raises(ValueError, match="one score per mask"):
        region_nms(OVERLAPPING, [1.0])
    # an empty mask overlaps nothing
    masks = np.zeros((2, 5, 5), bool)
    np.testing.assert_array_equal(region_nms(masks, [1.0, 0.5]), [0, 1])


def _reference(masks, scores, threshold):
    keep = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        ok = True
        for k in keep:
            union = np.logical_or(masks[i], masks[k]).sum()
            iou = np.logical_and(masks[i], masks[k]).sum() / union if union else 0.0
            if iou > threshold:
                ok = False
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5])
def test_matches_plain_reference_on_random_masks(threshold):
    rng = np.random.default_rng(11)
    corners = rng.integers(0, 30, (60, 2))
    sides = rng.integers(3, 15, (60, 2))
    masks = _masks((40, 40), *np.concatenate([corners, corners + sides], axis=1))
    masks &= rng.uniform(size=masks.shape) < 0.8  # ragged, not only rectangles
    scores = rng.uniform(size=60)
    np.testing.assert_array_equal(region_nms(masks, scores, threshold),
                                  _reference(masks, scores, threshold))
