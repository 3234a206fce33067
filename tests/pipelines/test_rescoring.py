"""Region rescoring: mean-background crops, labels, mining, liblinear vs scikit-learn, file."""
import h5py
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.svm import LinearSVC

from hypercolumns.extract.crop import crop_and_warp, preprocess
from hypercolumns.pipelines.system2.region_descriptor import (region_and_box_crops, region_descriptor_sets,
                                                              region_descriptors, region_feature_config, warp_mask)
from hypercolumns.classifiers.rescoring import (RegionRescorer, detection_logit, fit_svm,
                                              load_rescorer, mine_hard_negatives, rescoring_labels,
                                              svm_options)


def region_rgb(cnn, image: np.ndarray, expanded_box: np.ndarray,
               mask: np.ndarray) -> np.ndarray:
    """One region crop before preprocessing, shape (S, S, 3), float32 RGB 0..255.

    The slow reference of a region crop: the warped image where the warped mask
    is set, ``cnn.fill_rgb`` (the colour that preprocesses to zero) elsewhere;
    ``preprocess`` of it must equal the region crop of ``region_descriptors``
    (exactly, for Caffe BGR weights).
    """
    rgb = crop_and_warp(image, expanded_box, cnn.crop_size, cnn.fill_rgb)
    rgb[~warp_mask(mask, expanded_box, cnn.crop_size)] = np.asarray(cnn.fill_rgb, np.float32)
    return rgb


@pytest.fixture(scope="module")
def cnn(tiny_cnn):
    return tiny_cnn[0]


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    mask = np.zeros((90, 120), bool)
    mask[20:70, 30:90] = True
    mask[40:50, 50:70] = False          # a hole
    box = np.array([[25.0, 15.0, 95.0, 75.0]])
    return image, box, mask


# --------------------------------------------------------------------- descriptors

def test_warp_mask_nearest_by_pixel_centres():
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    # a box [0, 8) x [0, 8) onto 8 x 8: crop pixel u samples x = (u + 0.5) * 1
    warped = warp_mask(mask, np.array([0.0, 0.0, 8.0, 8.0]), 8)
    assert warped[1, 2] and warped.sum() == 1          # inside the image: identity
    # a box [0, 2) x [0, 2) onto 4 x 4: crop pixel u samples x = (u + 0.5) / 2
    warped = warp_mask(mask, np.array([0.0, 0.0, 4.0, 4.0]), 8)
    assert warped[2:4, 4:6].all() and warped.sum() == 4


def test_region_background_is_exactly_the_mean(cnn, scene):
    image, box, mask = scene
    expanded = cnn.expand(box)
    regions, boxes, warped = region_and_box_crops(cnn, image, expanded, mask[None])
    outside = ~warped[0]
    assert outside.any() and warped[0].any()
    assert (regions[0][:, torch.from_numpy(outside)] == 0).all()       # exactly zero
    assert torch.equal(regions[0][:, torch.from_numpy(~outside)],
                       boxes[0][:, torch.from_numpy(~outside)])
    # the RGB region crop is the network's mean colour there, and preprocesses to the same tensor
    rgb = region_rgb(cnn, image, expanded[0], mask)
    fill = np.asarray(cnn.fill_rgb, np.float32)
    assert (rgb[outside] == fill).all()
    assert torch.equal(preprocess(rgb[None], cnn.weights.input), regions)
    # the hole of the mask (centre of the crop) is background too
    centre = warped.shape[1] // 2
    assert not warped[0, centre, centre]


def test_region_descriptor_follows_the_mask_not_only_the_box(cnn, scene):
    image, box, mask = scene
    smaller = np.zeros_like(mask)
    smaller[30:60, 40:80] = True
    boxes = np.repeat(box, 2, axis=0)
    descriptors = region_descriptors(cnn, image, boxes, np.stack([mask, smaller]),
                                     batch_size=1)
    half = descriptors.shape[1] // 2
    assert descriptors.shape == (2, 2048) and descriptors.dtype == np.float32
    assert not np.allclose(descriptors[0, :half], descriptors[1, :half])    # region part
    np.testing.assert_allclose(descriptors[0, half:], descriptors[1, half:], rtol=1e-5)  # box part
    assert region_descriptors(cnn, image, box[:0], mask[None][:0]).shape == (0, 2048)
    with pytest.raises(ValueError, match="masks must have shape"):
        region_descriptors(cnn, image, box, mask)
    assert region_feature_config(cnn)["feature_dim"] == 2048


