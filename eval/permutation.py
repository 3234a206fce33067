"""Paired permutation (sign-flip) tests between two systems.

Each item (a class, an image or a ground-truth instance: whatever unit the
scores were computed per) has a score under system A and under system B. Under
the null hypothesis that the systems are exchangeable, the sign of each item's
difference ``a_i - b_i`` is a fair coin; the two-sided p-value is the share of
sign assignments whose mean difference is at least as far from zero as the
observed one. The permuted unit is the item: what is flipped is the whole
difference of one item.

The paper's ablations (Table 1) test per-class AP^r differences: use
:func:`per_class_apr_permutation_test` on two summaries. For per-instance best
IoU, pair :func:`hypercolumns.eval.apr.per_instance_best_iou` of two
accumulations made on the same ground truth.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# 2**16 sign vectors of 16 items is a 1M-entry matrix: cheap to enumerate.
MAX_EXACT_ITEMS = 16
_ROWS_PER_CHUNK = 4096


def paired_permutation_test(scores_a, scores_b, *, n_permutations: int = 10000, seed: int = 0,
                            max_exact_items: int = MAX_EXACT_ITEMS) -> tuple[float, float]:
    """Two-sided paired sign-flip test of the mean difference.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_items,), float
        Item i's score under systems A and B.
    n_permutations : int
        Random sign assignments, when there are more than ``max_exact_items``
        items.
    seed : int
        Seed of the random sign assignments.
    max_exact_items : int
        Up to this many items, all ``2**n_items`` assignments are enumerated
        and the p-value is exact.

    Returns
    -------
    mean_difference : float
        ``mean(scores_a - scores_b)``.
    p_value : float
        Exact: the share of all assignments with ``|mean| >= |observed|`` (the
        identity and its negation always count, so p >= 2 / 2**n). Random:
        ``(1 + hits) / (1 + n_permutations)``, which counts the observed one.
    """
    differences = _paired_differences(scores_a, scores_b)
    observed = float(differences.mean())
    if len(differences) <= max_exact_items:
        hits, total = _count_extreme(_all_signs(len(differences)), differences, observed), 2 ** len(differences)
        return observed, hits / total
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_permutations, _ROWS_PER_CHUNK):
        rows = min(_ROWS_PER_CHUNK, n_permutations - start)
        signs = rng.integers(0, 2, size=(rows, len(differences)), dtype=np.int8) * 2 - 1
        hits += _count_extreme(signs, differences, observed)
    return observed, (1 + hits) / (1 + n_permutations)


def _paired_differences(scores_a, scores_b) -> np.ndarray:
    scores_a = np.asarray(scores_a, dtype=np.float64).reshape(-1)
    scores_b = np.asarray(scores_b, dtype=np.float64).reshape(-1)
    if scores_a.shape != scores_b.shape or scores_a.size == 0:
        raise ValueError(f"need as many scores for A as for B, at least one: got {scores_a.size} and {scores_b.size}")
    if not np.all(np.isfinite(scores_a) & np.isfinite(scores_b)):
        raise ValueError("scores must be finite numbers (drop items without a score, e.g. NaN APs)")
    return scores_a - scores_b


def _all_signs(n_items: int) -> np.ndarray:
    codes = np.arange(2 ** n_items)[:, None] >> np.arange(n_items)[None, :]
    return (codes & 1).astype(np.int8) * 2 - 1


def _count_extreme(signs: np.ndarray, differences: np.ndarray, observed: float) -> int:
    permuted = np.abs(signs @ differences) / len(differences)
    # a relative tolerance so that a permutation equal to the observed one counts
    return int(np.sum(permuted >= abs(observed) * (1 - 1e-9) - 1e-12))


def per_class_apr_permutation_test(summary_a: Mapping, summary_b: Mapping, *, threshold: float = 0.5,
                                   n_permutations: int = 10000, seed: int = 0) -> dict:
    """Per-class AP^r differences of two result sets and their permutation test.

    Parameters
    ----------
    summary_a, summary_b : dict
        :func:`hypercolumns.eval.apr.summarize` results (or ``evaluate_coco``'s)
        on the same ground truth.
    threshold : float
        Which ``"APr@<t>"`` to compare.
    n_permutations, seed : int
        As in :func:`paired_permutation_test` (under 17 classes the test is exact).

    Returns
    -------
    result : dict
        ``"mean_difference"`` (AP^r points, A - B), ``"p_value"``,
        ``"differences"`` ``{class: AP_a - AP_b}`` over the classes with ground
        truth, ``"threshold"``.
    """
    key = f"APr@{threshold:g}"
    classes_a = _classes_with_gt(summary_a, key, "summary_a")
    classes_b = _classes_with_gt(summary_b, key, "summary_b")
    if set(classes_a) != set(classes_b):
        raise ValueError(
            f"the summaries have ground truth for different classes ({sorted(map(str, classes_a))} vs "
            f"{sorted(map(str, classes_b))}); compare results on the same ground truth"
        )
    differences = {c: classes_a[c] - classes_b[c] for c in classes_a}
    mean_difference, p_value = paired_permutation_test(
        [classes_a[c] for c in classes_a], [classes_b[c] for c in classes_a],
        n_permutations=n_permutations, seed=seed,
    )
    return {"mean_difference": mean_difference, "p_value": p_value, "differences": differences,
            "threshold": threshold}


def _classes_with_gt(summary: Mapping, key: str, name: str) -> dict:
    per_class = summary.get("per_class") if isinstance(summary, Mapping) else None
    if per_class is None:
        raise TypeError(f"{name} must be a summary dict with 'per_class', got {type(summary).__name__}")
    values = {}
    for category, entry in per_class.items():
        if key not in entry:
            raise ValueError(f"{name}: class {category!r} has no {key!r}; evaluate at that threshold")
        if entry.get("n_gt", 0) > 0:
            values[category] = float(entry[key])
    return values
