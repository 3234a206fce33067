"""The staged AP^r against a slow, plainly written reference on random cases, under all three rules."""
import numpy as np
import pytest

from hypercolumns.eval.apr import APR_THRESHOLDS, Detection, ImageGroundTruth, accumulate, match_all


def slow_iou(a, b):
    union = np.logical_or(a, b).sum()
    return np.logical_and(a, b).sum() / union if union else 0.0


def slow_labels(ground_truth, detections, category, threshold, rule):
    """True/false positive of each detection of `category`, in ranked order (plain loops)."""
    ranked = sorted(
        (i for i, d in enumerate(detections) if d.category == category),
        key=lambda i: -detections[i].score,  # sorted() is stable: ties keep list order
    )
    covered = {key: set() for key in ground_truth}
    labels = []
    for i in ranked:
        det = detections[i]
        instances = [(g, mask) for g, (c, mask) in enumerate(ground_truth[det.image_id].instances) if c == category]
        overlaps = {g: slow_iou(det.mask, mask) for g, mask in instances}
        taken = None
        if rule == "sds":  # best uncovered instance, strictly above
            uncovered = [g for g, _ in instances if g not in covered[det.image_id]]
            if uncovered:
                best = max(uncovered, key=lambda g: (overlaps[g], -g))
                if overlaps[best] > threshold:
                    taken = best
        elif instances:  # mnc and sds-python: the argmax instance, at or above, if not covered
            best = max(overlaps, key=lambda g: (overlaps[g], -g))
            if overlaps[best] >= threshold and best not in covered[det.image_id]:
                taken = best
        ignored = ground_truth[det.image_id].ignore
        if taken is None:
            labels.append(False)
        elif ignored[taken]:
            labels.append(None)  # matched an ignored instance: neither TP nor FP, never covered
        else:
            covered[det.image_id].add(taken)
            labels.append(True)
    return labels


def slow_ap(labels, n_gt, rule):
    precision, recall, tp = [], [], 0
    for rank, is_tp in enumerate([label for label in labels if label is not None], start=1):
        tp += is_tp
        precision.append(tp / rank)
        recall.append(tp / n_gt)
    if rule == "mnc":
        total = 0.0
        # MNC's levels np.arange(0., 1.1, 0.1) are start + k * step in floating point:
        # 3 * 0.1 = 0.30000000000000004 > 3/10, so k * 0.1 and not k / 10
        for level in [k * 0.1 for k in range(11)]:
            total += max([p for p, r in zip(precision, recall) if r >= level], default=0.0)
        return total / 11
    recall = [0.0] + recall + [1.0]
    precision = [0.0] + precision + [0.0]
    for k in range(len(precision) - 2, -1, -1):
        precision[k] = max(precision[k], precision[k + 1])
    return sum((recall[k] - recall[k - 1]) * precision[k] for k in range(1, len(recall)) if recall[k] != recall[k - 1])


def random_case(rng):
    height, width = 6, 7
    categories = ["a", "b", "c"]
    ground_truth, detections = {}, []
    for key in range(5):
        instances = []
        for _ in range(rng.integers(0, 4)):
            top, left = rng.integers(0, 4, size=2)
            mask = np.zeros((height, width), bool)
            mask[top:top + rng.integers(2, 5), left:left + rng.integers(2, 5)] = True
            instances.append((str(rng.choice(categories)), mask))
        ground_truth[key] = ImageGroundTruth(height, width, instances, ignore=rng.random(len(instances)) < 0.2)
        for _ in range(rng.integers(0, 7)):
            if instances and rng.random() < 0.7:
                category, mask = instances[rng.integers(len(instances))]
                mask = mask ^ (rng.random((height, width)) < 0.15)  # a noisy copy
            else:
                category, mask = str(rng.choice(categories)), rng.random((height, width)) < 0.3
            score = round(float(rng.random()), 1)  # coarse scores: many ties
            detections.append(Detection(key, category, score, mask))
    return ground_truth, detections


@pytest.mark.parametrize("rule", ["sds", "mnc", "sds-python"])
def test_accumulate_matches_slow_reference(rule):
    rng = np.random.default_rng(2015)
    checked = 0
    for _ in range(40):
        ground_truth, detections = random_case(rng)
        accumulation = accumulate(match_all(ground_truth, detections, rule=rule))
        for category, acc in accumulation.classes.items():
            n_gt = sum(c == category and not ignore
                       for g in ground_truth.values() for (c, _), ignore in zip(g.instances, g.ignore))
            assert acc.n_gt == n_gt
            for t, threshold in enumerate(APR_THRESHOLDS):
                labels = slow_labels(ground_truth, detections, category, threshold, rule)
                np.testing.assert_array_equal(acc.true_positive[t], [label is True for label in labels])
                np.testing.assert_array_equal(acc.false_positive[t], [label is False for label in labels])
                if n_gt == 0:
                    assert np.isnan(acc.average_precision[t])
                    continue
                assert acc.average_precision[t] == pytest.approx(slow_ap(labels, n_gt, rule), abs=1e-12)
                checked += 1
    assert checked > 500
