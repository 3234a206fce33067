"""COCO's mask AP, computed by pycocotools itself, beside AP^r: the numbers users compare with Mask R-CNN's.

``pycocotools.cocoeval.COCOeval(iouType="segm")`` runs on the same ground
truth and results that :mod:`~hypercolumns.eval.evaluate` has read and checked
(every RLE validated, polygons rasterised by pycocotools): it is the reference
code, so nothing of its rule is re-implemented here.  Where its rule and AP^r's
part (both are reported, never mixed):

- precision is read at 101 recall points (0, 0.01, ..., 1), not integrated
  over every point as the SDS benchmark does;
- a detection matches at IoU >= t (the SDS rule: > t), averaged over
  t = 0.5:0.05:0.95 for ``AP``;
- a crowd region (``iscrowd = 1``) is matched by COCO's crowd IoU
  (intersection over the detection's area), and a detection on it is ignored;
  AP^r treats a crowd region as an ``ignore`` instance under the plain IoU;
- ``AP_small / medium / large`` split by the ground truth's mask area
  (32² and 96² px), at most 100 detections per image and category (COCO's ``maxDets``).

A category without ground truth is left out of the means, as AP^r leaves it.
pycocotools answers -1 where an area range holds no ground truth; that is NaN here.
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np

KEYS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")
"""The figures, in the order of ``COCOeval.stats``' first six (percent)."""


def coco_mask_ap(ground_truth: dict, detections: list, categories: list) -> dict:
    """``{key: percent}`` for :data:`KEYS`, by pycocotools' COCOeval on masks.

    ``ground_truth``, ``detections``, ``categories``: as
    :func:`~hypercolumns.eval.coco.load_coco_ground_truth` and
    :func:`~hypercolumns.eval.coco.load_coco_results` give them (masks as checked compressed RLE).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    # ids renumbered 1..N: COCOeval sorts them, and a file may mix integer and string ids
    id_of = {name: k + 1 for k, (_, name) in enumerate(categories)}
    index_of = {image_id: i + 1 for i, image_id in enumerate(ground_truth)}
    gt = COCO()
    gt.dataset = {"images": [{"id": index_of[i], "height": g.height, "width": g.width}
                             for i, g in ground_truth.items()],
                  "categories": [{"id": id_of[name], "name": name} for _, name in categories],
                  "annotations": _annotations(ground_truth, index_of, id_of)}
    with contextlib.redirect_stdout(io.StringIO()):     # pycocotools prints as it goes
        gt.createIndex()
        if not gt.dataset["annotations"]:
            return dict.fromkeys(KEYS, math.nan)
        if detections:
            results = gt.loadRes([{"image_id": index_of[d.image_id], "category_id": id_of[d.category],
                                   "score": float(d.score), "segmentation": _rle(d.mask)} for d in detections])
        else:   # loadRes refuses an empty list; COCOeval itself scores no detections
            results = COCO()
            results.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"],
                               "annotations": []}
            results.createIndex()
        evaluation = COCOeval(gt, results, iouType="segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {key: (math.nan if value < 0 else 100.0 * float(value))
            for key, value in zip(KEYS, evaluation.stats[:6])}


def _annotations(ground_truth: dict, index_of: dict, id_of: dict) -> list:
    import pycocotools.mask as mask_utils

    annotations = []
    for image_id, image in ground_truth.items():
        ignore = np.zeros(len(image.instances), bool) if image.ignore is None else image.ignore
        for (category, mask), crowd in zip(image.instances, ignore):
            rle = _rle(mask)
            annotations.append({"id": len(annotations) + 1, "image_id": index_of[image_id],
                                "category_id": id_of[category], "segmentation": rle,
                                "area": float(mask_utils.area(rle)), "iscrowd": int(bool(crowd)),
                                "bbox": mask_utils.toBbox(rle).tolist()})
    return annotations


def _rle(mask) -> dict:
    """A compressed RLE with ``counts`` as text (pycocotools' own form), from an RLE or a bool mask."""
    from hypercolumns.data.masks import encode_rle

    if isinstance(mask, np.ndarray):
        return encode_rle(mask)
    counts = mask["counts"]
    return {"size": list(mask["size"]), "counts": counts.decode() if isinstance(counts, bytes) else counts}


def format_coco_line(figures: dict) -> str:
    """``COCO mask AP <x> AP50 ... (pycocotools COCOeval, segm)``: the printed line."""
    cells = " ".join(f"{key} {'-' if math.isnan(value) else f'{value:.1f}'}" for key, value in figures.items())
    return f"COCO mask {cells} (pycocotools COCOeval, iouType segm, maxDets 100)"
