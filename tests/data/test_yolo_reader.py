"""YOLO-seg reader: the real coco128-seg (with its orphans), and small label files."""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.data.yolo import load_yolo, read_yolo_label_file

from data_test_files import write_jpeg

ORPHAN_LABELS = ["000000000656.txt", "000000000659.txt"]
ORPHAN_IMAGES = ["000000000250.jpg", "000000000508.jpg"]


def count_label_lines(path):
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.fixture(scope="module")
def loaded(data_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = load_yolo(data_root / "coco128-seg", "train2017")
    return records, [str(warning.message) for warning in caught]


def test_counts(data_root, loaded):
    records, _ = loaded
    assert len(records) == 128
    instances = [instance for record in records for instance in record.instances]
    # The README's 941 polygons include the 12 lines of the two label files
    # without an image, which cannot become records.
    assert len(instances) == 929
    label_dir = data_root / "coco128-seg" / "labels" / "train2017"
    lines = sum(count_label_lines(path) for path in label_dir.glob("*.txt"))
    orphan_lines = sum(count_label_lines(label_dir / name) for name in ORPHAN_LABELS)
    assert (lines, orphan_lines) == (941, 12)
    categories = Counter(instance.category for instance in instances)
    assert len(categories) == 71 and categories["person"] == 254
    for record in records:
        shape = (record.height, record.width)
        assert all(instance.mask.shape == shape for instance in record.instances)
    assert all(instance.mask.any() for instance in instances)


def test_each_orphan_is_reported_by_name(loaded):
    records, messages = loaded
    assert len(messages) == 4
    for name in ORPHAN_LABELS:
        assert sum(name in text and "has no image" in text for text in messages) == 1
    for name in ORPHAN_IMAGES:
        assert sum(name in text and "has no label file" in text for text in messages) == 1
    without_labels = {r.path.name: r.instances for r in records if r.path.name in ORPHAN_IMAGES}
    assert without_labels == {name: [] for name in ORPHAN_IMAGES}


def test_strict_mode_raises_on_the_first_orphan(data_root):
    with pytest.raises(InputError, match="000000000656.txt: label file has no image"):
        load_yolo(data_root / "coco128-seg", "train2017", strict=True)


def test_first_label_line(data_root, loaded):
    records, _ = loaded
    record = next(r for r in records if r.image_id == "000000000009")
    assert (record.height, record.width) == (480, 640)
    first = record.instances[0]
    assert first.category == "bowl"  # class 45
    # Vertices span x 0.0016875..0.957297 (* 640 = 1.08..612.67) and y
    # 0.391021..0.986521 (* 480 = 187.69..473.53): the pixels whose centres are
    # inside are columns 1..612 and rows 188..473.
    np.testing.assert_allclose(first.box, [1, 188, 613, 474])


def test_normalised_vertices_scale_to_the_continuous_frame(tmp_path):
    label = tmp_path / "a.txt"
    label.write_text("1 0.1 0.1 0.6 0.1 0.6 0.6 0.1 0.6\n\n")
    [instance] = read_yolo_label_file(label, ["cat", "dog"], height=10, width=20)
    # x 2..12, y 1..6 in the continuous frame: pixels cols 2..11, rows 1..5.
    expected = np.zeros((10, 20), bool)
    expected[1:6, 2:12] = True
    np.testing.assert_array_equal(instance.mask, expected)
    assert instance.category == "dog"


@pytest.mark.parametrize("line, message", [
    ("2 0.1 0.1 0.6 0.1 0.6 0.6", r"a.txt:1: class index 2 is not in 0..1"),
    ("0 0.5 0.5 0.2 0.2", r"a.txt:1: a polygon needs at least 3 points, got 2 \(a detection label"),
    ("0", r"a.txt:1: a polygon needs at least 3 points, got 0"),
    ("0 0.1 0.1 0.6 0.1 0.6", r"a.txt:1: odd number of coordinates \(5\)"),
    ("0 12 10 60 10 60 60", r"a.txt:1: coordinates span \[10, 60\]; YOLO labels are normalised"),
    ("cat 0.1 0.1 0.6 0.1 0.6 0.6", r"a.txt:1: expected 'class x1 y1 x2 y2 ...'"),
    ("0 0.1 nan 0.6 0.1 0.6 0.6", r"a.txt:1: non-finite coordinates in '0 0.1 nan"),
    ("0 0.1 0.1 inf 0.1 0.6 0.6", r"a.txt:1: non-finite coordinates"),
])
def test_bad_lines_are_errors(tmp_path, line, message):
    label = tmp_path / "a.txt"
    label.write_text(line + "\n")
    with pytest.raises(InputError, match=message):
        read_yolo_label_file(label, ["cat", "dog"], height=10, width=20)


def test_unknown_class_in_a_data_set(tmp_path):
    (tmp_path / "classes.txt").write_text("cat\n")
    write_jpeg(tmp_path / "images" / "train" / "x.jpg", 4, 4)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "x.txt").write_text("1 0.1 0.1 0.6 0.1 0.6 0.6\n")
    with pytest.raises(InputError, match=r"labels/train/x.txt:1: class index 1 is not in 0..0"):
        load_yolo(tmp_path, "train")
