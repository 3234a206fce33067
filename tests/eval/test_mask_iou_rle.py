"""Mask IoU: pairwise (hand-computed), void, paired, on run lengths."""
import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.eval.masks import mask_iou, paired_mask_iou, rle_iou


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


def numpy_iou(a: np.ndarray, b: np.ndarray) -> float:
    """The reference: counts of the decoded masks, 0 where the union is empty."""
    union = int(np.logical_or(a, b).sum())
    return int(np.logical_and(a, b).sum()) / union if union else 0.0


def uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE, from numpy: column-major, background first."""
    flat = mask.T.reshape(-1).astype(np.int8)
    starts = np.flatnonzero(np.diff(np.concatenate([[0], flat]))) if flat.size else np.zeros(0, int)
    bounds = np.concatenate([[0], starts, [flat.size]])
    return {"size": list(mask.shape), "counts": np.diff(bounds).tolist()}


@pytest.mark.parametrize("shape", [(1, 1), (1, 31), (31, 1), (9, 7), (40, 33)])
def test_every_path_gives_the_numpy_iou(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    masks = [np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) < 0.5,
             rng.random(shape) < 0.1, rng.random(shape) < 0.9]
    expected = np.array([[numpy_iou(a, b) for b in masks] for a in masks])
    compressed = [encode_rle(m) for m in masks]
    lists = [uncompressed(m) for m in masks]
    paths = {
        "runs, compressed": rle_iou(compressed, compressed),
        "runs, uncompressed": rle_iou(lists, lists),
        "runs, mixed": rle_iou(compressed, lists),
        "pixels": mask_iou(np.stack(masks), np.stack(masks)),
        "pixels from RLEs": mask_iou(compressed, lists, void=np.zeros(shape, bool)),
    }
    for path, iou in paths.items():
        np.testing.assert_array_equal(iou, expected, err_msg=path)


def test_run_length_path_refuses_a_short_rle():
    # counts "P1": one run of 32 pixels on a 10 x 10 image; pycocotools' IoU said 0.0
    full = encode_rle(np.ones((10, 10), bool))
    for masks_a, masks_b in (([{"size": [10, 10], "counts": "P1"}], [full]),
                             ([full], [{"size": [10, 10], "counts": [32]}])):
        with pytest.raises(ValueError, match="RLE run lengths sum to 32, not 10 x 10 = 100 pixels"):
            rle_iou(masks_a, masks_b)
        with pytest.raises(ValueError, match="sum to 32"):
            mask_iou(masks_a, masks_b, void=np.zeros((10, 10), bool))
