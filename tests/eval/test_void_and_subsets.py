"""VOC void pixels from the reader to the score, and scoring a subset of an annotations file's images."""
import json

import numpy as np
import pytest

from hypercolumns.data.files import write_json_atomic
from hypercolumns.data.masks import decode_rle, encode_rle
from hypercolumns.data.voc import load_voc
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.runner import instance_ious


def rows(start, stop, size=(10, 10)):
    mask = np.zeros(size, bool)
    mask[start:stop] = True
    return mask


def test_void_pixels_leave_every_iou_of_their_image(tmp_path):
    # ground truth rows 0-5 (50 px), detection rows 0-8 (80 px), void rows 5-8:
    # without void IoU = 50 / 80 = 0.625; with it both masks are rows 0-5 outside the void, IoU 1
    annotations = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10,
                               "void": encode_rle(rows(5, 8))}],
                   "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(rows(0, 5)),
                                    "iscrowd": 0}],
                   "categories": [{"id": 1, "name": "dog"}]}
    results = [{"image_id": 1, "category_id": 1, "score": 1.0, "segmentation": encode_rle(rows(0, 8))}]
    with_void = write_json_atomic(annotations, tmp_path / "void.json")
    del annotations["images"][0]["void"]
    without_void = write_json_atomic(annotations, tmp_path / "plain.json")
    results_path = write_json_atomic(results, tmp_path / "results.json")
    assert evaluate_coco(with_void, results_path)["APr@0.7"] == 100.0
    assert evaluate_coco(without_void, results_path)["APr@0.7"] == 0.0
    assert evaluate_coco(without_void, results_path)["mean_best_iou"] == pytest.approx(62.5)
    coco = json.loads(with_void.read_text())
    assert instance_ious(coco, results)[0] == 1.0
    assert instance_ious(annotations, results)[0] == 0.625


def test_a_void_rle_of_another_size_is_refused_naming_the_image(tmp_path):
    annotations = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10,
                               "void": encode_rle(rows(0, 2, (12, 10)))}],
                   "annotations": [], "categories": [{"id": 1, "name": "dog"}]}
    path = write_json_atomic(annotations, tmp_path / "void.json")
    with pytest.raises(ValueError, match=r"images\[0\]: void"):
        evaluate_coco(path, write_json_atomic([], tmp_path / "r.json"))


def test_the_oracle_ground_truth_carries_the_voc_void(data_root):
    records = load_voc(data_root / "voc2011-relabeled")
    coco = coco_annotations(records, data_root)
    with_void = {r.image_id for r in records if r.void is not None and r.void.any()}
    assert with_void, "the relabelled VOC images mark void pixels"
    for record, image in zip(records, coco["images"]):
        if record.image_id in with_void:
            np.testing.assert_array_equal(decode_rle(image["void"]).astype(bool), record.void)
        else:
            assert "void" not in image


def test_scoring_on_some_images_equals_a_file_of_those_images(tmp_path):
    dog, cat = rows(0, 5), rows(5, 10)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in (1, 2)]
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(dog), "iscrowd": 0},
                   {"id": 2, "image_id": 2, "category_id": 2, "segmentation": encode_rle(cat), "iscrowd": 0}]
    categories = [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": encode_rle(dog)},
               {"image_id": 2, "category_id": 1, "score": 0.8, "segmentation": encode_rle(cat)}]
    both = write_json_atomic({"images": images, "annotations": annotations, "categories": categories},
                             tmp_path / "both.json")
    first = write_json_atomic({"images": images[:1], "annotations": annotations[:1], "categories": categories},
                              tmp_path / "first.json")
    all_results = write_json_atomic(results, tmp_path / "all.json")
    assert evaluate_coco(both, all_results)["APr@0.5"] == 50.0        # dog 100 (one FP after the TP), cat 0
    subset = evaluate_coco(both, all_results, images=[1])
    alone = evaluate_coco(first, write_json_atomic(results[:1], tmp_path / "one.json"))
    assert subset["APr@0.5"] == alone["APr@0.5"] == 100.0
    assert subset["n_classes"] == alone["n_classes"] == 1
