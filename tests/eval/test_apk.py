"""APK on hand-computed examples, torso height, and a plain-loop reference on random data."""
import math

import numpy as np
import pytest

from hypercolumns.eval.apk import (
    KEYPOINT_LABELS, PAPER_KEYPOINTS, KeypointPrediction, PersonKeypoints, accumulate, evaluate_apk,
    match_all, match_image, person_keypoints, torso_height,
)

TYPES = ("nose", "left_wrist")


def person(torso, **keypoints):
    """A person with torso height ``torso`` and keypoints name=(x, y) (visible) or (x, y, v)."""
    return PersonKeypoints({name: tuple(v) if len(v) == 3 else (*v, 1) for name, v in keypoints.items()}, torso)


def pred(image_id, keypoint, x, y, score):
    return KeypointPrediction(image_id, keypoint, x, y, score)


@pytest.fixture
def example():
    """img1: A (torso 10, no left_wrist) and B (torso 20); img2: C (torso 10); img3: nobody."""
    ground_truth = {
        "img1": [person(10.0, nose=(50, 50)), person(20.0, nose=(80, 50), left_wrist=(90, 90))],
        "img2": [person(10.0, nose=(10, 10), left_wrist=(20, 20))],
        "img3": [],
    }
    predictions = [
        pred("img1", "nose", 50.5, 50, 0.9),      # n0: A at 0.05 torso           -> TP
        pred("img1", "nose", 51, 50, 0.8),        # n1: nearest A, covered        -> FP
        pred("img3", "nose", 5, 5, 0.7),          # n2: image without persons     -> FP
        pred("img2", "nose", 10, 11.5, 0.7),      # n3: tie with n2, ranked after; C at 0.15 -> TP
        pred("img1", "nose", 83, 50, 0.6),        # n4: B at 3/20 = 0.15          -> TP
        pred("img1", "left_wrist", 50, 50, 0.9),  # w0: A has none; B at 56.6/20  -> FP
        pred("img2", "left_wrist", 20, 22, 0.9),  # w1: tie, after w0; C at exactly 2/10 = alpha -> TP
        pred("img1", "left_wrist", 90, 93, 0.5),  # w2: B at 0.15                 -> TP
    ]
    return ground_truth, predictions


def test_hand_computed_example(example):
    summary = evaluate_apk(*example, keypoints=TYPES)
    # nose: TP FP FP TP TP, 3 keypoints -> precision 1, 1/2, 1/3, 1/2, 3/5 at recall 1/3, 1/3, 1/3, 2/3, 1;
    #   envelope 1 up to 1/3, 3/5 up to 1 -> AP = 1/3 + 2/3 * 3/5 = 11/15
    #   (n3 before n2 would give 1/3 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45)
    assert summary["APK"]["nose"] == pytest.approx(100 * 11 / 15)
    # left_wrist: A's is unlabelled, so 2 keypoints; FP TP TP -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1
    #   envelope 2/3 everywhere -> AP = 2/3   (w1 before w0 would give 1/2 + 1/2 * 2/3 = 5/6)
    assert summary["APK"]["left_wrist"] == pytest.approx(100 * 2 / 3)
    assert summary["mean"] == pytest.approx(100 * (11 / 15 + 2 / 3) / 2)
    assert summary["n_gt"] == {"nose": 3, "left_wrist": 2}
    assert summary["n_predictions"] == {"nose": 5, "left_wrist": 3}
    assert summary["alpha"] == 0.2 and summary["rule"] == "nearest"


