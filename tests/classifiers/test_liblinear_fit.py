"""liblinear-official called directly must give scikit-learn's liblinear solution."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from hypercolumns.classifiers.liblinear_fit import (BIAS_FEATURE, constant_fit, fit_logistic,
                                                   liblinear_options)


def rows(first_label: int, n=300, n_features=12, seed=0):
    """Standardised rows with a linear signal; the first row has ``first_label``."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features))
    scores = features[:, :3] @ np.array([1.5, -1.0, 0.5]) + 0.8 + rng.normal(size=n)
    labels = (scores > 0).astype(np.int8)
    first = np.flatnonzero(labels == first_label)[0]
    order = np.r_[first, np.delete(np.arange(n), first)]
    return features[order], labels[order]


# liblinear's decision values belong to the label it saw first: both orders must give class 1's.
@pytest.mark.parametrize("first_label", [0, 1])
@pytest.mark.parametrize("solver, dual", [("dual", True), ("primal", False)])
@pytest.mark.parametrize("C", [1e-3, 1e-1])
def test_weights_equal_scikit_learn_liblinear(first_label, solver, dual, C):
    features, labels = rows(first_label)
    ours = fit_logistic(features, labels, C, solver=solver, tol=1e-8)
    reference = LogisticRegression(C=C, solver="liblinear", dual=dual, tol=1e-8, max_iter=100000,
                                   intercept_scaling=BIAS_FEATURE).fit(features, labels)
    np.testing.assert_allclose(ours.coef, reference.coef_[0], rtol=1e-4, atol=1e-6)
    assert ours.intercept == pytest.approx(reference.intercept_[0], rel=1e-4, abs=1e-6)
    assert ours.note == ""


def test_the_bias_feature_keeps_the_intercept_of_a_skewed_cell():
    # 10 % positives at small C: with -B 1 the intercept is shrunk to ~0, with -B 100 it is not
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 20))
    labels = (rng.random(2000) < 0.1).astype(np.int8)
    shrunk = fit_logistic(features, labels, 1e-4, bias=1.0)
    ours = fit_logistic(features, labels, 1e-4)
    assert abs(shrunk.intercept) < 0.2
    assert ours.intercept == pytest.approx(np.log(0.1 / 0.9), abs=0.35)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_rows_give_a_constant_classifier(label):
    features = np.random.default_rng(2).normal(size=(40, 5))
    fit = fit_logistic(features, np.full(40, label), 1e-4)
    assert np.all(fit.coef == 0) and fit.coef.shape == (5,)
    expected = np.log(40.5 / 0.5) if label else np.log(0.5 / 40.5)
    assert fit.intercept == pytest.approx(expected)
    assert "single class" in fit.note


def test_no_rows_give_probability_one_half():
    fit = fit_logistic(np.zeros((0, 7)), np.zeros(0), 1e-4)
    assert fit.intercept == 0.0 and fit.coef.shape == (7,) and "no rows" in fit.note
    assert constant_fit(0, 0, 3).intercept == 0.0


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        fit_logistic(np.zeros((3, 2)), np.array([0, 1, -1]), 1e-3)
    with pytest.raises(ValueError, match="shape"):
        fit_logistic(np.zeros((3, 2)), np.array([0, 1]), 1e-3)
    with pytest.raises(ValueError, match="solver"):
        liblinear_options(1e-3, solver="newton")
    with pytest.raises(ValueError, match="C must be > 0"):
        liblinear_options(0.0)


def test_options_say_solver_bias_and_tolerance():
    assert liblinear_options(1e-4) == "-s 7 -c 0.0001 -B 100.0 -e 0.1 -q"
    assert liblinear_options(1e-4, solver="primal").startswith("-s 0 ")
