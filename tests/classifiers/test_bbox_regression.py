"""R-CNN box regression: targets, ridge fits on synthetic linear deltas, model file, shards."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from synthetic_shards import small_config

from hypercolumns.classifiers.bbox_regression import (AGNOSTIC, BoxRegressor, apply_deltas,
                                                      box_deltas, fit_from_shards, ridge_fit)
from hypercolumns.data.boxes import box_iou
from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.extract.box_descriptor import read_box_descriptors
from hypercolumns.extract.shards import read_config, write_shard


def random_boxes(rng, n):
    x0, y0 = rng.uniform(0, 300, n), rng.uniform(0, 300, n)
    return np.stack([x0, y0, x0 + rng.uniform(20, 200, n), y0 + rng.uniform(20, 200, n)], axis=1)


def linear_problem(rng, n, W, b, noise=1e-4, features=None):
    """Features, proposals and ground truth whose deltas are ``features @ W + b + noise``."""
    X = rng.normal(size=(n, W.shape[0])) if features is None else features
    deltas = X @ W + b + noise * rng.normal(size=(n, 4))
    proposals = random_boxes(rng, n)
    ground_truth = apply_deltas(proposals, deltas)
    return X, proposals, ground_truth, deltas


def paired_iou(a, b):
    return np.array([box_iou(p, q)[0, 0] for p, q in zip(a, b)])


def true_weights(rng, d=20, scale=0.02):
    return rng.normal(scale=scale, size=(d, 4)), rng.normal(scale=0.05, size=4)


# --- targets ---------------------------------------------------------------------------------

def test_box_deltas_hand_computed():
    proposal = np.array([[0.0, 0.0, 10.0, 20.0]])      # centre (5, 10), 10 x 20
    truth = np.array([[2.0, 4.0, 14.0, 24.0]])         # centre (8, 14), 12 x 20
    np.testing.assert_allclose(box_deltas(proposal, truth), [[0.3, 0.2, np.log(1.2), 0.0]])
    np.testing.assert_allclose(apply_deltas(proposal, [[0.3, 0.2, np.log(1.2), 0.0]]), truth)


def test_deltas_round_trip():
    rng = np.random.default_rng(0)
    proposals, truth = random_boxes(rng, 200), random_boxes(rng, 200)
    deltas = box_deltas(proposals, truth)
    np.testing.assert_allclose(apply_deltas(proposals, deltas), truth, atol=1e-9)
    np.testing.assert_allclose(box_deltas(proposals, apply_deltas(proposals, deltas)), deltas,
                               atol=1e-12)


def test_deltas_refuse_empty_boxes_and_clamp_scale():
    with pytest.raises(ValueError, match="positive width"):
        box_deltas([[0, 0, 10, 10]], [[5, 5, 5, 9]])
    huge = apply_deltas([[0.0, 0.0, 10.0, 10.0]], [[0.0, 0.0, 50.0, 0.0]])
    assert np.all(np.isfinite(huge)) and huge[0, 2] - huge[0, 0] == pytest.approx(10 * 1000 / 16)


def test_ridge_intercept_is_not_penalised():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)) + 100.0
    targets = np.full((50, 4), 7.0)
    coef, intercept = ridge_fit(X, targets, alpha=1e6)
    np.testing.assert_allclose(coef, 0, atol=1e-12)
    np.testing.assert_allclose(intercept, 7.0)


@pytest.mark.parametrize("n, d", [(300, 40), (30, 400)])   # the primal and the dual form
def test_ridge_matches_scikit_learn(n, d):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.normal(size=d)
    targets = rng.normal(size=(n, 4))
    coef, intercept = ridge_fit(X, targets, alpha=30.0, standardize=False)
    reference = Ridge(alpha=30.0, fit_intercept=True, solver="svd").fit(X, targets)
    np.testing.assert_allclose(coef, reference.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-8, atol=1e-10)


# --- the regressor ---------------------------------------------------------------------------

def test_recovers_linear_deltas_and_refines_boxes():
    rng = np.random.default_rng(2)
    W, b = true_weights(rng)
    X, proposals, truth, _ = linear_problem(rng, 800, W, b)
    ious = paired_iou(proposals, truth)
    model = BoxRegressor(alpha=1e-3).fit(X, proposals, truth, ["dog"] * 800, ious)
    Xt, proposals_t, truth_t, deltas_t = linear_problem(rng, 200, W, b, noise=0.0)
    np.testing.assert_allclose(model.predict_deltas(Xt, ["dog"] * 200), deltas_t, atol=2e-4)
    np.testing.assert_allclose(model.coef_["dog"], W, atol=2e-4)
    refined = model.transform(Xt, proposals_t, ["dog"] * 200)
    assert paired_iou(refined, truth_t).min() > 0.99
    assert paired_iou(proposals_t, truth_t).mean() < 0.9   # the refinement did something
    assert model.categories_ == [AGNOSTIC, "dog"] and model.n_boxes_["dog"] == (ious >= 0.6).sum()


def test_standardisation_makes_alpha_scale_free():
    rng = np.random.default_rng(3)
    W, b = true_weights(rng, d=5)
    X, proposals, truth, _ = linear_problem(rng, 300, W, b)
    ious = np.ones(300)
    scales = np.array([0.1, 1.0, 10.0, 100.0, 1e3])
    plain = BoxRegressor(alpha=10.0).fit(X, proposals, truth, ["a"] * 300, ious)
    scaled = BoxRegressor(alpha=10.0).fit(X * scales, proposals, truth, ["a"] * 300, ious)
    np.testing.assert_allclose(scaled.predict_deltas(X * scales), plain.predict_deltas(X),
                               atol=1e-9)
    raw = BoxRegressor(alpha=10.0, standardize=False).fit(X * scales, proposals, truth,
                                                          ["a"] * 300, ious)
    assert not np.allclose(raw.predict_deltas(X * scales), plain.predict_deltas(X), atol=1e-3)


def test_class_specific_regressors_differ():
    rng = np.random.default_rng(4)
    (W_cat, b_cat), (W_dog, b_dog) = true_weights(rng), true_weights(rng)
    X1, p1, g1, _ = linear_problem(rng, 400, W_cat, b_cat)
    X2, p2, g2, _ = linear_problem(rng, 400, W_dog, b_dog)
    X, proposals, truth = np.vstack([X1, X2]), np.vstack([p1, p2]), np.vstack([g1, g2])
    categories = ["cat"] * 400 + ["dog"] * 400
    model = BoxRegressor(alpha=1e-3).fit(X, proposals, truth, categories, np.ones(800))
    np.testing.assert_allclose(model.coef_["cat"], W_cat, atol=3e-4)
    np.testing.assert_allclose(model.coef_["dog"], W_dog, atol=3e-4)
    Xt = rng.normal(size=(100, 20))
    np.testing.assert_allclose(model.predict_deltas(Xt, "cat"), Xt @ W_cat + b_cat, atol=1e-3)
    np.testing.assert_allclose(model.predict_deltas(Xt, "dog"), Xt @ W_dog + b_dog, atol=1e-3)
    agnostic = BoxRegressor(alpha=1e-3, class_specific=False).fit(X, proposals, truth,
                                                                  categories, np.ones(800))
    assert agnostic.categories_ == [AGNOSTIC]
    error = np.abs(agnostic.predict_deltas(Xt, "cat") - (Xt @ W_cat + b_cat)).max()
    assert error > 10 * 1e-3


def test_boxes_below_min_iou_do_not_train():
    rng = np.random.default_rng(5)
    W, b = true_weights(rng)
    X, proposals, truth, _ = linear_problem(rng, 300, W, b)
    clean = BoxRegressor(alpha=1.0).fit(X, proposals, truth, ["cat"] * 300, np.ones(300))
    garbage_X = rng.normal(size=(100, 20))
    garbage_proposals = random_boxes(rng, 100)
    garbage_truth = random_boxes(rng, 100)     # unrelated boxes: garbage targets
    ious = np.r_[np.ones(300), rng.uniform(0, 0.59, 100)]
    args = (np.vstack([X, garbage_X]), np.vstack([proposals, garbage_proposals]),
            np.vstack([truth, garbage_truth]), ["cat"] * 400, ious)
    mixed = BoxRegressor(alpha=1.0).fit(*args)
    for category in (AGNOSTIC, "cat"):
        np.testing.assert_allclose(mixed.coef_[category], clean.coef_[category], rtol=1e-10)
        np.testing.assert_allclose(mixed.intercept_[category], clean.intercept_[category])
    polluted = BoxRegressor(alpha=1.0, min_iou=0.0).fit(*args)
    assert not np.allclose(polluted.coef_["cat"], clean.coef_["cat"], atol=1e-3)
    # excluded boxes need no ground truth at all
    unknown = np.vstack([truth, np.full((100, 4), np.nan)])
    BoxRegressor(alpha=1.0).fit(args[0], args[1], unknown, ["cat"] * 400, ious)
    with pytest.raises(InputError, match="min_iou"):
        BoxRegressor(min_iou=0.6).fit(X, proposals, truth, ["cat"] * 300, np.full(300, 0.5))


def test_unseen_and_rare_categories_use_the_agnostic_regressor():
    rng = np.random.default_rng(6)
    W, b = true_weights(rng)
    X, proposals, truth, _ = linear_problem(rng, 300, W, b)
    categories = ["cat"] * 295 + ["bird"] * 5
    model = BoxRegressor(alpha=1.0, min_boxes=10).fit(X, proposals, truth, categories,
                                                      np.ones(300))
    assert model.categories_ == [AGNOSTIC, "cat"]
    Xt = rng.normal(size=(10, 20))
    fallback = Xt @ model.coef_[AGNOSTIC] + model.intercept_[AGNOSTIC]
    for category in ("unicorn", "bird"):
        assert model.regressor_of(category) == AGNOSTIC
        np.testing.assert_allclose(model.predict_deltas(Xt, [category] * 10), fallback)
    np.testing.assert_allclose(model.predict_deltas(Xt), fallback)
    mixed = model.predict_deltas(Xt, ["cat", "unicorn"] * 5)
    np.testing.assert_allclose(mixed[1::2], fallback[1::2])
    np.testing.assert_allclose(mixed[::2], model.predict_deltas(Xt[::2], "cat"))


def test_errors_before_fit_and_on_bad_input():
    model = BoxRegressor()
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict_deltas(np.zeros((1, 3)))
    rng = np.random.default_rng(7)
    X, proposals, truth, _ = linear_problem(rng, 20, *true_weights(rng, d=3))
    with pytest.raises(ValueError, match="one row per box"):
        model.fit(X, proposals[:10], truth, ["a"] * 20, np.ones(20))
    with pytest.raises(ValueError, match="alpha"):
        BoxRegressor(alpha=0).fit(X, proposals, truth, ["a"] * 20, np.ones(20))
    model.fit(X, proposals, truth, ["a"] * 20, np.ones(20))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        model.predict_deltas(np.zeros((2, 4)))


# --- model file ------------------------------------------------------------------------------

def test_save_load_round_trip_and_config_refusal(tmp_path):
    rng = np.random.default_rng(8)
    W, b = true_weights(rng)
    X, proposals, truth, _ = linear_problem(rng, 300, W, b)
    config = small_config()
    model = BoxRegressor(alpha=5.0, min_iou=0.5, min_boxes=3).fit(
        X, proposals, truth, ["cat"] * 150 + ["dog"] * 150, np.ones(300),
        feature_config=config, feature_block="global")
    path = model.save(tmp_path / "bbox.h5")
    assert not (tmp_path / "bbox.h5.tmp").exists()
    loaded = BoxRegressor.load(path, expected_config=config)
    assert loaded.categories_ == model.categories_ and loaded.n_boxes_ == model.n_boxes_
    assert (loaded.alpha, loaded.min_iou, loaded.min_boxes) == (5.0, 0.5, 3)
    assert loaded.feature_block_ == "global"
    assert loaded.feature_config_ == config
    Xt, categories = rng.normal(size=(30, 20)), ["cat", "dog", "emu"] * 10
    np.testing.assert_array_equal(loaded.transform(Xt, proposals[:30], categories),
                                  model.transform(Xt, proposals[:30], categories))
    BoxRegressor.load(path, expected_config=config.config_hash)
    other = small_config(crop_size=192)
    with pytest.raises(InputError, match="bbox.h5.*crop_size"):
        BoxRegressor.load(path, expected_config=other)
    with pytest.raises(InputError, match="bbox.h5"):
        BoxRegressor.load(path, expected_config="0123456789abcdef")
    with pytest.raises(MissingFileError, match="missing.h5"):
        BoxRegressor.load(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["schema"] = "hypercolumns.grid/1"
    with pytest.raises(InputError, match="other.h5.*not a box regressor"):
        BoxRegressor.load(tmp_path / "other.h5")


# --- shards ----------------------------------------------------------------------------------

def write_box_shard(path, config, rng, W, b, image_offset, n_boxes=40, rows_per_box=3):
    """A shard whose boxes' ``global`` columns predict their deltas linearly.

    Boxes of even index are good (IoU >= 0.6, ground truth returned); odd boxes
    below 0.4 have a garbage ground truth that must not be needed.  Rows of
    the boxes are interleaved, so a box's first row is not at ``box * rows``.
    """
    block = next(blk for blk in config.blocks if blk["name"] == "global")
    start, size = block["offset"], block["size"]
    descriptors = rng.normal(size=(n_boxes, size)).astype(np.float16).astype(np.float64)
    proposals = random_boxes(rng, n_boxes).astype(np.float32).astype(np.float64)
    truth = apply_deltas(proposals, descriptors @ W + b)
    far = np.arange(n_boxes) % 2 == 1
    truth[far] = proposals[far] + [150, 150, 150, 150]            # IoU 0 with the proposal
    ious = paired_iou(proposals, truth)
    assert ious[~far].min() >= 0.6 and ious[far].max() < 0.4
    box_index = np.tile(np.arange(n_boxes), rows_per_box)
    features = rng.normal(size=(box_index.size, config.feature_dim))
    features[:, start:start + size] = descriptors[box_index]
    image_ids = [f"img{image_offset + i // 4:04d}" for i in range(n_boxes)]
    instances = np.arange(n_boxes) % 4
    boxes = {"image_id": image_ids, "dataset": ["synthetic"] * n_boxes,
             "category": ["cat"] * n_boxes, "box": proposals, "expanded_box": proposals,
             "instance": instances, "iou": ious}
    rows = {"features": features.astype(np.float16), "location": np.zeros(box_index.size),
            "box_index": box_index,
            "labels": {"figure_ground": np.zeros(box_index.size, np.int8)}}
    write_shard(path, config, rows, boxes)
    ground_truth = {(image_ids[i], int(instances[i])): truth[i] for i in np.flatnonzero(~far)}
    return descriptors, proposals, ground_truth


def test_fit_from_shards(tmp_path):
    rng = np.random.default_rng(9)
    config = small_config()
    size = next(blk["size"] for blk in config.blocks if blk["name"] == "global")
    W, b = true_weights(rng, d=size, scale=0.02)
    ground_truth, descriptors = {}, []
    paths = [tmp_path / f"shard-{i:05d}.h5" for i in range(2)]
    for i, path in enumerate(paths):
        d, _, truth = write_box_shard(path, config, rng, W, b, image_offset=100 * i)
        ground_truth.update(truth)
        descriptors.append(d)
    data = read_box_descriptors(paths)
    assert data["features"].shape == (80, size)
    np.testing.assert_array_equal(data["features"], np.vstack(descriptors))
    model = fit_from_shards(paths, ground_truth, alpha=1e-4, min_boxes=5)
    assert model.n_boxes_ == {AGNOSTIC: 40, "cat": 40}
    assert model.feature_block_ == "global"
    assert model.feature_config_.config_hash == config.config_hash
    np.testing.assert_allclose(model.coef_["cat"], W, atol=1e-6)
    np.testing.assert_allclose(model.intercept_["cat"], b, atol=1e-6)
    loaded = BoxRegressor.load(model.save(tmp_path / "bbox.h5"),
                               expected_config=read_config(paths[0]))
    np.testing.assert_array_equal(loaded.coef_["cat"], model.coef_["cat"])

    missing = dict(ground_truth)
    missing.pop(next(iter(missing)))
    with pytest.raises(InputError, match="no box for 1 training boxes.*shard-0000"):
        fit_from_shards(paths, missing)
    shifted = {key: np.asarray(box) + 40 for key, box in ground_truth.items()}
    with pytest.raises(InputError, match="disagree with the shards"):
        fit_from_shards(paths, shifted)
    with pytest.raises(InputError, match="no 'fc7' block"):
        read_box_descriptors(paths, block="fc7")


def test_the_penalty_is_chosen_on_held_out_training_images_and_reported_ones_are_refused(capsys):
    from hypercolumns.classifiers.selection import ReportedImageError, heldout_images, reporting_on
    from hypercolumns.classifiers.train_bbox import choose_settings

    rng = np.random.default_rng(5)
    W, b = true_weights(rng)
    X, proposals, truth, _ = linear_problem(rng, 600, W, b, noise=0.02)
    data = {"features": X, "proposals": proposals, "truth": truth, "categories": np.array(["dog"] * 600),
            "ious": paired_iou(proposals, truth), "image_ids": np.array([f"img{i // 3}" for i in range(600)])}
    # an exact linear problem: the weakest penalty refines best, a huge one barely moves the boxes
    assert choose_settings({"spatial": data}, (1e6, 1e-3), min_iou=0.0)[1] == 1e-3
    assert "box regression descriptor, penalty and class-specificity: ('spatial', 0.001, " in capsys.readouterr().out
    held_out = data["image_ids"][heldout_images(data["image_ids"], 0.2, 0)]
    assert 0 < len(set(held_out)) < 200
    with reporting_on(held_out[:1]):
        with pytest.raises(ReportedImageError, match="box regression"):
            choose_settings({"spatial": data}, (1e6, 1e-3), min_iou=0.0)
    # the descriptor that carries the offsets wins, whichever order its rows come in
    order = rng.permutation(600)
    noise = {**{key: value[order] for key, value in data.items()}, "features": rng.normal(size=X.shape)}
    assert choose_settings({"spatial": noise, "global": data}, (1e-3,), min_iou=0.0)[0] == "global"
    assert choose_settings({"spatial": data, "global": noise}, (1e-3,), min_iou=0.0)[0] == "spatial"
    moved = {**noise, "proposals": noise["proposals"] + [0.0, 0.0, 3.0, 0.0]}     # other boxes: not comparable
    with pytest.raises(InputError, match="training boxes differ"):
        choose_settings({"spatial": data, "global": moved}, (1e-3,), min_iou=0.0)


def test_the_global_training_set_is_the_shards_boxes_with_the_annotations_boxes(tmp_path):
    from types import SimpleNamespace

    from hypercolumns.classifiers.train_bbox import global_training_set

    rng = np.random.default_rng(9)      # draws whose good boxes reach IoU 0.6 (test_fit_from_shards)
    config = small_config()
    size = next(blk["size"] for blk in config.blocks if blk["name"] == "global")
    W, b = true_weights(rng, d=size, scale=0.02)
    path = tmp_path / "shard-00000.h5"
    descriptors, proposals, good = write_box_shard(path, config, rng, W, b, image_offset=0)
    # the shard's box i labels instance i % 4 of image i // 4; far boxes' instances sit 150 px away
    truth = np.array([good.get((f"img{i // 4:04d}", i % 4), proposals[i] + 150) for i in range(len(proposals))])
    records = [SimpleNamespace(image_id=f"img{k:04d}",
                               instances=[SimpleNamespace(box=truth[4 * k + j]) for j in range(4)])
               for k in range(len(proposals) // 4)]
    data = global_training_set(records, [path])
    np.testing.assert_array_equal(data["features"], descriptors)
    np.testing.assert_array_equal(data["proposals"], proposals)
    np.testing.assert_array_equal(data["truth"], truth)
    np.testing.assert_allclose(data["ious"], paired_iou(proposals, truth))
    assert data["image_ids"].tolist() == [f"img{i // 4:04d}" for i in range(len(proposals))]
    assert set(data["categories"]) == {"cat"}
    with pytest.raises(InputError, match="instances the annotations do not have"):
        global_training_set(records[1:], [path])


def test_a_folds_images_leave_every_array_of_the_training_set():
    from hypercolumns.classifiers.train_bbox import without_images

    data = {"features": np.arange(10.0).reshape(5, 2), "proposals": np.arange(20.0).reshape(5, 4),
            "image_ids": np.array(["a", "b", "a", "c", "b"]), "ious": np.array([.1, .2, .3, .4, .5]),
            "config_hash": np.array("abc")}
    kept = without_images(data, ["a", "c"])
    assert kept["image_ids"].tolist() == ["b", "b"] and kept["ious"].tolist() == [.2, .5]
    np.testing.assert_array_equal(kept["features"], [[2.0, 3.0], [8.0, 9.0]])
    np.testing.assert_array_equal(kept["proposals"], data["proposals"][[1, 4]])
    assert str(kept["config_hash"]) == "abc" and without_images(data, []) is data


def test_spatial_descriptors_of_mirrored_shards_describe_each_box_once(data_root, tiny_cnn, monkeypatch, tmp_path):
    """Shards of a flips config hold each box twice (as it is and mirrored); the box regressor's training
    set, like the shards' global descriptors, holds it once: the boxes of the same config without flips."""
    from dataclasses import replace

    import hypercolumns.classifiers.train_bbox as train_bbox
    import hypercolumns.extract.cnn as cnn_module
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.extract.features import feature_config, plan_boxes

    cnn, spec = tiny_cnn
    records = load_training_records(data_root)[1:3]
    mirrored = replace(feature_config(cnn, spec, flips=True), config_hash="f" * 16)   # as read from shards
    monkeypatch.setattr(cnn_module, "load_cnn", lambda config: cnn)
    monkeypatch.setattr(train_bbox, "box_descriptors", lambda cnn, image, boxes, block: np.zeros((len(boxes), 1)))
    data = train_bbox.spatial_training_set(records, mirrored, tmp_path / "cache.npz")
    plain = plan_boxes(records, replace(mirrored, flips=False, config_hash=None))
    assert len(plan_boxes(records, mirrored)) == 2 * len(plain)
    np.testing.assert_allclose(data["proposals"], np.stack([job.box for job in plain]))
    stale = {**data, "proposals": np.concatenate([data["proposals"]] * 2)}   # an earlier run's, boxes twice
    np.savez(tmp_path / "cache.npz", **stale)
    again = train_bbox.spatial_training_set(records, mirrored, tmp_path / "cache.npz")
    np.testing.assert_allclose(again["proposals"], data["proposals"])