# --------------------------------------------------------------------- labels, SVM, mining

def test_labels_from_iou_thresholds():
    ious = np.array([0.0, 0.49, 0.5, 0.6, 0.7, 0.71, 1.0])
    assert rescoring_labels(ious).tolist() == [0, 0, -1, -1, -1, 1, 1]


def test_mine_hard_negatives_by_hand():
    scores = np.array([-3.0, -1.0, -0.99, 0.5, 2.0])
    used = np.array([False, False, False, True, False])
    assert mine_hard_negatives(scores, used).tolist() == [False, False, True, False, True]


def separable(rng, categories=("cat", "dog"), n_pos=30, n_neg=120, dim=20):
    """Per class a different direction: positives at +3 along it, negatives at -3."""
    rows, names, ious = [], [], []
    for k, name in enumerate(categories):
        direction = np.zeros(dim)
        direction[k] = 3.0
        rows += [rng.normal(size=(n_pos, dim)) * 0.5 + direction,
                 rng.normal(size=(n_neg, dim)) * 0.5 - direction]
        names += [name] * (n_pos + n_neg)
        ious += [rng.uniform(0.75, 1.0, n_pos), rng.uniform(0.0, 0.45, n_neg)]
    return np.concatenate(rows), np.array(names), np.concatenate(ious)


def test_rescorer_ranks_positives_first_per_class():
    X, names, ious = separable(np.random.default_rng(1))
    rescorer = RegionRescorer(C=1e-2, initial_negatives=40).fit(X, names, ious)
    assert set(rescorer.coef_) == {"__all__", "cat", "dog"}
    X_test, names_test, ious_test = separable(np.random.default_rng(2))
    scores = rescorer.decision_function(X_test, names_test)
    for name in ("cat", "dog"):
        rows = names_test == name
        assert roc_auc_score(ious_test[rows] > 0.7, scores[rows]) > 0.999
    # an unseen class, and a class with no positives, are scored by the agnostic SVM
    z = (X_test[:3] - rescorer.mean_) / rescorer.scale_
    agnostic = z @ rescorer.coef_["__all__"] + rescorer.intercept_["__all__"]
    np.testing.assert_allclose(rescorer.decision_function(X_test[:3], ["horse"] * 3), agnostic,
                               rtol=1e-5)
    only_negative = np.where(names == "dog", np.minimum(ious, 0.3), ious)
    refit = RegionRescorer(C=1e-2, initial_negatives=40).fit(X, names, only_negative)
    assert refit.info_["fallback"] == ["dog"] and "dog" not in refit.coef_
    agnostic_only = RegionRescorer(C=1e-2, class_specific=False).fit(X, names, ious)
    assert set(agnostic_only.coef_) == {"__all__"}


def test_hard_negative_mining_adds_the_hard_ones():
    """Negatives: 50 near the positives' margin, 150 far away, 10 hard (beside the positives).

    Whatever the random first subset (20 rows), mining must end with every near
    and hard negative and no far one it did not draw: the far ones score < -1
    (the near ones hold the margin), so they are added only by the first draw.
    """
    rng = np.random.default_rng(3)
    dim = 6
    def cluster(n, centre, noise):
        return rng.normal(size=(n, dim)) * noise + np.r_[centre, np.zeros(dim - len(centre))]
    positives = cluster(20, [3.0], 0.2)
    near, far = cluster(50, [-3.0], 0.01), cluster(150, [-40.0], 0.2)
    hard = cluster(10, [3.0, 5.0], 0.01)
    X = np.concatenate([positives, near, far, hard])
    ious = np.r_[np.full(20, 0.9), rng.uniform(0, 0.45, 210)]
    rescorer = RegionRescorer(C=1.0, initial_negatives=20, mining_rounds=2).fit(
        X, ["cat"] * len(X), ious)
    facts = rescorer.info_["cat"]
    used = set(facts["negatives_used"].tolist())        # indices among the 210 negatives
    near_ids, far_ids, hard_ids = set(range(50)), set(range(50, 200)), set(range(200, 210))
    far_drawn = len(used & far_ids)
    assert used == near_ids | hard_ids | (used & far_ids)
    assert facts["initial_negatives"] == 20
    # the first draw held 20 - far_drawn near or hard ones; mining added the other 60 - that
    assert sum(facts["added"]) == 60 - (20 - far_drawn)
    assert len(facts["added"]) == 2 and facts["added"][1] == 0 < facts["added"][0]
    scores = rescorer.decision_function(X, ["cat"] * len(X))
    assert scores[220:].max() < scores[:20].min()                 # hard ones ranked below


