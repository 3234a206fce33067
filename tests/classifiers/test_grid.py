"""The classifier grid as ``train-grid`` fits it: cells, their rows, and why a grid beats one classifier."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from synthetic_shards import small_config

from hypercolumns.classifiers.grid import cell_of_location
from hypercolumns.classifiers.grid_model import AGNOSTIC
from hypercolumns.classifiers.liblinear_fit import DEFAULT_TOLERANCE, fit_logistic
from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.classifiers.standardize import standardize
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.extract.shards import write_shard

BOXES, ROWS_PER_BOX = 40, 50


def location(y, x):
    return np.asarray(y) * 50 + np.asarray(x)


def test_cell_of_location_by_hand():
    # (y, x) -> cell (y * K // 50, x * K // 50), numbered row-major
    assert cell_of_location(location([0, 24, 25, 49, 0], [0, 25, 24, 49, 49]), 2).tolist() == \
        [0, 1, 2, 3, 1]
    assert cell_of_location(location([9, 10, 49], [0, 19, 20]), 5).tolist() == [0, 6, 22]
    assert cell_of_location(location([49], [49]), 1).tolist() == [0]
    with pytest.raises(ValueError, match="locations must lie"):
        cell_of_location(np.array([2500]), 2)


def left_x_right_y_rows(n, seed, y_range=(0, 50)):
    """The label follows feature 0 where x < 25 and feature 1 where x >= 25."""
    rng = np.random.default_rng(seed)
    y, x = rng.integers(*y_range, n), rng.integers(0, 50, n)
    features = rng.normal(size=(n, small_config().feature_dim))
    signal = np.where(x < 25, features[:, 0], features[:, 1])
    labels = (signal + 0.2 * rng.normal(size=n) > 0).astype(np.int8)
    return features, labels, location(y, x)


def write_rows(folder, features, labels, locations):
    """One shard of these rows, ``ROWS_PER_BOX`` rows per box, four boxes per image."""
    boxes = len(labels) // ROWS_PER_BOX
    rows = {"features": features.astype(np.float16), "labels": {"figure_ground": labels},
            "location": locations, "box_index": np.repeat(np.arange(boxes), ROWS_PER_BOX)}
    table = {"image_id": [f"img{b // 4:03d}" for b in range(boxes)], "dataset": ["toy"] * boxes,
             "category": ["thing"] * boxes, "box": np.zeros((boxes, 4)),
             "expanded_box": np.zeros((boxes, 4)), "instance": np.zeros(boxes), "iou": np.ones(boxes)}
    folder.mkdir()
    write_shard(folder / "shard-00000.h5", small_config(), rows, table)
    return folder


def train(shards, out, Ks, n_jobs=1, C=1.0):
    options = TrainOptions(Ks=Ks, C_grid=(C,), holdout=0.0, n_jobs=n_jobs, show_progress=False)
    train_grids(shards, out, options, log=lambda line: None)
    return {K: load_grid(out / f"grid-K{K}.h5") for K in Ks}


def accuracy(model, features, labels, locations) -> float:
    """Each row scored by its own cell's folded classifier, on raw features."""
    weights, bias = model.folded(AGNOSTIC)
    y, x = np.divmod(locations, 50)
    i, j = y * model.K // 50, x * model.K // 50
    scores = np.einsum("nd,nd->n", features, weights[i, j]) + bias[i, j]
    return float(np.mean((scores > 0) == (labels == 1)))


def test_two_by_two_grid_beats_one_classifier_when_the_rule_changes_across_the_box(tmp_path):
    shards = write_rows(tmp_path / "shards", *left_x_right_y_rows(BOXES * ROWS_PER_BOX, 0))
    models = train(shards, tmp_path / "grids", (1, 2), n_jobs=2)
    test = left_x_right_y_rows(2000, 1)
    assert accuracy(models[2], *test) > accuracy(models[1], *test) + 0.15
    assert accuracy(models[2], *test) > 0.9
    assert models[2].coef[AGNOSTIC].shape == (2, 2, small_config().feature_dim)
    assert np.sum(models[2].info["grids"][AGNOSTIC]["n_rows"]) == BOXES * ROWS_PER_BOX


def test_each_cell_is_liblinear_on_its_own_standardised_rows_in_any_number_of_processes(tmp_path):
    features, labels, locations = left_x_right_y_rows(BOXES * ROWS_PER_BOX, 2)
    labels[:150] = -1                                   # ignored rows train no cell
    shards = write_rows(tmp_path / "shards", features * 100 + 7, labels, locations)
    serial = train(shards, tmp_path / "one", (2,), C=0.1)[2]
    in_processes = train(shards, tmp_path / "two", (2,), n_jobs=2, C=0.1)[2]
    assert np.abs(serial.coef[AGNOSTIC]).max() > 0.1      # cells that learned something
    np.testing.assert_array_equal(serial.coef[AGNOSTIC], in_processes.coef[AGNOSTIC])
    np.testing.assert_array_equal(serial.intercept[AGNOSTIC], in_processes.intercept[AGNOSTIC])
    with h5py.File(shards / "shard-00000.h5", "r") as f:  # the rows as stored (float16)
        stored = f["features"][:]
    y, x = np.divmod(locations, 50)
    cells = (y // 25) * 2 + x // 25
    for k in range(4):
        rows = (cells == k) & (labels >= 0)
        z = standardize(stored[rows], serial.mean, serial.scale)
        fit = fit_logistic(z, labels[rows], 0.1, tol=DEFAULT_TOLERANCE["dual"])
        np.testing.assert_array_equal(serial.coef[AGNOSTIC][divmod(k, 2)], fit.coef.astype(np.float32))
        assert serial.intercept[AGNOSTIC][divmod(k, 2)] == np.float32(fit.intercept)
        assert serial.info["grids"][AGNOSTIC]["n_rows"][divmod(k, 2)] == rows.sum()


def test_single_class_and_empty_cells_get_constant_classifiers_and_a_note(tmp_path):
    features, labels, locations = left_x_right_y_rows(BOXES * ROWS_PER_BOX, 4, y_range=(0, 25))
    labels[locations % 50 < 25] = 1                     # cell (0, 0) all positive
    shards = write_rows(tmp_path / "shards", features, labels, locations)
    model = train(shards, tmp_path / "grids", (2,), C=0.1)[2]
    facts = model.info["grids"][AGNOSTIC]
    assert set(facts["notes"]) == {"0,0", "1,0", "1,1"}  # the bottom row of cells has no rows
    assert "single class" in facts["notes"]["0,0"] and "no rows" in facts["notes"]["1,1"]
    assert np.all(model.coef[AGNOSTIC][0, 0] == 0) and model.intercept[AGNOSTIC][0, 0] > 4
    assert facts["train_accuracy"][0, 0] == 1.0 and np.isnan(facts["train_accuracy"][1, 1])
