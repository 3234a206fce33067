"""AP^r: average precision of instance masks (the SDS benchmark).

Staged like cocoeval: :func:`match_image` (per image: mask IoU, assignments),
:func:`accumulate` (per class: ranked scores, true/false-positive flags per
threshold, AP), :func:`summarize` (a plain dict, percent). :func:`evaluate_apr`
runs the three.

Rules (``rule=``; :mod:`~hypercolumns.eval.assignment` defines them and
cites the code each follows):

- ``"sds"`` (default; the official SDS benchmark, ``generalized_det_eval.m``):
  per class, the detections in decreasing score order each take the
  best-overlapping ground-truth instance of their class in their image **that
  is not yet covered**; a true positive iff that overlap is **strictly greater**
  than the threshold (the instance is then covered), else a false positive. AP
  is the all-points area under the precision envelope (VOC2010+).
- ``"mnc"`` (MNC's ``voc_eval_sds``, ``daijifeng001/MNC``; FCIS): each
  detection goes to its argmax-IoU instance; a true positive iff the overlap is
  **>=** the threshold and that instance is not yet covered (a covered one
  makes it a false positive). AP is VOC2007's 11-point at ``np.arange(0, 1.1,
  0.1)``'s float levels, as MNC's ``voc_ap`` (10 instances, ranked TP TP TP FP
  FP: 3/11, since recall 3/10 misses the level 0.30000000000000004).
- ``"sds-python"`` (the SDS authors' Python release, ``bharath272/sds``
  ``evaluation.py``): the matching of ``"mnc"`` (``assign_dets_to_gt``), the
  all-points AP of ``"sds"`` (``getPR``).

Numbers of different rules are not strictly comparable; say which a table uses.

Details shared by the rules:

- Ties in score keep the input order of the detections (a stable sort), as
  MATLAB's ``sort(..., 'descend')`` does in the official code (MNC and the
  Python release use ``np.argsort``, whose tie order numpy does not fix).
- Overlap is mask IoU. When an image has a ``void`` mask, void pixels are
  excluded from both intersection and union (SBD has no void; VOC PNGs mark
  their 255 border so).
- A detection in an image without ground truth of its class is a false positive.
- A class's AP^r counts in the mean iff the class has ground truth: a class
  with ground truth and no detection has AP 0; a class with detections but no
  ground truth is left out (its AP is NaN).
- ``ignore`` instances (VOC's difficult, COCO's crowd; none of the three
  reference codes has them) take part in the assignment as any instance but
  are never covered; a detection that passes the threshold on one is neither a
  true nor a false positive, and they do not count in the number of ground
  truth.
- Thresholds are the exact decimals ``np.round(np.linspace(0.1, 0.9, 9), 10)``
  (``np.linspace`` alone gives 0.7000000000000001, and an IoU of exactly 7/10
  would then fail the ">=" rule; MNC passes the literals 0.5 and 0.7); AP^r_vol
  is the mean over these nine.
- "Mean best IoU": for each (non-ignored) ground-truth instance, the best IoU of
  any detection of its class in its image (0 if none), averaged over all
  instances of all classes.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hypercolumns.eval.assignment import RULES, assign_detections
from hypercolumns.eval.average_precision import average_precision
from hypercolumns.eval.instances import Detection, ImageGroundTruth
from hypercolumns.eval.masks import mask_iou, mask_shape

APR_THRESHOLDS = np.round(np.linspace(0.1, 0.9, 9), 10)


@dataclass
class ClassMatch:
    """One class's detections matched in one image.

    Attributes
    ----------
    detection_ids : ndarray of shape (D,), int64
        Indices of the detections in the caller's list, in matching order
        (decreasing score, ties by index).
    scores : ndarray of shape (D,), float64
    iou : ndarray of shape (D, G), float64
        Rows as ``detection_ids``, columns the class's ground-truth instances
        of the image in their order.
    gt_ignore : ndarray of shape (G,), bool
    matched_gt : ndarray of shape (T, D), int64
        Per threshold, the column each detection took, -1 if none.
    true_positive, ignored : ndarray of shape (T, D), bool
        Per threshold; a detection that is neither is a false positive.
    """

    detection_ids: np.ndarray
    scores: np.ndarray
    iou: np.ndarray
    gt_ignore: np.ndarray
    matched_gt: np.ndarray
    true_positive: np.ndarray
    ignored: np.ndarray


@dataclass
class ImageMatch:
    """:func:`match_image`'s result: thresholds (T,), rule, ``{category: ClassMatch}``."""

    thresholds: np.ndarray
    rule: str
    classes: dict


