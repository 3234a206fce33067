"""ClassifierGrid: cells, the estimator contract, and why a grid beats one classifier."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from synthetic_shards import small_config, small_spec

from hypercolumns.classifiers.grid import ClassifierGrid, cell_of_location, sigmoid
from hypercolumns.classifiers.grid_model import AGNOSTIC


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


def left_x_right_y_rows(n, seed):
    """The label follows feature 0 where x < 25 and feature 1 where x >= 25."""
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 50, n), rng.integers(0, 50, n)
    features = rng.normal(size=(n, 6))
    signal = np.where(x < 25, features[:, 0], features[:, 1])
    labels = (signal + 0.2 * rng.normal(size=n) > 0).astype(np.int8)
    return features, labels, location(y, x)


def test_two_by_two_grid_beats_one_classifier_when_the_rule_changes_across_the_box():
    train, test = left_x_right_y_rows(4000, 0), left_x_right_y_rows(2000, 1)
    one = ClassifierGrid(K=1, C=1.0).fit(*train)
    four = ClassifierGrid(K=2, C=1.0, n_jobs=2).fit(*train)
    assert four.score(*test) > one.score(*test) + 0.15
    assert four.score(*test) > 0.9
    assert four.coef_.shape == (2, 2, 6) and four.intercept_.shape == (2, 2)
    assert four.n_rows_.sum() == 4000


def test_worker_processes_give_the_same_grid_as_one_job_every_time():
    rows = left_x_right_y_rows(1500, 2)
    serial = ClassifierGrid(K=2, C=0.1).fit(*rows)
    in_processes = ClassifierGrid(K=2, C=0.1, n_jobs=2).fit(*rows)
    np.testing.assert_array_equal(serial.coef_, in_processes.coef_)
    np.testing.assert_array_equal(serial.coef_, ClassifierGrid(K=2, C=0.1).fit(*rows).coef_)


def test_decision_function_uses_each_rows_own_cell_on_standardised_features():
    features, labels, locations = left_x_right_y_rows(1000, 3)
    features = features * 100 + 7  # fit standardises
    grid = ClassifierGrid(K=2, C=0.1).fit(features, labels, locations)
    z = (features - grid.mean_) / grid.scale_
    cells = cell_of_location(locations, 2)
    expected = np.einsum("nd,nd->n", z, grid.coef_.reshape(4, -1)[cells]) + \
        grid.intercept_.reshape(-1)[cells]
    np.testing.assert_allclose(grid.decision_function(features, locations), expected, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(grid.predict_proba(features, locations), sigmoid(expected),
                               rtol=1e-5, atol=1e-6)


def test_single_class_and_empty_cells_do_not_crash():
    rng = np.random.default_rng(4)
    n = 400
    y, x = rng.integers(0, 25, n), rng.integers(0, 50, n)  # the bottom row of cells stays empty
    features = rng.normal(size=(n, 3))
    labels = np.where(x < 25, 1, features[:, 0] > 0).astype(np.int8)  # cell (0, 0) all positive
    grid = ClassifierGrid(K=2, C=0.1).fit(features, labels, location(y, x))
    assert set(grid.notes_) == {(0, 0), (1, 0), (1, 1)}
    assert "single class" in grid.notes_[(0, 0)] and "no rows" in grid.notes_[(1, 1)]
    assert np.all(grid.coef_[0, 0] == 0) and grid.intercept_[0, 0] > 4
    assert grid.train_accuracy_[0, 0] == 1.0 and np.isnan(grid.train_accuracy_[1, 1])
    assert grid.predict(features[:1], location([3], [3]))[0] == 1


def test_ignored_rows_are_dropped():
    features, labels, locations = left_x_right_y_rows(500, 5)
    labels[:100] = -1
    grid = ClassifierGrid(K=1, C=0.1).fit(features, labels, locations)
    assert grid.n_rows_.sum() == 400


def test_predict_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ClassifierGrid(K=2).decision_function(np.zeros((1, 3)), np.zeros(1, int))


def test_init_only_stores_and_fit_validates():
    grid = ClassifierGrid(K=0, C=-1.0)
    assert grid.get_params()["K"] == 0
    with pytest.raises(ValueError, match="K must be"):
        grid.fit(np.zeros((2, 3)), np.zeros(2), np.zeros(2, int))
    with pytest.raises(ValueError, match="same number of rows"):
        ClassifierGrid(K=1).fit(np.zeros((2, 3)), np.zeros(3), np.zeros(2, int))


def test_to_grid_model_matches_the_grid():
    spec = small_spec()
    rng = np.random.default_rng(6)
    features = rng.normal(size=(600, spec.dim))
    labels = (features[:, 0] > 0).astype(np.int8)
    locations = rng.integers(0, 2500, 600)
    grid = ClassifierGrid(K=2, C=0.01).fit(features, labels, locations)
    model = grid.to_grid_model(spec, small_config(spec))
    weights, bias = model.folded(AGNOSTIC)
    cells = cell_of_location(locations, 2)
    raw_scores = np.einsum("nd,nd->n", features, weights.reshape(4, -1)[cells]) + \
        bias.reshape(-1)[cells]
    np.testing.assert_allclose(raw_scores, grid.decision_function(features, locations), atol=1e-4)
