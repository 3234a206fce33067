"""The K x K grid of per-cell logistic regressions, as a scikit-learn style estimator.

Location ``(y, x)`` of a box's 50 x 50 grid (stored as ``y * 50 + x``) belongs
to cell ``(y * K // 50, x * K // 50)``; cells are numbered row-major,
``k = i * K + j``.  :class:`ClassifierGrid` scores every location with its own
cell's classifier only: blending neighbouring cells (the paper's Eq. 3) is
inference's job.

Parallelism: one joblib job per cell, in worker processes.  liblinear-official
is called through ctypes, which releases the GIL for the whole solve
(measured: two fits of 4,000 x 3,842 rows took 1.32 s one after the other,
0.70 s on two threads; a K = 2 grid of 24,820 rows fitted in 4.4 s on two
threads, 7.6 s on two processes).  Threads are still not used: the dual
solver draws its coordinate order from C's process-wide ``rand()``, so
concurrent threads would make every fit depend on scheduling, while a
process fits one cell at a time after ``srand(0)`` and the grid is the same
on every run.
"""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.liblinear_fit import (BIAS_FEATURE, DEFAULT_SOLVER, LogisticFit,
                                                   fit_logistic, liblinear_options)
from hypercolumns.classifiers.standardize import Standardization, standardization_of
from hypercolumns.classifiers.standardize import standardize as apply_standardization
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE  # the box grid: location = y * 50 + x


def cell_of_location(locations: np.ndarray, K: int) -> np.ndarray:
    """Row-major cell index ``i * K + j`` of each location.

    Parameters
    ----------
    locations : ndarray of shape (n,), int
        ``y * 50 + x`` in the box's 50 x 50 grid.
    K : int
        Grid side, 1 <= K <= 50.

    Returns
    -------
    ndarray of shape (n,), int64, values in [0, K * K)
    """
    locations = np.asarray(locations).astype(np.int64)
    if locations.size and (locations.min() < 0 or locations.max() >= HEATMAP_SIZE ** 2):
        raise ValueError(f"locations must lie in [0, {HEATMAP_SIZE ** 2}) (y * 50 + x), got "
                         f"[{locations.min()}, {locations.max()}]")
    y, x = np.divmod(locations, HEATMAP_SIZE)
    return (y * K // HEATMAP_SIZE) * K + x * K // HEATMAP_SIZE


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-scores))`` without overflow warnings."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(scores, np.float64)))


