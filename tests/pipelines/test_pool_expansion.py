"""System 2's detections: box NMS, pool expansion, the synthetic detector (and its .mat round trip)."""
from pathlib import Path

import numpy as np
import pytest

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.detections import Detections, read_mat_detections, write_mat_detections
from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.pipelines.system2.pool_expansion import expand_detections, expand_pool, nms
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
