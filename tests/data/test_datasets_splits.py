"""The standard train/val records of the shared data."""
from __future__ import annotations

import warnings
from collections import Counter

import pytest

from hypercolumns.data.datasets import COCO_TO_VOC_NAMES, load_training_records, load_val_records
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.data.yolo import read_class_names


@pytest.fixture(scope="module")
def splits(data_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_training_records(data_root)
    orphan_warnings = [str(w.message) for w in caught if "coco128-seg" in str(w.message)]
    return train, load_val_records(data_root), orphan_warnings


def test_sizes_and_sources(splits):
    train, val, orphan_warnings = splits
    assert len(train) == 128 + 9 and len(val) == 9 + 3
    assert len(orphan_warnings) == 4
    assert [r.path.parent.name for r in train].count("train2017") == 128
    assert [r.image_id for r in val][-3:] == ["2011_000003", "2011_000006", "2011_000025"]
    assert sum(len(r.instances) for r in train) == 929 + 26  # coco128-seg + PASCAL-Part SDS-train
    assert sum(len(r.instances) for r in val) == 27 + 12  # PASCAL-Part SDS-val + voc2011-relabeled


def test_no_validation_image_in_training(splits):
    train, val, _ = splits
    assert not {r.image_id for r in train} & {r.image_id for r in val}
    assert not {r.path.name for r in train} & {r.path.name for r in val}


def test_coco_names_become_voc_names(data_root, splits):
    train, _, _ = splits
    categories = Counter(instance.category for record in train for instance in record.instances)
    for coco_name, voc_name in COCO_TO_VOC_NAMES.items():
        assert coco_name not in categories
        assert voc_name in VOC_CLASSES
    assert categories["tvmonitor"] >= 1 and categories["diningtable"] >= 1
    assert "giraffe" in categories  # COCO classes VOC lacks keep their name
    coco_names = set(read_class_names(data_root / "coco128-seg" / "classes.txt"))
    assert set(COCO_TO_VOC_NAMES) <= coco_names
    assert set(VOC_CLASSES) <= coco_names | set(COCO_TO_VOC_NAMES.values())


def test_keypoints_only_on_pascal_part_persons(splits):
    train, val, _ = splits
    with_keypoints = [
        (record.image_id, instance.category)
        for record in train + val for instance in record.instances if instance.keypoints
    ]
    assert len(with_keypoints) == 9 and {category for _, category in with_keypoints} == {"person"}