class ClassifierGrid(BaseEstimator):
    """K x K logistic regressions, one per cell of the box, fitted with liblinear.

    Parameters
    ----------
    K : int
        Grid side (1 <= K <= 50).
    C : float
        liblinear's C (weight of the summed logistic loss); see ``liblinear_fit``.
    solver : {"dual", "primal"}
        liblinear ``-s 7`` (default, faster at small C) or ``-s 0``.
    bias : float
        Bias feature value ``-B``; the intercept is penalised as ``(b / bias)^2 / 2``.
    tol : float, optional
        liblinear ``-e``; the solver's default if None.
    standardize : bool
        If True, ``fit`` standardises the features itself (``mean_``,
        ``scale_``) and the other methods take raw features; if False the
        features are used as given (already standardised).
    n_jobs : int, optional
        Cells fitted at once (joblib worker processes); None = 1, -1 = all cores.

    Attributes
    ----------
    coef_ : ndarray of shape (K, K, n_features), float64
        Weights of each cell, in standardised space when ``standardize``.
    intercept_ : ndarray of shape (K, K), float64
    n_rows_ : ndarray of shape (K, K), int64
        Training rows of each cell.
    train_accuracy_ : ndarray of shape (K, K), float64
        Accuracy of each cell on its training rows (NaN for an empty cell).
    mean_, scale_ : ndarray of shape (n_features,), float64
        The standardisation (zeros and ones when ``standardize`` is False).
    notes_ : dict of (int, int) to str
        Cells whose classifier is constant, and why.
    n_features_in_ : int

    Notes
    -----
    liblinear penalises the intercept like a weight.  We append a bias
    feature of value ``bias`` = 100, so the intercept ``b`` costs
    ``0.5 * (b / 100)^2``: negligible, where ``-B 1`` would pull the
    probabilities of skewed cells (the box border) towards 0.5 at the small
    C these features want.  It is scikit-learn's ``intercept_scaling=100``.
    Measurements in ``liblinear_fit``.
    """

    def __init__(self, K: int, C: float = 1e-4, solver: str = DEFAULT_SOLVER,
                 bias: float = BIAS_FEATURE, tol: float | None = None, standardize: bool = True,
                 n_jobs: int | None = None):
        self.K = K
        self.C = C
        self.solver = solver
        self.bias = bias
        self.tol = tol
        self.standardize = standardize
        self.n_jobs = n_jobs

    def fit(self, features: np.ndarray, labels: np.ndarray, locations: np.ndarray):
        """Fit every cell on the rows whose location falls in it.

        Parameters
        ----------
        features : ndarray of shape (n_rows, n_features), float
        labels : ndarray of shape (n_rows,), int, values in {0, 1} (-1 = ignore: dropped)
        locations : ndarray of shape (n_rows,), int, ``y * 50 + x``

        Returns
        -------
        self
        """
        self._check_params()
        features, labels, locations = _checked_rows(features, labels, locations)
        known = labels >= 0
        features, labels, locations = features[known], labels[known], locations[known]
        standardization = (standardization_of(features) if self.standardize else
                           _identity(features.shape[1]))
        z = standardization.apply(features)
        cells = cell_of_location(locations, self.K)
        fits = Parallel(n_jobs=self.n_jobs)(
            delayed(fit_and_score)(z[cells == k], labels[cells == k], self.C, self.solver,
                               self.bias, self.tol) for k in range(self.K * self.K))
        self._set_fitted(fits, standardization, features.shape[1])
        return self

    def decision_function(self, features: np.ndarray, locations: np.ndarray) -> np.ndarray:
        """Score of each row under its own cell's classifier.

        Parameters
        ----------
        features : ndarray of shape (n_rows, n_features), float (raw if ``standardize``)
        locations : ndarray of shape (n_rows,), int, ``y * 50 + x``

        Returns
        -------
        ndarray of shape (n_rows,), float64 (logit of P(figure))
        """
        self._check_fitted()
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.n_features_in_:
            raise ValueError(f"expected features of shape (n, {self.n_features_in_}), "
                             f"got {features.shape}")
        z = apply_standardization(features, self.mean_, self.scale_)
        cells = cell_of_location(np.asarray(locations).reshape(-1), self.K)
        if cells.shape[0] != z.shape[0]:
            raise ValueError(f"got {z.shape[0]} feature rows but {cells.shape[0]} locations")
        coef = self.coef_.reshape(self.K * self.K, -1)
        intercept = self.intercept_.reshape(-1)
        scores = np.empty(z.shape[0], np.float64)
        for k in np.unique(cells):
            rows = cells == k
            scores[rows] = z[rows] @ coef[k] + intercept[k]
        return scores

    def predict_proba(self, features: np.ndarray, locations: np.ndarray) -> np.ndarray:
        """P(label = 1) of each row, shape (n_rows,), float64."""
        return sigmoid(self.decision_function(features, locations))

    def predict(self, features: np.ndarray, locations: np.ndarray) -> np.ndarray:
        """Labels 0 / 1 (score > 0, i.e. probability > 0.5), shape (n_rows,), int8."""
        return (self.decision_function(features, locations) > 0).astype(np.int8)

    def score(self, features: np.ndarray, labels: np.ndarray, locations: np.ndarray) -> float:
        """Accuracy over the rows with a known label (label >= 0)."""
        labels = np.asarray(labels)
        known = labels >= 0
        predicted = self.predict(np.asarray(features)[known], np.asarray(locations)[known])
        return float(np.mean(predicted == labels[known]))

    def to_grid_model(self, spec, feature_config: dict, category: str = AGNOSTIC,
                      info: dict | None = None) -> GridModel:
        """This grid as the :class:`GridModel` inference reads (one category)."""
        self._check_fitted()
        if spec.dim != self.n_features_in_:
            raise ValueError(f"layer spec has {spec.dim} dims, the grid {self.n_features_in_}")
        grid_info = {"C": float(self.C), "n_rows": self.n_rows_.tolist(),
                     "train_accuracy": self.train_accuracy_.tolist(),
                     "notes": {f"{i},{j}": note for (i, j), note in self.notes_.items()}}
        info = {"liblinear_options": liblinear_options(self.C, self.solver, self.bias, self.tol),
                **(info or {}), "grids": {category: grid_info}}
        return GridModel(self.K, spec, [category], {category: self.coef_.astype(np.float32)},
                         {category: self.intercept_.astype(np.float32)},
                         self.mean_.astype(np.float32), self.scale_.astype(np.float32),
                         feature_config, info)

    def _check_params(self) -> None:
        if not (isinstance(self.K, (int, np.integer)) and 1 <= self.K <= HEATMAP_SIZE):
            raise ValueError(f"K must be an integer in [1, {HEATMAP_SIZE}], got {self.K!r}")
        liblinear_options(self.C, self.solver, self.bias, self.tol)  # validates them

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this ClassifierGrid is not fitted yet; call "
                                 "fit(features, labels, locations) first")

    def _set_fitted(self, fits: list, standardization: Standardization, n_features: int) -> None:
        K = self.K
        self.coef_ = np.stack([fit.coef for fit, _, _ in fits]).reshape(K, K, n_features)
        self.intercept_ = np.array([fit.intercept for fit, _, _ in fits]).reshape(K, K)
        self.n_rows_ = np.array([n for _, n, _ in fits], np.int64).reshape(K, K)
        self.train_accuracy_ = np.array([acc for _, _, acc in fits]).reshape(K, K)
        self.notes_ = {divmod(k, K): fit.note for k, (fit, _, _) in enumerate(fits) if fit.note}
        self.mean_, self.scale_ = standardization.mean, standardization.scale
        self.n_features_in_ = n_features


