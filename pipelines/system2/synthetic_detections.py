"""A detection set for the shared data that behaves like a detector's output.

No detector output exists for the shared images (README, Deviations): per
ground-truth instance, jittered boxes at IoU 0.7-0.9 (high scores) and
0.3-0.7 (lower scores), one box labelled with another class, and per image
background boxes overlapping no instance, with seeded Beta-distributed scores
(:data:`SCORE_PARAMS`); the detector's NMS at 0.3 marks what it keeps.
Written with :func:`detections.write_mat_detections` it is the pre-NMS file a
real detector would give.
"""
from __future__ import annotations

import numpy as np

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.detections import Detections
from hypercolumns.extract.box_sampling import image_rng
from hypercolumns.pipelines.system2.pool_expansion import DETECTOR_NMS, nms
from hypercolumns.pipelines.experiments.oracle import category_ids, jitter_to_iou

SCORE_PARAMS = {"tight": (6.0, 2.0), "loose": (3.0, 4.0), "wrong_class": (2.0, 6.0),
                "background": (2.0, 6.0)}


def synthetic_detections(records, seed: int = 0, tight: int = 3, loose: int = 3,
                         wrong_class: int = 1, background: int = 3,
                         nms_threshold: float = DETECTOR_NMS, score_params: dict | None = None) -> list:
    """Scored boxes that behave like a detector's output on ``records`` (no detector exists here).

    Per ground-truth instance: ``tight`` boxes jittered to a box IoU in
    [0.7, 0.9] and ``loose`` ones in [0.3, 0.7], of its class, and
    ``wrong_class`` boxes in [0.5, 0.9] labelled with another class; per image
    ``background`` boxes that overlap no instance by 0.3 or more, with a
    random class.  Scores are drawn from Beta distributions by kind (defaults
    in :data:`SCORE_PARAMS`: tight Beta(6, 2), mean 0.75; loose Beta(3, 4),
    mean 0.43; wrong class and background Beta(2, 6), mean 0.25).  Draws are
    seeded per image (``image_rng(seed, "detections:<image_id>")``), so any
    subset of records gives the same boxes.  Boxes are clipped to the image;
    a box the jitter cannot place is skipped.  Classes are the records' (with
    VOC's 20), as :func:`~hypercolumns.pipelines.experiments.oracle.category_ids` lists them.

    Parameters
    ----------
    records : list of ImageRecord
        Their instance boxes are the ground truth the boxes are drawn around.
    seed : int
    tight, loose, wrong_class : int
        Boxes drawn per instance, by kind.
    background : int
        Boxes per image that overlap no instance.
    nms_threshold : float
        The detector's per-class NMS, which sets ``kept``.
    score_params : dict of kind to (a, b), optional
        Overrides of :data:`SCORE_PARAMS`.

    Returns
    -------
    detections : list of Detections
        One per (image, class) with boxes: ``boxes``/``scores`` are the
        pre-NMS arrays, ``kept`` marks the survivors of :func:`nms` at
        ``nms_threshold`` (R-CNN's 0.3), so ``post_nms()`` gives the post-NMS ones.
    """
    params = {**SCORE_PARAMS, **(score_params or {})}
    classes = list(category_ids(records))
    detections = []
    for record in records:
        rng = image_rng(seed, f"detections:{record.image_id}")
        boxes, labels, kinds = _image_boxes(record, rng, classes, tight, loose, wrong_class,
                                            background)
        scores = np.array([rng.beta(*params[k]) for k in kinds])
        for category in dict.fromkeys(labels):
            select = np.array([label == category for label in labels])
            keep = np.zeros(select.sum(), bool)
            keep[nms(boxes[select], scores[select], nms_threshold)] = True
            detections.append(Detections(record.image_id, category, boxes[select],
                                         scores[select], keep))
    return detections


def _image_boxes(record, rng, classes, tight, loose, wrong_class, background):
    """Boxes ``(M, 4)``, class labels and kinds of one image's synthetic detections."""
    size = (record.height, record.width)
    boxes, labels, kinds = [], [], []
    for instance in record.instances:
        others = [c for c in classes if c != instance.category]
        plan = ([("tight", 0.7, 0.9, instance.category)] * tight
                + [("loose", 0.3, 0.7, instance.category)] * loose
                + [("wrong_class", 0.5, 0.9, None)] * wrong_class)
        for kind, low, high, label in plan:
            try:
                box = jitter_to_iou(instance.box, rng, low, high, image_size=size)
            except ValueError:
                continue
            boxes.append(box)
            labels.append(label if label is not None else others[rng.integers(len(others))])
            kinds.append(kind)
    for box in _background_boxes(record, rng, background):
        boxes.append(box)
        labels.append(classes[rng.integers(len(classes))])
        kinds.append("background")
    return np.asarray(boxes, np.float64).reshape(-1, 4), labels, kinds


def _background_boxes(record, rng, count: int, max_overlap: float = 0.3, draws: int = 200):
    """Up to ``count`` boxes (>= 8 px a side) with IoU < ``max_overlap`` to every instance."""
    height, width = record.height, record.width
    corners = rng.uniform(0, 1, (draws, 4)) * [width, height, width, height]
    boxes = np.concatenate([np.minimum(corners[:, :2], corners[:, 2:]),
                            np.maximum(corners[:, :2], corners[:, 2:])], axis=1)
    big = np.all(boxes[:, 2:] - boxes[:, :2] >= 8, axis=1)
    clear = box_iou(boxes, record.boxes()).max(axis=1, initial=0.0) < max_overlap
    return boxes[big & clear][:count]
