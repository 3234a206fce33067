"""Average precision from ranked true/false-positive flags.

Two integrals of the precision-recall curve, both as the VOC devkits define them:

- ``"all_points"`` (VOC2010 and later, the SDS benchmark's ``VOCap``): the
  area under the monotone precision envelope, where the envelope at recall r is
  the best precision at any recall >= r.
- ``"11_point"`` (VOC2007, used by MNC and FCIS): the mean over recall levels
  0, 0.1, ..., 1 of the best precision at recall >= that level (0 if the curve
  never reaches it).

The 11 recall levels are the exact decimals, ``np.round(np.linspace(0, 1, 11),
10)``: ``np.arange(0, 1.1, 0.1)`` (the devkit's) holds 0.30000000000000004, so a
recall of exactly 3/10 would miss its level there.
"""
from __future__ import annotations

import numpy as np

ELEVEN_RECALL_LEVELS = np.round(np.linspace(0.0, 1.0, 11), 10)
AP_METHODS = ("all_points", "11_point")


def precision_recall(true_positive, false_positive, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each ranked detection.

    Parameters
    ----------
    true_positive, false_positive : ndarray of shape (D,), bool
        Flags of the detections in decreasing score order. A detection with
        neither flag (it matched an ignored instance) is dropped.
    n_gt : int
        Number of (non-ignored) ground-truth instances.

    Returns
    -------
    precision, recall : ndarray of shape (D',), float64
        ``D'`` is the number of detections with a flag.
    """
    true_positive = np.asarray(true_positive, dtype=bool)
    false_positive = np.asarray(false_positive, dtype=bool)
    if true_positive.shape != false_positive.shape or true_positive.ndim != 1:
        raise ValueError(
            f"true_positive {true_positive.shape} and false_positive {false_positive.shape} "
            "must be 1-D arrays of the same length"
        )
    counted = true_positive | false_positive
    tp_cumulative = np.cumsum(true_positive[counted], dtype=np.float64)
    fp_cumulative = np.cumsum(false_positive[counted], dtype=np.float64)
    precision = tp_cumulative / np.maximum(tp_cumulative + fp_cumulative, 1.0)
    recall = tp_cumulative / n_gt if n_gt > 0 else np.zeros_like(tp_cumulative)
    return precision, recall


def average_precision(true_positive, false_positive, n_gt: int, method: str = "all_points") -> float:
    """AP of one class at one overlap threshold.

    Parameters
    ----------
    true_positive, false_positive : ndarray of shape (D,), bool
        As in :func:`precision_recall`.
    n_gt : int
        Number of (non-ignored) ground-truth instances.
    method : {"all_points", "11_point"}

    Returns
    -------
    ap : float
        In [0, 1]; NaN when ``n_gt == 0`` (the class does not count in a mean).
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    if n_gt <= 0:
        return float("nan")
    precision, recall = precision_recall(true_positive, false_positive, n_gt)
    if method == "11_point":
        return _eleven_point(precision, recall)
    return _all_points(precision, recall)


def _all_points(precision: np.ndarray, recall: np.ndarray) -> float:
    recall_padded = np.concatenate([[0.0], recall, [1.0]])
    envelope = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(envelope[::-1])[::-1]
    steps = np.flatnonzero(recall_padded[1:] != recall_padded[:-1])
    return float(np.sum((recall_padded[steps + 1] - recall_padded[steps]) * envelope[steps + 1]))


def _eleven_point(precision: np.ndarray, recall: np.ndarray) -> float:
    best = [precision[recall >= level].max(initial=0.0) for level in ELEVEN_RECALL_LEVELS]
    return float(np.mean(best))
