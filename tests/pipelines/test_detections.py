"""Detections in: box NMS, pool expansion, COCO and .mat readers, the synthetic detector."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.box_sampling import box_iou
from hypercolumns.pipelines.system2.detections import (Detections, expand_detections, expand_pool, nms,
                                               read_coco_detections, read_mat_detections,
                                               write_mat_detections)
from hypercolumns.pipelines.system2.synthetic_detections import synthetic_detections


# ------------------------------------------------------------------------ nms

def test_nms_hand_made():
    boxes = np.array([[0, 0, 10, 10],     # 0: score .9, kept
                      [1, 0, 11, 10],     # 1: IoU 90/110 = .818 with 0 -> removed
                      [0, 0, 10, 20],     # 2: IoU 100/200 = .5 with 0 -> removed at .3
                      [20, 20, 30, 30],   # 3: disjoint, kept
                      [5, 0, 15, 10]])    # 4: IoU 50/150 = .333 with 0 -> removed at .3
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
    # 4 goes first (.95) and removes 0 (.333) and 1 (IoU 60/140 = .43); 2 vs 4: 50/250 = .2
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [4, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [4, 0, 2, 3])  # 2 vs 0 is .5, not > .5
    np.testing.assert_array_equal(nms(boxes, scores, 1.0), [4, 0, 1, 2, 3])


def test_nms_ties_keep_input_order_and_empty():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    np.testing.assert_array_equal(nms(boxes, [0.5, 0.5], 0.3), [0])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3).shape == (0,)
    with pytest.raises(ValueError, match="one score per box"):
        nms(boxes, [1.0], 0.3)


def _reference_nms(boxes, scores, threshold):
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7])
def test_nms_matches_plain_reference(threshold):
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 100, (200, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (200, 2))], axis=1)
    scores = rng.uniform(size=200)
    np.testing.assert_array_equal(nms(boxes, scores, threshold),
                                  _reference_nms(boxes, scores, threshold))


# ------------------------------------------------------------------------ pool expansion

def test_expand_pool_hand_made():
    kept = np.array([[0, 0, 10, 10], [50, 50, 60, 60]])
    kept_scores = np.array([0.9, 0.8])
    suppressed = np.array([[0, 0, 10, 11],      # IoU 100/110 = .91 with kept 0 -> out
                           [0, 0, 10, 20],      # IoU .5 with kept 0, score .6 -> in
                           [0, 0, 10, 21],      # IoU 200/210 = .95 with the one above -> NMS .7 out
                           [50, 50, 60, 70],    # IoU .5 with kept 1, score .2 -> below threshold
                           [30, 30, 40, 40]])   # overlaps nothing, score .5 -> in
    scores = np.array([0.85, 0.6, 0.55, 0.2, 0.5])
    boxes, pool_scores, report = expand_pool(kept, kept_scores, suppressed, scores,
                                             score_threshold=0.3)
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 20],
                                          [30, 30, 40, 40]])
    np.testing.assert_array_equal(pool_scores, [0.9, 0.8, 0.6, 0.5])
    assert report == {"kept": 2, "suppressed": 5, "above_threshold": 4, "added": 3, "pool": 4}


def test_expand_pool_overlap_bound_is_strict_and_no_kept_boxes():
    kept = np.array([[0, 0, 10, 10]])
    # IoU exactly .7 (70/100): not below .7, so not added
    _, _, report = expand_pool(kept, [1.0], [[0, 0, 10, 7]], [0.9], score_threshold=0.0)
    assert report["added"] == 0 and report["pool"] == 1
    boxes, scores, report = expand_pool(np.zeros((0, 4)), [], [[0, 0, 5, 5]], [0.9], 0.5)
    np.testing.assert_array_equal(boxes, [[0, 0, 5, 5]])
    assert report["pool"] == 1


def test_expand_detections_reports_sizes_per_class():
    entry = Detections("a", "cat", [[0, 0, 10, 10], [0, 0, 10, 20], [30, 30, 40, 40]],
                       [0.9, 0.6, 0.1], kept=[True, False, False])
    pools, sizes = expand_detections([entry], score_threshold=0.3)
    assert sizes == {"cat": {"before": 1, "after": 2}}
    assert pools[0].kept.all() and len(pools[0].boxes) == 2


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
    with pytest.raises(ValueError, match=r"dets.json: category_id 15"):
        read_coco_detections(path, names={8: "cat"})


def test_read_coco_detections_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 5],
                                 "score": 1.0}]))
    with pytest.raises(ValueError, match="bad.json: detection 0"):
        read_coco_detections(path)


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
    with pytest.raises(ValueError, match="broken.mat") as error:
        read_mat_detections(path, classes=["cat"], image_ids=["a"])
    assert error.match(message)


def test_read_mat_missing_names_and_files(tmp_path):
    savemat(tmp_path / "x.mat", {"boxes": _cell([np.zeros((0, 5))], (1, 1))})
    with pytest.raises(ValueError, match=r"x.mat: no variable 'classes'"):
        read_mat_detections(tmp_path / "x.mat", image_ids=["a"])
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        read_mat_detections(tmp_path / "nope.mat")
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(ValueError, match="text.mat: not a readable MATLAB file"):
        read_mat_detections(tmp_path / "text.mat", classes=["a"], image_ids=["a"])


def test_post_nms_rows_must_be_in_pre_nms(tmp_path):
    savemat(tmp_path / "pre.mat", {"boxes": _cell([[[1, 1, 5, 5, 0.9]]], (1, 1))})
    savemat(tmp_path / "post.mat", {"boxes": _cell([[[1, 1, 6, 5, 0.9]]], (1, 1))})
    with pytest.raises(ValueError, match="post.mat .*not in the pre-NMS file .*pre.mat"):
        read_mat_detections(tmp_path / "post.mat", tmp_path / "pre.mat", ["c"], ["i"])


# ------------------------------------------------------------------------ synthetic detector

def _record(image_id, instances, size=(120, 160)):
    height, width = size
    made = []
    for category, (x0, y0, x1, y1) in instances:
        mask = np.zeros(size, bool)
        mask[y0:y1, x0:x1] = True
        made.append(Instance(mask, category))
    return ImageRecord(image_id, Path(f"{image_id}.jpg"), height, width, made)


RECORDS = [_record("img1", [("cat", (10, 10, 60, 70)), ("dog", (80, 30, 150, 110))]),
           _record("img2", [("person", (40, 20, 100, 115))]),
           _record("img3", [])]


def test_synthetic_detections_behave_like_a_detector():
    detections = synthetic_detections(RECORDS, seed=5)
    assert {d.image_id for d in detections} <= {"img1", "img2", "img3"}
    by_key = {(d.image_id, d.category): d for d in detections}
    for record in RECORDS:
        for instance in record.instances:
            entry = by_key[(record.image_id, instance.category)]
            overlaps = box_iou(entry.boxes, instance.box[None])[:, 0]
            tight = (overlaps >= 0.7) & (overlaps <= 0.9)
            assert tight.sum() >= 3
            # tight boxes outscore the rest on average
            assert entry.scores[tight].mean() > entry.scores[~tight].mean()
    for entry in detections:
        assert np.all((entry.scores > 0) & (entry.scores < 1))
        post = entry.post_nms()
        overlaps = box_iou(post.boxes, post.boxes)
        assert np.all(overlaps[~np.eye(len(post.boxes), dtype=bool)] <= 0.3)
        assert entry.kept.any()
    # boxes with a class no instance of the image has (wrong class, background)
    present = {(r.image_id, i.category) for r in RECORDS for i in r.instances}
    assert any(key not in present for key in by_key)
    assert any(d.image_id == "img3" for d in detections)  # background boxes only


def test_synthetic_detections_are_seeded_per_image():
    all_images = synthetic_detections(RECORDS, seed=5)
    one_image = synthetic_detections(RECORDS[1:2], seed=5)
    other_seed = synthetic_detections(RECORDS[1:2], seed=6)
    same = [d for d in all_images if d.image_id == "img2"]
    assert len(same) == len(one_image)
    for a, b in zip(same, one_image):
        assert a.category == b.category
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(one_image[0].scores, other_seed[0].scores)


def test_synthetic_detections_round_trip_through_mat(tmp_path):
    detections = synthetic_detections(RECORDS, seed=1)
    classes = sorted({d.category for d in detections})
    image_ids = [r.image_id for r in RECORDS]
    write_mat_detections(detections, tmp_path / "pre.mat", classes, image_ids)
    write_mat_detections(detections, tmp_path / "post.mat", classes, image_ids, kept_only=True)
    back = read_mat_detections(tmp_path / "post.mat", tmp_path / "pre.mat")
    assert len(back) == len(detections)
    original = {(d.image_id, d.category): d for d in detections}
    for entry in back:
        source = original[(entry.image_id, entry.category)]
        np.testing.assert_allclose(entry.boxes, source.boxes, atol=1e-9)
        np.testing.assert_array_equal(entry.scores, source.scores)
        np.testing.assert_array_equal(entry.kept, source.kept)
    posts = read_mat_detections(tmp_path / "post.mat")
    assert sum(len(d.scores) for d in posts) == sum(int(d.kept.sum()) for d in detections)


def test_writer_rejects_unknown_class(tmp_path):
    entry = Detections("img1", "zebra", [[0, 0, 1, 1]], [1.0])
    with pytest.raises(ValueError, match="out.mat: detection of class zebra"):
        write_mat_detections([entry], tmp_path / "out.mat", ["cat"], ["img1"])
