"""AP^r_part on hand-computed examples, and against AP^r and a per-pixel loop on random cases."""
import numpy as np
import pytest

from hypercolumns.eval.apr import Detection, ImageGroundTruth, accumulate, evaluate_apr
from hypercolumns.eval.apr_part import (
    ImagePartGroundTruth, PartDetection, PartInstance, evaluate_apr_part, match_all, match_image, part_overlap,
)

WIDTH = 20


def strip(*runs):
    """A 1 x 20 label map from runs (start, stop, label); 0 elsewhere: overlaps are ratios of lengths."""
    labels = np.zeros((1, WIDTH), dtype=np.int64)
    for start, stop, label in runs:
        labels[0, start:stop] = label
    return labels


GT = strip((0, 10, 1), (10, 20, 2))  # one instance over the whole strip: head 0-9, torso 10-19


@pytest.mark.parametrize("labels, expected", [
    (strip((0, 10, 1), (10, 20, 2)), 1.0),               # perfect
    (strip((0, 20, 1)), 0.5),                            # perfect mask, half its labels wrong
    (strip((0, 5, 1), (5, 15, 2), (15, 20, 1)), 0.5),    # ... right at 0-4 and 10-14 only
    (strip((0, 10, 2), (10, 20, 1)), 0.0),               # perfect mask, every label wrong
    (strip((0, 10, 1), (10, 16, 2)), 16 / 20),           # short mask, labels right: the mask IoU
    (strip((0, 10, 2), (10, 16, 1)), 0.0),               # short mask, labels swapped
    (strip((0, 10, 1), (10, 20, 3)), 0.5),               # a part the ground truth lacks
])
def test_single_pair_overlaps(labels, expected):
    assert part_overlap([labels], [GT])[0, 0] == pytest.approx(expected)


def test_minus_one_and_zero_are_both_no_part():
    with_minus_one = strip((0, 10, 1), (10, 16, 2), (16, 20, -1))
    assert part_overlap([with_minus_one], [GT])[0, 0] == pytest.approx(16 / 20)


def test_union_is_of_the_figure_ground_masks():
    # the ground-truth mask holds pixels 18-19 without a part label: in the union, never right
    gt_mask = np.ones((1, WIDTH), bool)
    gt_labels = strip((0, 10, 1), (10, 18, 2))
    detection = strip((0, 10, 1), (10, 20, 2))
    assert part_overlap([detection], [gt_labels], masks_b=[gt_mask])[0, 0] == pytest.approx(18 / 20)
    # a detection mask wider than its labels: pixels 16-19 are in the union, never right
    short = strip((0, 10, 1), (10, 16, 2))
    assert part_overlap([short], [GT], masks_a=[np.ones((1, WIDTH), bool)])[0, 0] == pytest.approx(16 / 20)
    # labels outside a given mask are not read
    mask = strip((0, 10, 1)).astype(bool)
    assert part_overlap([GT], [GT], masks_a=[mask])[0, 0] == pytest.approx(10 / 20)


def test_void_is_out_of_intersection_and_union():
    void = strip((15, 20, 1)).astype(bool)
    half_wrong = strip((0, 20, 1))
    # outside void: 15 pixels in the union, right 0-9 -> 10/15
    assert part_overlap([half_wrong], [GT], void=void)[0, 0] == pytest.approx(10 / 15)


def test_pairwise_shape_and_values():
    a = [strip((0, 10, 1)), strip((10, 20, 2)), strip((0, 20, 1))]
    b = [strip((0, 10, 1)), strip((5, 20, 2))]
    expected = [[1.0, 0.0], [0.0, 10 / 15], [10 / 20, 0.0]]
    np.testing.assert_allclose(part_overlap(a, b), expected)
    np.testing.assert_allclose(part_overlap(np.stack(a)[:, 0][:, None], b), expected)  # (N, H, W) array
    assert part_overlap([], b).shape == (0, 2) and part_overlap(a, []).shape == (3, 0)


