"""The K x K classifier grid: what ``train-grid`` fits, cell by cell, from the shards' rows.

Location ``(y, x)`` of a box's 50 x 50 grid (stored as ``y * 50 + x``) belongs
to cell ``(y * K // 50, x * K // 50)``; cells are numbered row-major,
``k = i * K + j``.  Each cell has its own logistic regression (liblinear,
``liblinear_fit``) on the rows whose location falls in it; blending
neighbouring cells (the paper's Eq. 3) is inference's job.

:func:`train_grid` makes the model of one K: the C search
(:func:`choose_C` on :func:`search_cells`), the agnostic grid
(:func:`fit_grid`), the per-category grids (:func:`fit_category_grids`).
Every cell is a job (:class:`CellTask`) that carries only the names of its
rows (shard paths and row indices), the standardisation and the fit
options; it reads its own features (:func:`search_cell`, :func:`fit_cell`),
so a worker holds one cell's rows at a time (peak ~24 bytes per value while
liblinear runs, see ``liblinear_fit``) and nothing else crosses process
boundaries.

Parallelism: the jobs run in worker processes (joblib, or a Dask cluster
through joblib, see ``train``).  liblinear-official is called through ctypes,
which releases the GIL for the whole solve (measured: two fits of 4,000 x
3,842 rows took 1.32 s one after the other, 0.70 s on two threads; a K = 2
grid of 24,820 rows fitted in 4.4 s on two threads, 7.6 s on two processes).
Threads are still not used: the dual solver draws its coordinate order from
C's process-wide ``rand()``, so concurrent threads would make every fit
depend on scheduling, while a process fits one cell at a time after
``srand(0)`` and the grid is the same on every run.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from joblib import delayed, effective_n_jobs
from tqdm import tqdm

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.liblinear_fit import (BIAS_FEATURE, LogisticFit, fit_logistic,
                                                   fit_logistic_path, liblinear_options)
from hypercolumns.classifiers.rows import read_cell
from hypercolumns.classifiers.selection import choose
from hypercolumns.classifiers.standardize import standardize
from hypercolumns.classifiers.train_report import weighted_accuracy
from hypercolumns.data.errors import InputError

if TYPE_CHECKING:
    from hypercolumns.classifiers.train import TrainingSet, TrainOptions

from hypercolumns.extract.layer_spec import HEATMAP_SIZE  # the box grid: location = y * 50 + x


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


def train_grid(K: int, data: TrainingSet, options: TrainOptions, parallel) -> tuple:
    """The model for one K (agnostic grid, plus per-category grids if asked) and its facts."""
    start = time.perf_counter()
    positions = [data.index.cell_rows(K, k, options.max_rows_per_cell, options.seed)
                 for k in range(K * K)]
    search = choose_C(K, positions, data, options, parallel)
    search_seconds = time.perf_counter() - start
    agnostic = fit_grid(K, positions, search["C"], data, options, parallel, f"K={K} cells")
    grids = {AGNOSTIC: agnostic}
    skipped = {}
    if options.category_mode == "per-category":
        grids_by_category, skipped = fit_category_grids(K, agnostic, search["C"], data, options,
                                                        parallel)
        grids.update(grids_by_category)
    model = _grid_model(K, grids, data, options, search)
    rows = agnostic["n_rows"].reshape(-1)
    facts = {"seconds": round(time.perf_counter() - start, 2),
             "search_seconds": round(search_seconds, 2),
             "rows_per_cell": {"min": int(rows.min()), "median": float(np.median(rows)),
                               "max": int(rows.max())},
             "C": search["C"], "C_at_grid_edge": search["C_at_grid_edge"],
             "C_selected_on": search["selected_on"], "search": search["table"], "search_cells": search["cells"],
             "train_accuracy": weighted_accuracy(agnostic),
             "heldout_accuracy": search["heldout_accuracy"],
             "categories": {name: {"rows": int(grid["n_rows"].sum()),
                                   "train_accuracy": weighted_accuracy(grid),
                                   "agnostic_cells": len(grid["fallback_cells"])}
                            for name, grid in grids.items() if name != AGNOSTIC},
             "categories_without_grid": skipped}
    return model, facts


def choose_C(K: int, positions: list, data: TrainingSet, options: TrainOptions, parallel) -> dict:
    """The C of ``options.C_grid`` with the lowest held-out log-loss over the search cells."""
    C_grid = sorted(options.C_grid)
    if len(C_grid) == 1:
        return {"C": C_grid[0], "C_at_grid_edge": False, "table": {}, "cells": [],
                "heldout_accuracy": None, "selected_on": "not chosen (one --C-grid value)"}
    cells = search_cells(K, options.search_cells)
    # fewer cells than workers: each cell's C grid is split over several jobs
    n_groups = min(len(C_grid), -(-effective_n_jobs(options.n_jobs) // len(cells)))
    groups = [[float(C) for C in group] for group in np.array_split(C_grid, n_groups)]
    jobs = [delayed(search_cell)(cell_task(k, positions[k], data, options), group)
            for k in cells for group in groups]
    results = list(tqdm(parallel(jobs), total=len(jobs), desc=f"K={K} C search", unit="job",
                        disable=options.hide_progress))
    sums = {C: np.zeros(2) for C in C_grid}  # per C: held-out log-loss, correct rows
    for result in results:
        for C, loss, correct in zip(result.C_values, result.log_loss, result.correct):
            sums[C] += (loss, correct)
    n_heldout = sum(result.n_heldout for result in results) // len(groups)
    if n_heldout == 0:
        raise InputError(f"K={K}: the C-search cells have no held-out rows; raise --holdout "
                         "or give a single --C-grid value")
    log_loss = np.array([sums[C][0] for C in C_grid]) / n_heldout
    accuracy = np.array([sums[C][1] for C in C_grid]) / n_heldout
    index = data.index
    selection = choose("grid C", dict(zip(C_grid, log_loss)), index.image_id[index.heldout],
                       criterion="mean held-out log-loss of the search cells", higher_is_better=False,
                       selected_on=f"training images, {options.holdout:.0%} held out by image")
    best = C_grid.index(selection.chosen)
    return {"C": C_grid[best], "C_at_grid_edge": best in (0, len(C_grid) - 1),
            "selected_on": selection.selected_on, "heldout_images": selection.images,
            "table": {f"{C:g}": {"log_loss": round(float(loss), 5),
                                 "accuracy": round(float(acc), 5)}
                      for C, loss, acc in zip(C_grid, log_loss, accuracy)},
            "cells": [list(divmod(k, K)) for k in cells], "heldout_rows": n_heldout,
            "heldout_accuracy": float(accuracy[best])}


def search_cells(K: int, count: int) -> list:
    """``count`` cells spread over the K x K grid in row-major order (all if K^2 <= count)."""
    if K * K <= count:
        return list(range(K * K))
    return sorted({int(round(k)) for k in np.linspace(0, K * K - 1, count)})


def fit_grid(K: int, positions: list, C: float, data: TrainingSet, options: TrainOptions,
             parallel, description: str, fallback: dict | None = None) -> dict:
    """Fit every cell with ``C``; cells under ``min_rows_per_cell`` rows copy ``fallback``'s."""
    D = data.spec.dim
    grid = {"C": C, "coef": np.zeros((K * K, D), np.float32),
            "intercept": np.zeros(K * K, np.float32),
            "n_rows": np.array([len(p) for p in positions], np.int64),
            "train_accuracy": np.full(K * K, np.nan), "notes": {}, "fallback_cells": []}
    todo = []
    for k in range(K * K):
        if fallback is not None and len(positions[k]) < options.min_rows_per_cell:
            grid["coef"][k], grid["intercept"][k] = fallback["coef"][k], fallback["intercept"][k]
            grid["fallback_cells"].append(k)
            grid["notes"][_cell_name(k, K)] = (f"{len(positions[k])} rows (< "
                                               f"{options.min_rows_per_cell}): agnostic classifier")
        else:
            todo.append(cell_task(k, positions[k], data, options))
    results = parallel(delayed(fit_cell)(task, C) for task in todo)
    for result in tqdm(results, total=len(todo), desc=description, unit="cell",
                       disable=options.hide_progress):
        k = result.cell
        grid["coef"][k], grid["intercept"][k] = result.fit.coef, result.fit.intercept
        grid["train_accuracy"][k] = result.train_accuracy
        if result.fit.note:
            grid["notes"][_cell_name(k, K)] = result.fit.note
    return grid


