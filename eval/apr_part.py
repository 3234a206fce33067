"""AP^r_part: AP^r whose overlap counts only correctly part-labelled pixels (Table 4).

The paper (Table 4): "intersection counts only pixels whose part label is also
right". The overlap of a detection ``d`` and a ground-truth instance ``g`` of
one image is

    overlap(d, g) = |{p : p in M_d and p in M_g and L_d(p) == L_g(p) > 0}|
                    / |{p : p in M_d or p in M_g}|

over the pixels ``p`` outside the image's void: ``M`` are the figure-ground
masks, ``L`` the part-label maps. The denominator is the union of the two
figure-ground masks, as AP^r's, so with every label right the overlap is the
mask IoU; a pixel inside a mask whose label is ``<= 0`` (no part; e.g. object
pixels PASCAL-Part leaves without a part) is in the union and never in the
intersection.

Part-label maps are integer ``(H, W)`` arrays of the image's size: a positive
value is a part (1 + its index in the category's part list, as
:func:`hypercolumns.data.part_groups.part_label_map` writes them), ``0`` or
``-1`` is background / no part. A mask, when not given, is ``L > 0``; labels
outside a given mask are not read.

Matching, AP and the summary are AP^r's (:mod:`~hypercolumns.eval.apr`) with
this overlap in place of the mask IoU: the official SDS rule by default (best
not-yet-covered instance, strictly greater than the threshold, all-points AP),
``rule="mnc"`` for MNC/FCIS's; per class, then the mean over the classes with
ground truth. :func:`match_image` returns AP^r's :class:`~hypercolumns.eval.apr.ImageMatch`
(its ``iou`` field holds the part overlap), so :func:`hypercolumns.eval.apr.accumulate`
gathers it; :func:`summarize` renames AP^r's keys.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from hypercolumns.eval import apr
from hypercolumns.eval.apr import ClassMatch, ImageMatch, accumulate
from hypercolumns.eval.assignment import assign_detections
from hypercolumns.eval.instances import ImageGroundTruth
from hypercolumns.eval.masks import _intersections, as_mask_stack

PART_THRESHOLDS = np.array([0.5])
"""The paper reports AP^r_part at 0.5 only."""


class PartDetection(NamedTuple):
    """One detected instance with its part labelling.

    Attributes
    ----------
    image_id : hashable
    category : hashable
    score : float
    part_labels : ndarray of shape (H, W), int
        > 0 a part id, <= 0 no part.
    mask : ndarray of shape (H, W), bool, or COCO RLE dict, or None
        The figure-ground mask; None for ``part_labels > 0``.
    """

    image_id: Hashable
    category: Hashable
    score: float
    part_labels: np.ndarray
    mask: Any = None


class PartInstance(NamedTuple):
    """One ground-truth instance: category, part-label map (H, W) int, mask (H, W) bool or None."""

    category: Hashable
    part_labels: np.ndarray
    mask: Any = None


@dataclass
class ImagePartGroundTruth(ImageGroundTruth):
    """The part-labelled ground truth of one image.

    Attributes
    ----------
    height, width : int
    instances : list of PartInstance
        Empty for an image without objects.
    void : ndarray of shape (H, W), bool, or None
        Pixels excluded from every overlap.
    ignore : sequence of bool, one per instance, or None
        As :class:`hypercolumns.eval.instances.ImageGroundTruth`'s (whose
        checks of ``ignore`` and ``void`` this shares).
    """

    def __post_init__(self):
        self.instances = [PartInstance(*instance) for instance in self.instances]
        super().__post_init__()


def part_overlap(labels_a, labels_b, masks_a=None, masks_b=None, void=None) -> np.ndarray:
    """Pairwise part-aware overlap between two sets of labelled instances of one image.

    Parameters
    ----------
    labels_a : ndarray of shape (N, H, W) or sequence of N (H, W) arrays, int
    labels_b : ndarray of shape (M, H, W) or sequence of M (H, W) arrays, int
    masks_a, masks_b : sequence of masks ((H, W) bool, RLE dict or None), optional
        Figure-ground masks; a None (or no sequence) is ``labels > 0``.
    void : ndarray of shape (H, W), bool, optional
        Pixels excluded from intersection and union.

    Returns
    -------
    overlap : ndarray of shape (N, M), float64, in [0, 1]
        Correctly labelled common pixels over the union of the masks (see the
        module docstring); 0 where the union is empty.
    """
    if len(labels_a) == 0 or len(labels_b) == 0:
        return np.zeros((len(labels_a), len(labels_b)))
    if np.shape(labels_a[0]) != np.shape(labels_b[0]):
        raise ValueError(f"label maps of shapes {np.shape(labels_a[0])} and {np.shape(labels_b[0])} (H, W): "
                         "not of one image")
    flat_a, fg_a = _flat_labels(labels_a, masks_a, void, "labels_a")
    flat_b, fg_b = _flat_labels(labels_b, masks_b, void, "labels_b")
    areas_a, areas_b = fg_a.sum(1, dtype=np.int64), fg_b.sum(1, dtype=np.int64)
    union = areas_a[:, None] + areas_b[None, :] - _intersections(fg_a, fg_b)
    right = np.zeros(union.shape, dtype=np.int64)
    for part in np.intersect1d(np.unique(flat_a[fg_a]), np.unique(flat_b[fg_b])):
        if part > 0:
            right += _intersections(fg_a & (flat_a == part), fg_b & (flat_b == part))
    overlap = np.zeros(union.shape, dtype=np.float64)
    np.divide(right, union, out=overlap, where=union > 0)
    return overlap


def _flat_labels(labels, masks, void, what):
    """Labels (N, H*W) and figure-ground masks (N, H*W) bool, void pixels out of the masks; N >= 1."""
    stack = [np.asarray(item) for item in labels]
    for k, item in enumerate(stack):
        if item.ndim != 2 or not np.issubdtype(item.dtype, np.integer):
            raise ValueError(f"{what}[{k}] must be an integer (H, W) part-label map, "
                             f"got {item.dtype} of shape {item.shape}")
    shape = stack[0].shape
    if any(item.shape != shape for item in stack):
        shapes = sorted({item.shape for item in stack})
        raise ValueError(f"{what}: label maps of shapes {shapes}, expected one (H, W) for the image")
    masks = [None] * len(stack) if masks is None else list(masks)
    if len(masks) != len(stack):
        raise ValueError(f"{what}: {len(masks)} masks for {len(stack)} label maps")
    figure = [item > 0 if mask is None else as_mask_stack([mask], *shape)[0] for item, mask in zip(stack, masks)]
    flat = np.stack(stack).reshape(len(stack), -1)
    fg = np.stack(figure).reshape(len(stack), -1)
    if void is not None:
        void = np.asarray(void, dtype=bool)
        if void.shape != tuple(shape):
            raise ValueError(f"void mask is {void.shape} (H, W) but the label maps are {tuple(shape)}")
        fg = fg & ~void.reshape(1, -1)
    return flat, fg


def match_image(ground_truth: ImagePartGroundTruth, detections: Sequence[PartDetection], *,
                thresholds=PART_THRESHOLDS, rule: str = "sds", detection_ids=None) -> ImageMatch:
    """Match one image's part-labelled detections, class by class (AP^r's rules).

    Parameters
    ----------
    ground_truth : ImagePartGroundTruth
    detections : sequence of PartDetection
        This image's detections (``image_id`` is not read).
    thresholds : ndarray of shape (T,), float
        Overlap thresholds (default 0.5 only).
    rule : {"sds", "mnc"}
    detection_ids : ndarray of shape (D,), int, optional
        Global indices, breaking score ties; default ``0..D-1``.

    Returns
    -------
    hypercolumns.eval.apr.ImageMatch
        Its ClassMatch ``iou`` arrays (D, G) hold :func:`part_overlap`.
    """
    thresholds = apr._check_thresholds(thresholds)
    apr._check_rule(rule)
    ids = np.arange(len(detections)) if detection_ids is None else np.asarray(detection_ids, np.int64)
    gt_categories = [instance.category for instance in ground_truth.instances]
    det_categories = [detection.category for detection in detections]
    scores = np.asarray([detection.score for detection in detections], dtype=np.float64)
    classes = {}
    for category in dict.fromkeys(gt_categories + det_categories):
        gt_rows = np.flatnonzero([c == category for c in gt_categories]).astype(np.int64)
        det_rows = np.flatnonzero([c == category for c in det_categories]).astype(np.int64)
        det_rows = det_rows[np.lexsort((ids[det_rows], -scores[det_rows]))]
        overlap = _class_overlap(ground_truth, detections, det_rows, gt_rows, ids)
        gt_ignore = ground_truth.ignore[gt_rows]
        matched = assign_detections(overlap, gt_ignore, thresholds, rule)
        hit_ignored = np.append(gt_ignore, False)[matched]  # column -1 (no match) reads the appended False
        classes[category] = ClassMatch(
            detection_ids=ids[det_rows], scores=scores[det_rows], iou=overlap, gt_ignore=gt_ignore,
            matched_gt=matched, true_positive=(matched >= 0) & ~hit_ignored, ignored=hit_ignored,
        )
    return ImageMatch(thresholds=thresholds, rule=rule, classes=classes)


def _class_overlap(ground_truth, detections, det_rows, gt_rows, ids) -> np.ndarray:
    size = (ground_truth.height, ground_truth.width)
    for row in det_rows:
        if np.shape(detections[row].part_labels) != size:
            raise ValueError(f"detection {ids[row]}: part_labels are {np.shape(detections[row].part_labels)} "
                             f"(H, W) but its image {detections[row].image_id!r} is {size}")
    for row in gt_rows:
        if np.shape(ground_truth.instances[row].part_labels) != size:
            raise ValueError(f"ground-truth instance {row}: part_labels are "
                             f"{np.shape(ground_truth.instances[row].part_labels)} but the image is {size}")
    return part_overlap([detections[r].part_labels for r in det_rows],
                        [ground_truth.instances[g].part_labels for g in gt_rows],
                        [detections[r].mask for r in det_rows], [ground_truth.instances[g].mask for g in gt_rows],
                        ground_truth.void)


def match_all(ground_truth: Mapping[Hashable, ImagePartGroundTruth], detections: Sequence[PartDetection], *,
              thresholds=PART_THRESHOLDS, rule: str = "sds"):
    """:func:`match_image` over every image of ``ground_truth``, lazily (``apr.match_all``'s loop).

    Raises
    ------
    ValueError
        A detection names an image that ``ground_truth`` lacks, or has a
        score that is not a finite number.
    """
    return apr.match_all(ground_truth, detections, thresholds=thresholds, rule=rule,
                         match=match_image, empty_entry="an ImagePartGroundTruth with no instances")


def summarize(accumulation: apr.Accumulation) -> dict:
    """:func:`hypercolumns.eval.apr.summarize` with AP^r_part's names, in percent.

    Returns
    -------
    summary : dict
        ``"APr_part@<t>"`` (``"APr_part@0.5"``), ``"APr_part_vol"`` (thresholds
        0.1..0.9 only), ``"mean_best_overlap"``; ``"per_class"``: ``{category:
        {"n_gt", "n_detections", "APr_part@<t>"..., "mean_best_overlap"}}``;
        ``"rule"``, ``"thresholds"``, ``"n_classes"``.
    """
    return _renamed(apr.summarize(accumulation))


def _renamed(entry: dict) -> dict:
    """AP^r's summary keys (not the class names) spelt for AP^r_part."""
    names = {"mean_best_iou": "mean_best_overlap", "APr_vol": "APr_part_vol"}
    renamed = {names.get(key, key.replace("APr@", "APr_part@")): value for key, value in entry.items()}
    if "per_class" in renamed:
        renamed["per_class"] = {category: _renamed(value) for category, value in renamed["per_class"].items()}
    return renamed


def evaluate_apr_part(ground_truth: Mapping[Hashable, ImagePartGroundTruth], detections: Sequence[PartDetection],
                      *, thresholds=PART_THRESHOLDS, rule: str = "sds",
                      categories: Sequence[Hashable] | None = None) -> dict:
    """AP^r_part of part-labelled detections: match, accumulate, summarise.

    Parameters
    ----------
    ground_truth : mapping of image_id to ImagePartGroundTruth
        Every evaluated image, with or without objects.
    detections : sequence of PartDetection
        Their order breaks score ties.
    thresholds : ndarray of shape (T,), float
        Default 0.5 only (the paper's Table 4).
    rule : {"sds", "mnc"}
    categories : sequence of hashable, optional
        Classes to report, in order (e.g. Table 4's person, horse, cow, sheep,
        cat, dog, bird); default every class seen.

    Returns
    -------
    summary : dict
        See :func:`summarize`.
    """
    matches = match_all(ground_truth, detections, thresholds=thresholds, rule=rule)
    return summarize(accumulate(matches, categories))
