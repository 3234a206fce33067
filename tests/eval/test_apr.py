"""AP^r on hand-computed examples: ties, duplicates, strict thresholds (the three rules apart: test_apr_rules.py)."""
import math

import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.eval.apr import (
    APR_THRESHOLDS, Detection, ImageGroundTruth, accumulate, evaluate_apr, match_image,
    per_instance_best_iou, summarize,
)

WIDTH = 20


def strip(start, stop):
    """A 1 x 20 mask holding columns start..stop-1: IoUs are ratios of lengths."""
    mask = np.zeros((1, WIDTH), dtype=bool)
    mask[0, start:stop] = True
    return mask


def image(*instances, ignore=None):
    return ImageGroundTruth(1, WIDTH, list(instances), ignore=ignore)


def ap_at(summary, category, threshold):
    return summary["per_class"][category][f"APr@{threshold:g}"]


@pytest.fixture
def example():
    """Three images, classes dog (3 instances), cat (1, never detected), bird (detected, no GT)."""
    ground_truth = {
        "img1": image(("dog", strip(0, 10)), ("dog", strip(10, 20))),
        "img2": image(("dog", strip(0, 8)), ("cat", strip(10, 20))),
        "img3": image(),  # no objects: its detections are false positives
    }
    detections = [
        Detection("img1", "dog", 0.9, strip(0, 10)),   # d0: IoU 1 with g1            -> TP
        Detection("img1", "dog", 0.8, strip(0, 9)),    # d1: g1 covered, g2 IoU 0     -> FP (duplicate)
        Detection("img3", "dog", 0.7, strip(0, 5)),    # d2: no ground truth           -> FP
        Detection("img2", "dog", 0.7, strip(0, 8)),    # d3: tie with d2, ranked after -> TP
        Detection("img1", "dog", 0.6, strip(10, 16)),  # d4: IoU 6/10 with g2 -> TP @0.5, FP @0.7
        Detection("img1", "bird", 0.95, strip(0, 10)), # bird has no ground truth anywhere
    ]
    return ground_truth, detections


def test_hand_computed_example(example):
    summary = evaluate_apr(*example)
    # dog @0.5, ranked d0 d1 d2 d3 d4 = TP FP FP TP TP, 3 instances:
    #   precision 1, 1/2, 1/3, 1/2, 3/5 at recall 1/3, 1/3, 1/3, 2/3, 1
    #   envelope: 1 at recall 1/3, 3/5 at 2/3 and 1 -> AP = (1 + 3/5 + 3/5) / 3 = 11/15
    # (the other tie order, d3 before d2, would give (1 + 2/3 + 3/5) / 3 = 34/45)
    assert ap_at(summary, "dog", 0.5) == pytest.approx(100 * 11 / 15)
    # dog @0.7: TP FP FP TP FP -> envelope 1 up to recall 1/3, 1/2 up to 2/3 -> AP = 1/3 + 1/6 = 1/2
    assert ap_at(summary, "dog", 0.7) == pytest.approx(50.0)
    # cat: ground truth, no detection -> 0 and counted; bird: no ground truth -> NaN, not counted
    assert ap_at(summary, "cat", 0.5) == 0.0
    assert math.isnan(ap_at(summary, "bird", 0.5))
    assert summary["n_classes"] == 2
    assert summary["APr@0.5"] == pytest.approx(100 * (11 / 15 + 0) / 2)
    assert summary["APr@0.7"] == pytest.approx(100 * (1 / 2 + 0) / 2)
    # best IoU per instance: g1 1 (d0), g2 0.6 (d4), g3 1 (d3), cat 0 -> mean 0.65
    assert summary["mean_best_iou"] == pytest.approx(65.0)
    assert summary["per_class"]["dog"]["n_gt"] == 3
    assert summary["per_class"]["dog"]["n_detections"] == 5
    assert summary["per_class"]["bird"]["n_gt"] == 0


def test_staged_arrays(example):
    ground_truth, detections = example
    img1 = [d for d in detections if d.image_id == "img1"]
    match = match_image(ground_truth["img1"], img1, detection_ids=[0, 1, 4, 5])
    dog = match.classes["dog"]
    np.testing.assert_array_equal(dog.detection_ids, [0, 1, 4])
    assert dog.iou.shape == (3, 2) and dog.matched_gt.shape == (len(APR_THRESHOLDS), 3)
    t05 = int(np.flatnonzero(APR_THRESHOLDS == 0.5)[0])
    np.testing.assert_array_equal(dog.matched_gt[t05], [0, -1, 1])
    np.testing.assert_array_equal(dog.true_positive[t05], [True, False, True])

    accumulation = accumulate(
        match_image(ground_truth[key], [d for d in detections if d.image_id == key],
                    detection_ids=[i for i, d in enumerate(detections) if d.image_id == key])
        for key in ground_truth
    )
    dog_all = accumulation.classes["dog"]
    np.testing.assert_array_equal(dog_all.detection_ids, [0, 1, 2, 3, 4])  # stable on the 0.7 tie
    np.testing.assert_array_equal(dog_all.true_positive[t05], [True, False, False, True, True])
    np.testing.assert_array_equal(dog_all.false_positive[t05], [False, True, True, False, False])
    assert summarize(accumulation)["APr@0.5"] == pytest.approx(100 * 11 / 30)
    np.testing.assert_allclose(per_instance_best_iou(accumulation), [1.0, 0.6, 1.0, 0.0])


