"""Paired sign-flip tests: exact values on small cases, Monte Carlo against exact."""
import numpy as np
import pytest

from hypercolumns.eval.permutation import paired_permutation_test, per_class_apr_permutation_test


def test_identical_systems_give_p_one():
    scores = np.linspace(0.2, 0.8, 12)
    assert paired_permutation_test(scores, scores) == (0.0, 1.0)
    assert paired_permutation_test(np.arange(40.0), np.arange(40.0))[1] == 1.0


def test_consistent_difference_exact_value():
    # 12 items, every difference +3: only all-(+1) and all-(-1) flips reach |mean| = 3 -> p = 2 / 2**12
    rng = np.random.default_rng(0)
    b = rng.random(12)
    mean_difference, p_value = paired_permutation_test(b + 3.0, b)
    assert mean_difference == pytest.approx(3.0)
    assert p_value == 2 / 2**12


def test_exact_value_with_mixed_signs():
    # differences (3, 1, -1), observed sum 3. Sums of the flips (and their negations):
    # +++ 3, ++- 5, +-+ 1, +-- 3 -> |sum| >= 3 in 6 of 8
    assert paired_permutation_test([3, 1, -1], [0, 0, 0]) == (1.0, 6 / 8)
    # differences (4, 1, 1), observed sum 6: +++ 6, ++- 4, +-+ 4, +-- 2 -> 2 of 8
    assert paired_permutation_test([4, 1, 1], [0, 0, 0]) == (2.0, 2 / 8)


def test_monte_carlo_agrees_with_exact():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 1, 14), rng.normal(0, 1, 14)
    _, exact = paired_permutation_test(a, b)
    _, sampled = paired_permutation_test(a, b, max_exact_items=0, n_permutations=20000, seed=3)
    assert sampled == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20000) + 1e-4)
    # large n: the observed assignment counts, so p >= 1 / (n + 1)
    _, p_value = paired_permutation_test(np.ones(30), np.zeros(30), n_permutations=999)
    assert p_value == 1 / 1000


def test_input_errors():
    with pytest.raises(ValueError, match="as many"):
        paired_permutation_test([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        paired_permutation_test([1, np.nan], [1, 2])


def summary(per_class):
    return {"per_class": {c: {"n_gt": n, "APr@0.5": ap, "APr@0.7": ap / 2} for c, (n, ap) in per_class.items()}}


def test_per_class_helper():
    a = summary({"cat": (3, 60.0), "dog": (2, 50.0), "bird": (0, float("nan")), "cow": (1, 40.0)})
    b = summary({"cat": (3, 50.0), "dog": (2, 45.0), "bird": (0, float("nan")), "cow": (1, 30.0)})
    result = per_class_apr_permutation_test(a, b, threshold=0.5)
    # classes with ground truth: differences 10, 5, 10 -> mean 25/3; 3 items, all one sign -> p = 2/8
    assert result["differences"] == {"cat": 10.0, "dog": 5.0, "cow": 10.0}
    assert result["mean_difference"] == pytest.approx(25 / 3)
    assert result["p_value"] == 2 / 8
    assert per_class_apr_permutation_test(a, b, threshold=0.7)["mean_difference"] == pytest.approx(25 / 6)
    with pytest.raises(ValueError, match="different classes"):
        per_class_apr_permutation_test(a, summary({"cat": (3, 1.0)}))
    with pytest.raises(TypeError, match="per_class"):
        per_class_apr_permutation_test(a, [1, 2])
