"""System 2 plumbing: region IoU labels, rescoring with region NMS, pools as COCO results."""
import numpy as np

from hypercolumns.data.masks import encode_rle
from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.table2 import best_ious, pool_detections, rescore


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
