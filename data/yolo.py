"""YOLO segmentation labels (Ultralytics' ``coco128-seg`` layout).

Layout under ``root``::

    classes.txt                      class names, one a line, in index order
    images/<split>/<id>.jpg
    labels/<split>/<id>.txt          one instance a line: class x1 y1 x2 y2 ...

Coordinates are normalised by the image's width and height; a vertex becomes
``(x * width, y * height)`` in the continuous frame of :mod:`records` (YOLO's
converters divide COCO's continuous polygon vertices by width and height, so
this is their exact inverse) and polygons are rasterised as COCO's are
(:mod:`masks`).

Orphans: a label file without an image cannot become a record, and an image
without a label file has no instances (YOLO's convention). Both are reported
by name with :func:`warnings.warn`, or raise ``InputError`` with ``strict=True``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError, require_file, require_folder
from hypercolumns.data.images import read_image_size
from hypercolumns.data.masks import polygons_to_mask
from hypercolumns.data.records import ImageRecord, Instance

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_COORDINATE_SLACK = 0.01  # normalised values a rounding step outside [0, 1] are fine


def read_class_names(path) -> list[str]:
    """Read ``classes.txt``: one name a line, blank lines ignored; index = line order."""
    path = require_file(path, "class list")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: a class name is listed twice")
    return names


def read_yolo_label_file(path, class_names, height: int, width: int) -> list[Instance]:
    """Read one label file's instances.

    Parameters
    ----------
    path : str or Path
    class_names : sequence of str
        Index -> name.
    height, width : int
        The image's size, to scale the normalised vertices by.

    Returns
    -------
    list of Instance
        One per non-blank line, masks ``(height, width)`` bool, boxes from the masks.

    Raises
    ------
    InputError
        On an unknown class index, a line with fewer than 3 points (a YOLO
        detection label ``class cx cy w h`` among them), an odd number of
        coordinates, or coordinates outside [0, 1] (the message names file and line).
    """
    path = Path(path)
    instances = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_number}"
        class_index, polygon = _parse_line(line, where, len(class_names))
        polygon = polygon * np.array([width, height])
        mask = polygons_to_mask([polygon], height, width)
        instances.append(Instance(mask=mask, category=class_names[class_index]))
    return instances


def _parse_line(line: str, where: str, n_classes: int) -> tuple[int, np.ndarray]:
    fields = line.split()
    try:
        class_index = int(fields[0])
        coordinates = np.array(fields[1:], dtype=np.float64)
    except ValueError as error:
        raise InputError(
            f"{where}: expected 'class x1 y1 x2 y2 ...', got {line.strip()[:60]!r}"
        ) from error
    if not np.isfinite(coordinates).all():  # float() reads "nan" and "inf"
        raise InputError(f"{where}: non-finite coordinates in {line.strip()[:60]!r}")
    if not 0 <= class_index < n_classes:
        raise InputError(f"{where}: class index {class_index} is not in 0..{n_classes - 1}")
    if coordinates.size % 2:
        raise InputError(f"{where}: odd number of coordinates ({coordinates.size})")
    if coordinates.size < 6:
        raise InputError(
            f"{where}: a polygon needs at least 3 points, got {coordinates.size // 2} "
            "(a detection label 'class cx cy w h' is not a segmentation label)"
        )
    if coordinates.min() < -_COORDINATE_SLACK or coordinates.max() > 1 + _COORDINATE_SLACK:
        raise InputError(
            f"{where}: coordinates span [{coordinates.min():g}, {coordinates.max():g}]; "
            "YOLO labels are normalised to [0, 1]"
        )
    return class_index, coordinates.reshape(-1, 2)


def _report_orphan(message: str, strict: bool) -> None:
    if strict:
        raise InputError(message)
    warnings.warn(message, stacklevel=3)


def _image_paths(image_dir: Path) -> dict[str, Path]:
    require_folder(image_dir, "image folder")
    return {
        path.stem: path
        for path in sorted(image_dir.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    }


def load_yolo(root, split: str = "train2017", strict: bool = False) -> list[ImageRecord]:
    """Read a YOLO-seg data set split.

    Parameters
    ----------
    root : str or Path
        The folder holding ``classes.txt``, ``images/`` and ``labels/``.
    split : str
        Subfolder of ``images/`` and ``labels/``.
    strict : bool
        Raise on orphans instead of warning.

    Returns
    -------
    list of ImageRecord
        One per image, sorted by id; category names from ``classes.txt``.
    """
    class_names = read_class_names(Path(root) / "classes.txt")
    return [ImageRecord(stem, image_path, height, width,
                        read_yolo_label_file(label, class_names, height, width) if label else [])
            for stem, image_path, height, width, label in _split_files(root, split, strict)]


def _split_files(root, split: str, strict: bool = False):
    """``(id, image path, height, width, label path or None)`` of each image of a split, sorted by id;
    orphans reported (:func:`_report_orphan`)."""
    root = Path(root)
    image_paths = _image_paths(root / "images" / split)
    label_dir = root / "labels" / split
    label_paths = {path.stem: path for path in sorted(label_dir.glob("*.txt"))}
    for stem in sorted(set(label_paths) - set(image_paths)):
        _report_orphan(
            f"{label_paths[stem]}: label file has no image in {root / 'images' / split}", strict
        )
    for stem, image_path in image_paths.items():
        height, width = read_image_size(image_path)
        if stem not in label_paths:
            _report_orphan(
                f"{image_path}: image has no label file {label_dir / (stem + '.txt')}; "
                "read as an image without instances", strict,
            )
        yield stem, image_path, height, width, label_paths.get(stem)


def yolo_to_coco(root, split: str = "train2017") -> dict:
    """A YOLO-seg split as a COCO instances dict: each label line a polygon annotation in pixels (the
    inverse of YOLO's converters, as :func:`read_yolo_label_file` reads it), ``file_name`` relative to
    ``images/<split>``, images in id order numbered from 1, categories numbered from 1 in
    ``classes.txt``'s order; an image without a label file has no annotations.  Orphan label files are
    reported as :func:`load_yolo` reports them."""
    from hypercolumns.data.masks import polygons_to_rle
    import pycocotools.mask as mask_utils

    class_names = read_class_names(Path(root) / "classes.txt")
    images, annotations = [], []
    for number, (_, image_path, height, width, label) in enumerate(_split_files(root, split), start=1):
        images.append({"id": number, "file_name": image_path.name, "width": width, "height": height})
        lines = label.read_text().splitlines() if label else []
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            class_index, polygon = _parse_line(line, f"{label}:{line_number}", len(class_names))
            polygon = polygon * np.array([width, height])
            rle = polygons_to_rle([polygon.ravel().tolist()], height, width)
            annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": class_index + 1,
                                "segmentation": [polygon.ravel().tolist()], "area": float(mask_utils.area(rle)),
                                "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]}


def split_by_image(coco: dict, every: int = 2) -> tuple[dict, dict]:
    """Two COCO dicts of one: every ``every``-th image (from the second) and its annotations in the
    second, the rest in the first; ids and categories kept."""
    held = {image["id"] for k, image in enumerate(coco["images"]) if k % every == every - 1}

    def part(keep) -> dict:
        return {**coco, "images": [i for i in coco["images"] if keep(i["id"])],
                "annotations": [a for a in coco["annotations"] if keep(a["image_id"])]}
    return part(lambda i: i not in held), part(lambda i: i in held)