def test_staged_arrays(example):
    ground_truth, predictions = example
    accumulation = accumulate(match_all(*example, keypoints=TYPES), TYPES)
    nose = accumulation.types["nose"]
    np.testing.assert_array_equal(nose.prediction_ids, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(nose.true_positive, [True, False, False, True, True])
    np.testing.assert_array_equal(nose.false_positive, ~nose.true_positive)
    img1 = [i for i, p in enumerate(predictions) if p.image_id == "img1"]
    match = match_image(ground_truth["img1"], [predictions[i] for i in img1], keypoints=TYPES,
                        prediction_ids=img1)
    wrist = match.types["left_wrist"]
    np.testing.assert_array_equal(wrist.gt_person, [1])  # only B has a left wrist
    np.testing.assert_allclose(wrist.distance, [[math.hypot(40, 40) / 20], [3 / 20]])
    np.testing.assert_array_equal(wrist.matched_gt, [-1, 0])


def test_type_without_ground_truth_is_nan_and_not_in_the_mean(example):
    summary = evaluate_apk(*example, keypoints=TYPES + ("right_ankle",))
    assert math.isnan(summary["APK"]["right_ankle"])
    assert summary["mean"] == pytest.approx(100 * (11 / 15 + 2 / 3) / 2)


def test_type_with_ground_truth_and_no_prediction_scores_zero(example):
    ground_truth, predictions = example
    summary = evaluate_apk(ground_truth, [p for p in predictions if p.keypoint == "nose"], keypoints=TYPES)
    assert summary["APK"]["left_wrist"] == 0.0
    assert summary["mean"] == pytest.approx(100 * (11 / 15) / 2)


def test_paper_columns():
    assert len(PAPER_KEYPOINTS) == 13
    assert "".join(KEYPOINT_LABELS[name] for name in PAPER_KEYPOINTS) == "LSLELWRSRERWLHLKLARHRKRAN"
    summary = evaluate_apk({"a": [person(10.0, nose=(0, 0))]}, [pred("a", "nose", 0, 0, 1.0)])
    assert list(summary["APK"]) == list(PAPER_KEYPOINTS)
    assert summary["APK"]["nose"] == 100.0 and summary["mean"] == 100.0  # the other 12 have no ground truth


@pytest.fixture
def two_persons():
    """P (torso 10, radius 2) at the origin, Q (torso 20, radius 4) 3 px to its right."""
    return {"img": [person(10.0, nose=(0, 0)), person(20.0, nose=(3, 0))]}


def test_rules_differ_when_the_nearest_is_covered(two_persons):
    predictions = [
        pred("img", "nose", 0, 0, 0.9),    # P at 0 -> TP, P covered
        pred("img", "nose", 0.5, 0, 0.8),  # P at 0.05 (covered), Q at 2.5/20 = 0.125
    ]
    # "nearest" (eval_apk.m): goes to P, covered -> FP; TP FP over 2 keypoints -> AP 1/2
    nearest = evaluate_apk(two_persons, predictions, keypoints=("nose",))
    assert nearest["APK"]["nose"] == pytest.approx(50.0)
    # "uncovered" (issue 7's wording): Q is uncovered and within 0.2 -> TP; AP 1
    uncovered = evaluate_apk(two_persons, predictions, keypoints=("nose",), rule="uncovered")
    assert uncovered["APK"]["nose"] == pytest.approx(100.0) and uncovered["rule"] == "uncovered"


def test_uncovered_rule_still_needs_the_radius(two_persons):
    predictions = [pred("img", "nose", 0, 0, 0.9), pred("img", "nose", -1, 0, 0.8)]  # Q at 4/20 = 0.2
    match = match_image(two_persons["img"], predictions, keypoints=("nose",), rule="uncovered")
    np.testing.assert_array_equal(match.types["nose"].matched_gt, [0, 1])  # 0.2 is inside (<=)
    predictions[1] = pred("img", "nose", -1.5, 0, 0.8)  # Q at 4.5/20 > 0.2
    match = match_image(two_persons["img"], predictions, keypoints=("nose",), rule="uncovered")
    np.testing.assert_array_equal(match.types["nose"].matched_gt, [0, -1])


def test_nearest_is_measured_in_torso_heights():
    # small P (torso 10) at 0, large Q (torso 40) at 6; a prediction at 2.5 is closer to P in
    # pixels (2.5 vs 3.5) but to Q in torso heights (0.25 vs 0.0875): it goes to Q, a TP
    persons = [person(10.0, nose=(0, 0)), person(40.0, nose=(6, 0))]
    match = match_image(persons, [pred("img", "nose", 2.5, 0, 1.0)], keypoints=("nose",))
    np.testing.assert_array_equal(match.types["nose"].matched_gt, [1])
    assert match.types["nose"].true_positive[0]


def test_invisible_keypoints_count_unless_told():
    ground_truth = {"img": [person(10.0, nose=(0, 0, 0)), person(10.0, nose=(50, 0, 1))]}
    predictions = [pred("img", "nose", 0, 0, 0.9)]
    counted = evaluate_apk(ground_truth, predictions, keypoints=("nose",))
    assert counted["n_gt"]["nose"] == 2 and counted["APK"]["nose"] == pytest.approx(50.0)
    dropped = evaluate_apk(ground_truth, predictions, keypoints=("nose",), count_invisible=False)
    assert dropped["n_gt"]["nose"] == 1 and dropped["APK"]["nose"] == 0.0  # its prediction is now an FP


def test_torso_height_from_the_torso_box():
    keypoints = {"left_shoulder": (10, 12, 1), "right_shoulder": (30, 10, 1), "left_hip": (12, 38, 0),
                 "right_hip": (28, 40, 1), "nose": (20, 2, 1)}
    assert torso_height(keypoints) == 30.0  # 40 - 10, invisible hip included, nose not
    assert torso_height({"right_shoulder": (0, 5, 1), "left_hip": (0, 25, 1)}) == 20.0  # one of each


@pytest.mark.parametrize("keypoints", [
    {},
    {"left_shoulder": (0, 10, 1), "right_shoulder": (20, 12, 1)},  # shoulders only: no torso height
    {"left_hip": (0, 50, 1)},
    {"left_shoulder": (0, 10, 1), "left_hip": (40, 10, 1)},  # lying: the torso spans no height
])
def test_torso_height_fallback_is_half_the_box(keypoints):
    box = (5.0, 20.0, 65.0, 120.0)
    assert torso_height(keypoints, box) == 50.0
    assert torso_height(keypoints, box, fallback_fraction=0.3) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="person box"):
        torso_height(keypoints)


