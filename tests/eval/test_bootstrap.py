"""Paired image bootstrap of an AP^r difference, against evaluate_apr on explicitly resampled images."""
import numpy as np
import pytest

from hypercolumns.eval.apr import Detection, ImageGroundTruth, evaluate_apr
from hypercolumns.eval.bootstrap import paired_image_bootstrap

WIDTH = 20


def strip(start, stop):
    mask = np.zeros((1, WIDTH), dtype=bool)
    mask[0, start:stop] = True
    return mask


@pytest.fixture
def two_systems():
    """Four images; system A finds the dogs well, system B misses one and finds the cat."""
    ground_truth = {
        "i0": ImageGroundTruth(1, WIDTH, [("dog", strip(0, 10)), ("dog", strip(10, 20))]),
        "i1": ImageGroundTruth(1, WIDTH, [("dog", strip(0, 8)), ("cat", strip(10, 20))]),
        "i2": ImageGroundTruth(1, WIDTH, [("cat", strip(5, 15))]),
        "i3": ImageGroundTruth(1, WIDTH, []),
    }
    a = [Detection("i0", "dog", 0.9, strip(0, 10)), Detection("i0", "dog", 0.5, strip(10, 17)),
         Detection("i1", "dog", 0.8, strip(0, 8)), Detection("i1", "cat", 0.3, strip(10, 13)),
         Detection("i2", "cat", 0.6, strip(5, 15)), Detection("i3", "dog", 0.95, strip(0, 5))]
    b = [Detection("i0", "dog", 0.9, strip(0, 4)), Detection("i0", "dog", 0.5, strip(10, 20)),
         Detection("i1", "dog", 0.4, strip(0, 8)), Detection("i1", "cat", 0.7, strip(10, 20)),
         Detection("i2", "cat", 0.6, strip(6, 15)), Detection("i3", "cat", 0.2, strip(0, 5))]
    return ground_truth, a, b


def resampled(ground_truth, detections, draw):
    """The drawn images as distinct images (copies renamed), with their detections."""
    ids = list(ground_truth)
    gt, dets = {}, []
    for copy, index in enumerate(draw):
        name = f"{ids[index]}#{copy}"
        gt[name] = ground_truth[ids[index]]
        dets += [d._replace(image_id=name) for d in detections if d.image_id == ids[index]]
    return gt, dets


def test_observed_values_are_evaluate_apr(two_systems):
    ground_truth, a, b = two_systems
    report = paired_image_bootstrap(ground_truth, [a], [b], replicates=5)
    for threshold in (0.5, 0.7):
        key = f"APr@{threshold:g}"
        expected_a = evaluate_apr(ground_truth, a)[key]
        expected_b = evaluate_apr(ground_truth, b)[key]
        assert report[key]["a"] == pytest.approx(expected_a)
        assert report[key]["b"] == pytest.approx(expected_b)
        assert report[key]["difference"] == pytest.approx(expected_a - expected_b)
    assert report["images"] == 4


def test_replicates_are_the_apr_of_explicitly_resampled_images(two_systems):
    ground_truth, a, b = two_systems
    replicates, seed = 40, 3
    rng = np.random.default_rng(seed)
    drawn_a, drawn_b = [], []
    for _ in range(replicates):
        draw = rng.integers(0, 4, 4)
        gt, dets_a = resampled(ground_truth, a, draw)
        _, dets_b = resampled(ground_truth, b, draw)
        drawn_a.append(evaluate_apr(gt, dets_a)["APr@0.5"])
        drawn_b.append(evaluate_apr(gt, dets_b)["APr@0.5"])
    differences = np.array(drawn_a) - np.array(drawn_b)
    report = paired_image_bootstrap(ground_truth, [a], [b], replicates=replicates, seed=seed, level=0.8)
    entry = report["APr@0.5"]
    np.testing.assert_allclose(entry["interval"], np.nanpercentile(differences, [10, 90]))
    np.testing.assert_allclose(entry["interval_a"], np.nanpercentile(drawn_a, [10, 90]))
    np.testing.assert_allclose(entry["interval_b"], np.nanpercentile(drawn_b, [10, 90]))
    assert entry["share_a_lower"] == pytest.approx(np.mean(differences < 0))
    assert np.ptp(differences) > 0            # the draws do move the difference


def test_a_system_against_itself_has_a_zero_interval(two_systems):
    ground_truth, a, _ = two_systems
    report = paired_image_bootstrap(ground_truth, [a], [list(a)], replicates=30)
    assert report["APr@0.7"]["interval"] == [0.0, 0.0] and report["APr@0.7"]["difference"] == 0


