"""The standard train and val records, from whichever data set ``data_root`` holds.

Two layouts are recognised (:func:`dataset_kind`):

- **SBD** (what ``make data`` downloads), when ``data_root/benchmark_RELEASE/dataset``
  exists: the paper's SDS benchmark. Records are SBD's instance masks
  (``dataset/inst/<id>.mat``, see :mod:`sbd`) of the ids in
  ``data_root/sds-splits/{train,val}.txt`` (5,623 train and 5,732 val ids).
  Without those lists SBD's own ``dataset/{train,val}.txt`` is used, with a
  warning, since it is not the paper's split.
- **shared** (the small shared data, ``../shared/datasets``), when
  ``coco128-seg`` or ``pascal-part`` is there:

  - **train**: all of ``coco128-seg`` (YOLO-seg) + the ``pascal-part`` images
    of the SDS train split.
  - **val**: the ``pascal-part`` images of the SDS val split + the 3
    ``voc2011-relabeled`` images (read from their VOC PNGs).

  Category names are VOC's where a COCO class is a VOC class under another
  name (:data:`COCO_TO_VOC_NAMES`); other COCO names are kept as they are.

- **files** (your own data), when ``data_root/dataset.json`` exists: COCO instances
  JSON files and their image folders, ``{"train": {"annotations": A, "images": DIR},
  "val": {...}}`` (paths relative to ``data_root`` or absolute; ``val`` optional for
  ``features``).  COCO's category names are kept; ``iscrowd`` regions are read as
  ``difficult`` (never training targets, ``ignore`` in evaluation).
  :func:`describe_dataset` writes such a folder from the ``--train-annotations``,
  ``--train-images``, ``--val-annotations`` and ``--val-images`` flags.

The ``dataset`` keyword of the loaders, else ``$HYPERCOLUMNS_DATASET``, forces
one of them (``"sbd"``, ``"shared"`` or ``"files"``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from tqdm import tqdm

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.pascal_part import load_pascal_part
from hypercolumns.data.records import ImageRecord
from hypercolumns.data.sbd import read_sbd_record
from hypercolumns.data.splits import read_split
from hypercolumns.data.voc import load_voc
from hypercolumns.data.yolo import load_yolo

DATASET_KINDS = ("sbd", "shared", "files")
"""The data sets the loaders read: SBD with the SDS splits, the shared data, or COCO files of your own."""

DESCRIPTION = "dataset.json"
"""The file that makes a folder a ``files`` data set."""

DATASET_ENV = "HYPERCOLUMNS_DATASET"
"""Environment variable that picks a data set when the ``dataset`` keyword is None."""

SBD_ROOT = "benchmark_RELEASE"
SHARED_FOLDERS = ("coco128-seg", "pascal-part")

COCO_TO_VOC_NAMES = {
    "airplane": "aeroplane",
    "motorcycle": "motorbike",
    "couch": "sofa",
    "tv": "tvmonitor",
    "dining table": "diningtable",
    "potted plant": "pottedplant",
}
"""COCO class name -> VOC class name, for the COCO classes VOC spells differently.

