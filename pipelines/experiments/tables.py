"""Results tables of the experiments: printed, and written as Markdown, CSV and JSON."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hypercolumns.data.files import nan_to_null, write_json_atomic


def write_table(rows: list, columns: list, path_stem: Path, title: str) -> tuple[Path, Path]:
    """Write rows (dicts) as Markdown and CSV; returns both paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    md = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    md_path, csv_path = path_stem.with_suffix(".md"), path_stem.with_suffix(".csv")
    md_path.write_text("\n".join(md) + "\n")
    csv_path.write_text("\n".join([",".join(columns)] +
                                  [",".join(_fmt(row.get(c)) for c in columns) for row in rows]) + "\n")
    return md_path, csv_path


def print_table(rows: list, columns: list) -> None:
    widths = [max([len(c)] + [len(_fmt(r.get(c))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.1f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3g}"
    return str(value)


def dump(data, path) -> Path:
    """A report's JSON: numpy scalars as floats, an absent figure (NaN) as ``null``."""
    return write_json_atomic(nan_to_null(data), path, default=float)


def interval_text(interval) -> str:
    low, high = interval
    return f"[{low:.1f}, {high:.1f}]"


def difference_columns(per_seed: dict, reference: dict, reference_name: str, replicates: int = 1000,
                       bootstrap: dict | None = None) -> dict:
    """``diff@t vs <reference_name>`` for t = 0.5, 0.7: a row's AP^r minus the reference row's, with the
    paired 95 % bootstrap interval over images, as text (``+1.2 [-3.4, 5.6]``).

    ``per_seed``, ``reference``: the rows' ``evaluate_coco`` summaries per seed; ``bootstrap``: their
    :func:`~hypercolumns.eval.bootstrap.paired_bootstrap_of_summaries` if the caller has it.
    """
    from hypercolumns.eval.bootstrap import paired_bootstrap_of_summaries

    bootstrap = bootstrap or paired_bootstrap_of_summaries(per_seed, reference, replicates=replicates)
    return {f"diff@{t} vs {reference_name}": f"{bootstrap[f'APr@{t}']['difference']:+.1f} "
            + interval_text(bootstrap[f"APr@{t}"]["interval"]) for t in ("0.5", "0.7")}


def interval_columns(per_seed: dict, reference: dict, reference_name: str, replicates: int = 1000) -> dict:
    """A row's ``APr@t`` and ``95% interval @t`` (its bootstrap interval over images) for t = 0.5, 0.7,
    and, unless ``per_seed`` is ``reference`` itself, its :func:`difference_columns` to it; one
    paired bootstrap gives both."""
    from hypercolumns.eval.bootstrap import paired_bootstrap_of_summaries

    bootstrap = paired_bootstrap_of_summaries(per_seed, reference, replicates=replicates)
    columns = {}
    for t in ("0.5", "0.7"):
        columns[f"APr@{t}"] = bootstrap[f"APr@{t}"]["a"]
        columns[f"95% interval @{t}"] = interval_text(bootstrap[f"APr@{t}"]["interval_a"])
    if per_seed is not reference:
        columns.update(difference_columns(per_seed, reference, reference_name, bootstrap=bootstrap))
    return columns
