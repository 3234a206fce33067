"""Detections files: COCO results lists and R-CNN/SDS .mat box arrays, read and written."""
import json

import numpy as np
import pytest
from scipy.io import savemat

from hypercolumns.data.detections import (Detections, read_coco_detections, read_detections,
                                          read_mat_detections, write_mat_detections)
from hypercolumns.data.errors import InputError, MissingFileError


def test_detections_checks_lengths():
    with pytest.raises(ValueError, match="one of each per box"):
        Detections("a", "cat", np.zeros((2, 4)), [0.1])


# ------------------------------------------------------------------------ COCO results

def test_read_coco_detections_groups_and_converts(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([
        {"image_id": 1, "category_id": 15, "bbox": [10, 20, 30, 40], "score": 0.9},
        {"image_id": 1, "category_id": 8, "bbox": [0, 0, 5, 5], "score": 0.4},
        {"image_id": 1, "category_id": 15, "bbox": [1.5, 2, 3, 4], "score": 0.3},
    ]))
    detections = read_coco_detections(path, names={15: "person", 8: "cat"})
    assert [(d.image_id, d.category) for d in detections] == [(1, "person"), (1, "cat")]
    np.testing.assert_array_equal(detections[0].boxes, [[10, 20, 40, 60], [1.5, 2, 4.5, 6]])
    np.testing.assert_array_equal(detections[0].scores, [0.9, 0.3])
    assert detections[0].kept.all()
    with pytest.raises(InputError, match=r"dets.json: category_id 15"):
        read_coco_detections(path, names={8: "cat"})


def test_read_coco_detections_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 5],
                                 "score": 1.0}]))
    with pytest.raises(InputError, match="bad.json: detection 0"):
        read_coco_detections(path)


GOOD = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}


@pytest.mark.parametrize("content, message", [
    ({"image_id": 1}, "expected a list of detections"),
    ([{"image_id": 1, "bbox": [0, 0, 1, 1]}], "detection 0 lacks category_id, score"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1}], r"detection 0 has bbox \[0, 0, 1\]"),
    ([GOOD, [1, 2]], r"detection 1 is \[1, 2\]; expected an object"),
    ([GOOD, "box"], "detection 1 is 'box'; expected an object"),
])
def test_read_detections_checks_each_entry(tmp_path, content, message):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match=f"dets.json: {message}"):
        read_detections(path)
    good = [{**GOOD, "extra": "kept"}, {**GOOD, "image_id": "2008_000001", "category_id": "cat",
                                        "bbox": [0.5, 1, 2.5, 1e-3], "score": -3.5}]
    path.write_text(json.dumps(good))
    assert read_detections(path) == good


# Python's json reads NaN, Infinity and -Infinity; the text is written by hand, as a tool might
@pytest.mark.parametrize("field, text, shown", [
    ("bbox", '["a", "b", "c", "d"]', r"bbox \['a', 'b', 'c', 'd'\]"),
    ("bbox", "[0, 0, true, 1]", r"bbox \[0, 0, True, 1\]"),
    ("bbox", "[[0, 0], [1, 1], 1, 1]", r"bbox \[\[0, 0\], \[1, 1\], 1, 1\]"),
    ("bbox", "null", "bbox None"),
    ("bbox", '"0 0 1 1"', "bbox '0 0 1 1'"),
    ("bbox", "[0, 0, Infinity, 1]", r"bbox \[0, 0, inf, 1\]"),
    ("bbox", "[NaN, 0, 1, 1]", r"bbox \[nan, 0, 1, 1\]"),
    ("bbox", "[0, -Infinity, 1, 1]", r"bbox \[0, -inf, 1, 1\]"),
    ("score", "NaN", "score nan"),
    ("score", "Infinity", "score inf"),
    ("score", '"0.9"', "score '0.9'"),
    ("score", "true", "score True"),
    ("score", "null", "score None"),
    ("image_id", "1.0", "image_id 1.0"),
    ("image_id", "false", "image_id False"),
    ("image_id", "[1]", r"image_id \[1\]"),
    ("category_id", '{"id": 1}', r"category_id \{'id': 1\}"),
    ("category_id", "null", "category_id None"),
])
def test_read_detections_checks_each_value(tmp_path, field, text, shown):
    entry = {key: json.dumps(value) for key, value in GOOD.items()}
    entry[field] = text
    path = tmp_path / "dets.json"
    path.write_text("[" + json.dumps(GOOD) + ", {" + ", ".join(f'"{k}": {v}' for k, v in entry.items()) + "}]")
    with pytest.raises(InputError, match=f"{path}: detection 1 has {shown}; expected "):
        read_detections(path)


# ------------------------------------------------------------------------ .mat files

def _cell(matrices, shape):
    cell = np.empty(shape, object)
    for index, matrix in zip(np.ndindex(*shape), matrices):
        is_cell = isinstance(matrix, np.ndarray) and matrix.dtype == object
        cell[index] = matrix if is_cell else np.asarray(matrix, np.float64)
    return cell


