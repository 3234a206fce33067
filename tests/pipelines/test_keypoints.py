"""eval-keypoints: keypoint rows (positives never missed, ring ignored), argmax mapping, score rule."""
import math

import cv2
import h5py
import numpy as np
import pytest

from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.features import feature_config, plan_boxes
from hypercolumns.extract.shards import list_shards, read_rows
from hypercolumns.extract.keypoint_rows import (TARGETS, keypoint_person_records,
                                                  run_keypoint_features)
from hypercolumns.pipelines.experiments.keypoints import (heatmap_argmax_to_image, keypoint_score,
                                              predict_keypoint, table_rows)

KEYPOINTS = {"left_shoulder": (70.3, 30.6, 1), "right_shoulder": (48.2, 31.1, 1),
             "nose": (59.0, 20.0, 0),            # labelled, invisible: no positive
             "left_hip": (66.0, 60.0, 1)}


def synthetic_records(tmp_path, count=2):
    records = []
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 255, size=(90, 120, 3), dtype=np.uint8)
        mask = np.zeros((90, 120), bool)
        cv2.ellipse(mask.view(np.uint8), (60, 45), (20, 35), 0, 0, 360, 1, -1)
        path = tmp_path / f"img{index}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        person = Instance(mask, "person", keypoints=dict(KEYPOINTS))
        other = Instance(np.roll(mask, 30, axis=1), "dog")       # dropped: not a person
        bare = Instance(np.roll(mask, -30, axis=1), "person")    # dropped: no keypoints
        records.append(ImageRecord(f"img{index}", path, 90, 120, [person, other, bare]))
    return records


def test_rows_hold_every_positive_and_no_negative_in_the_ring(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = feature_config(cnn, spec, boxes_per_instance=3, targets=TARGETS)
    run_keypoint_features(records, tmp_path / "shards", cnn, spec, config, log=lambda *_: None)
    kept = keypoint_person_records(records)
    assert [len(r.instances) for r in kept] == [1, 1] and len(records[0].instances) == 3
    jobs = plan_boxes(kept, config)
    [shard] = list_shards(tmp_path / "shards")
    with h5py.File(shard) as f:
        location, box_index = f["location"][:], f["box_index"][:]
        labels = {t: f[f"labels/{t}"][:] for t in TARGETS}
        expanded = f["boxes/expanded_box"][:]
        assert f["boxes/category"].asstr()[:].tolist() == ["person"] * len(jobs)
    assert len(expanded) == len(jobs) == 6
    for b in range(len(jobs)):
        rows = box_index == b
        x0, y0, x1, y1 = expanded[b].astype(np.float64)
        diagonal = math.hypot(x1 - x0, y1 - y0)
        cols, rrows = location[rows] % 50, location[rows] // 50
        cx, cy = x0 + (cols + 0.5) * (x1 - x0) / 50, y0 + (rrows + 0.5) * (y1 - y0) / 50
        for name in ("left_shoulder", "right_shoulder", "left_hip", "nose", "left_knee"):
            label = labels[f"kp:{name}"][rows]
            if name in KEYPOINTS:
                x, y, visible = KEYPOINTS[name]
                col = int((x - x0) / (x1 - x0) * 50)
                row = int((y - y0) / (y1 - y0) * 50)
                positive = row * 50 + col
                if visible:   # the cell containing the keypoint is a row, labelled 1, the only 1
                    assert (label[location[rows] == positive] == 1).all()
                    assert positive in location[rows] and (label == 1).sum() == 1
                else:
                    assert (label == 1).sum() == 0
                distance = np.hypot(cx - x, cy - y)
                ring = distance <= 0.1 * diagonal
                assert (label[ring & (location[rows] != positive)] == -1).all()
                assert not (label[ring] == 0).any()
                assert (label[~ring] == 0).all()
            else:             # unlabelled: all negatives
                assert (label == 0).all()
    # 100 stratified rows per box plus at most the 3 visible positives
    assert all(100 <= (box_index == b).sum() <= 103 for b in range(len(jobs)))
    # read_rows (stage two's reader) skips the ignored rows
    rows = read_rows(shard, "kp:left_shoulder")
    assert set(np.unique(rows["labels"])) == {0, 1} and (rows["labels"] == 1).sum() == len(jobs)


def test_argmax_maps_to_the_centre_of_its_cell():
    heatmap = np.zeros((50, 50))
    heatmap[10, 40] = 0.8
    heatmap[30, 5] = 0.7
    # expanded box x 100..200 (2 px per cell), y 50..150
    x, y, value = heatmap_argmax_to_image(heatmap, [100.0, 50.0, 200.0, 150.0])
    assert (x, y, value) == (100 + 40.5 * 2, 50 + 10.5 * 2, 0.8)
    # a non-square box: 5 px wide cells, 1 px tall cells
    x, y, _ = heatmap_argmax_to_image(heatmap, [0.0, 0.0, 250.0, 50.0])
    assert (x, y) == pytest.approx((202.5, 10.5))
    # ties: the first cell in row-major order
    flat = np.full((50, 50), 0.5)
    assert heatmap_argmax_to_image(flat, [0, 0, 50, 50])[:2] == (0.5, 0.5)


def test_score_is_heatmap_value_times_sigmoid_of_detection_score():
    assert keypoint_score(0.8, 0.0) == pytest.approx(0.4)
    assert keypoint_score(0.5, 1.0) == pytest.approx(0.5 / (1 + math.exp(-1)))
    heatmap = np.zeros((50, 50))
    heatmap[0, 49] = 0.9
    x, y, score = predict_keypoint(heatmap, [0, 0, 50, 50], detection_score=2.0)
    assert (x, y) == (49.5, 0.5) and score == pytest.approx(0.9 / (1 + math.exp(-2.0)))


def test_table_rows_put_the_paper_beside_ours_with_the_p_value():
    names = ("left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
             "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle", "nose")
    hyp = {0: {"APK": {n: 50.0 for n in names}}, 1: {"APK": {n: 60.0 for n in names}}}
    glob = {0: {"APK": {n: 10.0 for n in names}}, 1: {"APK": {n: 20.0 for n in names}}}
    rows = table_rows({"Hyp": hyp, "Only global": glob})
    assert [r["system"] for r in rows] == ["ours: Hyp", "ours: Only global", "paper: Only fc7", "paper: Hyp"]
    assert rows[0]["LS"] == 55.0 and rows[0]["mean"] == 55.0 and rows[1]["mean"] == 15.0
    # all 13 differences positive: exact two-sided p = 2 / 2**13
    assert rows[0]["p vs Only global"] == pytest.approx(2 / 2 ** 13)
    assert rows[3]["N"] == 57.5 and rows[3]["mean"] == 17.0
