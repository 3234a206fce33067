"""Grid training speed: liblinear rows per second per cell, and its scaling from 1 to 2 processes.

The same cells of the K x K grid (their rows read from the stage-one shards,
standardised, fitted at one C, exactly as ``train-grid`` fits them) are fitted
once by one worker process and once by two; the figures are wall-clock rows
per second (rows of all the cells / seconds) and the ratio of the two.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from hypercolumns.classifiers.grid import cell_task, fit_cell
from hypercolumns.classifiers.train import TrainOptions, load_training_set
from hypercolumns.pipelines.bench.report import timed


def measure_grid_training(shards_dir: Path, K: int = 5, cells: int = 4, C: float = 3e-4,
                          processes=(1, 2), max_rows_per_cell: int = 20000) -> dict:
    """Rows/s of fitting ``cells`` cells of the K x K grid with 1 and 2 processes.

    Returns a dict with ``rows`` (all the cells'), ``rows_per_cell``, and per
    process count ``seconds`` and ``rows_per_s``; ``scaling`` is the rate with
    the most processes over the rate with one.
    """
    options = TrainOptions(Ks=(K,), max_rows_per_cell=max_rows_per_cell, show_progress=False)
    data = load_training_set(Path(shards_dir), options)
    chosen = np.linspace(0, K * K - 1, cells).round().astype(int)
    tasks = [cell_task(int(k), data.index.cell_rows(K, int(k), max_rows_per_cell, options.seed),
                       data, options) for k in chosen]
    rows = int(sum(len(task.heldout) for task in tasks))
    result = {"shards": str(shards_dir), "K": K, "cells": [int(k) for k in chosen], "C": C,
              "rows": rows, "rows_per_cell": rows / len(tasks), "dims": int(data.spec.dim),
              "solver": options.solver, "by_processes": {}}
    for n_jobs in processes:
        with Parallel(n_jobs=n_jobs) as parallel:
            parallel(delayed(len)([]) for _ in range(n_jobs))  # start the workers before timing
            _, seconds = timed(lambda: parallel(delayed(fit_cell)(task, C) for task in tasks), "cpu")
        result["by_processes"][str(n_jobs)] = {"seconds": seconds, "rows_per_s": rows / seconds,
                                               "rows_per_s_per_process": rows / seconds / n_jobs}
    rates = [result["by_processes"][str(n)]["rows_per_s"] for n in processes]
    result["scaling"] = rates[-1] / rates[0]
    return result


def print_grid_training(result: dict) -> None:
    print(f"grid training: K={result['K']}, cells {result['cells']}, {result['rows_per_cell']:.0f} "
          f"rows x {result['dims']} dims per cell, C={result['C']:g}, liblinear {result['solver']}")
    for n_jobs, facts in result["by_processes"].items():
        print(f"  {n_jobs} process(es): {facts['seconds']:6.1f} s, {facts['rows_per_s']:8.0f} rows/s")
    print(f"  scaling to {max(result['by_processes'], key=int)} processes = {result['scaling']:.2f}x")
