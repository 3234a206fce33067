"""PASCAL-Part (Chen et al. 2014): object and part masks of VOC images.

Layout under ``root``::

    images/<id>.jpg
    annotations/<id>.mat    struct anno: imname, objects(i).{class, class_ind,
                            mask (H, W) uint8, parts(j).{part_name, mask}}
    keypoints/<id>_<k>.xml  optional: poselets person keypoints (see :mod:`poselets`)

Read with ``scipy.io.loadmat(squeeze_me=True, struct_as_record=False)``,
``objects`` is a single struct for an image with one object and an array of
them otherwise; ``parts`` is a single struct for one part and an empty array
for none (tables, chairs, boats and bottles often have none), hence the
``np.atleast_1d``. The object's class is taken from ``class_ind`` (1-based
VOC index) and checked against the ``class`` string, which uses PASCAL-Part's
own spelling (``"table"`` for VOC's ``"diningtable"``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.images import read_image_size
from hypercolumns.data.poselets import attach_poselets_keypoints, poselets_files
from hypercolumns.data.records import VOC_CLASSES, ImageRecord, Instance
from hypercolumns.data.sbd import read_mat_struct, struct_field
from hypercolumns.data.splits import read_split

PASCAL_PART_CLASS_NAMES = {"table": "diningtable"}
"""PASCAL-Part class strings that differ from :data:`VOC_CLASSES`."""

SPLITS = ("train", "val")


def _struct_list(value) -> list:
    """A squeezed MATLAB struct array as a list (empty, one struct, or many)."""
    return list(np.atleast_1d(value)) if np.size(value) else []


def read_pascal_part_mat(path) -> list[Instance]:
    """Read the objects of a PASCAL-Part annotation.

    Returns
    -------
    list of Instance
        In file order; ``parts`` maps each part name to its ``(H, W)`` bool mask.

    Raises
    ------
    InputError
        On an object or part without its fields, an unknown class, a class string that disagrees with ``class_ind``,
        a part mask whose size differs from its object's, or a repeated part name.
    """
    path = Path(path)
    anno = read_mat_struct(path, "anno")
    instances = []
    for number, obj in enumerate(_struct_list(getattr(anno, "objects", [])), start=1):
        category = _category(obj, path, number)
        mask = np.asarray(struct_field(obj, "mask", path)).astype(bool)
        parts = _parts(obj, mask.shape, path, number)
        instances.append(Instance(mask=mask, category=category, parts=parts))
    return instances


def _category(obj, path: Path, number: int) -> str:
    class_ind = struct_field(obj, "class_ind", path)
    try:
        class_index = int(class_ind)
    except (TypeError, ValueError):
        raise InputError(f"{path}: object {number} has class_ind {class_ind!r:.40}; expected an "
                         "integer") from None
    if not 1 <= class_index <= len(VOC_CLASSES):
        raise InputError(
            f"{path}: object {number} has class_ind {class_index}; "
            f"VOC classes are 1..{len(VOC_CLASSES)}"
        )
    category = VOC_CLASSES[class_index - 1]
    name = str(struct_field(obj, "class", path))
    if PASCAL_PART_CLASS_NAMES.get(name, name) != category:
        raise InputError(
            f"{path}: object {number} has class {name!r} but class_ind {class_index} ({category!r})"
        )
    return category


def _parts(obj, shape, path: Path, number: int) -> dict:
    parts = {}
    for part in _struct_list(struct_field(obj, "parts", path)):
        name = str(struct_field(part, "part_name", path))
        part_mask = np.asarray(struct_field(part, "mask", path)).astype(bool)
        if part_mask.shape != shape:
            raise InputError(
                f"{path}: part {name!r} of object {number} has shape {part_mask.shape}, "
                f"its object {shape}"
            )
        if name in parts:
            raise InputError(f"{path}: object {number} has two parts named {name!r}")
        parts[name] = part_mask
    return parts


def read_pascal_part_record(root, image_id: str, keypoints: bool = True) -> ImageRecord:
    """Read one PASCAL-Part image: object masks, parts and (optionally) keypoints.

    Parameters
    ----------
    root : str or Path
        The folder holding ``images/``, ``annotations/`` and ``keypoints/``.
    image_id : str
    keypoints : bool
        Attach the poselets keypoints of ``keypoints/<id>_<k>.xml`` to their
        person instances.

    Raises
    ------
    MissingFileError
        If the image or annotation is missing.
    InputError
        If a mask's size differs from the image's (and see :func:`read_pascal_part_mat`).
    """
    root = Path(root)
    image_path = root / "images" / f"{image_id}.jpg"
    height, width = read_image_size(image_path)
    mat_path = root / "annotations" / f"{image_id}.mat"
    instances = read_pascal_part_mat(mat_path)
    for number, instance in enumerate(instances, start=1):
        if instance.mask.shape != (height, width):
            raise InputError(
                f"{mat_path}: object {number} mask is {instance.mask.shape[1]}x"
                f"{instance.mask.shape[0]} but its image is {width}x{height}"
            )
    record = ImageRecord(image_id, image_path, height, width, instances)
    if keypoints:
        attach_poselets_keypoints(record, poselets_files(root / "keypoints", image_id))
    return record


def pascal_part_image_ids(root) -> list[str]:
    """Ids of the annotated images, sorted; warns about images without annotation."""
    root = Path(root)
    annotated = sorted(path.stem for path in (root / "annotations").glob("*.mat"))
    for path in sorted((root / "images").glob("*.jpg")):
        if path.stem not in annotated:
            warnings.warn(
                f"{path}: image has no annotation in {root / 'annotations'}; left out", stacklevel=2
            )
    return annotated


def load_pascal_part(root, split: str | None = None, split_dir=None) -> list[ImageRecord]:
    """Read PASCAL-Part records, optionally only those of one SDS split.

    Parameters
    ----------
    root : str or Path
        The ``pascal-part`` folder.
    split : {"train", "val"} or None
        Keep the images whose id is in ``<split_dir>/<split>.txt``; None keeps all.
    split_dir : str or Path or None
        The SDS split lists; defaults to ``<root>/../sds-splits``.

    Returns
    -------
    list of ImageRecord
        Sorted by image id, with parts and poselets keypoints.
    """
    root = Path(root)
    image_ids = pascal_part_image_ids(root)
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        split_dir = Path(split_dir) if split_dir is not None else root.parent / "sds-splits"
        in_split = set(read_split(split_dir / f"{split}.txt"))
        image_ids = [image_id for image_id in image_ids if image_id in in_split]
    return [read_pascal_part_record(root, image_id) for image_id in image_ids]
