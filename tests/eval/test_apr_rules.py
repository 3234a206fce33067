"""The three AP^r rules on hand examples that tell them apart, each value computed by hand.

- sds: official SDS benchmark (MATLAB): best *uncovered* instance, IoU > t, all-points AP.
- mnc: MNC's voc_eval_sds (daijifeng001/MNC lib/utils/voc_eval.py): argmax instance, IoU >= t,
  a covered argmax is a false positive, 11-point AP at np.arange(0., 1.1, 0.1)'s float levels.
- sds-python: bharath272/sds evaluation.py (assign_dets_to_gt, getPR): argmax instance, IoU >= t,
  a covered argmax is a false positive, all-points AP under the precision envelope.
"""
import json

import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.eval.apr import Detection, ImageGroundTruth, evaluate_apr, match_image
from hypercolumns.eval.average_precision import ELEVEN_RECALL_LEVELS, average_precision
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.commands.evaluate import main

WIDTH = 20
RULES = ("sds", "mnc", "sds-python")


def strip(start, stop):
    """A 1 x 20 mask holding columns start..stop-1: IoUs are ratios of lengths."""
    mask = np.zeros((1, WIDTH), dtype=bool)
    mask[0, start:stop] = True
    return mask


def image(*instances):
    return ImageGroundTruth(1, WIDTH, list(instances))


def cat_ap(ground_truth, detections, rule, threshold):
    summary = evaluate_apr(ground_truth, detections, thresholds=[threshold], rule=rule)
    return summary["per_class"]["cat"][f"APr@{threshold:g}"] / 100


# ------------------------------------------------------------------ MNC's float recall levels

def test_mnc_levels_are_the_floats_of_np_arange():
    # 3 * 0.1, 6 * 0.1 and 7 * 0.1 round above 3/10, 6/10, 7/10 in binary floating point
    assert ELEVEN_RECALL_LEVELS[3] == 0.30000000000000004 > 3 / 10
    assert ELEVEN_RECALL_LEVELS[6] == 0.6000000000000001 > 6 / 10
    assert ELEVEN_RECALL_LEVELS[7] == 0.7000000000000001 > 7 / 10
    assert ELEVEN_RECALL_LEVELS[5] == 0.5 == 5 / 10


def ten_instances_first_found(n_found):
    """10 cats (strips [2k, 2k+2)); the first n_found detected exactly, then 2 false positives."""
    ground_truth = {"i": image(*[("cat", strip(2 * k, 2 * k + 2)) for k in range(10)]),
                    "empty": image()}
    detections = [Detection("i", "cat", 1.0 - k / 100, strip(2 * k, 2 * k + 2)) for k in range(n_found)]
    detections += [Detection("empty", "cat", 0.5, strip(0, 2)), Detection("empty", "cat", 0.4, strip(0, 2))]
    return ground_truth, detections


def test_mnc_ten_instances_tp_tp_tp_fp_fp_is_3_over_11():
    # ranked TP TP TP FP FP, 10 instances: precision 1, 1, 1, 3/4, 3/5 at recall 0.1, 0.2, 0.3, 0.3, 0.3.
    # MNC's levels: 0, 0.1, 0.2 are reached (precision 1); 0.30000000000000004 is not (0.3 < it),
    # nor any higher -> AP = (1 + 1 + 1) / 11 = 3/11 = 0.2727...
    # (with the exact decimal 0.3 the level 0.3 would be reached too: 4/11 = 0.364)
    ground_truth, detections = ten_instances_first_found(3)
    for threshold in (0.5, 0.7):
        assert cat_ap(ground_truth, detections, "mnc", threshold) == pytest.approx(3 / 11, abs=1e-12)
        # all points: envelope 1 up to recall 0.3, then 0 -> AP = 0.3 under both other rules
        assert cat_ap(ground_truth, detections, "sds", threshold) == pytest.approx(0.3, abs=1e-12)
        assert cat_ap(ground_truth, detections, "sds-python", threshold) == pytest.approx(0.3, abs=1e-12)
    summary = evaluate_apr(ground_truth, detections, rule="mnc")
    assert summary["APr_vol"] == pytest.approx(100 * 3 / 11)  # IoU 1 or 0: the same at every threshold


