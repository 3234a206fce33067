"""Read COCO instance annotations and COCO results files into AP^r inputs.

- Annotations: the standard instances JSON (``images`` with ``id``,
  ``file_name``, ``width``, ``height``; ``annotations`` with ``image_id``,
  ``category_id``, ``segmentation`` as polygons or RLE, ``iscrowd``;
  ``categories`` with ``id``, ``name``). Classes are keyed by category name.
  ``iscrowd = 1`` instances become ``ignore`` instances (the SDS benchmark has
  none); note that COCO's own crowd IoU is not used.  An image entry may
  carry ``void``, an RLE of the pixels left out of every IoU of that image
  (VOC's 255 label, which the SDS benchmark ignores; a hypercolumns
  extension that pycocotools passes over).
- Results: a list of ``{"image_id", "category_id", "score", "segmentation"}``
  with ``segmentation`` a COCO RLE of the image's size (``bbox`` is not read).

Masks stay compressed RLE here; :func:`hypercolumns.eval.apr.match_image`
decodes each once, one image at a time.
"""
from __future__ import annotations

from collections.abc import Mapping

from hypercolumns.data.coco import coco_images, is_coco_id, read_coco_json
from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.files import is_finite_box, is_finite_number, read_json
from hypercolumns.data.masks import checked_rle, decode_rle, polygons_to_rle
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

    Raises
    ------
    InputError
        Naming the file and the entry: the checks of
        :func:`~hypercolumns.data.coco.read_coco_json` and
        :func:`~hypercolumns.data.coco.coco_images`, an annotation that is not
        an object with ``image_id``, ``category_id`` and ``segmentation``, or
        of an image or category the file does not list, or whose segmentation
        is malformed or of another size than its image (a missing file is a
        :class:`~hypercolumns.data.errors.MissingFileError`).
    """
    data = read_coco_json(annotations_path)
    categories = _read_categories(data["categories"], annotations_path)
    names = dict(categories)
    sizes = {image.id: (image.height, image.width) for image in coco_images(data, annotations_path).values()}
    instances = {image_id: [] for image_id in sizes}
    ignore = {image_id: [] for image_id in sizes}
    for index, annotation in enumerate(data["annotations"]):
        where = f"annotations[{index}]"
        image_id, category_id, segmentation = _fields(
            annotation, ("image_id", "category_id", "segmentation"), annotations_path, where)
        if not _known(image_id, sizes) or not _known(category_id, names):
            raise InputError(f"{annotations_path}: {where}: image_id {image_id!r} or category_id "
                             f"{category_id!r} is not among the file's images and categories")
        rle = _segmentation_rle(segmentation, *sizes[image_id], f"{annotations_path}: {where}")
        instances[image_id].append((names[category_id], rle))
        ignore[image_id].append(bool(annotation.get("iscrowd", 0)))
    void = _void_masks(data["images"], sizes, annotations_path)
    ground_truth = {image_id: ImageGroundTruth(height, width, instances[image_id], void=void.get(image_id),
                                               ignore=ignore[image_id])
                    for image_id, (height, width) in sizes.items()}
    return ground_truth, categories


def _void_masks(entries: list, sizes: dict, path) -> dict:
    """``{image id: (H, W) bool}`` of the image entries that carry a ``void`` RLE."""
    void = {}
    for index, entry in enumerate(entries):
        if entry.get("void") is not None:
            where = f"{path}: images[{index}]: void"
            void[entry["id"]] = decode_rle(checked_rle(entry["void"], *sizes[entry["id"]], where)).astype(bool)
    return void


def _known(identifier, table: Mapping) -> bool:
    """Whether ``identifier`` is an id (int or str) and a key of ``table``."""
    return is_coco_id(identifier) and identifier in table


def _read_categories(entries, path) -> list:
    categories = [_fields(entry, ("id", "name"), path, f"categories[{i}]") for i, entry in enumerate(entries)]
    if len({name for _, name in categories}) != len(categories) or len(dict(categories)) != len(categories):
        raise InputError(f"{path}: category ids and names must be unique")
    return categories


def _fields(entry, keys, path, where) -> tuple:
    if not isinstance(entry, Mapping) or any(key not in entry for key in keys):
        raise InputError(f"{path}: {where}: expected an object with keys {list(keys)}, got {entry!r:.200}")
    return tuple(entry[key] for key in keys)


def _segmentation_rle(segmentation, height: int, width: int, where: str) -> dict:
    """Compressed RLE of an annotation's polygons or RLE, or of a result's RLE."""
    if isinstance(segmentation, list):
        if not all(isinstance(polygon, list) and all(map(is_finite_number, polygon))
                   for polygon in segmentation):
            raise InputError(f"{where}: bad segmentation: polygons must be lists of finite numbers "
                             f"x1, y1, x2, y2, ..., got {segmentation!r:.60}")
        try:
            return polygons_to_rle(segmentation, height, width)
        except ValueError as error:  # a polygon of fewer than 3 points
            raise InputError(f"{where}: bad segmentation: {error}") from None
    return checked_rle(segmentation, height, width, where)


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
    InputError
        Naming the file and the entry index: an image_id or category_id not
        in the annotations, a score that is not a finite number, a ``bbox``
        (not read, but checked where given) that is not four finite numbers,
        a segmentation that is not an RLE of the image's size, a malformed
        entry (a missing file is a :class:`~hypercolumns.data.errors.MissingFileError`).
    """
    entries = read_json(require_file(results_path, "results file"))
    if not isinstance(entries, list):
        raise InputError(f"{results_path}: expected a COCO results list, got a {type(entries).__name__}")
    names = dict(categories)
    detections = []
    for index, entry in enumerate(entries):
        where = f"{results_path}: entry {index}"
        image_id, category_id, score, segmentation = _fields(
            entry, ("image_id", "category_id", "score", "segmentation"), results_path, f"entry {index}")
        if not _known(image_id, ground_truth):
            raise InputError(f"{where}: image_id {image_id!r:.80} is not in the annotations")
        if not _known(category_id, names):
            raise InputError(f"{where}: category_id {category_id!r:.80} is not in the annotations")
        if not is_finite_number(score):
            raise InputError(f"{where}: score {score!r:.80} is not a finite number")
        bbox = entry.get("bbox", [0, 0, 0, 0])
        if not is_finite_box(bbox):
            raise InputError(f"{where}: bbox {bbox!r:.80} is not [x, y, w, h] of finite numbers")
        image_gt = ground_truth[image_id]
        rle = checked_rle(segmentation, image_gt.height, image_gt.width, where)
        detections.append(Detection(image_id, names[category_id], float(score), rle))
    return detections
