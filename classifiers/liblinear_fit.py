"""One L2-regularised logistic regression, fitted with liblinear-official.

The objective (liblinear's, and scikit-learn's ``LogisticRegression(solver=
"liblinear")``) sums the loss over rows and puts ``C`` in front of it::

    min_w  0.5 * ||w||^2 + C * sum_i log(1 + exp(-s_i * w . [z_i; B]))

with ``s_i = +1 / -1`` and ``z_i`` the standardised features.

The bias is a feature
---------------------
liblinear has no separate intercept: ``-B B`` appends a constant feature of
value ``B`` to every row, and its weight ``w_B`` is regularised like any
other, so the intercept ``b = B * w_B`` costs ``0.5 * (b / B)^2``.  With
standardised features and the small C this problem wants (1e-5..1e-3, the loss
term weighs ``C * n`` ~ 0.02..20), ``-B 1`` shrinks the intercept towards 0:
probabilities are pulled to 0.5, which wrecks the cells near the box border
whose positive rate is far from 0.5 (and inference thresholds probabilities,
so calibration matters).  Measured on synthetic hypercolumn-like rows (3,842
dims, a K = 10 border cell, 1,932 training rows, positive rate 0.13, C = 1e-5):

=====================  ===========  ==================  ==========
bias handling           intercept    held-out log-loss   accuracy
=====================  ===========  ==================  ==========
``-B 1``                -0.007       0.660               0.660
``-B 10``               -0.48        0.500               0.917
``-B 30``               -1.35        0.339               0.893
``-B 100`` (ours)       -1.82        0.306               0.893
``-B 300``              -1.89        0.304               0.893
``-B 1 -R`` (unpenal.)  -1.90        0.3035              0.893
=====================  ===========  ==================  ==========

``-R`` (an unregularised bias) exists only for the primal solvers, and the
primal was slow there (up to 155 s on a nearly one-class cell at C = 1e-5).
We use a large bias feature, ``B = 100`` (:data:`BIAS_FEATURE`): the penalty
on the intercept becomes ``0.5 * (b / 100)^2``.  Its held-out log-loss was
within 0.0006 of the unpenalised one at C >= 1e-4, and within 0.003 (mixed
cells) to 0.015 (nearly one-class cells) at C = 1e-5, while the dual solver
stays fast; a larger B conditions the dual worse (``-B 1000`` took 6.5 s where
``-B 100`` took 0.3 s at C = 1e-3).  ``B = 100`` is exactly scikit-learn's
``intercept_scaling=100``, which the tests check.

Solver: dual (``-s 7``)
-----------------------
Measured with :func:`fit_logistic` on 3,842-dim rows (problem construction
included, ``-B 100``, each solver's default ``-e``, one core; both reached
the same optimum, held-out log-loss equal to 3-4 decimals):

=================  =====  ===============  =============
training rows       C      primal ``-s 0``  dual ``-s 7``
=================  =====  ===============  =============
1,984 (K=10 cell)   1e-5   0.41 s           0.17 s
1,984 (K=10 cell)   1e-4   0.59 s           0.21 s
1,984 (K=10 cell)   1e-3   0.78 s           0.45 s
7,949 (K=5 cell)    1e-5   3.03 s           1.13 s
7,949 (K=5 cell)    1e-4   2.56 s           1.13 s
7,949 (K=5 cell)    1e-3   2.92 s           2.30 s
8,265 (K=2 cell)    1e-5   2.08 s           1.09 s
8,265 (K=2 cell)    1e-4   2.69 s           1.02 s
8,265 (K=2 cell)    1e-3   3.06 s           2.43 s
=================  =====  ===============  =============

The dual is 1.2-3x faster for C <= 1e-3 (small C keeps the dual variables
small, and coordinate descent converges in 9-21 passes), so it is the default.

Tolerance: ``-e 0.1`` (liblinear's default for ``-s 7``: the maximal dual
violation).  ``-e 0.01`` cost 1.3-1.6x the time and moved held-out log-loss by
< 1e-4 and the intercept by < 0.004.

Reproducibility: the dual solver visits the coordinates in an order drawn
from C's ``rand()``, whose state is process-wide; :func:`fit_logistic` calls
``srand(seed)`` right before each fit, so the same rows give the same weights
in any process, whatever ran before (two threads fitting at once would still
interleave their draws: run concurrent fits in processes).

Input: liblinear copies each value into a 16-byte (index, value) node; we hand
it a CSR matrix that keeps every value (zeros included) so the copy is
vectorised.  Peak memory is about 24 bytes per value (float32 rows + int32
column indices + the nodes): ~1.8 GB for 20,000 rows of 3,842 dims.
"""
from __future__ import annotations

import ctypes
from typing import NamedTuple

import numpy as np
from liblinear.liblinearutil import parameter, problem, train
from scipy import sparse

BIAS_FEATURE = 100.0
SOLVERS = {"dual": 7, "primal": 0}
DEFAULT_SOLVER = "dual"
DEFAULT_TOLERANCE = {"dual": 0.1, "primal": 0.01}
_C_LIBRARY = ctypes.CDLL(None)  # the process's libc, whose rand() liblinear draws from


class LogisticFit(NamedTuple):
    """A fitted linear classifier ``score = coef . z + intercept``.

    Attributes
    ----------
    coef : ndarray of shape (n_features,), float64
    intercept : float
    note : str
        ``""`` for a liblinear fit; otherwise why the classifier is constant
        (single-class or empty cell).
    """

    coef: np.ndarray
    intercept: float
    note: str = ""


