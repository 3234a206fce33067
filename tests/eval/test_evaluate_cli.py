"""`hypercolumns evaluate` end to end on tiny COCO files, bad inputs, and real annotations."""
import json
import math
import warnings

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from hypercolumns.data.errors import MissingFileError
from hypercolumns.data.masks import encode_rle
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.commands.evaluate import main
from refusal import assert_refused

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


# ------------------------------------------------------------------ bad input, through the command line

def assert_evaluate_refused(capsys, annotations_path, results_path, names, tmp_path):
    """``hypercolumns evaluate`` refuses the files naming ``names``, writing no --json summary."""
    summary = tmp_path / "summary.json"
    return assert_refused(capsys, ["evaluate", "--annotations", annotations_path, "--results", results_path,
                                   "--json", summary], names, [summary])


def rewrite_results(results_path, index, **changes):
    """Change entry ``index`` of the results file; written with Python's json, so NaN is the token NaN."""
    results = json.loads(results_path.read_text())
    results[index].update(changes)
    results_path.write_text(json.dumps(results))


def test_missing_files_are_named(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    missing = tmp_path / "nope.json"
    assert_evaluate_refused(capsys, missing, results_path, [f"COCO annotation file not found: {missing}"], tmp_path)
    assert_evaluate_refused(capsys, annotations_path, missing, [f"results file not found: {missing}"], tmp_path)
    with pytest.raises(MissingFileError, match="nope.json"):
        evaluate_coco(annotations_path, missing)


def test_a_json_summary_into_a_missing_folder_is_refused_before_evaluating(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    summary = tmp_path / "no-folder" / "summary.json"
    assert_refused(capsys, ["evaluate", "--annotations", annotations_path, "--results", results_path,
                            "--json", summary], [f"{summary}: its folder {summary.parent} does not exist"],
                   [summary])


@pytest.mark.parametrize("which", ["annotations", "results"])
def test_a_file_that_is_not_json_is_named(coco_files, tmp_path, capsys, which):
    annotations_path, results_path, _ = coco_files
    broken = {"annotations": annotations_path, "results": results_path}[which]
    broken.write_text(broken.read_text()[:-10])
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{broken}: not valid JSON"], tmp_path)


# results file

def test_results_that_are_not_a_list_are_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    results_path.write_text(json.dumps({"results": json.loads(results_path.read_text())}))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{results_path}: expected a COCO results list"], tmp_path)


def test_a_result_that_is_not_an_object_is_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    results = json.loads(results_path.read_text())
    results_path.write_text(json.dumps(results[:2] + [[1, 2]]))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{results_path}: entry 2: expected an object"], tmp_path)


@pytest.mark.parametrize("key", ["image_id", "category_id", "score", "segmentation"])
def test_a_result_without_a_key_is_refused(coco_files, tmp_path, capsys, key):
    annotations_path, results_path, _ = coco_files
    results = json.loads(results_path.read_text())
    del results[1][key]
    results_path.write_text(json.dumps(results))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{results_path}: entry 1: expected an object with keys",
                                                     repr(key)], tmp_path)


@pytest.mark.parametrize("score, shown", [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"),
                                          ("high", "'high'"), (True, "True"), (None, "None"), ([0.5], "[0.5]")])
def test_a_score_that_is_not_a_finite_number_is_refused(coco_files, tmp_path, capsys, score, shown):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 3, score=score)
    if isinstance(score, float):
        assert "NaN" in results_path.read_text() or "Infinity" in results_path.read_text()
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 3: score {shown} is not a finite number"], tmp_path)


@pytest.mark.parametrize("bbox, shown", [(["a", "b", "c", "d"], "['a', 'b', 'c', 'd']"), ([0, 0, 1], "[0, 0, 1]"),
                                         ([0, math.nan, 1, 1], "[0, nan, 1, 1]"), ("0 0 1 1", "'0 0 1 1'")])
def test_a_bbox_that_is_not_four_finite_numbers_is_refused(coco_files, tmp_path, capsys, bbox, shown):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 1, bbox=bbox)
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 1: bbox {shown} is not [x, y, w, h]"], tmp_path)


@pytest.mark.parametrize("segmentation, message", [
    ("tK4a1N2", "segmentation 'tK4a1N2' is not a COCO RLE"),
    ([DOG_POLYGON], "segmentation [[1.0, 5.0, 9.0, 5.0, 9.0, 9.0, 1.0, 9.0]] is not a COCO RLE"),  # a polygon
    ({"counts": "tK4a1N2"}, "segmentation {'counts': 'tK4a1N2'} is not a COCO RLE"),
    ({"size": [10, 10]}, "segmentation {'size': [10, 10]} is not a COCO RLE"),
    ({"size": "10x10", "counts": "tK4a1N2"}, "RLE size '10x10' is not [H, W]"),
    ({"size": [10.0, 10], "counts": "tK4a1N2"}, "RLE size [10.0, 10] is not [H, W]"),
    ({"size": [10, 10], "counts": 42}, "RLE counts 42 are neither"),
    ({"size": [10, 10], "counts": [50, "50"]}, "RLE counts [50, '50'] are neither"),
])
def test_a_segmentation_that_is_not_an_rle_is_refused(coco_files, tmp_path, capsys, segmentation, message):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 2, segmentation=segmentation)
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{results_path}: entry 2: {message}"], tmp_path)