@dataclass
class ClassAccumulation:
    """One class over all images.

    Attributes
    ----------
    detection_ids : ndarray of shape (D,), int64
        Ranked: decreasing score, ties by index.
    scores : ndarray of shape (D,), float64
    true_positive, false_positive : ndarray of shape (T, D), bool
        Axis 0 the thresholds, axis 1 the ranked detections.
    n_gt : int
        Non-ignored ground-truth instances.
    best_iou : ndarray of shape (n_gt,), float64
        Per non-ignored instance (images in order), its best detection IoU.
    average_precision : ndarray of shape (T,), float64
        In [0, 1]; NaN when ``n_gt == 0``.
    """

    detection_ids: np.ndarray
    scores: np.ndarray
    true_positive: np.ndarray
    false_positive: np.ndarray
    n_gt: int
    best_iou: np.ndarray
    average_precision: np.ndarray


@dataclass
class Accumulation:
    """:func:`accumulate`'s result: thresholds (T,), rule, ``{category: ClassAccumulation}``."""

    thresholds: np.ndarray
    rule: str
    classes: dict


def match_image(ground_truth: ImageGroundTruth, detections: Sequence[Detection], *,
                thresholds=APR_THRESHOLDS, rule: str = "sds", detection_ids=None) -> ImageMatch:
    """Match one image's detections to its ground truth, class by class.

    Parameters
    ----------
    ground_truth : ImageGroundTruth
    detections : sequence of Detection
        This image's detections (their ``image_id`` is not read).
    thresholds : ndarray of shape (T,), float
        IoU thresholds.
    rule : {"sds", "mnc", "sds-python"}
    detection_ids : ndarray of shape (D,), int, optional
        Global indices of ``detections``, breaking score ties; default
        ``0..D-1``.

    Returns
    -------
    ImageMatch
        One ClassMatch per category present in the image's ground truth or
        detections. RLE masks are decoded at most once (not at all when the
        image has no void: their IoU is computed on the runs).
    """
    thresholds = _check_thresholds(thresholds)
    _check_rule(rule)
    ids = np.arange(len(detections)) if detection_ids is None else np.asarray(detection_ids, np.int64)
    _check_sizes(ground_truth, detections, ids)
    gt_categories = [category for category, _ in ground_truth.instances]
    det_categories = [det.category for det in detections]
    scores = np.asarray([det.score for det in detections], dtype=np.float64)
    classes = {}
    for category in dict.fromkeys(gt_categories + det_categories):
        gt_rows = np.flatnonzero([c == category for c in gt_categories]).astype(np.int64)
        det_rows = np.flatnonzero([c == category for c in det_categories]).astype(np.int64)
        det_rows = det_rows[np.lexsort((ids[det_rows], -scores[det_rows]))]
        # classes partition the masks, so each is decoded (if at all) once
        iou = mask_iou([detections[i].mask for i in det_rows],
                       [ground_truth.instances[g][1] for g in gt_rows], ground_truth.void)
        matched = assign_detections(iou, ground_truth.ignore[gt_rows], thresholds, rule)
        # column -1 (no match) reads the appended False
        hit_ignored = np.append(ground_truth.ignore[gt_rows], False)[matched]
        classes[category] = ClassMatch(
            detection_ids=ids[det_rows], scores=scores[det_rows], iou=iou,
            gt_ignore=ground_truth.ignore[gt_rows], matched_gt=matched,
            true_positive=(matched >= 0) & ~hit_ignored, ignored=hit_ignored,
        )
    return ImageMatch(thresholds=thresholds, rule=rule, classes=classes)


def accumulate(image_matches: Iterable[ImageMatch], categories: Sequence[Hashable] | None = None) -> Accumulation:
    """Gather every image's matches into ranked per-class flags and AP.

    Parameters
    ----------
    image_matches : iterable of ImageMatch
        All made with the same thresholds and rule.
    categories : sequence of hashable, optional
        Classes to report, in this order (a class absent everywhere gets
        ``n_gt == 0``); default: every class seen, in order of appearance.

    Returns
    -------
    Accumulation
    """
    per_class, thresholds, rule = {}, None, None
    for image_match in image_matches:
        if thresholds is None:
            thresholds, rule = image_match.thresholds, image_match.rule
        elif image_match.rule != rule or not np.array_equal(image_match.thresholds, thresholds):
            raise ValueError("image matches were made with different thresholds or rules")
        for category, class_match in image_match.classes.items():
            per_class.setdefault(category, []).append(class_match)
    if thresholds is None:
        thresholds, rule = APR_THRESHOLDS, "sds"
    order = list(categories) if categories is not None else list(per_class)
    ap_method = RULES[rule].ap_method
    classes = {c: _accumulate_class(per_class.get(c, []), len(thresholds), ap_method) for c in order}
    return Accumulation(thresholds=thresholds, rule=rule, classes=classes)