The other VOC classes (person, bicycle, bird, boat, bottle, bus, car, cat,
chair, cow, dog, horse, sheep, train) have the same name in both.
"""


def to_voc_names(records: list[ImageRecord]) -> list[ImageRecord]:
    """Rename the categories of ``records`` in place by :data:`COCO_TO_VOC_NAMES`; returns them."""
    for record in records:
        for instance in record.instances:
            instance.category = COCO_TO_VOC_NAMES.get(instance.category, instance.category)
    return records


def dataset_kind(data_root, dataset: str | None = None) -> str:
    """Which data set the loaders read from ``data_root``: ``"sbd"`` or ``"shared"``.

    Parameters
    ----------
    data_root : str or Path
        The data folder (``make data``'s ``DATA_ROOT`` or ``../shared/datasets``).
    dataset : {"sbd", "shared", "files"} or None
        Forces the choice; None takes ``$HYPERCOLUMNS_DATASET``, and if that is
        unset or empty, the layout found in ``data_root`` (SBD first).

    Returns
    -------
    str
        One of :data:`DATASET_KINDS`.

    Raises
    ------
    InputError
        If the keyword or the environment variable is not one of :data:`DATASET_KINDS`.
    MissingFileError
        If nothing is forced and ``data_root`` holds neither layout.
    """
    if dataset is not None:
        return _checked_kind(dataset, "dataset")
    from_env = os.environ.get(DATASET_ENV)
    if from_env:
        return _checked_kind(from_env, f"${DATASET_ENV}")
    return _detected_kind(Path(data_root))


def _checked_kind(kind: str, source: str) -> str:
    if kind not in DATASET_KINDS:
        allowed = ", ".join(repr(k) for k in DATASET_KINDS)
        raise InputError(f"{source}={kind!r} is not a data set; expected one of {allowed}")
    return kind


def _detected_kind(data_root: Path) -> str:
    if (data_root / DESCRIPTION).is_file():
        return "files"
    if (data_root / SBD_ROOT / "dataset").is_dir():
        return "sbd"
    if any((data_root / folder).is_dir() for folder in SHARED_FOLDERS):
        return "shared"
    raise MissingFileError(
        f"no data set found in {data_root}: looked for your own files ({data_root / DESCRIPTION}, written by "
        f"--train-annotations/--train-images), for SBD ({data_root / SBD_ROOT / 'dataset'}, "
        f"made by `make data DATA_ROOT={data_root}`) and for the shared data "
        f"({' or '.join(str(data_root / folder) for folder in SHARED_FOLDERS)})"
    )


def sbd_split_path(data_root, split: str) -> Path:
    """The id list of an SBD ``split`` (``"train"`` or ``"val"``) under ``data_root``.

    The SDS list ``data_root/sds-splits/<split>.txt`` if it exists, else SBD's
    own ``benchmark_RELEASE/dataset/<split>.txt`` with a warning (not the paper's split).
    """
    data_root = Path(data_root)
    sds_path = data_root / "sds-splits" / f"{split}.txt"
    if sds_path.is_file():
        return sds_path
    sbd_path = data_root / SBD_ROOT / "dataset" / f"{split}.txt"
    warnings.warn(
        f"SDS split list not found at {sds_path}; using SBD's own {split} split {sbd_path} "
        f"instead, which is not the paper's SDS split (results are not comparable to it)",
        stacklevel=4,  # the caller of load_training_records / load_val_records
    )
    return sbd_path


def load_sbd_split(data_root, split: str) -> list[ImageRecord]:
    """The SBD records of the ids of :func:`sbd_split_path`, in list order (progress bar on a tty).

    Raises
    ------
    MissingFileError
        If the list, or an image or ``inst/<id>.mat`` of a listed id, is missing.
    """
    sbd_root = Path(data_root) / SBD_ROOT
    image_ids = read_split(sbd_split_path(data_root, split))
    # disable=None: the bar shows only on a terminal, not in logs or tests.
    progress = tqdm(image_ids, desc=f"reading SBD {split}", unit="image", disable=None)
    return [read_sbd_record(sbd_root, image_id) for image_id in progress]


def load_training_records(data_root, dataset: str | None = None) -> list[ImageRecord]:
    """The training records: SBD's SDS-train images, or the shared data's.

    Parameters
    ----------
    data_root : str or Path
        The data folder: ``make data``'s ``DATA_ROOT`` (SBD) or the shared data
        (``../shared/datasets``).
    dataset : {"sbd", "shared", "files"} or None
        Forces the data set; see :func:`dataset_kind`.

    Returns
    -------
    list of ImageRecord
        SBD: the ids of ``sds-splits/train.txt`` in list order. Shared:
        coco128-seg, then PASCAL-Part's SDS-train images; coco128-seg's orphan
        files are reported with warnings (see :mod:`yolo`).
    """
    kind = dataset_kind(data_root, dataset)
    if kind == "sbd":
        return load_sbd_split(data_root, "train")
    if kind == "files":
        return load_described_split(data_root, "train")
    data_root = Path(data_root)
    coco128 = to_voc_names(load_yolo(data_root / "coco128-seg", "train2017"))
    pascal_part = load_pascal_part(data_root / "pascal-part", "train", data_root / "sds-splits")
    return coco128 + pascal_part


def load_val_records(data_root, dataset: str | None = None) -> list[ImageRecord]:
    """The validation records: SBD's SDS-val images, or the shared data's.

    Shared: PASCAL-Part's SDS-val images, then voc2011-relabeled. Parameters
    as :func:`load_training_records`.
    """
    kind = dataset_kind(data_root, dataset)
    if kind == "sbd":
        return load_sbd_split(data_root, "val")
    if kind == "files":
        return load_described_split(data_root, "val")
    data_root = Path(data_root)
    pascal_part = load_pascal_part(data_root / "pascal-part", "val", data_root / "sds-splits")
    return pascal_part + load_voc(data_root / "voc2011-relabeled")


# ---------------------------------------------------------------- your own files

def describe_dataset(folder, train_annotations, train_images, val_annotations=None, val_images=None) -> Path:
    """Write ``folder/dataset.json`` naming COCO files and their image folders (absolute paths); returns
    ``folder``, a ``files`` data root.  InputError if a val file comes without its folder, or the reverse."""
    from hypercolumns.data.files import write_json_atomic

    if (val_annotations is None) != (val_images is None):
        raise InputError("give --val-annotations and --val-images together")
    splits = {"train": (train_annotations, train_images), "val": (val_annotations, val_images)}
    description = {split: {"annotations": str(Path(a).absolute()), "images": str(Path(i).absolute())}
                   for split, (a, i) in splits.items() if a is not None}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(description, folder / DESCRIPTION, indent=2)
    return folder


def load_described_split(data_root, split: str) -> list[ImageRecord]:
    """The records of ``split`` of a ``files`` data root (:func:`describe_dataset`), by :func:`load_coco`."""
    from hypercolumns.data.coco import load_coco
    from hypercolumns.data.files import read_json

    path = Path(data_root) / DESCRIPTION
    description = read_json(path)
    entry = description.get(split) if isinstance(description, dict) else None
    if not isinstance(entry, dict) or not {"annotations", "images"} <= set(entry):
        flag = f"--{split}-annotations and --{split}-images"
        raise InputError(f"{path}: no {split!r} entry with `annotations` and `images` (give {flag})")
    return load_coco(Path(data_root) / entry["annotations"], Path(data_root) / entry["images"])