def test_true_positive_under_apr_false_positive_under_apr_part():
    wrong = strip((0, 8, 1), (8, 10, 2), (10, 20, 1))  # perfect mask, 8 of 20 labels right
    assert part_overlap([wrong], [GT])[0, 0] == pytest.approx(8 / 20)
    apr = evaluate_apr({"a": ImageGroundTruth(1, WIDTH, [("person", GT > 0)])},
                       [Detection("a", "person", 1.0, wrong > 0)], thresholds=[0.5])
    apr_part = evaluate_apr_part({"a": ImagePartGroundTruth(1, WIDTH, [PartInstance("person", GT)])},
                                 [PartDetection("a", "person", 1.0, wrong)])
    assert apr["APr@0.5"] == 100.0
    assert apr_part["APr_part@0.5"] == 0.0


@pytest.fixture
def example():
    """img1: persons A (0-9) and B (10-19), head then torso; img2: horse C (0-9); img3: nothing."""
    a = strip((0, 5, 1), (5, 10, 2))
    b = strip((10, 15, 1), (15, 20, 2))
    c = strip((0, 5, 1), (5, 10, 3))
    ground_truth = {
        "img1": ImagePartGroundTruth(1, WIDTH, [("person", a), ("person", b)]),
        "img2": ImagePartGroundTruth(1, WIDTH, [PartInstance("horse", c)]),
        "img3": ImagePartGroundTruth(1, WIDTH, []),
    }
    detections = [
        PartDetection("img1", "person", 0.9, a),                                    # d0: A at 1        -> TP
        PartDetection("img1", "person", 0.8, strip((0, 10, 1))),                    # d1: A at 0.5, covered -> FP
        PartDetection("img3", "person", 0.7, a),                                    # d2: no objects    -> FP
        PartDetection("img1", "person", 0.7, strip((10, 15, 1), (15, 18, 2), (18, 20, 1))),  # d3: B at 0.8 -> TP
        PartDetection("img2", "horse", 0.6, strip((0, 10, 1))),                     # d4: C at 0.5 exactly
    ]
    return ground_truth, detections


def test_hand_computed_example(example):
    summary = evaluate_apr_part(*example)
    # person: TP FP FP TP over 2 instances -> precision 1, 1/2, 1/3, 1/2 at recall 1/2, 1/2, 1/2, 1
    #   AP = 1/2 * 1 + 1/2 * 1/2 = 3/4   (d3 before d2, its tie: 1/2 + 1/2 * 2/3 = 5/6)
    assert summary["per_class"]["person"]["APr_part@0.5"] == pytest.approx(75.0)
    # horse: 0.5 is not strictly greater than 0.5 under the official rule -> FP -> 0
    assert summary["per_class"]["horse"]["APr_part@0.5"] == 0.0
    assert summary["APr_part@0.5"] == pytest.approx(37.5)
    assert summary["n_classes"] == 2 and summary["rule"] == "sds"
    # best overlaps: A 1, B 0.8, C 0.5
    assert summary["mean_best_overlap"] == pytest.approx(100 * 2.3 / 3)
    assert summary["per_class"]["person"]["n_gt"] == 2
    assert summary["per_class"]["person"]["n_detections"] == 4
    # MNC's rule takes 0.5 (>=) and integrates 11 points: horse TP -> 100
    mnc = evaluate_apr_part(*example, rule="mnc")
    assert mnc["per_class"]["horse"]["APr_part@0.5"] == pytest.approx(100.0)


def test_staged_arrays_are_apr_s(example):
    ground_truth, detections = example
    img1 = [i for i, d in enumerate(detections) if d.image_id == "img1"]
    match = match_image(ground_truth["img1"], [detections[i] for i in img1], detection_ids=img1)
    person = match.classes["person"]
    np.testing.assert_array_equal(person.detection_ids, [0, 1, 3])
    np.testing.assert_allclose(person.iou, [[1.0, 0.0], [0.5, 0.0], [0.0, 0.8]])
    np.testing.assert_array_equal(person.matched_gt, [[0, -1, 1]])
    accumulation = accumulate(match_all(*example), ["person", "horse", "cow"])
    assert accumulation.classes["cow"].n_gt == 0
    np.testing.assert_array_equal(accumulation.classes["person"].true_positive, [[True, False, False, True]])


