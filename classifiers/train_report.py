"""What ``train-grid`` reports: the per-K line it prints and the summary it records."""
from __future__ import annotations

import numpy as np

from hypercolumns.classifiers.rows import RowIndex


def weighted_accuracy(grid: dict) -> float | None:
    """Training accuracy over a grid's fitted cells, weighted by their rows (None: no rows)."""
    fitted = ~np.isnan(grid["train_accuracy"])
    rows = grid["n_rows"][fitted]
    if rows.sum() == 0:
        return None
    return float(np.sum(grid["train_accuracy"][fitted] * rows) / rows.sum())


def split_summary(index: RowIndex) -> dict:
    """The held-out split: which images (sorted ids) and how many rows on each side."""
    images = np.unique(index.image_id.astype(str))
    heldout = np.unique(index.image_id[index.heldout].astype(str))
    return {"heldout_images": heldout.tolist(),
            "train_images": np.setdiff1d(images, heldout).tolist(),
            "heldout_rows": int(index.heldout.sum()), "train_rows": int((~index.heldout).sum())}


def report_line(K: int, facts: dict) -> str:
    """What ``train-grid`` prints for one K (``facts`` as in the summary's ``grids``)."""
    rows = facts["rows_per_cell"]
    heldout = facts["heldout_accuracy"]
    line = (f"K={K}: {facts['seconds']:.1f} s, rows per cell {rows['min']}/{rows['median']:g}/"
            f"{rows['max']} (min/median/max), C={facts['C']:g}, train accuracy "
            f"{_accuracy(facts['train_accuracy'])}, held-out accuracy "
            + (_accuracy(heldout) if heldout is not None else "n/a (single C)"))
    if facts["C_at_grid_edge"]:
        line += "\n  note: the chosen C is at an end of --C-grid; the best C may lie beyond it"
    for name, grid in facts["categories"].items():
        line += (f"\n  {name}: {grid['rows']} rows, train accuracy "
                 f"{_accuracy(grid['train_accuracy'])}, "
                 f"{grid['agnostic_cells']} cells from the agnostic grid")
    if facts["categories_without_grid"]:
        line += ("\n  agnostic grid only (too few rows): "
                 + ", ".join(f"{name} ({rows})" for name, rows
                             in facts["categories_without_grid"].items()))
    return line


def _accuracy(value) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.3f}"