def liblinear_options(C: float, solver: str = DEFAULT_SOLVER, bias: float = BIAS_FEATURE,
                      tol: float | None = None, solvers: dict = SOLVERS,
                      tolerances: dict = DEFAULT_TOLERANCE) -> str:
    """The liblinear command-line options of one fit (recorded with models).

    ``solvers`` maps our solver names to liblinear's ``-s`` numbers and
    ``tolerances`` gives each one's default ``-e`` (logistic regression by
    default; the rescoring SVM passes its own).
    """
    if solver not in solvers:
        raise ValueError(f"solver must be one of {sorted(solvers)}, got {solver!r}")
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    if not bias > 0:
        raise ValueError(f"bias feature value must be > 0, got {bias!r}")
    tol = tolerances[solver] if tol is None else tol
    return f"-s {solvers[solver]} -c {C!r} -B {bias!r} -e {tol!r} -q"


def fit_logistic(features: np.ndarray, labels: np.ndarray, C: float, *,
                 solver: str = DEFAULT_SOLVER, bias: float = BIAS_FEATURE,
                 tol: float | None = None, seed: int | None = 0) -> LogisticFit:
    """Fit L2-regularised logistic regression with a (penalised) bias feature.

    Parameters
    ----------
    features : ndarray of shape (n_rows, n_features), float32 or float64
        Standardised features.
    labels : ndarray of shape (n_rows,), values in {0, 1}
    C : float
        Weight of the summed loss (liblinear's and scikit-learn's C).
    solver : {"dual", "primal"}
        liblinear ``-s 7`` or ``-s 0``.
    bias : float
        Value of the bias feature (``-B``); the intercept is ``bias * w_bias``.
    tol : float, optional
        ``-e``; the solver's default of :data:`DEFAULT_TOLERANCE` if None.
    seed : int, optional
        ``srand(seed)`` before the fit (the dual's coordinate order); None
        leaves C's ``rand()`` state as it is.

    Returns
    -------
    LogisticFit
        ``coef`` (n_features,) float64 and ``intercept`` for class 1.  A
        single-class or empty input gives the constant classifier
        :func:`constant_fit` (with a ``note``), never an error.
    """
    return fit_logistic_path(features, labels, [C], solver=solver, bias=bias, tol=tol,
                             seed=seed)[0]


def fit_logistic_path(features: np.ndarray, labels: np.ndarray, C_values: list, *,
                      solver: str = DEFAULT_SOLVER, bias: float = BIAS_FEATURE,
                      tol: float | None = None, seed: int | None = 0) -> list:
    """:func:`fit_logistic` for each C of ``C_values`` on the same rows.

    liblinear's copy of the rows is made once and reused (it costs ~0.5 s for
    20,000 x 3,842 rows).  Returns one :class:`LogisticFit` per C, in order.
    """
    features, labels = _checked(features, labels)
    options = [liblinear_options(C, solver, bias, tol) for C in C_values]
    n_positive = int(labels.sum())
    if n_positive in (0, len(labels)):
        return [constant_fit(n_positive, len(labels), features.shape[1]) for _ in C_values]
    rows = liblinear_rows(features, labels)
    return [LogisticFit(*train_class1(rows, option, seed)) for option in options]


def liblinear_rows(features: np.ndarray, labels: np.ndarray) -> problem:
    """liblinear's copy of dense rows ``(n, D)`` and 0/1 labels ``(n,)`` (made once, reusable)."""
    return problem(np.asarray(labels, np.float64), dense_csr(np.asarray(features, np.float32)))


def train_class1(rows: problem, options: str, seed: int | None = 0) -> tuple[np.ndarray, float]:
    """Train one liblinear model; its weights ``(D,)`` float64 and intercept for class 1.

    ``seed`` is passed to C's ``srand`` first (the dual solvers' coordinate order), so
    the same rows give the same model in any process; None leaves ``rand()`` as it is.
    """
    if seed is not None:
        _C_LIBRARY.srand(ctypes.c_uint(seed))
    model = train(rows, parameter(options))
    # liblinear's decision function is for its first-seen label; ask for class 1's.
    weights, intercept = model.get_decfun(model.get_labels().index(1))
    return np.asarray(weights, np.float64), float(intercept)


def constant_fit(n_positive: int, n_rows: int, n_features: int) -> LogisticFit:
    """The classifier of a cell with one class (or none): coef 0, logit of the smoothed rate.

    The rate is ``(n_positive + 0.5) / (n_rows + 1)`` (add-half smoothing), so
    a cell of 2,000 negatives scores ``log(0.5 / 2000.5)`` = -8.3, and an
    empty cell scores 0 (probability 0.5).
    """
    rate = (n_positive + 0.5) / (n_rows + 1.0)
    if n_rows == 0:
        note = "no rows: constant probability 0.5"
    else:
        note = f"single class ({n_positive} of {n_rows} rows positive): constant logit"
    return LogisticFit(np.zeros(n_features), float(np.log(rate / (1.0 - rate))), note)


def _checked(features, labels) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_rows, n_features), got shape {features.shape}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must have shape ({features.shape[0]},) to match the features, "
                         f"got {labels.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels)[:10]} "
                         "(drop ignored rows, label -1, first)")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf (standardise with a floored scale)")
    if features.dtype not in (np.float32, np.float64):
        features = features.astype(np.float32)
    return features, labels.astype(np.int8)


def dense_csr(features: np.ndarray) -> sparse.csr_matrix:
    """A CSR view of dense rows that keeps zeros (liblinear-official copies CSR vectorised)."""
    n_rows, n_features = features.shape
    features = np.ascontiguousarray(features)
    columns = np.tile(np.arange(n_features, dtype=np.int32), n_rows)
    row_starts = np.arange(0, n_rows * n_features + 1, n_features, dtype=np.int64)
    matrix = sparse.csr_matrix((features.reshape(-1), columns, row_starts),
                               shape=(n_rows, n_features), copy=False)
    matrix.has_sorted_indices = True
    return matrix
