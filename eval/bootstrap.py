"""Paired bootstrap over images of the difference in AP^r between two systems.

AP^r is a mean over classes of a ranking measure, so it does not split into
per-item scores that a sign-flip test (:mod:`permutation`) could flip.  The
bootstrap resamples what the benchmark samples: images.  Both systems'
detections of an image are matched once (:func:`apr.match_image`; a
detection's fate depends only on the higher-scored detections of its own
image), and every replicate draws images with replacement, the same draw for
both systems, and recomputes each system's AP^r from the drawn images'
matches (:func:`apr.accumulate`): mean over the classes with ground truth
in the draw, as the benchmark's mean over classes with ground truth.

The spread of ``A - B`` over replicates says how far the measured difference
could move on another draw of images like these; its percentile interval is
reported.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hypercolumns.eval.apr import accumulate, match_all


def mean_apr(image_matches: Sequence) -> np.ndarray:
    """AP^r per threshold (percent, mean over the classes with ground truth), shape (T,)."""
    accumulation = accumulate(image_matches)
    per_class = [c.average_precision for c in accumulation.classes.values() if c.n_gt > 0]
    if not per_class:
        return np.full(len(accumulation.thresholds), np.nan)
    return 100.0 * np.mean(per_class, axis=0)


def paired_image_bootstrap(ground_truth: Mapping, detections_a: Sequence, detections_b: Sequence, *,
                           thresholds=(0.5, 0.7), replicates: int = 1000, seed: int = 0,
                           level: float = 0.95, rule: str = "sds") -> dict:
    """AP^r of two systems on the same images, their difference, and its bootstrap interval.

    Parameters
    ----------
    ground_truth : mapping of image_id to ImageGroundTruth
    detections_a, detections_b : sequence of Detection
        The two systems' detections of those images.
    thresholds : sequence of float
        IoU thresholds.
    replicates : int
        Bootstrap draws of ``len(ground_truth)`` images with replacement.
    seed : int
    level : float
        Coverage of the percentile interval.

    Returns
    -------
    dict
        Per threshold ``t`` (key ``"APr@t"``): ``a``, ``b``, ``difference``
        (a - b, percent points), ``interval`` [low, high] of the difference,
        ``share_a_lower`` (replicates where A scored below B); plus
        ``images``, ``replicates``, ``level``.
    """
    if replicates < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"replicates {replicates} must be >= 1 and level {level} in (0, 1)")
    thresholds = np.asarray(thresholds, np.float64)
    matches_a = list(match_all(ground_truth, detections_a, thresholds=thresholds, rule=rule))
    matches_b = list(match_all(ground_truth, detections_b, thresholds=thresholds, rule=rule))
    observed_a, observed_b = mean_apr(matches_a), mean_apr(matches_b)
    rng = np.random.default_rng(seed)
    differences = np.empty((replicates, len(thresholds)))
    for r in range(replicates):
        draw = rng.integers(0, len(matches_a), len(matches_a))
        differences[r] = (mean_apr([matches_a[i] for i in draw]) -
                          mean_apr([matches_b[i] for i in draw]))
    tail = 100.0 * (1.0 - level) / 2.0
    report = {"images": len(matches_a), "replicates": replicates, "level": level}
    for t, threshold in enumerate(thresholds):
        low, high = np.nanpercentile(differences[:, t], [tail, 100.0 - tail])
        report[f"APr@{threshold:g}"] = {
            "a": float(observed_a[t]), "b": float(observed_b[t]),
            "difference": float(observed_a[t] - observed_b[t]),
            "interval": [float(low), float(high)],
            "share_a_lower": float(np.mean(differences[:, t] < 0)),
        }
    return report
