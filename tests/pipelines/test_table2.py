"""System 2 plumbing: region IoU labels, rescoring with region NMS, pools as COCO results, and
pools from a real detector's files."""
import json

import numpy as np
import pytest

from hypercolumns.data.boxes import xyxy_to_xywh
from hypercolumns.data.detections import write_mat_detections
from hypercolumns.data.masks import encode_rle
from hypercolumns.data.records import VOC_CLASSES, ImageRecord, Instance
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.rescoring_cv import best_ious, rescore
from hypercolumns.pipelines.experiments.table2 import pool_detections, read_detector_output
from hypercolumns.pipelines.system2.synthetic_detections import synthetic_detections


def square(top, left, size, shape=(20, 20)):
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_best_iou_is_against_instances_of_the_same_class_and_image():
    coco = {"annotations": [
        {"image_id": 1, "category_id": 8, "segmentation": encode_rle(square(0, 0, 10))},
        {"image_id": 1, "category_id": 12, "segmentation": encode_rle(square(0, 0, 10))},
        {"image_id": 2, "category_id": 8, "segmentation": encode_rle(square(5, 5, 10))}]}
    results = [{"image_id": 1, "category_id": 8, "segmentation": encode_rle(square(0, 0, 5))},
               {"image_id": 1, "category_id": 15, "segmentation": encode_rle(square(0, 0, 10))},
               {"image_id": 2, "category_id": 8, "segmentation": encode_rle(square(5, 5, 10))}]
    np.testing.assert_allclose(best_ious(coco, results), [25 / 100, 0.0, 1.0])


def test_rescoring_keeps_the_best_scored_of_overlapping_regions_per_class():
    a, b, c = square(0, 0, 10), square(0, 1, 10), square(10, 10, 8)   # a, b: IoU 90/110
    results = [{"image_id": 1, "category_id": 8, "segmentation": encode_rle(m), "score": 0.9}
               for m in (a, b, c)]
    results.append({"image_id": 1, "category_id": 12, "segmentation": encode_rle(a), "score": 0.1})
    kept = rescore(results, np.array([-1.0, 2.0, 0.5, 0.3]))
    scores = sorted((r["category_id"], r["score"]) for r in kept)
    # b outscores a after rescoring and suppresses it; c and the other class stay
    assert scores == [(8, 0.5), (8, 2.0), (12, 0.3)]


def test_pools_are_written_with_the_coco_ids_of_the_annotations(tmp_path):
    mask = np.zeros((60, 80), bool)
    mask[10:50, 15:65] = True
    record = ImageRecord("im", tmp_path / "im.jpg", 60, 80, [Instance(mask, "dog")])
    coco = coco_annotations([record], tmp_path)
    results, sizes = pool_detections([record], coco, seed=0, pool_threshold=0.3)
    assert results and {r["image_id"] for r in results} == {1}
    dog = next(c["id"] for c in coco["categories"] if c["name"] == "dog")
    assert dog in {r["category_id"] for r in results}
    assert sizes["dog"]["after"] >= sizes["dog"]["before"] >= 1
    for r in results:
        x, y, w, h = r["bbox"]
        assert w > 0 and h > 0 and 0 <= x and x + w <= 80 + 1e-9


def two_records(tmp_path):
    dog, cat = np.zeros((60, 80), bool), np.zeros((60, 80), bool)
    dog[10:50, 15:65] = True
    cat[5:30, 40:75] = True
    return [ImageRecord("2008_000001", tmp_path / "a.jpg", 60, 80, [Instance(dog, "dog")]),
            ImageRecord("17", tmp_path / "b.jpg", 60, 80, [Instance(cat, "cat"), Instance(dog, "dog")])]


def by_region(results):
    return sorted((r["image_id"], r["category_id"], r["score"], *r["bbox"]) for r in results)


def test_a_mat_file_with_its_pre_nms_boxes_pools_as_the_detections_it_holds(tmp_path):
    records = two_records(tmp_path)
    coco = coco_annotations(records, tmp_path)
    detections = synthetic_detections(records, seed=0)
    classes, image_ids = sorted({d.category for d in detections}), [r.image_id for r in records]
    write_mat_detections(detections, tmp_path / "post.mat", classes, image_ids, kept_only=True)
    write_mat_detections(detections, tmp_path / "pre.mat", classes, image_ids)
    from_file = read_detector_output(tmp_path / "post.mat", tmp_path / "pre.mat")
    results, sizes = pool_detections(records, coco, seed=5, pool_threshold=0.3, detections=from_file)
    expected, expected_sizes = pool_detections(records, coco, seed=0, pool_threshold=0.3)
    assert sizes == expected_sizes and any(s["after"] > s["before"] for s in sizes.values())
    np.testing.assert_allclose(by_region(results), by_region(expected), atol=1e-9)


def test_a_coco_results_file_is_its_final_boxes_by_voc_class_and_image_id(tmp_path):
    records = two_records(tmp_path)
    coco = coco_annotations(records, tmp_path)
    boxes = {("2008_000001", "dog"): [[14, 9, 66, 52], [30, 30, 40, 40]], (17, "cat"): [[40, 4, 76, 31]]}
    entries = [{"image_id": image, "category_id": VOC_CLASSES.index(name) + 1, "score": 0.9 - 0.1 * i,
                "bbox": xyxy_to_xywh(np.array(box, float)).tolist()}
               for (image, name), rows in boxes.items() for i, box in enumerate(rows)]
    entries.append({**entries[0], "image_id": "2010_999999"})        # an image of neither set
    (tmp_path / "dets.json").write_text(json.dumps(entries))
    results, sizes = pool_detections(records, coco, 0, 0.3, read_detector_output(tmp_path / "dets.json"))
    # no pre-NMS boxes: the pool is the detector's boxes as they are, on the records' COCO ids
    assert sizes == {"dog": {"before": 2, "after": 2}, "cat": {"before": 1, "after": 1}}
    ids = {c["name"]: c["id"] for c in coco["categories"]}
    expected = [{**e, "image_id": 1 if e["image_id"] == "2008_000001" else 2,
                 "category_id": ids[VOC_CLASSES[e["category_id"] - 1]]} for e in entries[:3]]
    np.testing.assert_allclose(by_region(results), by_region(expected))
    with pytest.raises(ValueError, match="--pre-nms"):
        read_detector_output(tmp_path / "dets.json", tmp_path / "pre.mat")
    with pytest.raises(ValueError, match="none on these 1 images"):
        pool_detections([ImageRecord("other", tmp_path / "c.jpg", 60, 80, [])], coco, 0, 0.3,
                        read_detector_output(tmp_path / "dets.json"))


def test_the_paste_threshold_is_chosen_on_training_images_only(monkeypatch):
    from types import SimpleNamespace

    from hypercolumns.classifiers.selection import ReportedImageError, reporting_on
    from hypercolumns.pipelines.experiments import table2

    monkeypatch.setattr(table2, "mean_iu_of", lambda records, coco, results, t: 50 - 10 * abs(t - 0.3))
    records = [SimpleNamespace(image_id="2008_000008")]
    assert table2.choose_paste_threshold(records, {}, []) == (0.3, 50.0)
    with reporting_on(["2008_000008"]), pytest.raises(ReportedImageError, match="paste threshold"):
        table2.choose_paste_threshold(records, {}, [])
