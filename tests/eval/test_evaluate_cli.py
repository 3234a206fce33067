"""`hypercolumns evaluate` end to end on tiny COCO files, bad inputs, and real annotations."""
import json
import warnings

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.commands.cli import main as cli_main
from hypercolumns.pipelines.commands.evaluate import main

DOG_POLYGON = [1.0, 5.0, 9.0, 5.0, 9.0, 9.0, 1.0, 9.0]


def box_mask(rows, cols, size=(10, 10)):
    mask = np.zeros(size, dtype=bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


def polygon_mask():
    """The dog's ground truth as pycocotools rasterises it (read independently of our code)."""
    rle = mask_utils.merge(mask_utils.frPyObjects([DOG_POLYGON], 10, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools under numpy 2
        return mask_utils.decode(rle).astype(bool)


@pytest.fixture
def coco_files(tmp_path):
    """Image 0 (cat as RLE, dog as polygon), image 7 (no objects); bird has no ground truth."""
    cat = box_mask((0, 4), (0, 5))
    annotations = {
        "images": [{"id": 0, "file_name": "a.jpg", "width": 10, "height": 10},
                   {"id": 7, "file_name": "b.jpg", "width": 10, "height": 10}],
        "annotations": [
            {"id": 1, "image_id": 0, "category_id": 1, "segmentation": encode_rle(cat), "iscrowd": 0},
            {"id": 2, "image_id": 0, "category_id": 2, "segmentation": [DOG_POLYGON], "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
    }
    # the dog result keeps the first k of the polygon's n pixels: IoU k/n in (0.5, 0.7)
    dog = polygon_mask()
    n_pixels = int(dog.sum())
    kept = int(round(0.6 * n_pixels))
    dog_result = np.zeros_like(dog)
    dog_result.flat[np.flatnonzero(dog)[:kept]] = True
    results = [
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 3, 3], "score": 0.95,
         "segmentation": encode_rle(box_mask((0, 3), (0, 3)))},            # cat on an empty image: FP
        {"image_id": 0, "category_id": 1, "bbox": [0, 0, 5, 4], "score": 0.9,
         "segmentation": encode_rle(cat)},                                 # cat: TP
        {"image_id": 0, "category_id": 2, "bbox": [1, 5, 8, 4], "score": 0.5,
         "segmentation": encode_rle(dog_result)},                          # dog: TP @0.5, FP @0.7
        {"image_id": 0, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.3,
         "segmentation": encode_rle(box_mask((0, 1), (0, 1)))},            # bird: not counted
    ]
    annotations_path, results_path = tmp_path / "gt.json", tmp_path / "results.json"
    annotations_path.write_text(json.dumps(annotations))
    results_path.write_text(json.dumps(results))
    return annotations_path, results_path, kept / n_pixels


def test_cli_prints_and_writes_json(coco_files, tmp_path, capsys):
    annotations_path, results_path, dog_iou = coco_files
    assert 0.5 < dog_iou < 0.7
    out = tmp_path / "summary.json"
    assert main(["--annotations", str(annotations_path), "--results", str(results_path), "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # cat: FP then TP, one instance -> AP 1/2 at both thresholds; dog: 1 @0.5, 0 @0.7
    assert lines[0] == "AP^r@0.5 75.0"   # (50 + 100) / 2
    assert lines[1] == "AP^r@0.7 25.0"   # (50 + 0) / 2
    assert f"mean best IoU {100 * (1 + dog_iou) / 2:.1f}" in lines
    assert any(line.startswith("bird") and line.split()[1:3] == ["0", "1"] for line in lines)
    written = json.loads(out.read_text())
    assert written["APr@0.5"] == pytest.approx(75.0)
    assert written["per_class"]["cat"]["APr@0.7"] == pytest.approx(50.0)
    assert written["per_class"]["bird"]["APr@0.5"] is None  # NaN written as null
    assert written["rule"] == "sds" and written["results"] == str(results_path)


def test_mnc_rule_from_the_command_line(coco_files, capsys):
    annotations_path, results_path, _ = coco_files
    main(["--annotations", str(annotations_path), "--results", str(results_path), "--rule", "mnc"])
    # 11-point: cat precision 1/2 at recall 1 -> 1/2; dog 1 -> mean 75; @0.7 (50 + 0) / 2
    assert capsys.readouterr().out.splitlines()[:2] == ["AP^r@0.5 75.0", "AP^r@0.7 25.0"]


def test_missing_file_is_named(coco_files, tmp_path):
    annotations_path, results_path, _ = coco_files
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match="nope.json"):
        main(["--annotations", str(missing), "--results", str(results_path)])
    with pytest.raises(FileNotFoundError, match="nope.json"):
        evaluate_coco(annotations_path, missing)


def rewrite_results(results_path, index, **changes):
    results = json.loads(results_path.read_text())
    results[index].update(changes)
    results_path.write_text(json.dumps(results))


def test_unknown_image_names_file_and_entry(coco_files):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 2, image_id=42)
    with pytest.raises(ValueError, match=r"results\.json: entry 2: image_id 42"):
        evaluate_coco(annotations_path, results_path)


def test_wrong_rle_size_names_file_and_entry(coco_files):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 1, segmentation=encode_rle(np.ones((10, 12), bool)))
    with pytest.raises(ValueError, match=r"results\.json: entry 1: segmentation size \[10, 12\]"):
        evaluate_coco(annotations_path, results_path)


def test_other_bad_results(coco_files, tmp_path):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 0, score="high")
    with pytest.raises(ValueError, match="entry 0: score 'high'"):
        evaluate_coco(annotations_path, results_path)
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        evaluate_coco(annotations_path, not_json)


def test_dispatcher_turns_errors_into_one_line(coco_files, tmp_path, capsys):
    annotations_path, _, _ = coco_files
    status = cli_main(["evaluate", "--annotations", str(annotations_path), "--results", str(tmp_path / "x.json")])
    assert status == 2
    assert "x.json" in capsys.readouterr().err


def test_golden_real_annotations_scored_against_themselves(data_root, tmp_path):
    """VOC2011 relabeled (3 images, polygons): the ground truth as results scores 100."""
    annotations_path = data_root / "voc2011-relabeled" / "coco_annotations.json"
    data = json.loads(annotations_path.read_text())
    sizes = {image["id"]: (image["height"], image["width"]) for image in data["images"]}
    results = []
    for annotation in data["annotations"]:
        height, width = sizes[annotation["image_id"]]
        rle = mask_utils.merge(mask_utils.frPyObjects(annotation["segmentation"], height, width))
        results.append({"image_id": annotation["image_id"], "category_id": annotation["category_id"],
                        "score": 1.0, "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps(results))
    for rule in ("sds", "mnc"):
        summary = evaluate_coco(annotations_path, results_path, rule=rule)
        assert summary["n_classes"] > 0
        assert summary["APr@0.5"] == pytest.approx(100.0)
        assert summary["APr@0.7"] == pytest.approx(100.0)
        assert summary["mean_best_iou"] == pytest.approx(100.0)