@pytest.mark.parametrize("n_found, levels_reached", [
    (3, 3),  # recall 3/10 reaches 0, 0.1, 0.2; misses 0.30000000000000004
    (5, 6),  # recall 5/10 = 0.5 reaches 0 .. 0.5 (0.5 is exact)
    (6, 6),  # recall 6/10 misses 0.6000000000000001: 0 .. 0.5
    (7, 7),  # recall 7/10 reaches 0.6000000000000001 < 0.7, misses 0.7000000000000001: 0 .. 0.6
])
def test_mnc_eleven_point_at_float_levels(n_found, levels_reached):
    # n_found TPs then 2 FPs: precision 1 at every recall reached -> AP = levels reached / 11
    true_positive = np.array([True] * n_found + [False, False])
    ap = average_precision(true_positive, ~true_positive, 10, "11_point")
    assert ap == pytest.approx(levels_reached / 11, abs=1e-12)


# ------------------------------------------------------------------ > against >=, a tie in IoU, a duplicate

def tie_at_threshold():
    """A = [0,2), B = [2,4); d0 = [0,4) has IoU 2/4 = 0.5 with both (a tie, at t = 0.5); d1 duplicates d0."""
    ground_truth = {"i": image(("cat", strip(0, 2)), ("cat", strip(2, 4)))}
    detections = [Detection("i", "cat", 0.9, strip(0, 4)), Detection("i", "cat", 0.8, strip(0, 4))]
    return ground_truth, detections


def test_tie_at_threshold_and_a_duplicate_match():
    ground_truth, detections = tie_at_threshold()
    matched = {rule: match_image(ground_truth["i"], detections, thresholds=[0.5], rule=rule)
               .classes["cat"].matched_gt[0].tolist() for rule in RULES}
    # sds: 0.5 is not > 0.5 -> neither detection matches
    assert matched["sds"] == [-1, -1]
    # mnc, sds-python: d0's argmax is A (the first of the tie), 0.5 >= 0.5 -> TP, A covered;
    # d1's argmax is A again, covered -> FP, though B (0.5) is uncovered
    assert matched["mnc"] == matched["sds-python"] == [0, -1]


def test_tie_at_threshold_and_a_duplicate_ap():
    ground_truth, detections = tie_at_threshold()
    # sds: FP FP -> AP 0
    assert cat_ap(ground_truth, detections, "sds", 0.5) == 0.0
    # mnc: TP FP, 2 instances: precision 1, 1/2 at recall 1/2, 1/2; levels 0, 0.1, 0.2,
    # 0.30000000000000004, 0.4, 0.5 reached with precision 1 -> 6/11
    assert cat_ap(ground_truth, detections, "mnc", 0.5) == pytest.approx(6 / 11, abs=1e-12)
    # sds-python: envelope 1 up to recall 1/2, then 0 -> AP 1/2
    assert cat_ap(ground_truth, detections, "sds-python", 0.5) == pytest.approx(1 / 2, abs=1e-12)


# ------------------------------------------------------------------ argmax against best uncovered

def covered_argmax():
    """A = [0,3), B = [3,5); d0 = A exactly; d1 = [0,5): IoU 3/5 = 0.6 with A, 2/5 = 0.4 with B."""
    ground_truth = {"i": image(("cat", strip(0, 3)), ("cat", strip(3, 5)))}
    detections = [Detection("i", "cat", 0.9, strip(0, 3)), Detection("i", "cat", 0.8, strip(0, 5))]
    return ground_truth, detections


