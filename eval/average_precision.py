"""Average precision from ranked true/false-positive flags.

Two integrals of the precision-recall curve, each as its reference code computes it:

- ``"all_points"`` (VOC2010 and later; the SDS benchmark's ``VOCap``, the SDS
  authors' Python ``getPR`` in ``bharath272/sds`` ``evaluation.py``, and
  ``voc_ap(..., use_07_metric=False)``): the area under the monotone precision
  envelope, where the envelope at recall r is the best precision at any recall
  >= r, summed over the points where recall changes.
- ``"11_point"`` (VOC2007; MNC's ``voc_ap(rec, prec, use_07_metric=True)`` in
  ``daijifeng001/MNC`` ``lib/utils/voc_eval.py``, which ``voc_eval_sds`` calls):
  for each recall level t of ``np.arange(0., 1.1, 0.1)``, the best precision at
  recall >= t (0 if the curve never reaches t), each added as ``p / 11.``.

The 11 levels are ``np.arange``'s float values, kept on purpose:
0.30000000000000004, 0.6000000000000001 and 0.7000000000000001 lie above 3/10,
6/10 and 7/10, so a recall of exactly 3/10 (3 of 10 instances found) misses the
level 0.3 in MNC's code, and here.
"""
from __future__ import annotations

import numpy as np

# MNC's levels, float values and all (see the module docstring)
ELEVEN_RECALL_LEVELS = np.arange(0.0, 1.1, 0.1)
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
    ap = 0.0
    for level in ELEVEN_RECALL_LEVELS:
        ap += precision[recall >= level].max(initial=0.0) / 11.0  # MNC's sum, in its order
    return float(ap)