def fit_category_grids(K: int, agnostic: dict, C: float, data: TrainingSet,
                       options: TrainOptions, parallel) -> tuple[dict, dict]:
    """Grids of the categories with enough rows; ``{category: rows}`` of the others."""
    grids, skipped = {}, {}
    names, counts = np.unique(data.index.category.astype(str), return_counts=True)
    for name, count in zip(names, counts):
        if count < options.min_rows_per_cell * K * K:
            skipped[str(name)] = int(count)
            continue
        positions = [data.index.cell_rows(K, k, options.max_rows_per_cell, options.seed, name)
                     for k in range(K * K)]
        grids[str(name)] = fit_grid(K, positions, C, data, options, parallel,
                                    f"K={K} {name}", fallback=agnostic)
    return grids, skipped


def cell_task(k: int, positions: np.ndarray, data: TrainingSet, options: TrainOptions) -> CellTask:
    """The job of cell ``k``: its rows (``positions`` in the row index) and how to fit them."""
    return CellTask(k, data.index.parts(positions), data.index.heldout[np.sort(positions)],
                    options.target, data.mean, data.scale, options.fit_options(), data.columns)


def _grid_model(K: int, grids: dict, data: TrainingSet, options: TrainOptions,
                search: dict) -> GridModel:
    categories = list(grids)
    info = {"liblinear_options": liblinear_options(search["C"], **options.fit_options()),
            "solver": options.solver, "bias_feature": BIAS_FEATURE, "options": asdict(options),
            "search": {key: search.get(key) for key in ("table", "cells", "heldout_rows", "heldout_images",
                                                       "heldout_accuracy", "selected_on")},
            "standardization_rows": data.standardization_rows,
            "training_data": data.training_data,
            "grids": {name: {"C": grid["C"], "n_rows": grid["n_rows"].reshape(K, K),
                             "train_accuracy": grid["train_accuracy"].reshape(K, K),
                             "notes": grid["notes"]} for name, grid in grids.items()}}
    return GridModel(K, data.spec, categories,
                     {name: grid["coef"].reshape(K, K, -1) for name, grid in grids.items()},
                     {name: grid["intercept"].reshape(K, K) for name, grid in grids.items()},
                     data.mean, data.scale, data.config, info)


def _cell_name(k: int, K: int) -> str:
    i, j = divmod(k, K)
    return f"{i},{j}"


# ------------------------------------------------------------------ one cell

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
    """The final classifier of one cell, fitted on all its rows, and its training accuracy
    (NaN for a cell without rows)."""

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
    fit = fit_logistic(z, labels, C, **task.fit_options)
    if len(labels) == 0:
        return FitResult(task.cell, fit, 0, float("nan"))
    predicted = (z @ fit.coef.astype(z.dtype) + fit.intercept) > 0  # no float64 copy of z
    return FitResult(task.cell, fit, len(labels), float(np.mean(predicted == (labels == 1))))


def _standardised_rows(task: CellTask) -> tuple[np.ndarray, np.ndarray]:
    rows = read_cell(task.parts, task.target)
    if len(rows["labels"]) != len(task.heldout):
        raise ValueError(f"cell {task.cell}: read {len(rows['labels'])} rows, expected "
                         f"{len(task.heldout)}")
    if len(rows["labels"]) == 0:
        return np.zeros((0, len(task.mean)), np.float32), rows["labels"]
    features = rows["features"] if task.columns is None else rows["features"][:, task.columns]
    return standardize(features, task.mean, task.scale), rows["labels"]
