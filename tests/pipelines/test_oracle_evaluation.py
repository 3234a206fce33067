"""Oracle boxes and the evaluation driver on the real val images (whole-box system: no CNN)."""
import json

import numpy as np
import pytest

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.datasets import load_val_records
from hypercolumns.pipelines.experiments.runner import (System, ground_truth_box_ious, load_systems,
                                                       run_oracle_evaluation)
from hypercolumns.pipelines.experiments.tables import write_table
from hypercolumns.pipelines.experiments.oracle import coco_annotations, ground_truth_detections, oracle_detections


@pytest.fixture(scope="module")
def val(data_root):
    records = load_val_records(data_root)
    return records, coco_annotations(records, data_root)


def test_oracle_boxes_overlap_their_instance_by_0_7_to_0_9(val):
    records, coco = val
    assert len(coco["annotations"]) == sum(len(r.instances) for r in records) == 39
    detections = oracle_detections(coco, seed=1)
    assert detections == oracle_detections(coco, seed=1)
    assert detections != oracle_detections(coco, seed=2)
    for detection, annotation in zip(detections, coco["annotations"], strict=True):
        assert detection["image_id"] == annotation["image_id"]
        x, y, w, h = detection["bbox"]
        gx, gy, gw, gh = annotation["bbox"]
        iou = box_iou(np.array([[x, y, x + w, y + h]]), np.array([[gx, gy, gx + gw, gy + gh]]))[0, 0]
        assert 0.7 <= iou <= 0.9


def test_whole_box_rows_score_the_box_masks(val, data_root, tmp_path):
    records, coco = val
    summaries = run_oracle_evaluation([System("whole box", None)], records, data_root, tmp_path,
                                      seeds=(0,), viz=False)
    summary = summaries["whole box"][0]
    detections = json.loads((tmp_path / "oracle_boxes_seed0.json").read_text())
    # independent IoU of each box (the pixels whose centre it holds) with its instance's mask, void left out
    expected = []
    for detection, annotation in zip(detections, coco["annotations"]):
        record = records[annotation["image_id"] - 1]
        instance = record.instances[[a["id"] for a in coco["annotations"]
                                     if a["image_id"] == annotation["image_id"]].index(annotation["id"])]
        x, y, w, h = detection["bbox"]
        rows = np.arange(record.height)[:, None] + 0.5
        cols = np.arange(record.width)[None, :] + 0.5
        box = (rows >= y) & (rows < y + h) & (cols >= x) & (cols < x + w)
        kept = ~record.void if record.void is not None else True    # VOC void is in no IoU
        expected.append((box & instance.mask & kept).sum() / ((box | instance.mask) & kept).sum())
    np.testing.assert_allclose(summary["instance_iou"], expected, atol=1e-9)
    assert 0 < summary["APr@0.5"] <= 100
    md, csv = write_table([{"a": 1.0, "b": "x"}], ["a", "b"], tmp_path / "t", "title")
    assert csv.read_text() == "a,b\n1.0,x\n"


def test_ground_truth_boxes_are_exact_and_the_whole_box_iou_is_mask_over_box(val, data_root, tmp_path):
    records, coco = val
    detections = ground_truth_detections(coco)
    assert [d["bbox"] for d in detections] == [a["bbox"] for a in coco["annotations"]]
    systems = [System("whole box", None)]
    ious = ground_truth_box_ious(systems, records, coco, data_root, tmp_path, load_systems(systems))
    # the instance's mask lies inside its own tight box: IoU = mask pixels / box pixels outside the
    # void, from the record
    expected = []
    for record in records:
        kept = ~record.void if record.void is not None else np.ones((record.height, record.width), bool)
        for instance in record.instances:
            rows, cols = np.nonzero(instance.mask)
            box = kept[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            expected.append((instance.mask & kept).sum() / box.sum())
    np.testing.assert_allclose(ious["whole box"], expected, atol=1e-9)
    assert (tmp_path / "results" / "whole_box_gt_boxes.json").is_file()
