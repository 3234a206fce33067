"""Boxes: ``xyxy`` <-> ``xywh``, pairwise IoU, boxes as masks.

The frame is :mod:`hypercolumns.data.records`': ``x0, y0, x1, y1`` (``xyxy``)
in continuous pixel coordinates, pixel ``(r, c)`` covering ``[c, c+1) x [r, r+1)``.
COCO's ``bbox`` ``[x, y, w, h]`` (``xywh``) is in the same frame. One function
per conversion, as detectron2's ``BoxMode.convert``; each takes one box ``(4,)``
or a stack ``(N, 4)`` and returns float64 of the same shape.
"""
from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes) -> np.ndarray:
    """``[x, y, w, h]`` -> ``[x, y, x + w, y + h]``."""
    boxes = _as_boxes(boxes)
    return np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes) -> np.ndarray:
    """``[x0, y0, x1, y1]`` -> ``[x0, y0, x1 - x0, y1 - y0]``."""
    boxes = _as_boxes(boxes)
    return np.concatenate([boxes[..., :2], boxes[..., 2:] - boxes[..., :2]], axis=-1)


def _as_boxes(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim not in (1, 2) or boxes.shape[-1] != 4:
        raise ValueError(f"expected one box (4,) or boxes (N, 4), got shape {boxes.shape}")
    return boxes


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` ``xyxy`` boxes -> ``(N, M)``."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


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