def test_liblinear_svm_matches_scikit_learn():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 8)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=150) * 0.8 > 0.3).astype(int)
    for solver, dual in (("dual", True), ("primal", False)):
        coef, intercept = fit_svm(X, y, svm_options(0.05, solver, bias=100.0, tol=1e-8))
        reference = LinearSVC(loss="squared_hinge", dual=dual, C=0.05, intercept_scaling=100.0,
                              tol=1e-8, max_iter=200_000).fit(X.astype(np.float64), y)
        np.testing.assert_allclose(X @ coef + intercept, reference.decision_function(X),
                                   rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------- file

def test_save_load_round_trip_and_config_refusal(tmp_path, cnn):
    X, names, ious = separable(np.random.default_rng(5), dim=2048 // 64)
    config = region_feature_config(cnn)
    rescorer = RegionRescorer(C=1e-2, initial_negatives=50).fit(X, names, ious, config)
    path = rescorer.save(tmp_path / "rescorer.h5")
    assert not (tmp_path / "rescorer.h5.tmp").exists()
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == "hypercolumns.rescorer/1"
        assert f.attrs["feature_config_hash"] == config["config_hash"]
    loaded = RegionRescorer.load(path, expected_config=config)
    np.testing.assert_array_equal(loaded.decision_function(X, names),
                                  rescorer.decision_function(X, names))
    assert loaded.params() == rescorer.params()
    assert loaded.info_["cat"]["added"] == rescorer.info_["cat"]["added"]
    other = dict(config, padding=8, config_hash="0" * 16)
    with pytest.raises(ValueError, match=r"(?s)rescorer\.h5.*padding: model has 16, current config 8"):
        load_rescorer(path, expected_config=other)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_rescorer(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="not fitted"):
        RegionRescorer().decision_function(X, names)


# --------------------------------------------------------------------- combiner

def test_detection_logit_by_hand_and_refusal():
    np.testing.assert_allclose(detection_logit([0.5, 0.8, 1.0]),
                               [0.0, np.log(4.0), np.log((1 - 1e-4) / 1e-4)])
    with pytest.raises(ValueError, match="probabilities"):
        detection_logit([1.5])


def test_combiner_uses_margins_of_svms_that_never_saw_the_image(tmp_path):
    rng = np.random.default_rng(7)
    X, names, ious = separable(rng, n_pos=40, n_neg=80)
    images = np.arange(len(X)) % 10            # ten "images"; folds by image id
    detection = np.clip(np.where(ious > 0.7, 0.7, 0.3) + rng.normal(0, 0.15, len(X)), 0.01, 0.99)
    rescorer = RegionRescorer(C=1e-2, initial_negatives=40).fit(X, names, ious)
    rescorer.fit_combiner(X, names, ious, detection, groups=images)
    held = images % 2 == 1                     # np.unique order: image k is in fold k % 2
    other_half = RegionRescorer(C=1e-2, initial_negatives=40).fit(X[~held], names[~held], ious[~held])
    np.testing.assert_allclose(rescorer.cross_fitted_margins_[held],
                               other_half.decision_function(X[held], names[held]))
    # the combiner is the logistic regression of the labels on (logit(det), margin)
    from sklearn.linear_model import LogisticRegression
    labelled = rescoring_labels(ious) != -1
    features = np.c_[detection_logit(detection), rescorer.cross_fitted_margins_]
    reference = LogisticRegression().fit(features[labelled], ious[labelled] > 0.7)
    np.testing.assert_allclose(rescorer.combiner_[:2], reference.coef_[0], rtol=1e-6)
    a, b, c = rescorer.combiner_
    assert a > 0 and b > 0                     # both cues raise the probability
    expected = 1 / (1 + np.exp(-(a * detection_logit(detection)
                                 + b * rescorer.decision_function(X, names) + c)))
    np.testing.assert_allclose(rescorer.score(X, names, detection), expected)
    loaded = RegionRescorer.load(rescorer.save(tmp_path / "combined.h5"))
    np.testing.assert_allclose(loaded.score(X, names, detection), expected)
    with pytest.raises(ValueError, match="fit_combiner"):
        RegionRescorer(C=1e-2).fit(X, names, ious).score(X, names, detection)


def test_the_margin_combiner_is_a_logistic_regression_on_the_same_cross_fitted_margins():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X, names, ious = separable(rng, n_pos=30, n_neg=60)
    images = np.arange(len(X)) % 8
    detection = np.clip(np.where(ious > 0.7, 0.6, 0.4) + rng.normal(0, 0.2, len(X)), 0.01, 0.99)
    both = RegionRescorer(C=1e-2, initial_negatives=40).fit(X, names, ious)
    both.fit_combiner(X, names, ious, detection, groups=images)
    margin_only = both.with_combiner("margin")
    labelled = rescoring_labels(ious) != -1
    reference = LogisticRegression().fit(both.cross_fitted_margins_[labelled, None], ious[labelled] > 0.7)
    assert margin_only.combiner_[0] == 0.0 and margin_only.params()["combiner"] == "margin"
    np.testing.assert_allclose(margin_only.combiner_[1:], [reference.coef_[0, 0], reference.intercept_[0]],
                               rtol=1e-6)
    assert both.combiner == "margin+detection" and both.combiner_[0] != 0.0    # the original is unchanged
    # the margin alone ranks as the SVM does, whatever the detector said
    margins = both.decision_function(X, names)
    np.testing.assert_array_equal(np.argsort(margin_only.combine(detection, margins), kind="stable"),
                                  np.argsort(margins, kind="stable"))
    # fitted directly with combiner="margin", the same
    direct = RegionRescorer(C=1e-2, initial_negatives=40, combiner="margin").fit(X, names, ious)
    direct.fit_combiner(X, names, ious, detection, groups=images)
    np.testing.assert_allclose(direct.combiner_, margin_only.combiner_)
    with pytest.raises(ValueError, match="combiner must be one of"):
        RegionRescorer(combiner="detection")


def test_descriptor_sets_equal_one_call_per_set_with_the_box_part_shared(cnn, scene):
    image, box, mask = scene
    smaller = np.zeros_like(mask)
    smaller[30:60, 40:80] = True
    boxes = np.concatenate([box, box + 3.0, box - 2.0])
    sets = [np.stack([mask, smaller, mask]), np.stack([smaller, mask, smaller])]
    together = region_descriptor_sets(cnn, image, boxes, sets, batch_size=2)
    from hypercolumns.extract.hypercolumn import global_descriptor
    from hypercolumns.extract.layer_spec import GLOBAL_SOURCE

    layer = GLOBAL_SOURCE[cnn.name]
    for masks, descriptors in zip(sets, together):
        # the reference: each region's two crops through the network on their own, one box at a time
        for i in range(len(boxes)):
            regions, box_crops, _ = region_and_box_crops(cnn, image, cnn.expand(boxes[i:i + 1]), masks[i:i + 1])
            with torch.no_grad():
                region = global_descriptor(cnn.forward(regions, [layer])[layer].float()).numpy()[0]
                whole = global_descriptor(cnn.forward(box_crops, [layer])[layer].float()).numpy()[0]
            np.testing.assert_allclose(descriptors[i], np.r_[region, whole], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(descriptors, region_descriptors(cnn, image, boxes, masks, batch_size=3),
                                   rtol=1e-4, atol=1e-5)
    half = together[0].shape[1] // 2
    np.testing.assert_array_equal(together[0][:, half:], together[1][:, half:])
