"""Region NMS: greedy non-maximum suppression on mask IoU (the paper's §4.2, at 0.3).

Masks follow :mod:`hypercolumns.eval.masks`: bool ``(N, H, W)`` stacks of one
image, or COCO RLE dicts of one size (compared on the run lengths, not
decoded).  A region is removed when its mask IoU with a higher-scoring kept
region is *greater* than the threshold, as :func:`~hypercolumns.pipelines.
detections.nms` does for boxes; an empty mask overlaps nothing (IoU 0).
"""
from __future__ import annotations

import numpy as np

from hypercolumns.eval.masks import mask_iou
from hypercolumns.pipelines.system2.pool_expansion import greedy_suppression

REGION_NMS = 0.3


def region_nms(masks, scores, threshold: float = REGION_NMS) -> np.ndarray:
    """Greedy NMS of scored regions of one image on mask IoU.

    Parameters
    ----------
    masks : ndarray of shape (N, H, W), bool, or sequence of N COCO RLE dicts
        The regions, all of the image's size.
    scores : ndarray of shape (N,)
        Higher is better.
    threshold : float in [0, 1]
        Mask IoU above which the lower-scoring region is removed.

    Returns
    -------
    keep : ndarray of shape (K,), int64
        Indices into ``masks``, by decreasing score; ties keep input order.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(masks) != len(scores):
        raise ValueError(f"{len(masks)} masks but {len(scores)} scores; expected one score "
                         "per mask")
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    if isinstance(masks, np.ndarray) and masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    return greedy_suppression(mask_iou(masks, masks), scores, threshold)