def test_not_yet_covered_differs_between_rules():
    # g_a = [0,10), g_b = [5,15). d0 = g_a (TP). d1 = [2,12): IoU 8/12 with g_a (covered),
    # 7/13 with g_b. sds: d1 takes the best *uncovered* instance g_b, 7/13 > 0.5 -> TP.
    # mnc: d1 goes to its argmax g_a, already covered -> FP.
    ground_truth = {"i": image(("cat", strip(0, 10)), ("cat", strip(5, 15)))}
    detections = [Detection("i", "cat", 0.9, strip(0, 10)), Detection("i", "cat", 0.8, strip(2, 12))]
    sds = evaluate_apr(ground_truth, detections, rule="sds")
    mnc = evaluate_apr(ground_truth, detections, rule="mnc")
    assert sds["APr@0.5"] == pytest.approx(100.0)  # TP TP, all points
    # mnc @0.5: TP FP -> precision 1 up to recall 1/2; 11-point: levels 0..0.5 -> 6/11
    assert mnc["APr@0.5"] == pytest.approx(100 * 6 / 11)
    # @0.7: sds d1 gets g_b at 7/13 -> FP: AP 1/2. mnc: 8/12 < 0.7 -> FP: 6/11
    assert sds["APr@0.7"] == pytest.approx(50.0)
    assert mnc["APr@0.7"] == pytest.approx(100 * 6 / 11)


@pytest.mark.parametrize("threshold, stop", [(0.5, 5), (0.7, 7)])
def test_overlap_equal_to_threshold(threshold, stop):
    # IoU exactly threshold: FP under sds (strict >), TP under mnc and sds-python (>=)
    ground_truth = {"i": image(("cat", strip(0, 10)))}
    detections = [Detection("i", "cat", 1.0, strip(0, stop))]
    assert ap_at(evaluate_apr(ground_truth, detections, rule="sds"), "cat", threshold) == 0.0
    assert ap_at(evaluate_apr(ground_truth, detections, rule="mnc"), "cat", threshold) == pytest.approx(100.0)
    assert ap_at(evaluate_apr(ground_truth, detections, rule="sds-python"), "cat", threshold) == pytest.approx(100.0)


def test_thresholds_are_exact_decimals():
    assert APR_THRESHOLDS.tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_ignore_instances_are_neither_tp_nor_fp():
    # g_hard is ignored: e0 on it is dropped, e1 is a TP on g; one counted instance -> AP 1
    ground_truth = {"i": image(("cat", strip(0, 10)), ("cat", strip(10, 20)), ignore=[False, True])}
    detections = [Detection("i", "cat", 0.9, strip(10, 20)), Detection("i", "cat", 0.8, strip(0, 10))]
    summary = evaluate_apr(ground_truth, detections)
    assert summary["per_class"]["cat"]["n_gt"] == 1
    assert summary["APr@0.5"] == pytest.approx(100.0)
    # without the flag e0 is a TP too, and both instances count
    plain = evaluate_apr({"i": image(("cat", strip(0, 10)), ("cat", strip(10, 20)))}, detections)
    assert plain["per_class"]["cat"]["n_gt"] == 2


def test_void_changes_the_overlap():
    # [0,10) vs [0,4): IoU 0.4 -> FP @0.5; with [4,10) void it is 4/4 -> TP
    detections = [Detection("i", "cat", 1.0, strip(0, 4))]
    no_void = evaluate_apr({"i": image(("cat", strip(0, 10)))}, detections)
    void = ImageGroundTruth(1, WIDTH, [("cat", strip(0, 10))], void=strip(4, 10))
    assert no_void["APr@0.5"] == 0.0
    assert evaluate_apr({"i": void}, detections)["APr@0.5"] == pytest.approx(100.0)


def test_rle_masks_and_apr_vol():
    ground_truth = {"i": image(("cat", encode_rle(strip(0, 10))))}
    detections = [Detection("i", "cat", 1.0, encode_rle(strip(0, 6)))]  # IoU 0.6
    summary = evaluate_apr(ground_truth, detections)
    # AP 1 at thresholds 0.1..0.5 (0.6 is not > 0.6), 0 at 0.6..0.9 -> AP^r_vol 5/9
    assert summary["APr_vol"] == pytest.approx(100 * 5 / 9)


def test_no_detections_and_no_ground_truth():
    empty = evaluate_apr({"i": image(("cat", strip(0, 3)))}, [])
    assert empty["APr@0.5"] == 0.0 and empty["mean_best_iou"] == 0.0
    nothing = evaluate_apr({"i": image()}, [Detection("i", "cat", 1.0, strip(0, 3))])
    assert nothing["n_classes"] == 0 and math.isnan(nothing["APr@0.5"])


def test_bad_detections_name_the_entry():
    ground_truth = {"i": image(("cat", strip(0, 3)))}
    with pytest.raises(ValueError, match="detection 1: image_id 'x'"):
        evaluate_apr(ground_truth, [Detection("i", "cat", 1.0, strip(0, 3)), Detection("x", "cat", 1.0, None)])
    with pytest.raises(ValueError, match="detection 0: score nan"):
        evaluate_apr(ground_truth, [Detection("i", "cat", float("nan"), strip(0, 3))])
    with pytest.raises(ValueError, match="rule"):
        evaluate_apr(ground_truth, [], rule="voc")


def test_wrong_mask_size_names_the_detection():
    with pytest.raises(ValueError, match=r"detection 0: mask is \(2, 3\)"):
        evaluate_apr({"i": image()}, [Detection("i", "cat", 1.0, np.zeros((2, 3), bool))])
    with pytest.raises(ValueError, match="ignore has 2 flags for 1 instances"):
        image(("cat", strip(0, 3)), ignore=[True, False])