def fit_and_score(z: np.ndarray, labels: np.ndarray, C: float, solver: str = DEFAULT_SOLVER,
                  bias: float = BIAS_FEATURE, tol: float | None = None
                  ) -> tuple[LogisticFit, int, float]:
    """Fit one cell; returns the fit, its row count and its training accuracy (NaN if empty)."""
    fit = fit_logistic(z, labels, C, solver=solver, bias=bias, tol=tol)
    if len(labels) == 0:
        return fit, 0, float("nan")
    predicted = (z @ fit.coef.astype(z.dtype) + fit.intercept) > 0  # no float64 copy of z
    return fit, len(labels), float(np.mean(predicted == (labels == 1)))



def _identity(n_features: int) -> Standardization:
    return Standardization(np.zeros(n_features), np.ones(n_features), np.ones(n_features), 0)


def _checked_rows(features, labels, locations):
    features = np.asarray(features)
    labels = np.asarray(labels).reshape(-1)
    locations = np.asarray(locations).reshape(-1)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_rows, n_features), got shape {features.shape}")
    if not (labels.shape[0] == locations.shape[0] == features.shape[0]):
        raise ValueError(f"features, labels and locations must have the same number of rows, "
                         f"got {features.shape[0]}, {labels.shape[0]}, {locations.shape[0]}")
    if labels.size and not np.isin(labels, (-1, 0, 1)).all():
        raise ValueError(f"labels must be 0, 1 or -1 (ignore), got {np.unique(labels)[:10]}")
    return features, labels.astype(np.int8), locations
