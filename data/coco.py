"""COCO JSON instances (and person keypoints).

Frames (converted here to those of :mod:`records`):

- ``bbox`` ``[x, y, w, h]`` is continuous: box ``x, y, x + w, y + h``.
- Polygons are continuous vertices, decoded with pycocotools (which made
  COCO's masks); RLEs (``counts`` a list: uncompressed, used with
  ``iscrowd``; a string: compressed) are decoded with pycocotools too
  (:func:`hypercolumns.data.masks.segmentation_to_mask`).
- Keypoints ``[x1, y1, v1, ...]`` are integer pixel indices, so a keypoint at
  ``(x, y)`` is the centre of that pixel: ``(x + 0.5, y + 0.5)`` (detectron2
  does the same). ``v = 0`` (not labelled, stored as 0, 0) is left out of
  :attr:`Instance.keypoints`; ``v = 2`` (visible) becomes ``visible = 1`` and
  ``v = 1`` (labelled but occluded) ``visible = 0``. :func:`keypoints_to_coco`
  is the inverse.
- ``iscrowd`` becomes :attr:`Instance.difficult`.

``ImageRecord.image_id`` is ``str(id)`` of COCO's integer id;
:func:`coco_image_id` gives the integer back for writing results.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.boxes import xywh_to_xyxy
from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.files import is_finite_box, is_finite_number, read_json
from hypercolumns.data.images import read_image_size
from hypercolumns.data.masks import segmentation_to_mask
from hypercolumns.data.records import ImageRecord, Instance


@dataclass(frozen=True)
class CocoImage:
    """An entry of COCO's ``images`` list."""

    id: int
    file_name: str
    width: int
    height: int


