"""Mask IoU for evaluation: pairwise, paired, on pixels or on run lengths.

Conventions (those of :mod:`hypercolumns.data.records`):

- A mask is a ``bool`` array of shape ``(H, W)``; a stack of masks of one
  image is ``(N, H, W)``; either may be given as COCO RLE dicts, which
  :mod:`hypercolumns.data.masks` (the mask codec) decodes.
- Void pixels (VOC's 255 border) are excluded from both the intersection and
  the union of every IoU computed with a ``void`` mask.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pycocotools.mask as mask_utils

from hypercolumns.data.masks import decode_rle, decode_rles, to_compressed_rle

# float32 sums of 0/1 products are exact up to 2**24; bigger images use float64.
_FLOAT32_EXACT_PIXELS = 2**24
# Rows of the flattened (N, H*W) stack converted to float at a time.
_CHUNK_ELEMENTS = 2**24


def as_mask_stack(masks, height: int | None = None, width: int | None = None) -> np.ndarray:
    """Stack masks (bool arrays or COCO RLE dicts) into one bool array.

    Parameters
    ----------
    masks : ndarray of shape (N, H, W), or sequence of (H, W) arrays or RLE dicts
        The masks of one image. RLE dicts are decoded here, once.
    height, width : int, optional
        The image's size; required when ``masks`` is empty, checked otherwise.

    Returns
    -------
    stack : ndarray of shape (N, H, W), bool
    """
    if isinstance(masks, np.ndarray) and masks.ndim == 3:
        stack = masks.astype(bool, copy=False)
    elif len(masks) == 0:
        if height is None or width is None:
            raise ValueError("an empty list of masks needs height and width")
        stack = np.zeros((0, height, width), dtype=bool)
    elif all(isinstance(mask, Mapping) for mask in masks):
        stack = decode_rles(masks)
    else:
        stack = np.stack([_as_mask(mask) for mask in masks])
    if height is not None and width is not None and stack.shape[1:] != (height, width):
        raise ValueError(f"masks are {stack.shape[1:]} (H, W) but the image is {(height, width)}")
    return stack


def _as_mask(mask) -> np.ndarray:
    if isinstance(mask, Mapping):
        return decode_rle(mask)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    return mask.astype(bool, copy=False)


def mask_iou(masks_a, masks_b, void: np.ndarray | None = None) -> np.ndarray:
    """Pairwise intersection over union between two sets of masks of one image.

    Parameters
    ----------
    masks_a : ndarray of shape (N, H, W), bool, or sequence of (H, W) masks
    masks_b : ndarray of shape (M, H, W), bool, or sequence of (H, W) masks
    void : ndarray of shape (H, W), bool, optional
        Pixels excluded from both intersection and union.

    Returns
    -------
    iou : ndarray of shape (N, M), float64, values in [0, 1]
        0 where both masks are empty (outside the void).

    Notes
    -----
    When every mask is an RLE dict and there is no void, the IoU is computed
    on the run lengths (:func:`rle_iou`) without decoding; both paths divide
    the same integer counts, so they give the same floats.
    """
    if void is None and _all_rle(masks_a) and _all_rle(masks_b):
        return rle_iou(masks_a, masks_b)
    stack_a, stack_b = _flat_pair(masks_a, masks_b, void)
    intersection = _intersections(stack_a, stack_b)
    area_a = stack_a.sum(axis=1, dtype=np.int64)
    area_b = stack_b.sum(axis=1, dtype=np.int64)
    union = area_a[:, None] + area_b[None, :] - intersection
    return _safe_ratio(intersection, union)


def rle_iou(rles_a: Sequence[Mapping], rles_b: Sequence[Mapping]) -> np.ndarray:
    """Pairwise IoU of COCO RLEs of one size, on the run lengths (pycocotools).

    Parameters
    ----------
    rles_a : sequence of N RLE dicts
    rles_b : sequence of M RLE dicts

    Returns
    -------
    iou : ndarray of shape (N, M), float64

    Raises
    ------
    ValueError
        On an RLE whose run lengths do not sum to ``H * W`` (from
        :func:`~hypercolumns.data.masks.to_compressed_rle`), where pycocotools
        would count the missing pixels as background.
    """
    compressed_a = [to_compressed_rle(rle) for rle in rles_a]
    compressed_b = [to_compressed_rle(rle) for rle in rles_b]
    sizes = {tuple(rle["size"]) for rle in compressed_a + compressed_b}
    if len(sizes) > 1:
        raise ValueError(f"RLEs of different sizes {sorted(sizes)} cannot be compared")
    if not compressed_a or not compressed_b:
        # pycocotools answers [] here
        return np.zeros((len(compressed_a), len(compressed_b)))
    iou = mask_utils.iou(compressed_a, compressed_b, [0] * len(compressed_b))
    return np.asarray(iou, dtype=np.float64).reshape(len(compressed_a), len(compressed_b))


def mask_shape(mask) -> tuple[int, int]:
    """``(H, W)`` of a mask given as an array or an RLE dict (not decoded)."""
    if isinstance(mask, Mapping):
        return tuple(int(v) for v in to_compressed_rle(mask)["size"])
    shape = np.shape(mask)
    if len(shape) != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {shape}")
    return shape


def _all_rle(masks) -> bool:
    return not isinstance(masks, np.ndarray) and all(isinstance(mask, Mapping) for mask in masks)


def paired_mask_iou(masks_a, masks_b, voids=None) -> np.ndarray:
    """IoU of each mask with its partner: ``iou[i] = IoU(masks_a[i], masks_b[i])``.

    Parameters
    ----------
    masks_a, masks_b : sequence of N masks, each ndarray (H_i, W_i) bool or RLE
        Partners have the same shape; pairs may come from different images.
    voids : sequence of N (H_i, W_i) bool masks or None, optional
        Per pair, pixels excluded from intersection and union.

    Returns
    -------
    iou : ndarray of shape (N,), float64
    """
    if len(masks_a) != len(masks_b):
        raise ValueError(f"got {len(masks_a)} masks to pair with {len(masks_b)}")
    voids = [None] * len(masks_a) if voids is None else voids
    ious = [mask_iou([a], [b], void)[0, 0] for a, b, void in zip(masks_a, masks_b, voids)]
    return np.asarray(ious, dtype=np.float64)


def _flat_pair(masks_a, masks_b, void):
    height, width = _common_shape(masks_a, masks_b, void)
    flat_a = as_mask_stack(masks_a, height, width).reshape(-1, height * width)
    flat_b = as_mask_stack(masks_b, height, width).reshape(-1, height * width)
    if void is not None:
        void = np.asarray(void, dtype=bool)
        if void.shape != (height, width):
            raise ValueError(f"void mask is {void.shape} (H, W) but the masks are {(height, width)}")
        keep = ~void.reshape(-1)
        flat_a, flat_b = flat_a & keep, flat_b & keep
    return flat_a, flat_b


def _common_shape(masks_a, masks_b, void) -> tuple[int, int]:
    """(H, W) of the first mask found; (0, 0) when there is none."""
    for masks in (masks_a, masks_b):
        if isinstance(masks, np.ndarray) and masks.ndim == 3:
            return masks.shape[1], masks.shape[2]
        if len(masks):
            return mask_shape(masks[0])
    return np.shape(void) if void is not None else (0, 0)


def _intersections(flat_a: np.ndarray, flat_b: np.ndarray) -> np.ndarray:
    n_pixels = flat_a.shape[1]
    dtype = np.float32 if n_pixels < _FLOAT32_EXACT_PIXELS else np.float64
    result = np.zeros((len(flat_a), len(flat_b)), dtype=np.int64)
    if result.size == 0:
        return result
    float_b = flat_b.astype(dtype).T
    rows = max(1, _CHUNK_ELEMENTS // max(n_pixels, 1))
    for start in range(0, len(flat_a), rows):
        chunk = flat_a[start:start + rows].astype(dtype)
        result[start:start + rows] = np.rint(chunk @ float_b).astype(np.int64)
    return result


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    ratio = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=ratio, where=denominator > 0)
    return ratio
