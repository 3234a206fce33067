"""Box detections for System 2: greedy box NMS and the paper's pool expansion.

Detections files are read and written by :mod:`hypercolumns.data.detections`
(:class:`~hypercolumns.data.detections.Detections`, one class in one image);
the detector-like set for the shared data is :mod:`synthetic_detections`.

Box overlap is :func:`~hypercolumns.data.boxes.box_iou` on the continuous frame
(no ``+ 1`` on widths, unlike R-CNN's ``nms.m``); a box is suppressed when its
IoU with a kept box is *greater* than the threshold (R-CNN keeps ``o <= overlap``).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.detections import Detections

# R-CNN's per-class NMS threshold on detector output; the paper's pool-expansion overlap.
DETECTOR_NMS = 0.3
POOL_OVERLAP = 0.7

# ---------------------------------------------------------------- NMS and pool expansion

def nms(boxes, scores, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression of boxes.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        ``x0, y0, x1, y1``, continuous pixel coordinates.
    scores : ndarray of shape (N,)
    threshold : float in [0, 1]
        A box is removed when its IoU with a higher-scoring kept box is
        greater than this.

    Returns
    -------
    keep : ndarray of shape (K,), int64
        Indices into ``boxes``, by decreasing score; ties keep input order.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return greedy_suppression(box_iou(boxes, boxes), scores, threshold)


def greedy_suppression(overlaps: np.ndarray, scores, threshold: float) -> np.ndarray:
    """Greedy NMS given the pairwise overlaps ``(N, N)``; see :func:`nms`."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    if overlaps.shape != (len(scores), len(scores)):
        raise ValueError(f"{len(scores)} scores for overlaps of shape {overlaps.shape}; "
                         "expected one score per box")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"NMS threshold must be in [0, 1], got {threshold}")
    removed = np.zeros(len(scores), bool)
    keep = []
    for index in np.argsort(-scores, kind="stable"):
        if removed[index]:
            continue
        keep.append(index)
        removed |= overlaps[index] > threshold
    return np.asarray(keep, np.int64)


def expand_pool(kept_boxes, kept_scores, suppressed_boxes, suppressed_scores,
                score_threshold: float, overlap: float = POOL_OVERLAP):
    """The paper's expanded pool (§4.2): NMS survivors plus recovered suppressed boxes.

    A suppressed box joins when its score is above ``score_threshold`` and its
    IoU with *every* kept box is below ``overlap``; NMS at ``overlap`` then
    runs over the union.

    Parameters
    ----------
    kept_boxes : ndarray of shape (K, 4)
        The detector's final boxes, ``x0, y0, x1, y1``.
    kept_scores : ndarray of shape (K,)
    suppressed_boxes : ndarray of shape (M, 4)
        The boxes the detector's NMS removed.
    suppressed_scores : ndarray of shape (M,)
    score_threshold : float
        Suppressed boxes need a score greater than this.
    overlap : float
        The IoU bound against kept boxes, and the final NMS threshold.

    Returns
    -------
    boxes : ndarray of shape (P, 4), float64
    scores : ndarray of shape (P,), float64
        The pool, by decreasing score.
    report : dict
        ``kept`` (K), ``suppressed`` (M), ``above_threshold``, ``added`` (the
        suppressed boxes that passed both tests) and ``pool`` (P).
    """
    kept_boxes = np.asarray(kept_boxes, np.float64).reshape(-1, 4)
    kept_scores = np.asarray(kept_scores, np.float64).reshape(-1)
    suppressed_boxes = np.asarray(suppressed_boxes, np.float64).reshape(-1, 4)
    suppressed_scores = np.asarray(suppressed_scores, np.float64).reshape(-1)
    above = suppressed_scores > score_threshold
    max_overlap = box_iou(suppressed_boxes, kept_boxes).max(axis=1, initial=0.0)
    added = above & (max_overlap < overlap)
    boxes = np.concatenate([kept_boxes, suppressed_boxes[added]])
    scores = np.concatenate([kept_scores, suppressed_scores[added]])
    keep = nms(boxes, scores, overlap)
    report = {"kept": len(kept_boxes), "suppressed": len(suppressed_boxes),
              "above_threshold": int(above.sum()), "added": int(added.sum()), "pool": len(keep)}
    return boxes[keep], scores[keep], report


def expand_detections(detections, score_threshold: float, overlap: float = POOL_OVERLAP):
    """:func:`expand_pool` on every :class:`Detections`; pool sizes per class.

    Returns
    -------
    pools : list of Detections
        One per input, every box marked kept.
    sizes : dict of category to {"before": int, "after": int}
        Summed over images: detector detections before, pool boxes after.
    """
    pools, sizes = [], defaultdict(lambda: {"before": 0, "after": 0})
    for entry in detections:
        boxes, scores, report = expand_pool(entry.boxes[entry.kept], entry.scores[entry.kept],
                                            *entry.suppressed(), score_threshold, overlap)
        pools.append(Detections(entry.image_id, entry.category, boxes, scores))
        sizes[entry.category]["before"] += report["kept"]
        sizes[entry.category]["after"] += report["pool"]
    return pools, dict(sizes)
