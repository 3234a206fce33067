"""PASCAL-Part reader: the 18 real images, and bad files written here in its layout."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.io

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.pascal_part import load_pascal_part, read_pascal_part_record

from data_test_files import write_jpeg

TRAIN_IDS = [
    "2008_000726", "2008_003497", "2008_006462", "2009_001103", "2010_001199",
    "2010_002065", "2010_003057", "2010_005275", "2010_005511",
]
VAL_IDS = [
    "2008_000652", "2008_000700", "2008_000939", "2008_001978", "2008_003228",
    "2008_005643", "2010_000145", "2010_002526", "2010_005243",
]


@pytest.fixture(scope="module")
def records(data_root):
    return {record.image_id: record for record in load_pascal_part(data_root / "pascal-part")}


def test_counts(records):
    assert len(records) == 18
    instances = [instance for record in records.values() for instance in record.instances]
    assert len(instances) == 53
    counts = Counter(instance.category for instance in instances)
    assert counts["person"] == 19 and len(counts) == 13
    assert counts == {
        "person": 19, "chair": 7, "car": 5, "bird": 4, "tvmonitor": 4, "cat": 3, "dog": 3,
        "bottle": 3, "boat": 1, "diningtable": 1, "aeroplane": 1, "bus": 1, "horse": 1,
    }


def test_sds_split(data_root):
    root = data_root / "pascal-part"
    train = [r.image_id for r in load_pascal_part(root, "train", data_root / "sds-splits")]
    val = [record.image_id for record in load_pascal_part(root, "val")]  # default split_dir
    assert train == TRAIN_IDS and val == VAL_IDS
    with pytest.raises(ValueError, match="split must be one of"):
        load_pascal_part(root, "test")


def test_single_object_image_with_parts(records):
    [person] = records["2008_000652"].instances
    assert person.mask.shape == (213, 320) and person.mask.dtype == bool
    assert len(person.parts) == 18 and "head" in person.parts
    for name, part in person.parts.items():
        assert part.shape == (213, 320) and part.dtype == bool
        assert part.any() and not (part & ~person.mask).any(), name


def test_objects_without_parts_and_one_part(records):
    chairs_and_table = records["2010_001199"].instances
    categories = [instance.category for instance in chairs_and_table]
    assert categories == ["chair", "chair", "diningtable", "chair", "chair"]
    assert all(instance.parts == {} for instance in chairs_and_table)
    [bird] = records["2008_001978"].instances
    assert len(bird.parts) == 1


def test_records_match_their_images(records):
    record = records["2010_002526"]
    assert (record.height, record.width) == (500, 329)
    assert record.load_image().shape == (500, 329, 3)
    assert record.boxes().shape == (5, 4)


def write_pascal_part(root, image_id, objects, image_size=(4, 5)):
    """One image and its annotation; objects: (class, class_ind, mask, [(part_name, mask)])."""
    write_jpeg(root / "images" / f"{image_id}.jpg", *image_size)
    object_dtype = [("class", object), ("class_ind", object), ("mask", object), ("parts", object)]
    array = np.empty((1, len(objects)), dtype=object_dtype)
    for column, (name, index, mask, parts) in enumerate(objects):
        part_array = np.empty((1, len(parts)), dtype=[("part_name", object), ("mask", object)])
        for j, (part_name, part_mask) in enumerate(parts):
            part_array[0, j] = (part_name, part_mask.astype(np.uint8))
        class_ind = np.array([[index]], dtype=np.uint8)
        array[0, column] = (name, class_ind, mask.astype(np.uint8), part_array)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    anno = {"imname": image_id, "objects": array}
    scipy.io.savemat(root / "annotations" / f"{image_id}.mat", {"anno": anno})


def square(shape=(4, 5)):
    mask = np.zeros(shape, bool)
    mask[1:3, 1:3] = True
    return mask


def test_written_layout_reads_back(tmp_path):
    head = np.zeros((4, 5), bool)
    head[1, 1] = True
    objects = [("person", 15, square(), [("head", head)]), ("table", 11, square(), [])]
    write_pascal_part(tmp_path, "x", objects)
    person, table = read_pascal_part_record(tmp_path, "x").instances
    assert (person.category, table.category) == ("person", "diningtable")
    np.testing.assert_array_equal(person.parts["head"], head)
    np.testing.assert_array_equal(person.box, [1, 1, 3, 3])


def test_mask_of_another_size_is_an_error(tmp_path):
    write_pascal_part(tmp_path, "x", [("cat", 8, square((4, 6)), [])])
    with pytest.raises(InputError, match=r"x.mat: object 1 mask is 6x4 but its image is 5x4"):
        read_pascal_part_record(tmp_path, "x")


def test_unknown_class_is_an_error(tmp_path):
    write_pascal_part(tmp_path, "x", [("unicorn", 21, square(), [])])
    with pytest.raises(InputError, match="x.mat: object 1 has class_ind 21"):
        read_pascal_part_record(tmp_path, "x")
    write_pascal_part(tmp_path, "y", [("dog", 8, square(), [])])
    with pytest.raises(InputError, match=r"y.mat: object 1 has class 'dog' but class_ind 8 \('cat"):
        read_pascal_part_record(tmp_path, "y")


def test_missing_image_is_named(tmp_path):
    write_pascal_part(tmp_path, "x", [("cat", 8, square(), [])])
    (tmp_path / "images" / "x.jpg").unlink()
    with pytest.raises(MissingFileError, match="images/x.jpg"):
        read_pascal_part_record(tmp_path, "x")


def test_image_without_annotation_is_reported(tmp_path):
    write_pascal_part(tmp_path, "x", [("cat", 8, square(), [])])
    write_jpeg(tmp_path / "images" / "y.jpg", 4, 5)
    with pytest.warns(UserWarning, match="images/y.jpg: image has no annotation"):
        records = load_pascal_part(tmp_path)
    assert [record.image_id for record in records] == ["x"]


def test_an_object_without_its_fields_is_named(tmp_path):
    write_jpeg(tmp_path / "images" / "x.jpg", 4, 5)
    (tmp_path / "annotations").mkdir()
    objects = np.empty((1, 1), dtype=[("class", object), ("mask", object)])  # no class_ind, no parts
    objects[0, 0] = ("cat", square().astype(np.uint8))
    scipy.io.savemat(tmp_path / "annotations" / "x.mat", {"anno": {"imname": "x", "objects": objects}})
    with pytest.raises(InputError, match=r"x.mat: struct has no field 'class_ind'"):
        read_pascal_part_record(tmp_path, "x")
    objects = np.empty((1, 1), dtype=[("class", object), ("class_ind", object), ("mask", object), ("parts", object)])
    objects[0, 0] = ("cat", "eight", square().astype(np.uint8), np.zeros((0, 0)))
    scipy.io.savemat(tmp_path / "annotations" / "x.mat", {"anno": {"imname": "x", "objects": objects}})
    with pytest.raises(InputError, match=r"x.mat: object 1 has class_ind 'eight'; expected an integer"):
        read_pascal_part_record(tmp_path, "x")