def test_bad_arguments_are_refused(two_systems):
    ground_truth, a, b = two_systems
    with pytest.raises(ValueError, match="replicates"):
        paired_image_bootstrap(ground_truth, [a], [b], replicates=0)
    with pytest.raises(ValueError, match="same number of runs"):
        paired_image_bootstrap(ground_truth, [a, a], [b])


def test_runs_are_averaged_on_the_same_drawn_images(two_systems):
    ground_truth, a, b = two_systems
    a_moved = [d._replace(mask=strip(0, 6)) if d.category == "dog" else d for d in a]
    replicates, seed = 25, 5
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(replicates):
        draw = rng.integers(0, 4, 4)
        values = []
        for run_a in (a, a_moved):
            gt, dets_a = resampled(ground_truth, run_a, draw)
            _, dets_b = resampled(ground_truth, b, draw)
            values.append(evaluate_apr(gt, dets_a)["APr@0.7"] - evaluate_apr(gt, dets_b)["APr@0.7"])
        differences.append(np.mean(values))
    report = paired_image_bootstrap(ground_truth, [a, a_moved], [b, b], replicates=replicates,
                                    seed=seed, level=0.5)
    expected_a = np.mean([evaluate_apr(ground_truth, run)["APr@0.7"] for run in (a, a_moved)])
    assert report["APr@0.7"]["a"] == pytest.approx(expected_a) and report["runs"] == 2
    np.testing.assert_allclose(report["APr@0.7"]["interval"], np.nanpercentile(differences, [25, 75]))


def test_files_give_what_the_detections_give(two_systems, tmp_path):
    import json

    from hypercolumns.eval.bootstrap import paired_bootstrap_of_files
    from hypercolumns.data.masks import encode_rle

    ground_truth, a, b = two_systems
    ids = {name: i + 1 for i, name in enumerate(ground_truth)}
    categories = [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    category_id = {c["name"]: c["id"] for c in categories}
    annotations = [{"id": n + 1, "image_id": ids[image], "category_id": category_id[c],
                    "segmentation": encode_rle(mask), "area": int(mask.sum()), "iscrowd": 0,
                    "bbox": [0, 0, 1, 1]}
                   for n, (image, (c, mask)) in enumerate((image, instance) for image, gt in ground_truth.items()
                                                          for instance in gt.instances)]
    coco = {"images": [{"id": i, "file_name": f"{name}.jpg", "width": WIDTH, "height": 1}
                       for name, i in ids.items()], "annotations": annotations, "categories": categories}
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    paths = []
    for name, detections in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps([{"image_id": ids[d.image_id], "category_id": category_id[d.category],
                                          "score": d.score, "segmentation": encode_rle(d.mask)}
                                         for d in detections]))
    from_files = paired_bootstrap_of_files(tmp_path / "gt.json", [paths[0]], [paths[1]], replicates=50)
    direct = paired_image_bootstrap(ground_truth, [a], [b], replicates=50)
    for key in ("APr@0.5", "APr@0.7"):
        assert from_files[key]["difference"] == pytest.approx(direct[key]["difference"])
        np.testing.assert_allclose(from_files[key]["interval"], direct[key]["interval"])


def test_mean_interval_draws_whole_images():
    from hypercolumns.eval.bootstrap import mean_interval_over_images

    # every image has the same mean: every draw has that mean, the interval is that point
    low, high = mean_interval_over_images([0.2, 0.6, 0.4, 0.4], ["a", "a", "b", "b"])
    assert low == pytest.approx(0.4) and high == pytest.approx(0.4)
    # an image's instances move together: 2 images of 10 equal instances each spread as 2 instances do,
    # between the all-of-one-image means 0 and 1
    one_each = mean_interval_over_images([0.0, 1.0], [1, 2], replicates=2000)
    ten_each = mean_interval_over_images([0.0] * 10 + [1.0] * 10, [1] * 10 + [2] * 10, replicates=2000)
    assert one_each == ten_each == [0.0, 1.0]
    # many images of one instance each: close to the normal interval mean +- 1.96 sd / sqrt(n)
    values = np.random.default_rng(5).uniform(0, 1, 400)
    low, high = mean_interval_over_images(values, np.arange(400), replicates=4000)
    half = 1.96 * values.std() / np.sqrt(400)
    assert low == pytest.approx(values.mean() - half, abs=0.004)
    assert high == pytest.approx(values.mean() + half, abs=0.004)
    with pytest.raises(ValueError, match="one image id per value"):
        mean_interval_over_images([0.5], [1, 2])
