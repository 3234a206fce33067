"""COCO JSON reader: the two real files, and small JSON files written here."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from hypercolumns.data.coco import (
    CocoImage,
    coco_image_id,
    keypoints_to_coco,
    load_coco,
    read_coco_images,
)
from hypercolumns.data.errors import InputError, MissingFileError

from data_test_files import write_jpeg

KEYPOINT_NAMES = ["nose", "left_eye"]


@pytest.fixture(scope="module")
def keypoint_records(data_root):
    root = data_root / "coco-person-keypoints"
    return load_coco(root / "test_coco.json", root)


def test_person_keypoints_file(data_root, keypoint_records):
    data = json.loads((data_root / "coco-person-keypoints" / "test_coco.json").read_text())
    assert [r.image_id for r in keypoint_records] == ["785", "40083", "196141", "197388"]
    instances = [i for r in keypoint_records for i in r.instances]
    assert len(instances) == 14 and {i.category for i in instances} == {"person"}
    # v = 0 keypoints are left out, so each instance holds num_keypoints of them.
    num_keypoints = [annotation["num_keypoints"] for annotation in data["annotations"]]
    assert [len(i.keypoints) for i in instances] == num_keypoints
    first = instances[0]
    assert first.keypoints["nose"] == (367.5, 81.5, 1)  # pixel index 367, 81 -> its centre
    np.testing.assert_allclose(first.box, [280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68])
    assert first.mask.shape == (425, 640)
    for instance, annotation in zip(instances, data["annotations"], strict=True):
        assert instance.mask.sum() == pytest.approx(annotation["area"], rel=0.02)


def test_visible_keypoints_lie_in_their_box(keypoint_records):
    # Occluded ones need not: person 198196's right ankle (v = 1) is 10 px below its box.
    for record in keypoint_records:
        for instance in record.instances:
            xy = np.array([(x, y) for x, y, visible in instance.keypoints.values() if visible])
            if not xy.size:
                continue
            x0, y0, x1, y1 = instance.box
            assert (xy[:, 0] >= x0 - 1).all() and (xy[:, 0] <= x1 + 1).all()
            assert (xy[:, 1] >= y0 - 1).all() and (xy[:, 1] <= y1 + 1).all()


def test_image_table_and_integer_ids(data_root, keypoint_records):
    images = read_coco_images(data_root / "coco-person-keypoints" / "test_coco.json")
    assert images[785] == CocoImage(785, "000000000785.jpg", 640, 425)
    assert [coco_image_id(r) for r in keypoint_records] == list(images)
    assert keypoint_records[0].load_image().shape == (425, 640, 3)


def test_voc2011_json(data_root):
    root = data_root / "voc2011-relabeled"
    records = load_coco(root / "coco_annotations.json", root)
    assert [(r.image_id, r.path.name, len(r.instances)) for r in records] == [
        ("0", "2011_000003.jpg", 3), ("1", "2011_000025.jpg", 3), ("2", "2011_000006.jpg", 6),
    ]
    assert [i.category for i in records[0].instances] == ["person", "person", "bottle"]


def write_coco(tmp_path, annotations, keypoints=True, size=(10, 12)):
    height, width = size
    write_jpeg(tmp_path / "a.jpg", height, width)
    category = {"id": 1, "name": "person"}
    if keypoints:
        category["keypoints"] = KEYPOINT_NAMES
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": width, "height": height}],
        "annotations": [
            {"id": 100 + n, "image_id": 7, "category_id": 1, **a} for n, a in enumerate(annotations)
        ],
        "categories": [category],
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    return path


def square_mask(size=(10, 12)):
    mask = np.zeros(size, bool)
    mask[2:5, 3:8] = True
    return mask


def test_polygon_uncompressed_and_compressed_rle(tmp_path):
    expected = square_mask()
    column_major = expected.ravel(order="F")
    changes = np.flatnonzero(np.diff(column_major.astype(int))) + 1
    counts = np.diff(np.concatenate([[0], changes, [column_major.size]])).tolist()
    compressed = mask_utils.encode(np.asfortranarray(expected.astype(np.uint8)))
    path = write_coco(tmp_path, [
        {"segmentation": [[3, 2, 8, 2, 8, 5, 3, 5]], "bbox": [3, 2, 5, 3]},
        {"segmentation": {"size": [10, 12], "counts": counts}, "iscrowd": 1},
        {"segmentation": {"size": [10, 12], "counts": compressed["counts"].decode("ascii")}},
    ])
    polygon, uncompressed, rle = load_coco(path, tmp_path)[0].instances
    for instance in (polygon, uncompressed, rle):
        np.testing.assert_array_equal(instance.mask, expected)
        np.testing.assert_array_equal(instance.box, [3, 2, 8, 5])
    assert (polygon.difficult, uncompressed.difficult, rle.difficult) == (False, True, False)


def test_keypoints_round_trip(tmp_path):
    annotation = {"segmentation": [[3, 2, 8, 2, 8, 5]], "keypoints": [4, 3, 2, 0, 0, 0]}
    path = write_coco(tmp_path, [annotation])
    [instance] = load_coco(path, tmp_path)[0].instances
    assert instance.keypoints == {"nose": (4.5, 3.5, 1)}
    assert keypoints_to_coco(instance.keypoints, KEYPOINT_NAMES) == [4, 3, 2, 0, 0, 0]
    assert keypoints_to_coco({"left_eye": (1.5, 2.5, 0)}, KEYPOINT_NAMES) == [0, 0, 0, 1, 2, 1]


@pytest.mark.parametrize("segmentation, message", [
    ([], "annotation 100: empty or malformed segmentation"),
    ([[3, 2, 8, 2]], "annotation 100: no polygon with at least 3 points"),
    ([[3, 2, 8, 2, 8]], "annotation 100: a polygon must be a flat list"),
    ([["3", 2, 8, 2, 8, 5]], r"annotation 100: a polygon must be a flat list .* of finite numbers, got \['3'"),
    ([[3, 2, 8, float("nan"), 8, 5]], "annotation 100: a polygon must be a flat list .* got .*nan"),
    ({"size": [9, 12], "counts": [120]}, r"annotation 100: RLE size \[9, 12\] differs"),
    ({"size": 10, "counts": [120]}, r"annotation 100: RLE size 10 is not \[H, W\]"),
    ({"counts": [120]}, "annotation 100: segmentation .* is not a COCO RLE"),
    ({"size": [10, 12], "counts": [60, -1, 61]}, r"annotation 100: RLE counts \[60, -1, 61\] are neither"),
    ({"size": [10, 12], "counts": "!!!~~"}, "annotation 100: RLE counts cannot be decoded"),
])
def test_bad_segmentation_is_an_error(tmp_path, segmentation, message):
    path = write_coco(tmp_path, [{"segmentation": segmentation}])
    with pytest.raises(InputError, match=f"a.json: {message}"):
        load_coco(path, tmp_path)


def test_degenerate_polygon_beside_a_good_one_is_reported(tmp_path):
    path = write_coco(tmp_path, [{"segmentation": [[3, 2, 8, 2, 8, 5, 3, 5], [0, 0, 1, 1]]}])
    with pytest.warns(UserWarning, match="annotation 100: dropped a polygon of 2 points"):
        [instance] = load_coco(path, tmp_path)[0].instances
    np.testing.assert_array_equal(instance.mask, square_mask())


def test_unknown_category_and_image_are_errors(tmp_path):
    path = write_coco(tmp_path, [{"segmentation": [[3, 2, 8, 2, 8, 5]], "category_id": 5}])
    with pytest.raises(InputError, match=r"annotation 100: unknown category_id 5; known: \[1\]"):
        load_coco(path, tmp_path)
    path = write_coco(tmp_path, [{"segmentation": [[3, 2, 8, 2, 8, 5]], "image_id": 8}])
    with pytest.raises(ValueError, match="a.json: annotation 100 is for unknown image 8"):
        load_coco(path, tmp_path)


def test_keypoints_without_names_are_an_error(tmp_path):
    annotation = {"segmentation": [[3, 2, 8, 2, 8, 5]], "keypoints": [4, 3, 2]}
    path = write_coco(tmp_path, [annotation], keypoints=False)
    with pytest.raises(ValueError, match="has keypoints but category 'person' names none"):
        load_coco(path, tmp_path)


def test_missing_or_resized_image_is_an_error(tmp_path):
    path = write_coco(tmp_path, [])
    write_jpeg(tmp_path / "a.jpg", 11, 12)
    with pytest.raises(InputError, match=r"a.jpg: image is 12x11 but .*a.json says 12x10"):
        load_coco(path, tmp_path)
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(MissingFileError, match=r"image not found: .*a.jpg \(listed in .*a.json\)"):
        load_coco(path, tmp_path)
    [record] = load_coco(path, tmp_path, check_images=False)
    assert record.instances == []


def write_json(tmp_path, data):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    return path


def coco_data(**changes):
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 12, "height": 10}],
            "annotations": [{"id": 100, "image_id": 7, "category_id": 1, "segmentation": [[3, 2, 8, 2, 8, 5]]}],
            "categories": [{"id": 1, "name": "person"}]}
    data.update(changes)
    return data


@pytest.mark.parametrize("data, message", [
    ([coco_data()], "not a COCO instances file, a JSON list"),
    (coco_data(images={"7": {}}), "images is a JSON dict; expected a list"),
    (coco_data(categories=[{"id": 1}]), "category 0 is {'id': 1}; expected an object with an id"),
    (coco_data(categories=[{"id": 1.5, "name": "person"}]), "category 0 is .*expected an object with an id"),
    (coco_data(images=["a.jpg"]), r"malformed image entry 0 'a.jpg' \(not an object\)"),
    (coco_data(images=[{"id": 7, "width": 12, "height": 10}]), r"malformed image entry 0 .*\(lacks file_name\)"),
    (coco_data(images=[{"id": [7], "file_name": "a.jpg", "width": 12, "height": 10}]),
     r"malformed image entry 0 .*\(id must be an integer or a string, got \[7\]\)"),
    (coco_data(images=[{"id": 7, "file_name": "a.jpg", "width": "12", "height": 10}]),
     r"malformed image entry 0 .*\(width must be a positive integer, got '12'\)"),
    (coco_data(images=[{"id": 7, "file_name": "a.jpg", "width": 12, "height": -10}]),
     r"malformed image entry 0 .*\(height must be a positive integer, got -10\)"),
    (coco_data(annotations=[[7, 1]]), r"annotation 0 is \[7, 1\]; expected an object"),
    (coco_data(annotations=[{"id": 100, "image_id": [7], "category_id": 1}]),
     r"annotation 100 is for unknown image \[7\]"),
    (coco_data(annotations=[{"id": 100, "image_id": 7, "category_id": [1], "segmentation": []}]),
     r"annotation 100: unknown category_id \[1\]"),
    (coco_data(annotations=[{"image_id": 7, "category_id": 1, "segmentation": [[3, 2, 8, 2, 8, 5]],
                             "bbox": ["3", 2, 5, 3]}]), r"annotation 0: bbox \['3', 2, 5, 3\] is not \[x, y, w, h\]"),
])
def test_malformed_coco_files_are_refused_naming_file_and_entry(tmp_path, data, message):
    path = write_json(tmp_path, data)
    with pytest.raises(InputError, match=f"a.json: {message}"):
        load_coco(path, tmp_path, check_images=False)


@pytest.mark.parametrize("keypoints, message", [
    ([4, 3, "2", 0, 0, 0], r"keypoints \[4, 3, '2', 0, 0, 0\] are not a flat list of finite numbers"),
    ([4, float("nan"), 2, 0, 0, 0], r"keypoints \[4, nan, 2, 0, 0, 0\] are not a flat list"),
    ({"nose": [4, 3, 2]}, "keypoints {'nose': .* are not a flat list"),
    ([4, 3, 2], "3 keypoint values for 2 keypoint names"),
])
def test_malformed_keypoints_are_refused(tmp_path, keypoints, message):
    path = write_coco(tmp_path, [{"segmentation": [[3, 2, 8, 2, 8, 5]], "keypoints": keypoints}])
    with pytest.raises(InputError, match=f"a.json: annotation 100: {message}"):
        load_coco(path, tmp_path)


def test_a_missing_coco_file_is_a_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match=f"COCO annotation file not found: {tmp_path / 'nope.json'}"):
        read_coco_images(tmp_path / "nope.json")