def test_argmax_against_best_uncovered():
    ground_truth, detections = covered_argmax()
    # at t = 0.3 (no IoU equals it, so > and >= agree):
    # sds: d0 -> A (1 > 0.3) TP; d1's best uncovered is B, 0.4 > 0.3 -> TP: precision 1, 1 at recall 1/2, 1 -> AP 1
    assert cat_ap(ground_truth, detections, "sds", 0.3) == pytest.approx(1.0, abs=1e-12)
    # mnc: d0 TP; d1's argmax A (0.6) is covered -> FP: precision 1 up to recall 1/2 -> levels 0 .. 0.5 -> 6/11
    assert cat_ap(ground_truth, detections, "mnc", 0.3) == pytest.approx(6 / 11, abs=1e-12)
    # sds-python: the same TP FP -> envelope 1 up to recall 1/2 -> AP 1/2
    assert cat_ap(ground_truth, detections, "sds-python", 0.3) == pytest.approx(1 / 2, abs=1e-12)


def test_argmax_against_best_uncovered_above_the_other_overlap():
    ground_truth, detections = covered_argmax()
    # at t = 0.5, B's 0.4 is below the threshold, so d1 is a FP under every rule (TP FP) and only
    # the AP integral differs: all points 1/2 (sds, sds-python), 11 points 6/11 (mnc, as above)
    assert cat_ap(ground_truth, detections, "sds", 0.5) == pytest.approx(1 / 2, abs=1e-12)
    assert cat_ap(ground_truth, detections, "sds-python", 0.5) == pytest.approx(1 / 2, abs=1e-12)
    assert cat_ap(ground_truth, detections, "mnc", 0.5) == pytest.approx(6 / 11, abs=1e-12)


# ------------------------------------------------------------------ the command line and evaluate_coco

@pytest.fixture
def overlapping_cats(tmp_path):
    """One 1 x 20 image: cats g_a = [0,10), g_b = [5,15); d0 = g_a, d1 = [2,12) (8/12 with g_a, 7/13 with g_b)."""
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": 1}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(strip(0, 10)), "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": encode_rle(strip(5, 15)), "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 1], "score": 0.9,
         "segmentation": encode_rle(strip(0, 10))},
        {"image_id": 1, "category_id": 1, "bbox": [2, 0, 10, 1], "score": 0.8,
         "segmentation": encode_rle(strip(2, 12))},
    ]
    annotations_path, results_path = tmp_path / "gt.json", tmp_path / "results.json"
    annotations_path.write_text(json.dumps(annotations))
    results_path.write_text(json.dumps(results))
    return annotations_path, results_path


@pytest.mark.parametrize("rule, at_05, at_07", [
    # sds @0.5: d0 TP, d1 takes uncovered g_b (7/13 > 0.5) TP -> 100; @0.7: 7/13 < 0.7 -> TP FP -> 50
    ("sds", "100.0", "50.0"),
    # mnc: d1's argmax g_a (8/12) is covered -> TP FP at both -> 6/11 = 54.5...
    ("mnc", "54.5", "54.5"),
    # sds-python: TP FP at both -> all points 1/2
    ("sds-python", "50.0", "50.0"),
])
def test_three_rules_from_the_command_line(overlapping_cats, tmp_path, capsys, rule, at_05, at_07):
    annotations_path, results_path = overlapping_cats
    out = tmp_path / "summary.json"
    assert main(["--annotations", str(annotations_path), "--results", str(results_path),
                 "--rule", rule, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"AP^r@0.5 {at_05}", f"AP^r@0.7 {at_07}"]
    assert any(line.startswith(f"rule {rule}: ") for line in lines)
    assert json.loads(out.read_text())["rule"] == rule


def test_evaluate_coco_takes_the_three_rules(overlapping_cats):
    expected = {"sds": 100.0, "mnc": 100 * 6 / 11, "sds-python": 50.0}  # @0.5, as above
    for rule, ap in expected.items():
        summary = evaluate_coco(*overlapping_cats, rule=rule)
        assert summary["rule"] == rule and summary["APr@0.5"] == pytest.approx(ap)
    with pytest.raises(ValueError, match="sds-python"):
        evaluate_coco(*overlapping_cats, rule="voc07")