def _accumulate_class(matches: list, n_thresholds: int, ap_method: str) -> ClassAccumulation:
    def joined(name, empty):
        return np.concatenate([getattr(m, name) for m in matches], axis=-1) if matches else empty

    ids = joined("detection_ids", np.zeros(0, np.int64))
    scores = joined("scores", np.zeros(0))
    true_positive = joined("true_positive", np.zeros((n_thresholds, 0), bool))
    ignored = joined("ignored", np.zeros((n_thresholds, 0), bool))
    rank = np.lexsort((ids, -scores))
    true_positive, ignored = true_positive[:, rank], ignored[:, rank]
    false_positive = ~true_positive & ~ignored
    best_iou = [_best_iou_per_gt(m)[~m.gt_ignore] for m in matches]
    best_iou = np.concatenate(best_iou) if best_iou else np.zeros(0)
    n_gt = int(best_iou.size)
    ap = [average_precision(true_positive[t], false_positive[t], n_gt, ap_method) for t in range(n_thresholds)]
    return ClassAccumulation(
        detection_ids=ids[rank], scores=scores[rank], true_positive=true_positive,
        false_positive=false_positive, n_gt=n_gt, best_iou=best_iou,
        average_precision=np.asarray(ap, dtype=np.float64),
    )


def _best_iou_per_gt(class_match: ClassMatch) -> np.ndarray:
    if class_match.iou.shape[0] == 0:
        return np.zeros(class_match.iou.shape[1])
    return class_match.iou.max(axis=0)


def summarize(accumulation: Accumulation) -> dict:
    """Means over the classes that have ground truth, in percent.

    Parameters
    ----------
    accumulation : Accumulation

    Returns
    -------
    summary : dict
        ``"APr@<t>"`` for each threshold t (``"APr@0.5"``, ``"APr@0.7"``, ...),
        ``"APr_vol"`` (when the thresholds are 0.1..0.9), ``"mean_best_iou"``,
        all percent (NaN when no class has ground truth); ``"per_class"``:
        ``{category: {"n_gt", "n_detections", "APr@<t>"..., "APr_vol",
        "mean_best_iou"}}`` (AP NaN for a class without ground truth);
        ``"rule"``, ``"thresholds"``, ``"n_classes"`` (classes with ground truth).
    """
    thresholds = accumulation.thresholds
    counted = [c for c, acc in accumulation.classes.items() if acc.n_gt > 0]
    ap_table = np.array([accumulation.classes[c].average_precision for c in counted]).reshape(-1, len(thresholds))
    summary = {"rule": accumulation.rule, "thresholds": [float(t) for t in thresholds], "n_classes": len(counted)}
    summary.update(_ap_entries(_nanless_mean(ap_table, axis=0), thresholds))
    best_iou = np.concatenate([acc.best_iou for acc in accumulation.classes.values()] + [np.zeros(0)])
    summary["mean_best_iou"] = _percent(_nanless_mean(best_iou))
    summary["per_class"] = {c: _class_entry(acc, thresholds) for c, acc in accumulation.classes.items()}
    return summary


def _class_entry(acc: ClassAccumulation, thresholds: np.ndarray) -> dict:
    entry = {"n_gt": acc.n_gt, "n_detections": int(acc.scores.size)}
    entry.update(_ap_entries(acc.average_precision, thresholds))
    entry["mean_best_iou"] = _percent(_nanless_mean(acc.best_iou))
    return entry


def _ap_entries(ap_per_threshold: np.ndarray, thresholds: np.ndarray) -> dict:
    entries = {f"APr@{t:g}": _percent(ap) for t, ap in zip(thresholds, ap_per_threshold)}
    if np.array_equal(thresholds, APR_THRESHOLDS):
        entries["APr_vol"] = _percent(_nanless_mean(ap_per_threshold))
    return entries