def test_an_rle_of_another_size_is_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 1, segmentation=encode_rle(np.ones((10, 12), bool)))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 1: RLE size [10, 12] differs from the image's [10, 10]"], tmp_path)


@pytest.mark.parametrize("image_id", [42, "0", 0.0, [0]])
def test_an_unknown_image_is_refused(coco_files, tmp_path, capsys, image_id):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 2, image_id=image_id)
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 2: image_id {image_id!r} is not in the annotations"], tmp_path)


@pytest.mark.parametrize("category_id", [4, {"id": 1}])
def test_an_unknown_category_is_refused(coco_files, tmp_path, capsys, category_id):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 0, category_id=category_id)
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 0: category_id {category_id!r} is not in the annotations"], tmp_path)


# annotations file

def rewrite_annotations(annotations_path, change):
    data = json.loads(annotations_path.read_text())
    change(data)
    annotations_path.write_text(json.dumps(data))


def test_annotations_that_are_not_an_object_are_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    annotations_path.write_text(json.dumps([json.loads(annotations_path.read_text())]))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: not a COCO instances file, a JSON list"], tmp_path)


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_annotations_without_a_list_are_refused(coco_files, tmp_path, capsys, key):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data.pop(key))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: not a COCO instances file, missing ['{key}']"], tmp_path)
    rewrite_annotations(annotations_path, lambda data: data.update({key: {"0": {}}}))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: {key} is a JSON dict; expected a list"], tmp_path)


@pytest.mark.parametrize("image_id", [3, "0", None])
def test_an_annotation_of_an_unlisted_image_is_refused(coco_files, tmp_path, capsys, image_id):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["annotations"][1].update(image_id=image_id))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: annotations[1]: image_id {image_id!r} or category_id 2 is not among"], tmp_path)


@pytest.mark.parametrize("segmentation, message", [
    ([["a", 5, 9, 5, 9, 9]], "annotations[0]: bad segmentation: polygons must be lists of finite numbers"),
    ([[1, 5, 9, 5]], "annotations[0]: bad segmentation: a polygon needs an even number (>= 6)"),
    ({"size": [10, 10]}, "annotations[0]: segmentation {'size': [10, 10]} is not a COCO RLE"),
    ({"size": [9, 10], "counts": [90]}, "annotations[0]: RLE size [9, 10] differs from the image's [10, 10]"),
])
def test_an_annotation_with_a_bad_segmentation_is_refused(coco_files, tmp_path, capsys, segmentation, message):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["annotations"][0].update(segmentation=segmentation))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{annotations_path}: {message}"], tmp_path)


@pytest.mark.parametrize("image, problem", [
    ([7], "not an object"),
    ({"id": 7, "file_name": "b.jpg", "width": 10}, "lacks height"),
    ({"id": 7.0, "file_name": "b.jpg", "width": 10, "height": 10}, "id must be an integer or a string"),
    ({"id": 7, "file_name": "b.jpg", "width": 10, "height": "ten"}, "height must be a positive integer, got 'ten'"),
    ({"id": 7, "file_name": "b.jpg", "width": 0, "height": 10}, "width must be a positive integer, got 0"),
    ({"id": 7, "file_name": "b.jpg", "width": 10, "height": 10.5}, "height must be a positive integer, got 10.5"),
])
def test_a_malformed_image_entry_is_refused(coco_files, tmp_path, capsys, image, problem):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["images"].__setitem__(1, image))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: malformed image entry 1", problem], tmp_path)


def test_an_image_listed_twice_is_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["images"][1].update(id=0))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{annotations_path}: image id 0 is listed twice"], tmp_path)


@pytest.mark.parametrize("category", [{"id": 3}, {"id": [3], "name": "bird"}, "bird"])
def test_a_malformed_category_is_refused(coco_files, tmp_path, capsys, category):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["categories"].__setitem__(2, category))
    assert_evaluate_refused(capsys, annotations_path, results_path, [f"{annotations_path}: category 2 is"], tmp_path)


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


# run lengths that do not cover the image (issue 17): "P1" is one run of 32 pixels on 10 x 10

@pytest.mark.parametrize("counts", ["P1", [32]])
def test_a_result_rle_not_covering_its_image_is_refused(coco_files, tmp_path, capsys, counts):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 2, segmentation={"size": [10, 10], "counts": counts})
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 2: RLE run lengths sum to 32, not 10 x 10 = 100 pixels"], tmp_path)


@pytest.mark.parametrize("counts", ["P1", [32]])
def test_an_annotation_rle_not_covering_its_image_is_refused(coco_files, tmp_path, capsys, counts):
    annotations_path, results_path, _ = coco_files
    rewrite_annotations(annotations_path, lambda data: data["annotations"][0].update(
        segmentation={"size": [10, 10], "counts": counts}))
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{annotations_path}: annotations[0]: RLE run lengths sum to 32, not 10 x 10 = 100 pixels"],
            tmp_path)


def test_undecodable_result_counts_are_refused(coco_files, tmp_path, capsys):
    annotations_path, results_path, _ = coco_files
    rewrite_results(results_path, 1, segmentation={"size": [10, 10], "counts": "PP"})
    assert_evaluate_refused(capsys, annotations_path, results_path,
            [f"{results_path}: entry 1: RLE counts cannot be decoded: the string ends inside a run length"],
            tmp_path)
