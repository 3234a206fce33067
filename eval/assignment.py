"""Assigning ranked detections to ground-truth instances: the two AP^r rules.

- ``"sds"`` (the official SDS benchmark, ``generalized_det_eval.m``): each
  detection, in decreasing score order, takes the best-overlapping instance
  **not yet covered**; it is a match iff that overlap is **strictly greater**
  than the threshold, and the instance is then covered.
- ``"mnc"`` (MNC, FCIS): each detection goes to its argmax-IoU instance; a match
  iff the overlap is **>=** the threshold and that instance is not yet covered
  (a covered one makes the detection a false positive).

Ties in IoU go to the first instance (``np.argmax``, like MATLAB's ``max``).
Ignored instances (difficult, crowd) take part like any other but are never
covered.
"""
from __future__ import annotations

import numpy as np


def assign_detections(iou: np.ndarray, gt_ignore: np.ndarray, thresholds, rule: str = "sds") -> np.ndarray:
    """The instance each ranked detection takes, per threshold.

    Parameters
    ----------
    iou : ndarray of shape (D, G), float
        Rows the detections of one class in one image, in decreasing score
        order; columns that class's instances in the image.
    gt_ignore : ndarray of shape (G,), bool
        Instances that are never covered (a detection taking one is ignored).
    thresholds : ndarray of shape (T,), float
    rule : {"sds", "mnc"}

    Returns
    -------
    matched : ndarray of shape (T, D), int64
        The column each detection took, -1 for none (a false positive).
    """
    if rule not in ("sds", "mnc"):
        raise ValueError(f"rule must be 'sds' or 'mnc', got {rule!r}")
    matched = np.full((len(thresholds), iou.shape[0]), -1, dtype=np.int64)
    if iou.shape[1] == 0:
        return matched
    assign_one = _assign_sds if rule == "sds" else _assign_mnc
    for t, threshold in enumerate(np.asarray(thresholds, dtype=np.float64)):
        matched[t] = assign_one(iou, gt_ignore, threshold)
    return matched


def _assign_sds(iou: np.ndarray, gt_ignore: np.ndarray, threshold: float) -> np.ndarray:
    """Column each ranked row takes under the official rule, -1 for none."""
    matched = np.full(iou.shape[0], -1, dtype=np.int64)
    covered = np.zeros(iou.shape[1], dtype=bool)
    for d in range(iou.shape[0]):
        if covered.all():
            break
        candidates = np.where(covered, -np.inf, iou[d])
        best = int(np.argmax(candidates))
        if candidates[best] > threshold:
            matched[d] = best
            covered[best] = not gt_ignore[best]
    return matched


def _assign_mnc(iou: np.ndarray, gt_ignore: np.ndarray, threshold: float) -> np.ndarray:
    """Column each ranked row takes under MNC's rule, -1 for none (or a duplicate)."""
    matched = np.full(iou.shape[0], -1, dtype=np.int64)
    covered = np.zeros(iou.shape[1], dtype=bool)
    for d in range(iou.shape[0]):
        best = int(np.argmax(iou[d]))
        if iou[d, best] >= threshold and not covered[best]:
            matched[d] = best
            covered[best] = not gt_ignore[best]
    return matched