def _nanless_mean(values: np.ndarray, axis=None):
    """Mean that is NaN (without a warning) over nothing."""
    if values.size == 0 or (axis is not None and values.shape[axis] == 0):
        return np.full(values.shape[1:], np.nan) if axis == 0 else np.nan
    return values.mean(axis=axis)


def _percent(value) -> float:
    return float(100.0 * value)


def evaluate_apr(ground_truth: Mapping[Hashable, ImageGroundTruth], detections: Sequence[Detection], *,
                 thresholds=APR_THRESHOLDS, rule: str = "sds",
                 categories: Sequence[Hashable] | None = None) -> dict:
    """AP^r of detections against ground truth: match, accumulate, summarise.

    Parameters
    ----------
    ground_truth : mapping of image_id to ImageGroundTruth
        Every evaluated image, with or without objects.
    detections : sequence of Detection
        Their order breaks score ties.
    thresholds : ndarray of shape (T,), float
    rule : {"sds", "mnc", "sds-python"}
    categories : sequence of hashable, optional
        See :func:`accumulate`.

    Returns
    -------
    summary : dict
        See :func:`summarize`.
    """
    return summarize(accumulate(match_all(ground_truth, detections, thresholds=thresholds, rule=rule),
                                categories))


def match_all(ground_truth: Mapping[Hashable, ImageGroundTruth], detections: Sequence[Detection], *,
              thresholds=APR_THRESHOLDS, rule: str = "sds", match=None,
              empty_entry: str = "an ImageGroundTruth with no instances"):
    """:func:`match_image` over every image of ``ground_truth``, lazily (one image in memory).

    ``match`` replaces :func:`match_image` (AP^r_part passes its own).

    Raises
    ------
    ValueError
        A detection names an image that ``ground_truth`` lacks, or has a
        score that is not a finite number.
    """
    match = match or match_image
    by_image = indices_by_image(ground_truth, detections, empty_entry)
    for image_id, image_gt in ground_truth.items():
        indices = by_image[image_id]
        yield match(image_gt, [detections[i] for i in indices], thresholds=thresholds,
                    rule=rule, detection_ids=indices)


def indices_by_image(ground_truth: Mapping, items: Sequence, empty_entry: str,
                     what: str = "detection") -> dict:
    """``{image_id: [indices of items]}`` for every image of ``ground_truth``.

    Raises ValueError naming the item if its image has no ground-truth entry
    (``empty_entry`` says what to give an image without objects) or, when the
    items have scores, a score that is not a finite number.
    """
    by_image = {image_id: [] for image_id in ground_truth}
    for index, item in enumerate(items):
        if item.image_id not in by_image:
            raise ValueError(f"{what} {index}: image_id {item.image_id!r} has no ground-truth entry; "
                             f"give images without objects {empty_entry}")
        score = getattr(item, "score", 0.0)
        if not np.isfinite(score):
            raise ValueError(f"{what} {index}: score {score!r} is not a finite number")
        by_image[item.image_id].append(index)
    return by_image


def per_instance_best_iou(accumulation: Accumulation) -> np.ndarray:
    """Best IoU of every non-ignored instance, classes in order, then images.

    For pairing two systems evaluated on the same ground truth (e.g. with
    :func:`hypercolumns.eval.permutation.paired_permutation_test`).

    Returns
    -------
    best_iou : ndarray of shape (n_instances,), float64, in [0, 1]
    """
    return np.concatenate([acc.best_iou for acc in accumulation.classes.values()] + [np.zeros(0)])


def _check_sizes(ground_truth: ImageGroundTruth, detections: Sequence[Detection], ids: np.ndarray) -> None:
    size = (ground_truth.height, ground_truth.width)
    for index, (_, mask) in enumerate(ground_truth.instances):
        if mask_shape(mask) != size:
            raise ValueError(f"ground-truth instance {index}: mask is {mask_shape(mask)} but the image is {size}")
    for detection_id, detection in zip(ids, detections):
        if mask_shape(detection.mask) != size:
            raise ValueError(f"detection {detection_id}: mask is {mask_shape(detection.mask)} (H, W) "
                             f"but its image {detection.image_id!r} is {size}")


def _check_thresholds(thresholds) -> np.ndarray:
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if thresholds.size == 0 or np.any((thresholds < 0) | (thresholds > 1)):
        raise ValueError(f"thresholds must be a non-empty list of IoUs in [0, 1], got {thresholds.tolist()}")
    return thresholds


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
