"""The standard train and val splits of the shared real data.

- **train**: all of ``coco128-seg`` (YOLO-seg) + the ``pascal-part`` images
  of the SDS train split.
- **val**: the ``pascal-part`` images of the SDS val split + the 3
  ``voc2011-relabeled`` images (read from their VOC PNGs).

Category names are VOC's where a COCO class is a VOC class under another name
(:data:`COCO_TO_VOC_NAMES`); other COCO names are kept as they are.
"""
from __future__ import annotations

from pathlib import Path

from hypercolumns.data.pascal_part import load_pascal_part
from hypercolumns.data.records import ImageRecord
from hypercolumns.data.voc import load_voc
from hypercolumns.data.yolo import load_yolo

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


def load_training_records(data_root) -> list[ImageRecord]:
    """The training records: coco128-seg, then PASCAL-Part's SDS-train images.

    Parameters
    ----------
    data_root : str or Path
        The shared data folder (``../shared/datasets``).

    Returns
    -------
    list of ImageRecord
        coco128-seg's orphan files are reported with warnings (see :mod:`yolo`).
    """
    data_root = Path(data_root)
    coco128 = to_voc_names(load_yolo(data_root / "coco128-seg", "train2017"))
    pascal_part = load_pascal_part(data_root / "pascal-part", "train", data_root / "sds-splits")
    return coco128 + pascal_part


def load_val_records(data_root) -> list[ImageRecord]:
    """The validation records: PASCAL-Part's SDS-val images, then voc2011-relabeled."""
    data_root = Path(data_root)
    pascal_part = load_pascal_part(data_root / "pascal-part", "val", data_root / "sds-splits")
    return pascal_part + load_voc(data_root / "voc2011-relabeled")