def read_coco_json(json_path) -> dict:
    """Load a COCO JSON file, checking its top-level lists and its categories.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If it is not JSON, is not an object with the lists ``images``,
        ``annotations`` and ``categories``, or a category is not an object
        with an ``id`` (int or str) and a ``name``.
    """
    json_path = require_file(json_path, "COCO annotation file")
    data = read_json(json_path)
    if not isinstance(data, dict):
        raise InputError(f"{json_path}: not a COCO instances file, a JSON {type(data).__name__} "
                         "where an object with images, annotations and categories is expected")
    missing = [key for key in ("images", "annotations", "categories") if key not in data]
    if missing:
        raise InputError(f"{json_path}: not a COCO instances file, missing {missing}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list):
            raise InputError(f"{json_path}: {key} is a JSON {type(data[key]).__name__}; expected a list")
    for index, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or "name" not in category or not is_coco_id(category.get("id")):
            raise InputError(f"{json_path}: category {index} is {category!r:.120}; expected an "
                             "object with an id (an integer or a string) and a name")
    return data


def is_coco_id(value) -> bool:
    """Whether ``value`` can be a COCO id: an int or a str (not a bool, a float or a list).

    Ids are kept as the file has them, as the evaluator keys them:
    ``int("2008_000652")`` would silently read 2008000652.
    """
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def read_coco_images(json_path) -> dict[int, CocoImage]:
    """COCO image id -> :class:`CocoImage` (file name, width, height), in file order."""
    json_path = Path(json_path)
    return coco_images(read_coco_json(json_path), json_path)


def coco_images(data: dict, json_path) -> dict:
    """Image id -> :class:`CocoImage` of :func:`read_coco_json`'s ``data``, in file order.

    Raises
    ------
    InputError
        Naming the file and the entry: an entry that is not an object with an
        ``id`` (int or str), a ``file_name`` and positive integer ``width``
        and ``height``; an id listed twice.
    """
    images = {}
    for index, entry in enumerate(data["images"]):
        problem = _image_entry_problem(entry)
        if problem:
            raise InputError(f"{json_path}: malformed image entry {index} {entry!r:.200} ({problem})")
        image = CocoImage(entry["id"], str(entry["file_name"]), int(entry["width"]), int(entry["height"]))
        if image.id in images:
            raise InputError(f"{json_path}: image id {image.id!r} is listed twice")
        images[image.id] = image
    return images


def _image_entry_problem(entry) -> str | None:
    """What is wrong with one entry of ``images``, or None."""
    if not isinstance(entry, dict):
        return "not an object"
    missing = [key for key in ("id", "file_name", "width", "height") if key not in entry]
    if missing:
        return f"lacks {', '.join(missing)}"
    if not is_coco_id(entry["id"]):
        return f"id must be an integer or a string, got {entry['id']!r}"
    for key in ("width", "height"):
        value = entry[key]
        if not is_finite_number(value) or value != int(value) or value <= 0:
            return f"{key} must be a positive integer, got {value!r}"
    return None


def coco_image_id(record: ImageRecord) -> int:
    """The integer COCO id of a record read by :func:`load_coco`."""
    try:
        return int(record.image_id)
    except ValueError as error:
        raise InputError(
            f"{record.path}: image id {record.image_id!r} is not a COCO integer id"
        ) from error


def _box(bbox, where: str) -> np.ndarray:
    """An annotation's ``bbox`` [x, y, w, h] as ``x0, y0, x1, y1``."""
    if not is_finite_box(bbox):
        raise InputError(f"{where}: bbox {bbox!r:.80} is not [x, y, w, h] of finite numbers")
    return xywh_to_xyxy(bbox)


def keypoints_from_coco(flat, names, where: str) -> dict:
    """COCO ``[x1, y1, v1, ...]`` -> ``{name: (x + 0.5, y + 0.5, v == 2)}``, ``v = 0`` left out."""
    if not isinstance(flat, list) or not all(map(is_finite_number, flat)):
        raise InputError(f"{where}: keypoints {flat!r:.80} are not a flat list of finite numbers "
                         "x1, y1, v1, ...")
    values = np.asarray(flat, dtype=np.float64)
    if values.size != 3 * len(names):
        raise InputError(f"{where}: {values.size} keypoint values for {len(names)} keypoint names")
    keypoints = {}
    for name, (x, y, v) in zip(names, values.reshape(-1, 3), strict=True):
        if v not in (0, 1, 2):
            raise InputError(f"{where}: keypoint {name!r} has visibility {v:g}; COCO uses 0, 1, 2")
        if v > 0:
            keypoints[name] = (float(x) + 0.5, float(y) + 0.5, int(v == 2))
    return keypoints


def keypoints_to_coco(keypoints: dict, names) -> list[float]:
    """Inverse of :func:`keypoints_from_coco`: ``[x1, y1, v1, ...]`` in ``names`` order."""
    flat = []
    for name in names:
        if name in keypoints:
            x, y, visible = keypoints[name]
            flat += [x - 0.5, y - 0.5, 2 if visible else 1]
        else:
            flat += [0.0, 0.0, 0]
    return flat


def load_coco(json_path, image_root, check_images: bool = True) -> list[ImageRecord]:
    """Read a COCO JSON file as records, in the order of its ``images`` list.

    Parameters
    ----------
    json_path : str or Path
    image_root : str or Path
        ``file_name`` is relative to it.
    check_images : bool
        Check that each image file exists and has the size the JSON gives it
        (reads only the image headers); False reads the JSON alone.

    Returns
    -------
    list of ImageRecord
        ``image_id`` is ``str(id)``; an image without annotations has none.

    Raises
    ------
    FileNotFoundError
        If the JSON file or (with ``check_images``) an image file is missing.
    InputError
        On an image whose size differs from the JSON's (with ``check_images``),
        an annotation of an unknown image or category, and see
        :func:`segmentation_to_mask`.
    """
    json_path, image_root = Path(json_path), Path(image_root)
    data = read_coco_json(json_path)
    images = coco_images(data, json_path)
    records = {}
    for image in images.values():
        path = image_root / image.file_name
        if check_images:
            _check_image(path, image, json_path)
        records[image.id] = ImageRecord(str(image.id), path, image.height, image.width)
    categories = {category["id"]: category for category in data["categories"]}
    for index, annotation in enumerate(data["annotations"]):
        if not isinstance(annotation, dict):
            raise InputError(f"{json_path}: annotation {index} is {annotation!r:.120}; expected an object")
        image_id = annotation.get("image_id")
        if not is_coco_id(image_id) or image_id not in records:
            raise InputError(
                f"{json_path}: annotation {annotation.get('id', index)} is for unknown image {image_id!r}"
            )
        record = records[image_id]
        record.instances.append(_instance(annotation, categories, record, json_path, index))
    return list(records.values())


def _check_image(path: Path, image: CocoImage, json_path: Path) -> None:
    require_file(path, "image", f"listed in {json_path}")
    height, width = read_image_size(path)
    if (height, width) != (image.height, image.width):
        raise InputError(
            f"{path}: image is {width}x{height} but {json_path} says {image.width}x{image.height}"
        )


def _instance(annotation: dict, categories: dict, record: ImageRecord, json_path: Path,
              index: int) -> Instance:
    where = f"{json_path}: annotation {annotation.get('id', index)}"
    category_id = annotation.get("category_id")
    category = categories.get(category_id) if is_coco_id(category_id) else None
    if category is None:
        raise InputError(
            f"{where}: unknown category_id {annotation.get('category_id')}; "
            f"known: {sorted(categories)}"
        )
    if "segmentation" not in annotation:
        raise InputError(f"{where}: no segmentation")
    mask = segmentation_to_mask(annotation["segmentation"], record.height, record.width, where)
    box = _box(annotation["bbox"], where) if "bbox" in annotation else None
    keypoints = {}
    if "keypoints" in annotation:
        names = category.get("keypoints")
        if not names:
            raise InputError(f"{where}: has keypoints but category {category['name']!r} names none")
        keypoints = keypoints_from_coco(annotation["keypoints"], names, where)
    return Instance(
        mask=mask, category=str(category["name"]), box=box,
        difficult=bool(annotation.get("iscrowd", 0)), keypoints=keypoints,
    )
