"""Read COCO instance annotations and COCO results files into AP^r inputs.

- Annotations: the standard instances JSON (``images`` with ``id``,
  ``file_name``, ``width``, ``height``; ``annotations`` with ``image_id``,
  ``category_id``, ``segmentation`` as polygons or RLE, ``iscrowd``;
  ``categories`` with ``id``, ``name``). Classes are keyed by category name.
  ``iscrowd = 1`` instances become ``ignore`` instances (the SDS benchmark has
  none); note that COCO's own crowd IoU is not used.
- Results: a list of ``{"image_id", "category_id", "score", "segmentation"}``
  with ``segmentation`` a COCO RLE of the image's size (``bbox`` is not read).

Masks stay compressed RLE here; :func:`hypercolumns.eval.apr.match_image`
decodes each once, one image at a time.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from hypercolumns.data.files import read_json
from hypercolumns.data.masks import polygons_to_rle, to_compressed_rle
from hypercolumns.eval.instances import Detection, ImageGroundTruth


def load_coco_ground_truth(annotations_path) -> tuple[dict, list]:
    """Ground truth of every image of a COCO instances file.

    Parameters
    ----------
    annotations_path : str or Path

    Returns
    -------
    ground_truth : dict of image id to ImageGroundTruth
        Instances are ``(category name, compressed RLE)``, in file order.
    categories : list of (category id, category name)
        In file order.
    """
    data = read_json(annotations_path)
    if not isinstance(data, Mapping) or not all(key in data for key in ("images", "annotations", "categories")):
        raise ValueError(f"{annotations_path}: expected a COCO instances object with images, annotations, categories")
    categories = _read_categories(data["categories"], annotations_path)
    names = dict(categories)
    sizes, instances, ignore = {}, {}, {}
    for index, image in enumerate(data["images"]):
        image_id, height, width = _fields(image, ("id", "height", "width"), annotations_path, f"images[{index}]")
        sizes[_key(image_id, annotations_path, f"images[{index}]")] = (int(height), int(width))
        instances[image_id], ignore[image_id] = [], []
    for index, annotation in enumerate(data["annotations"]):
        where = f"annotations[{index}]"
        image_id, category_id, segmentation = _fields(
            annotation, ("image_id", "category_id", "segmentation"), annotations_path, where)
        if _key(image_id, annotations_path, where) not in sizes or category_id not in names:
            raise ValueError(f"{annotations_path}: {where}: image_id {image_id!r} or category_id "
                             f"{category_id!r} is not among the file's images and categories")
        rle = _segmentation_rle(segmentation, *sizes[image_id], f"{annotations_path}: {where}")
        instances[image_id].append((names[category_id], rle))
        ignore[image_id].append(bool(annotation.get("iscrowd", 0)))
    ground_truth = {image_id: ImageGroundTruth(height, width, instances[image_id], ignore=ignore[image_id])
                    for image_id, (height, width) in sizes.items()}
    return ground_truth, categories


def _key(image_id, path, where):
    """An image id, checked to be a usable key (COCO's are ints)."""
    if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
        raise ValueError(f"{path}: {where}: image_id must be an int or a string, got {image_id!r}")
    return image_id


def _read_categories(entries, path) -> list:
    categories = [_fields(entry, ("id", "name"), path, f"categories[{i}]") for i, entry in enumerate(entries)]
    if len({name for _, name in categories}) != len(categories) or len(dict(categories)) != len(categories):
        raise ValueError(f"{path}: category ids and names must be unique")
    return categories


def _fields(entry, keys, path, where) -> tuple:
    if not isinstance(entry, Mapping) or any(key not in entry for key in keys):
        raise ValueError(f"{path}: {where}: expected an object with keys {list(keys)}, got {entry!r:.200}")
    return tuple(entry[key] for key in keys)


def _segmentation_rle(segmentation, height: int, width: int, where: str) -> dict:
    try:
        if isinstance(segmentation, list):
            return polygons_to_rle(segmentation, height, width)
        rle = to_compressed_rle(segmentation)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: bad segmentation: {error}") from None
    if list(rle["size"]) != [height, width]:
        raise ValueError(f"{where}: segmentation size {list(rle['size'])} (H, W) differs from "
                         f"the image's size {[height, width]}")
    return rle


def load_coco_results(results_path, ground_truth: Mapping, categories: list) -> list:
    """Detections of a COCO results file, checked against the ground truth.

    Parameters
    ----------
    results_path : str or Path
    ground_truth : dict of image id to ImageGroundTruth
    categories : list of (category id, category name)

    Returns
    -------
    detections : list of Detection
        In file order (which breaks score ties); masks as compressed RLE.

    Raises
    ------
    ValueError
        Naming the file and the entry index: an image_id or category_id not
        in the annotations, an RLE whose size is not the image's, a score
        that is not a finite number, a malformed entry.
    """
    entries = read_json(results_path)
    if not isinstance(entries, list):
        raise ValueError(f"{results_path}: expected a COCO results list, got a {type(entries).__name__}")
    names = dict(categories)
    detections = []
    for index, entry in enumerate(entries):
        where = f"{results_path}: entry {index}"
        image_id, category_id, score, segmentation = _fields(
            entry, ("image_id", "category_id", "score", "segmentation"), results_path, f"entry {index}")
        if _key(image_id, results_path, f"entry {index}") not in ground_truth:
            raise ValueError(f"{where}: image_id {image_id!r} is not in the annotations")
        if category_id not in names:
            raise ValueError(f"{where}: category_id {category_id!r} is not in the annotations")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"{where}: score {score!r} is not a finite number")
        if not isinstance(segmentation, Mapping):
            raise ValueError(f"{where}: segmentation must be a COCO RLE {{'size', 'counts'}}")
        image_gt = ground_truth[image_id]
        rle = _segmentation_rle(segmentation, image_gt.height, image_gt.width, where)
        detections.append(Detection(image_id, names[category_id], float(score), rle))
    return detections
