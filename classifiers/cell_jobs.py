"""The work of one grid cell in a worker process: read its rows, standardise, fit.

A job carries only the names of its rows (shard paths and row indices), the
standardisation and the fit options; it reads its own features, so a worker
holds one cell's rows at a time (peak ~24 bytes per value while liblinear
runs, see ``liblinear_fit``) and nothing else crosses process boundaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hypercolumns.classifiers.grid import fit_and_score
from hypercolumns.classifiers.liblinear_fit import LogisticFit, fit_logistic_path
from hypercolumns.classifiers.rows import read_cell
from hypercolumns.classifiers.standardize import standardize


@dataclass
class CellTask:
    """One cell's rows and how to turn them into standardised features.

    Attributes
    ----------
    cell : int
        Row-major cell index ``i * K + j``.
    parts : list of (str, ndarray)
        Shard path and sorted row indices (``RowIndex.parts``).
    heldout : ndarray of shape (n,), bool
        Per row, in read order: the row's image is held out.
    target : str
    mean, scale : ndarray of shape (D,), float32
    fit_options : dict
        ``solver``, ``bias``, ``tol`` for :func:`fit_logistic`.
    columns : ndarray of shape (D,), int, optional
        The features (of the shards' rows) the grid is trained on; None: all.
    """

    cell: int
    parts: list
    heldout: np.ndarray
    target: str
    mean: np.ndarray
    scale: np.ndarray
    fit_options: dict = field(default_factory=dict)
    columns: np.ndarray | None = None


@dataclass
class SearchResult:
    """Held-out scores of one cell for some C (fitted on the cell's training images).

    ``log_loss`` and ``correct`` are sums over the ``n_heldout`` held-out rows,
    one entry per C of ``C_values``.
    """

    cell: int
    C_values: list
    log_loss: np.ndarray
    correct: np.ndarray
    n_heldout: int
    n_train: int


@dataclass
class FitResult:
    """The final classifier of one cell, fitted on all its rows."""

    cell: int
    fit: LogisticFit
    n_rows: int
    train_accuracy: float


def search_cell(task: CellTask, C_values: list) -> SearchResult:
    """Fit each C on the cell's training images, score it on its held-out images."""
    z, labels = _standardised_rows(task)
    train, heldout = ~task.heldout, task.heldout
    fits = fit_logistic_path(z[train], labels[train], C_values, **task.fit_options)
    z_heldout, positive = z[heldout].astype(np.float64), labels[heldout] == 1
    log_loss, correct = np.zeros(len(C_values)), np.zeros(len(C_values))
    for position, fit in enumerate(fits):
        scores = z_heldout @ fit.coef + fit.intercept
        log_loss[position] = np.sum(np.where(positive, np.logaddexp(0, -scores),
                                             np.logaddexp(0, scores)))
        correct[position] = np.sum((scores > 0) == positive)
    return SearchResult(task.cell, list(C_values), log_loss, correct, int(heldout.sum()),
                        int(train.sum()))


def fit_cell(task: CellTask, C: float) -> FitResult:
    """Fit the cell on all its rows (training and held-out images) with ``C``."""
    z, labels = _standardised_rows(task)
    fit, n_rows, accuracy = fit_and_score(z, labels, C, **task.fit_options)
    return FitResult(task.cell, fit, n_rows, accuracy)


def _standardised_rows(task: CellTask) -> tuple[np.ndarray, np.ndarray]:
    rows = read_cell(task.parts, task.target)
    if len(rows["labels"]) != len(task.heldout):
        raise ValueError(f"cell {task.cell}: read {len(rows['labels'])} rows, expected "
                         f"{len(task.heldout)}")
    if len(rows["labels"]) == 0:
        return np.zeros((0, len(task.mean)), np.float32), rows["labels"]
    features = rows["features"] if task.columns is None else rows["features"][:, task.columns]
    return standardize(features, task.mean, task.scale), rows["labels"]
