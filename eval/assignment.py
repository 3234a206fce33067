"""The AP^r rules: how ranked detections are assigned to ground truth, and the AP integral.

Three rules, each following one reference implementation step by step:

- ``"sds"`` (the official SDS benchmark, MATLAB, ``generalized_det_eval.m`` as
  ``protocol.md`` reads it): each detection, in decreasing score order, takes
  the best-overlapping instance **not yet covered**; it is a match iff that
  overlap is **strictly greater** than the threshold, and the instance is then
  covered. All-points AP.
- ``"mnc"`` (MNC, ``daijifeng001/MNC``, ``lib/utils/voc_eval.py``,
  ``voc_eval_sds``; FCIS kept it): each detection goes to its argmax-IoU
  instance (the first on a tie: ``if ov > cur_overlap``); a match iff that
  overlap is **>=** the threshold and the instance is not yet
  (``already_detect``), while one already covered makes the detection a false
  positive even if another instance overlaps it enough. AP is ``voc_ap(...,
  use_07_metric=True)``: 11 points at ``np.arange(0., 1.1, 0.1)``'s float
  values (see :mod:`~hypercolumns.eval.average_precision`).
- ``"sds-python"`` (the SDS authors' Python release, ``bharath272/sds``,
  ``evaluation.py``, ``assign_dets_to_gt`` and ``getPR``): the matching of
  ``"mnc"`` (``np.argmax`` instance, first on a tie; a match iff ``bestov >=
  thresh`` and that instance is not ``covered``; a covered one makes a false
  positive), then the all-points area under the precision envelope (``getPR``
  makes precision non-increasing and sums over recall changes), as ``"sds"``.

So ``"sds"`` and ``"sds-python"`` differ only in the matching (best uncovered
and ``>`` against argmax and ``>=``), ``"mnc"`` and ``"sds-python"`` only in the
AP integral.

Extensions that none of the three reference codes has (they evaluate SBD,
which has neither; on such data all three give their code's numbers):
``ignore`` instances (VOC's difficult, COCO's crowd) take part like any other
but are never covered, and a detection matched to one counts neither way (as
the box ``voc_eval`` in MNC's same file treats difficult). Ties in score are
broken by input order, a stable sort, as MATLAB's ``sort`` is in the official
code; the two Python codes use ``np.argsort(-scores)``, whose default sort is
not stable and whose tie order depends on the numpy version and CPU, so equal
scores are the one place their numbers are not defined to reproduce.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rule:
    """One AP^r rule: its matching (``"best_uncovered"`` or ``"argmax"``), AP method, and words."""

    matching: str
    ap_method: str
    summary: str


RULES = {
    "sds": Rule("best_uncovered", "all_points",
                "official SDS rule (generalized_det_eval.m): best uncovered instance, IoU > t, all-points AP"),
    "mnc": Rule("argmax", "11_point",
                "MNC's rule (daijifeng001/MNC voc_eval_sds): argmax instance, IoU >= t, "
                "11-point AP at np.arange(0, 1.1, 0.1)"),
    "sds-python": Rule("argmax", "all_points",
                       "SDS authors' Python release (bharath272/sds evaluation.py): argmax instance, "
                       "IoU >= t, all-points AP"),
}


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
    rule : {"sds", "mnc", "sds-python"}

    Returns
    -------
    matched : ndarray of shape (T, D), int64
        The column each detection took, -1 for none (a false positive).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    matched = np.full((len(thresholds), iou.shape[0]), -1, dtype=np.int64)
    if iou.shape[1] == 0:
        return matched  # MNC: "image_index not in gt_pkl" -> fp; sds: "ov.size == 0" -> zeros
    assign_one = _assign_best_uncovered if RULES[rule].matching == "best_uncovered" else _assign_argmax
    for t, threshold in enumerate(np.asarray(thresholds, dtype=np.float64)):
        matched[t] = assign_one(iou, gt_ignore, threshold)
    return matched


def _assign_best_uncovered(iou: np.ndarray, gt_ignore: np.ndarray, threshold: float) -> np.ndarray:
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


def _assign_argmax(iou: np.ndarray, gt_ignore: np.ndarray, threshold: float) -> np.ndarray:
    """Column each ranked row takes under MNC's and the Python release's rule, -1 for none (or a duplicate)."""
    matched = np.full(iou.shape[0], -1, dtype=np.int64)
    covered = np.zeros(iou.shape[1], dtype=bool)
    for d in range(iou.shape[0]):
        best = int(np.argmax(iou[d]))  # the first on a tie, as both codes
        if iou[d, best] >= threshold and not covered[best]:
            matched[d] = best
            covered[best] = not gt_ignore[best]
    return matched
