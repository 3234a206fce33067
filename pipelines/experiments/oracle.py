"""Evaluation inputs for the shared data: ground truth as COCO JSON, and oracle boxes.

No detector output exists for the shared images, so evaluation segments the
ground-truth boxes jittered to a box IoU in [0.7, 0.9] ("oracle boxes"), each
scored afterwards by the mean probability inside its predicted mask.  The
ground truth is written as a COCO instances JSON (RLE masks, file names
relative to the data root) so that ``hypercolumns segment`` and
``hypercolumns evaluate`` read it like any user's file.  VOC void pixels (255)
go with their image entry as a ``void`` RLE, left out of every IoU as the SDS
benchmark leaves them out (SBD, the paper's benchmark, has none).
"""
from __future__ import annotations

import os

import numpy as np

from hypercolumns.data.boxes import box_iou, xywh_to_xyxy, xyxy_to_xywh
from hypercolumns.data.masks import encode_rle
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.extract.box_sampling import image_rng, jitter_boxes


def category_ids(records) -> dict:
    """``{name: id}``: VOC's 20 classes keep their 1-based VOC index; other names follow."""
    ids = {name: index + 1 for index, name in enumerate(VOC_CLASSES)}
    for name in sorted({inst.category for record in records for inst in record.instances}):
        ids.setdefault(name, len(ids) + 1)
    return ids


def coco_annotations(records, data_root) -> dict:
    """A COCO instances dict of the records; image ids are 1..N in record order."""
    ids = category_ids(records)
    images, annotations = [], []
    for image_id, record in enumerate(records, start=1):
        # relative even where the images lie outside the data root (a `files` data set's may)
        images.append({"id": image_id, "file_name": os.path.relpath(record.path, data_root),
                       "width": record.width, "height": record.height,
                       "dataset_image_id": record.image_id})
        if record.void is not None and record.void.any():
            images[-1]["void"] = encode_rle(record.void)
        for instance in record.instances:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": ids[instance.category], "segmentation": encode_rle(instance.mask),
                "bbox": xyxy_to_xywh(instance.box).tolist(), "area": int(instance.mask.sum()),
                "iscrowd": int(bool(instance.difficult)),
            })
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in ids.items()]}


def jitter_to_iou(box: np.ndarray, rng: np.random.Generator, low: float = 0.7, high: float = 0.9,
                  image_size=None, max_draws: int = 1000) -> np.ndarray:
    """One box whose IoU with ``box`` lies in ``[low, high]`` (clipped to the image if given)."""
    for scale in (0.15, 0.25, 0.35):
        draws = jitter_boxes(box, max_draws, rng, shift=scale, log_scale=scale)
        if image_size is not None:
            height, width = image_size
            draws[:, [0, 2]] = np.clip(draws[:, [0, 2]], 0, width)
            draws[:, [1, 3]] = np.clip(draws[:, [1, 3]], 0, height)
        overlaps = box_iou(draws, box[None])[:, 0]
        good = np.flatnonzero((overlaps >= low) & (overlaps <= high))
        if good.size:
            return draws[good[0]]
    raise ValueError(f"could not jitter box {box.tolist()} to an IoU in [{low}, {high}]")


def ground_truth_detections(coco: dict) -> list:
    """Each instance's own box, exact (no jitter), as a COCO results list (score 1).

    What box-prompted segmenters report their mean IoU on (SAM: ground-truth
    boxes of COCO val), so that a reader can place our masks beside theirs.
    """
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]),
             "score": 1.0} for a in coco["annotations"]]


def oracle_detections(coco: dict, seed: int = 0) -> list:
    """One jittered ground-truth box per annotation of a COCO instances dict (none for a crowd region),
    as a COCO results list (score 1, to be replaced): IoU 0.7-0.9 with the instance's box, clipped to the
    image, drawn from a stream keyed by the seed, the image (its ``dataset_image_id`` where it has one)
    and the annotation id."""
    images = {image["id"]: image for image in coco["images"]}
    detections = []
    for annotation in coco["annotations"]:
        if annotation.get("iscrowd"):
            continue
        image = images[annotation["image_id"]]
        rng = image_rng(seed, f"oracle:{image.get('dataset_image_id', image['id'])}:{annotation['id']}")
        box = jitter_to_iou(xywh_to_xyxy(annotation["bbox"]), rng, image_size=(image["height"], image["width"]))
        detections.append({"image_id": annotation["image_id"],
                           "category_id": annotation["category_id"],
                           "bbox": xyxy_to_xywh(box).tolist(),
                           "score": 1.0})
    return detections