def test_person_keypoints_checks():
    built = person_keypoints({"left_shoulder": (0, 0, 1), "left_hip": [0, 30, 0]})
    assert built.keypoints["left_hip"] == (0, 30, 0) and built.torso_height == 30.0
    assert math.isnan(person_keypoints({}).torso_height)
    with pytest.raises(ValueError, match="torso_height"):
        PersonKeypoints({"nose": (0, 0, 1)}, 0.0)
    with pytest.raises(ValueError, match="finite"):
        PersonKeypoints({"nose": (np.nan, 0, 1)}, 10.0)


def test_errors_name_what_is_wrong(example):
    ground_truth, predictions = example
    with pytest.raises(ValueError, match="'left_eye' is not among"):
        evaluate_apk(ground_truth, [pred("img1", "left_eye", 0, 0, 1.0)], keypoints=TYPES)
    with pytest.raises(ValueError, match="'img9' has no ground-truth"):
        evaluate_apk(ground_truth, [pred("img9", "nose", 0, 0, 1.0)], keypoints=TYPES)
    with pytest.raises(ValueError, match="finite"):
        evaluate_apk(ground_truth, [pred("img1", "nose", 0, 0, np.nan)], keypoints=TYPES)
    with pytest.raises(ValueError, match="rule"):
        evaluate_apk(ground_truth, predictions, keypoints=TYPES, rule="pck")
    with pytest.raises(ValueError, match="alpha"):
        evaluate_apk(ground_truth, predictions, keypoints=TYPES, alpha=0.0)
    with pytest.raises(TypeError, match="PersonKeypoints"):
        match_image([{"nose": (0, 0, 1)}], [], keypoints=TYPES)


# --- a plainly written reference ---------------------------------------------------------------------

def slow_flags(ground_truth, predictions, name, alpha, rule, count_invisible):
    """TP flag of each prediction of type ``name`` in ranked order, and n_gt (plain loops)."""
    gts = {image_id: [(p.keypoints[name], p.torso_height) for p in persons
                      if name in p.keypoints and (count_invisible or p.keypoints[name][2])]
           for image_id, persons in ground_truth.items()}
    ranked = sorted((p for p in predictions if p.keypoint == name), key=lambda p: -p.score)  # stable
    covered = {image_id: set() for image_id in gts}
    flags = []
    for p in ranked:
        candidates = list(range(len(gts[p.image_id])))
        if rule == "uncovered":
            candidates = [g for g in candidates if g not in covered[p.image_id]]
        dist = {g: math.dist((p.x, p.y), gts[p.image_id][g][0][:2]) / gts[p.image_id][g][1] for g in candidates}
        best = min(candidates, key=lambda g: (dist[g], g)) if candidates else None
        hit = best is not None and dist[best] <= alpha and best not in covered[p.image_id]
        if hit:
            covered[p.image_id].add(best)
        flags.append(hit)
    return flags, sum(len(g) for g in gts.values())


def slow_ap(flags, n_gt):
    if n_gt == 0:
        return math.nan
    precision, recall, tp = [], [], 0
    for rank, hit in enumerate(flags, start=1):
        tp += hit
        precision.append(tp / rank)
        recall.append(tp / n_gt)
    recall = [0.0] + recall + [1.0]
    precision = [0.0] + precision + [0.0]
    for k in range(len(precision) - 2, -1, -1):
        precision[k] = max(precision[k], precision[k + 1])
    return sum((recall[k] - recall[k - 1]) * precision[k] for k in range(1, len(recall)))  # 0-width steps add 0


def random_case(rng):
    ground_truth = {}
    for image in range(6):
        persons = []
        for _ in range(rng.integers(0, 4)):
            keypoints = {name: (float(rng.uniform(0, 60)), float(rng.uniform(0, 60)), int(rng.integers(0, 2)))
                         for name in TYPES if rng.random() < 0.8}
            persons.append(PersonKeypoints(keypoints, float(rng.uniform(5, 40))))
        ground_truth[image] = persons
    predictions = [pred(int(rng.integers(0, 6)), TYPES[rng.integers(0, 2)], float(rng.uniform(0, 60)),
                        float(rng.uniform(0, 60)), float(rng.integers(0, 5)) / 4)  # coarse scores: many ties
                   for _ in range(rng.integers(0, 60))]
    return ground_truth, predictions


@pytest.mark.parametrize("rule", ["nearest", "uncovered"])
@pytest.mark.parametrize("count_invisible", [True, False])
def test_against_plain_loops_on_random_cases(rule, count_invisible):
    rng = np.random.default_rng(7)
    for _ in range(60):
        ground_truth, predictions = random_case(rng)
        alpha = float(rng.choice([0.2, 0.5, 1.0]))
        summary = evaluate_apk(ground_truth, predictions, alpha=alpha, rule=rule, keypoints=TYPES,
                               count_invisible=count_invisible)
        for name in TYPES:
            flags, n_gt = slow_flags(ground_truth, predictions, name, alpha, rule, count_invisible)
            assert summary["n_gt"][name] == n_gt
            expected = 100 * slow_ap(flags, n_gt)
            if math.isnan(expected):
                assert math.isnan(summary["APK"][name])
            else:
                assert summary["APK"][name] == pytest.approx(expected, abs=1e-12)