def test_summary_over_many_thresholds_has_a_vol_entry(example):
    summary = evaluate_apr_part(*example, thresholds=np.round(np.linspace(0.1, 0.9, 9), 10))
    assert "APr_part_vol" in summary and "APr_part@0.7" in summary
    assert not any(key.startswith("APr@") for key in summary)


def test_errors_name_what_is_wrong(example):
    ground_truth, detections = example
    with pytest.raises(ValueError, match="integer"):
        part_overlap([GT.astype(float)], [GT])
    with pytest.raises(ValueError, match="not of one image"):
        part_overlap([GT.reshape(2, 10)], [GT])
    with pytest.raises(ValueError, match="'img9' has no ground-truth"):
        evaluate_apr_part(ground_truth, [PartDetection("img9", "person", 1.0, GT)])
    with pytest.raises(ValueError, match="detection 0: part_labels are"):
        evaluate_apr_part(ground_truth, [PartDetection("img1", "person", 1.0, np.zeros((2, WIDTH), int))])
    with pytest.raises(ValueError, match="not a finite"):
        evaluate_apr_part(ground_truth, [PartDetection("img1", "person", np.nan, GT)])
    with pytest.raises(ValueError, match="void"):
        ImagePartGroundTruth(1, WIDTH, [], void=np.zeros((2, 2), bool))


# --- references on random cases ----------------------------------------------------------------------

def slow_overlap(labels_a, labels_b):
    right = union = 0
    for la, lb in zip(labels_a.ravel(), labels_b.ravel()):
        union += (la > 0) or (lb > 0)
        right += la > 0 and la == lb
    return right / union if union else 0.0


def random_labels(rng, n_parts, shape=(6, 7)):
    labels = rng.integers(1, n_parts + 1, size=shape)
    labels[rng.random(shape) < 0.4] = rng.choice([0, -1])
    return labels


def test_overlap_against_a_pixel_loop():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = [random_labels(rng, 4) for _ in range(3)]
        b = [random_labels(rng, 4) for _ in range(2)]
        expected = [[slow_overlap(x, y) for y in b] for x in a]
        np.testing.assert_allclose(part_overlap(a, b), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule", ["sds", "mnc"])
def test_one_part_everywhere_equals_apr(rule):
    """With a single part label, AP^r_part is AP^r of the same masks."""
    rng = np.random.default_rng(11)
    thresholds = np.round(np.linspace(0.1, 0.9, 9), 10)
    for _ in range(15):
        part_gt, mask_gt, part_dets, mask_dets = {}, {}, [], []
        for image in range(4):
            instances = [(str(rng.choice(["cat", "dog"])), random_labels(rng, 1) > 0)
                         for _ in range(rng.integers(0, 3))]
            part_gt[image] = ImagePartGroundTruth(6, 7, [(c, m.astype(int)) for c, m in instances])
            mask_gt[image] = ImageGroundTruth(6, 7, instances)
        for _ in range(rng.integers(0, 12)):
            image, category = int(rng.integers(0, 4)), str(rng.choice(["cat", "dog"]))
            score = rng.integers(0, 4) / 3  # coarse: many ties
            mask = random_labels(rng, 1) > 0
            part_dets.append(PartDetection(image, category, score, mask.astype(np.int32)))
            mask_dets.append(Detection(image, category, score, mask))
        part = evaluate_apr_part(part_gt, part_dets, thresholds=thresholds, rule=rule, categories=["cat", "dog"])
        plain = evaluate_apr(mask_gt, mask_dets, thresholds=thresholds, rule=rule, categories=["cat", "dog"])
        for t in thresholds:
            np.testing.assert_allclose(part[f"APr_part@{t:g}"], plain[f"APr@{t:g}"], rtol=0, atol=1e-12,
                                       equal_nan=True)
