"""COCO mask AP by pycocotools beside AP^r: hand cases where the two must agree, and where their rules part."""
import json
import math

import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.pipelines.commands.evaluate import main


def square(top, left, side, size=60):
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return encode_rle(mask)


def evaluate(tmp_path, instances, detections, capsys):
    """``evaluate --json`` on one 60x60 image of class cat: ``instances`` (mask RLE, iscrowd),
    ``detections`` (mask RLE, score); returns the summary and the printed text."""
    annotations = {"images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 60}],
                   "categories": [{"id": 1, "name": "cat"}],
                   "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "segmentation": rle,
                                    "iscrowd": crowd} for i, (rle, crowd) in enumerate(instances)]}
    results = [{"image_id": 1, "category_id": 1, "segmentation": rle, "score": score} for rle, score in detections]
    (tmp_path / "gt.json").write_text(json.dumps(annotations))
    (tmp_path / "res.json").write_text(json.dumps(results))
    assert main(["--annotations", str(tmp_path / "gt.json"), "--results", str(tmp_path / "res.json"),
                 "--json", str(tmp_path / "summary.json")]) == 0
    return json.loads((tmp_path / "summary.json").read_text()), capsys.readouterr().out


def test_a_perfect_mask_is_100_under_both(tmp_path, capsys):
    summary, printed = evaluate(tmp_path, [(square(0, 0, 20), 0)], [(square(0, 0, 20), 0.9)], capsys)
    coco = summary["coco_mask_ap"]
    assert summary["APr@0.5"] == 100.0
    assert [coco[k] for k in ("AP", "AP50", "AP75", "AP_small")] == pytest.approx([100.0] * 4)   # 400 px < 32^2
    assert coco["AP_medium"] is None and coco["AP_large"] is None      # no ground truth there: NaN, null in JSON
    assert "COCO mask AP 100.0 AP50 100.0 AP75 100.0 AP_small 100.0 AP_medium - AP_large -" in printed


def test_coco_reads_precision_at_101_recall_points_where_ap_r_integrates_every_point(tmp_path, capsys):
    # two cats; a false positive ranked first, then one cat found: precision 1/2 up to recall 1/2
    summary, _ = evaluate(tmp_path, [(square(0, 0, 20), 0), (square(30, 30, 20), 0)],
                          [(square(0, 40, 15), 0.9), (square(0, 0, 20), 0.8)], capsys)
    assert summary["APr@0.5"] == pytest.approx(100 * 0.5 * 0.5)                 # 25.0
    assert summary["coco_mask_ap"]["AP50"] == pytest.approx(100 * 51 * 0.5 / 101)   # recall 0..0.50: 51 points


def test_a_detection_inside_a_crowd_region_is_ignored_by_coco_and_a_false_positive_for_ap_r(tmp_path, capsys):
    # its plain IoU with the 40x40 crowd is 100/1600; COCO's crowd IoU (over the detection's area) is 1
    summary, _ = evaluate(tmp_path, [(square(0, 0, 10), 0), (square(10, 10, 40), 1)],
                          [(square(20, 20, 10), 0.9), (square(0, 0, 10), 0.8)], capsys)
    assert summary["APr@0.5"] == pytest.approx(50.0)          # FP then TP over 1 instance
    assert summary["coco_mask_ap"]["AP50"] == pytest.approx(100.0)


def test_no_detections_is_zero_where_there_is_ground_truth(tmp_path, capsys):
    # a 32x32 instance: COCO's area ranges hold both ends, so it is small and medium at once
    summary, _ = evaluate(tmp_path, [(square(0, 0, 32), 0)], [], capsys)
    coco = summary["coco_mask_ap"]
    assert coco["AP"] == coco["AP_small"] == coco["AP_medium"] == 0.0 and coco["AP_large"] is None
    assert summary["APr@0.5"] == 0.0 and not math.isnan(coco["AP50"])


def test_integer_and_string_category_ids_in_one_file(tmp_path, capsys):
    annotations = {"images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 60}],
                   "categories": [{"id": 1, "name": "cat"}, {"id": "d", "name": "dog"}],
                   "annotations": [{"id": 1, "image_id": 1, "category_id": "d", "segmentation": square(0, 0, 20)}]}
    (tmp_path / "gt.json").write_text(json.dumps(annotations))
    (tmp_path / "res.json").write_text(json.dumps([{"image_id": 1, "category_id": "d", "score": 1.0,
                                                   "segmentation": square(0, 0, 20)}]))
    assert main(["--annotations", str(tmp_path / "gt.json"), "--results", str(tmp_path / "res.json")]) == 0
    assert "COCO mask AP 100.0" in capsys.readouterr().out