def test_read_mat_converts_matlab_boxes(tmp_path):
    # 2 classes x 2 images; rows [x1 y1 x2 y2 score], 1-based inclusive
    boxes = _cell([[[1, 1, 10, 20, 0.9]], np.zeros((0, 5)),
                   [[5, 6, 7, 8, 0.5], [2, 2, 2, 2, 0.1]], np.zeros((0, 5))], (2, 2))
    path = tmp_path / "post.mat"
    savemat(path, {"boxes": boxes, "classes": np.array(["cat", "dog"], object),
                   "image_ids": np.array(["a", "b"], object)})
    detections = read_mat_detections(path)
    assert [(d.category, d.image_id) for d in detections] == [("cat", "a"), ("dog", "a")]
    # pixel columns 1..10 (1-based) are 0..9 (0-based): continuous [0, 10)
    np.testing.assert_array_equal(detections[0].boxes, [[0, 0, 10, 20]])
    np.testing.assert_array_equal(detections[1].boxes, [[4, 5, 7, 8], [1, 1, 2, 2]])
    np.testing.assert_array_equal(detections[1].scores, [0.5, 0.1])


def test_read_mat_nested_cells_and_pre_nms(tmp_path):
    # R-CNN's nested boxes{class}{image} (1 class, 2 images), names given by the caller
    pre = [[[1, 1, 10, 10, 0.9], [1, 1, 10, 11, 0.8], [20, 20, 30, 30, 0.7]], np.zeros((0, 5))]
    post = [[[20, 20, 30, 30, 0.7], [1, 1, 10, 10, 0.9]], np.zeros((0, 5))]
    nested = lambda per_image: _cell([_cell(per_image, (2,))], (1,))  # noqa: E731
    savemat(tmp_path / "pre.mat", {"boxes": nested(pre)})
    savemat(tmp_path / "post.mat", {"boxes": nested(post)})
    (detection,) = read_mat_detections(tmp_path / "post.mat", tmp_path / "pre.mat",
                                       classes=["cat"], image_ids=["img", "other"])
    assert detection.image_id == "img"
    np.testing.assert_array_equal(detection.kept, [True, False, True])
    boxes, scores = detection.suppressed()
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 11]])
    np.testing.assert_array_equal(scores, [0.8])


def test_read_mat_single_image_flat_cell(tmp_path):
    savemat(tmp_path / "one.mat", {"boxes": _cell([[[1, 1, 4, 4, 2.0]], np.zeros((0, 5))], (2,))})
    detections = read_mat_detections(tmp_path / "one.mat", classes=["a", "b"], image_ids=[7])
    assert len(detections) == 1 and detections[0].category == "a"
    np.testing.assert_array_equal(detections[0].boxes, [[0, 0, 4, 4]])


@pytest.mark.parametrize("content, message", [
    ({"detections": np.zeros((1, 5))}, "no variable 'boxes'"),
    ({"boxes": np.zeros((1, 5))}, "'boxes' is a float64 array"),
    ({"boxes": _cell([np.zeros((1, 4))], (1, 1))}, r"boxes of shape \(1, 4\)"),
    ({"boxes": _cell([[[5, 1, 2, 4, 1.0]]], (1, 1))}, "x2 < x1 - 1"),
    ({"boxes": _cell([np.zeros((0, 5))] * 3, (3, 1))}, r"'boxes' has shape \(3, 1\)"),
])
def test_read_mat_malformed_names_the_file(tmp_path, content, message):
    path = tmp_path / "broken.mat"
    savemat(path, content)
    with pytest.raises(InputError, match="broken.mat") as error:
        read_mat_detections(path, classes=["cat"], image_ids=["a"])
    assert error.match(message)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_read_mat_refuses_non_finite_rows(tmp_path, bad):
    path = tmp_path / "dets.mat"
    savemat(path, {"boxes": _cell([[[1, 1, 5, 5, 0.9], [1, 1, 5, bad, 0.5]]], (1, 1))})
    with pytest.raises(InputError, match=f"{path}: class cat, image a: row 2 .* has non-finite values"):
        read_mat_detections(path, classes=["cat"], image_ids=["a"])


def test_read_mat_missing_names_and_files(tmp_path):
    savemat(tmp_path / "x.mat", {"boxes": _cell([np.zeros((0, 5))], (1, 1))})
    with pytest.raises(InputError, match=r"x.mat: no variable 'classes'"):
        read_mat_detections(tmp_path / "x.mat", image_ids=["a"])
    with pytest.raises(MissingFileError, match="detections file not found: .*nope.mat"):
        read_mat_detections(tmp_path / "nope.mat")
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(InputError, match="text.mat: not a readable MATLAB v5 .mat file"):
        read_mat_detections(tmp_path / "text.mat", classes=["a"], image_ids=["a"])


def test_post_nms_rows_must_be_in_pre_nms(tmp_path):
    savemat(tmp_path / "pre.mat", {"boxes": _cell([[[1, 1, 5, 5, 0.9]]], (1, 1))})
    savemat(tmp_path / "post.mat", {"boxes": _cell([[[1, 1, 6, 5, 0.9]]], (1, 1))})
    with pytest.raises(InputError, match="post.mat .*not in the pre-NMS file .*pre.mat"):
        read_mat_detections(tmp_path / "post.mat", tmp_path / "pre.mat", ["c"], ["i"])


def test_writer_rejects_unknown_class(tmp_path):
    entry = Detections("img1", "zebra", [[0, 0, 1, 1]], [1.0])
    with pytest.raises(ValueError, match="out.mat: detection of class zebra"):
        write_mat_detections([entry], tmp_path / "out.mat", ["cat"], ["img1"])
