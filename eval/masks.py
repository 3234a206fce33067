"""Masks for evaluation: pairwise IoU, COCO RLE, boxes as masks.

Conventions (those of :mod:`hypercolumns.data.records`):

- A mask is a ``bool`` array of shape ``(H, W)``; a stack of masks of one
  image is ``(N, H, W)``.
- A box is ``x0, y0, x1, y1`` in continuous pixel coordinates: pixel
  ``(r, c)`` covers ``[c, c+1) x [r, r+1)``.
- A COCO RLE is a dict ``{"size": [H, W], "counts": str}`` (column-major run
  lengths, compressed as pycocotools writes them). :func:`encode_rle` returns
  ``counts`` as ``str`` so that the dict can go to JSON as it is;
  :func:`decode_rle` also takes ``bytes`` and uncompressed (list) counts.
- Void pixels (VOC's 255 border) are excluded from both the intersection and
  the union of every IoU computed with a ``void`` mask.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pycocotools.mask as mask_utils

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


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of one mask, JSON-safe.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool

    Returns
    -------
    rle : dict
        ``{"size": [H, W], "counts": str}``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode_rle takes one (H, W) mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: Mapping) -> np.ndarray:
    """Mask of a COCO RLE.

    Parameters
    ----------
    rle : dict
        ``{"size": [H, W], "counts": str, bytes or list of int}``.

    Returns
    -------
    mask : ndarray of shape (H, W), bool
    """
    return decode_rles([rle])[0]


def decode_rles(rles: Sequence[Mapping]) -> np.ndarray:
    """Masks of COCO RLEs of one size, decoded in one call.

    Parameters
    ----------
    rles : sequence of N RLE dicts
        As :func:`decode_rle` takes; all of the same size.

    Returns
    -------
    masks : ndarray of shape (N, H, W), bool
    """
    if len(rles) == 0:
        raise ValueError("no RLEs to decode: their size is unknown")
    compressed = [to_compressed_rle(rle) for rle in rles]
    sizes = {tuple(rle["size"]) for rle in compressed}
    if len(sizes) > 1:
        raise ValueError(f"RLEs of different sizes {sorted(sizes)} cannot be stacked")
    with warnings.catch_warnings():
        # pycocotools' decode trips numpy 2's __array__(copy=...) deprecation; the result is right
        warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
        decoded = mask_utils.decode(compressed)
    return np.moveaxis(decoded, 2, 0).astype(bool, order="C")


def to_compressed_rle(rle: Mapping) -> dict:
    """The pycocotools form of an RLE: ``counts`` as compressed ``bytes``."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise TypeError(f"expected an RLE dict with 'size' and 'counts', got {type(rle).__name__}")
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, bytes):
        raise TypeError(f"RLE counts must be str, bytes or a list of int, got {type(counts).__name__}")
    return {"size": [height, width], "counts": counts}


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Compressed RLE of the union of COCO polygons.

    Parameters
    ----------
    polygons : sequence of sequences of float
        Each ``[x1, y1, x2, y2, ...]`` with at least 3 points, image pixels.
    height, width : int

    Returns
    -------
    rle : dict
        ``{"size": [H, W], "counts": bytes}``.
    """
    for polygon in polygons:
        # pycocotools reads a 4-number list as a box, not a polygon.
        if len(polygon) < 6 or len(polygon) % 2:
            raise ValueError(
                f"a polygon needs an even number (>= 6) of coordinates x1, y1, x2, y2, ..., "
                f"got {len(polygon)}"
            )
    if not polygons:
        return to_compressed_rle(encode_rle(np.zeros((height, width), dtype=bool)))
    return mask_utils.merge(mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width))


def box_to_mask(box, height: int, width: int) -> np.ndarray:
    """The pixels of a box: those whose centre lies inside it.

    Parameters
    ----------
    box : array-like of shape (4,), float
        ``x0, y0, x1, y1``; a box holding exactly pixels ``c0..c1`` is
        ``x0 = c0, x1 = c1 + 1``. Parts outside the image are clipped.
    height, width : int

    Returns
    -------
    mask : ndarray of shape (H, W), bool
    """
    return boxes_to_masks(np.reshape(np.asarray(box, dtype=np.float64), (1, 4)), height, width)[0]


def boxes_to_masks(boxes, height: int, width: int) -> np.ndarray:
    """:func:`box_to_mask` for a stack of boxes.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4), float
    height, width : int

    Returns
    -------
    masks : ndarray of shape (N, H, W), bool
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x0, y0, x1, y1, got shape {boxes.shape}")
    centres_x = np.arange(width) + 0.5
    centres_y = np.arange(height) + 0.5
    inside_x = (centres_x >= boxes[:, 0:1]) & (centres_x < boxes[:, 2:3])
    inside_y = (centres_y >= boxes[:, 1:2]) & (centres_y < boxes[:, 3:4])
    return inside_y[:, :, None] & inside_x[:, None, :]
