"""SBD (Hariharan et al. 2011, "Semantic contours from inverse detectors").

Layout under ``root`` (``benchmark_RELEASE``)::

    dataset/img/<id>.jpg
    dataset/inst/<id>.mat   struct GTinst: Segmentation (H, W) uint8 instance
                            index (0 background), Categories (n, 1) class index
                            1..20 of instance k in row k, Boundaries (n, 1) cell
    dataset/cls/<id>.mat    struct GTcls: Segmentation (H, W) uint8 class index,
                            Boundaries (20, 1) cell, CategoriesPresent
    dataset/train.txt, dataset/val.txt

The .mat files are MATLAB v5 files; they are read with
``scipy.io.loadmat(squeeze_me=True, struct_as_record=False)``, so a 1x1 struct
is an object with attributes and an (n, 1) array becomes (n,) (a scalar when
n is 1, hence the ``np.atleast_1d``). SBD has no void label. The SDS
train/val split lists (``sds-splits/``) are read by :func:`read_split`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.files import read_mat
from hypercolumns.data.images import read_image_size
from hypercolumns.data.records import VOC_CLASSES, ImageRecord, Instance
from hypercolumns.data.splits import read_split

__all__ = [
    "read_split", "read_mat_struct", "struct_field", "read_sbd_instance_mat", "read_sbd_class_mat",
    "read_sbd_record", "load_sbd",
]


def read_mat_struct(path, name: str):
    """Load the MATLAB struct ``name`` of a v5 .mat file.

    Returns
    -------
    scipy.io.matlab.mat_struct
        Its fields as attributes (squeezed arrays).

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If the file is not a readable v5 .mat file or has no variable ``name``.
    """
    contents = read_mat(path, "annotation", squeeze_me=True, struct_as_record=False)
    variables = [key for key in contents if not key.startswith("__")]
    if name not in contents:
        raise InputError(f"{path}: expected a variable {name!r}, found {variables}")
    return contents[name]


def struct_field(struct, name: str, path: Path):
    """Field ``name`` of a MATLAB struct read from ``path``; InputError naming both if it has none."""
    if not hasattr(struct, name):
        fields = getattr(struct, "_fieldnames", [])
        raise InputError(f"{path}: struct has no field {name!r} (fields: {fields})")
    return getattr(struct, name)


def read_sbd_instance_mat(path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SBD ``inst/<id>.mat``.

    Returns
    -------
    segmentation : ndarray of shape (H, W), uint8
        Instance index per pixel, 0 background.
    categories : ndarray of shape (n,), int64
        Class index (1-based into :data:`VOC_CLASSES`) of instance ``k`` at ``k - 1``.
    """
    path = Path(path)
    struct = read_mat_struct(path, "GTinst")
    segmentation = np.asarray(struct_field(struct, "Segmentation", path))
    categories = np.atleast_1d(np.asarray(struct_field(struct, "Categories", path)))
    try:
        categories = categories.astype(np.int64).ravel()
    except (TypeError, ValueError):  # a field of strings or structs
        raise InputError(f"{path}: Categories is not a list of class indices") from None
    if segmentation.ndim != 2:
        raise InputError(f"{path}: Segmentation must be 2-D (H, W), got shape {segmentation.shape}")
    return segmentation.astype(np.uint8), categories


def read_sbd_class_mat(path) -> np.ndarray:
    """Read an SBD ``cls/<id>.mat``: class index per pixel, ``(H, W)`` uint8, 0 background."""
    path = Path(path)
    segmentation = np.asarray(struct_field(read_mat_struct(path, "GTcls"), "Segmentation", path))
    if segmentation.ndim != 2:
        raise InputError(f"{path}: Segmentation must be 2-D (H, W), got shape {segmentation.shape}")
    return segmentation.astype(np.uint8)


def read_sbd_record(root, image_id: str) -> ImageRecord:
    """Read one image's instances from SBD.

    Parameters
    ----------
    root : str or Path
        The folder holding ``dataset/`` (``benchmark_RELEASE``).
    image_id : str

    Returns
    -------
    ImageRecord
        Instances in index order, boxes from the masks, no void.

    Raises
    ------
    MissingFileError
        If the image or the .mat file is missing.
    InputError
        If the mask's size differs from the image's, an instance index has no
        category, or a category is not 1..20.
    """
    dataset = Path(root) / "dataset"
    image_path = dataset / "img" / f"{image_id}.jpg"
    height, width = read_image_size(image_path)
    mat_path = dataset / "inst" / f"{image_id}.mat"
    segmentation, categories = read_sbd_instance_mat(mat_path)
    if segmentation.shape != (height, width):
        raise InputError(
            f"{mat_path}: mask is {segmentation.shape[1]}x{segmentation.shape[0]} but its "
            f"image is {width}x{height}"
        )
    _check_indices(segmentation, categories, mat_path)
    instances = []
    for index, label in enumerate(categories, start=1):
        mask = segmentation == index
        if not mask.any():
            warnings.warn(
                f"{mat_path}: instance {index} ({VOC_CLASSES[label - 1]}) has no pixels; left out",
                stacklevel=2,
            )
            continue
        instances.append(Instance(mask=mask, category=VOC_CLASSES[label - 1]))
    return ImageRecord(image_id, image_path, height, width, instances)


def _check_indices(segmentation: np.ndarray, categories: np.ndarray, mat_path: Path) -> None:
    bad_labels = categories[(categories < 1) | (categories > len(VOC_CLASSES))]
    if bad_labels.size:
        raise InputError(
            f"{mat_path}: class indices {bad_labels.tolist()} are not VOC classes "
            f"1..{len(VOC_CLASSES)}"
        )
    largest = int(segmentation.max())
    if largest > categories.size:
        raise InputError(
            f"{mat_path}: Segmentation has instance index {largest} but Categories lists "
            f"{categories.size} instances"
        )


def load_sbd(root, split: str = "train") -> list[ImageRecord]:
    """Read the records of an SBD split (``dataset/<split>.txt``: ``"train"`` or ``"val"``)."""
    image_ids = read_split(Path(root) / "dataset" / f"{split}.txt")
    return [read_sbd_record(root, image_id) for image_id in image_ids]
