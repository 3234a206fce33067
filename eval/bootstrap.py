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
reported.  Several runs of each system on the same images (oracle boxes
jittered with other seeds) are averaged inside every replicate, on the same
drawn images.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hypercolumns.eval.apr import accumulate, match_all
from hypercolumns.eval.coco import load_coco_ground_truth, load_coco_results


def mean_apr(image_matches: Sequence) -> np.ndarray:
    """AP^r per threshold (percent, mean over the classes with ground truth), shape (T,)."""
    accumulation = accumulate(image_matches)
    per_class = [c.average_precision for c in accumulation.classes.values() if c.n_gt > 0]
    if not per_class:
        return np.full(len(accumulation.thresholds), np.nan)
    return 100.0 * np.mean(per_class, axis=0)


def paired_image_bootstrap(ground_truth: Mapping, runs_a: Sequence, runs_b: Sequence, *,
                           thresholds=(0.5, 0.7), replicates: int = 1000, seed: int = 0,
                           level: float = 0.95, rule: str = "sds") -> dict:
    """AP^r of two systems on the same images, their difference, and its bootstrap interval.

    Parameters
    ----------
    ground_truth : mapping of image_id to ImageGroundTruth
    runs_a, runs_b : sequence of sequences of Detection
        Each system's detections of those images, one sequence per run (e.g.
        per oracle-box seed); a system's AP^r is the mean over its runs, and
        every replicate draws the same images for every run and both systems.
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
        ``interval_a`` and ``interval_b`` of each system's AP^r (the same draws),
        ``share_a_lower`` (replicates where A scored below B); plus
        ``images``, ``runs``, ``replicates``, ``level``.
    """
    if replicates < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"replicates {replicates} must be >= 1 and level {level} in (0, 1)")
    if not runs_a or len(runs_a) != len(runs_b):
        raise ValueError(f"both systems need the same number of runs, got {len(runs_a)} and {len(runs_b)}")
    thresholds = np.asarray(thresholds, np.float64)

    def matched(runs):
        return [list(match_all(ground_truth, run, thresholds=thresholds, rule=rule)) for run in runs]

    def apr(matches, draw):
        return np.mean([mean_apr([run[i] for i in draw]) for run in matches], axis=0)

    matches_a, matches_b = matched(runs_a), matched(runs_b)
    everything = np.arange(len(ground_truth))
    observed_a, observed_b = apr(matches_a, everything), apr(matches_b, everything)
    rng = np.random.default_rng(seed)
    drawn_a, drawn_b = np.empty((replicates, len(thresholds))), np.empty((replicates, len(thresholds)))
    for r in range(replicates):
        draw = rng.integers(0, len(everything), len(everything))
        drawn_a[r], drawn_b[r] = apr(matches_a, draw), apr(matches_b, draw)
    differences = drawn_a - drawn_b
    tail = 100.0 * (1.0 - level) / 2.0

    def interval(values):
        return [float(v) for v in np.nanpercentile(values, [tail, 100.0 - tail])]

    report = {"images": len(everything), "runs": len(runs_a), "replicates": replicates,
              "level": level}
    for t, threshold in enumerate(thresholds):
        report[f"APr@{threshold:g}"] = {
            "a": float(observed_a[t]), "b": float(observed_b[t]),
            "difference": float(observed_a[t] - observed_b[t]),
            "interval": interval(differences[:, t]),
            "interval_a": interval(drawn_a[:, t]), "interval_b": interval(drawn_b[:, t]),
            "share_a_lower": float(np.mean(differences[:, t] < 0)),
        }
    return report


def mean_interval_over_images(values, image_ids, *, replicates: int = 1000, seed: int = 0,
                              level: float = 0.95) -> list:
    """Percentile bootstrap interval ``[low, high]`` of the mean of per-instance ``values``,
    drawing images (with all their instances) with replacement, as the benchmark samples them.
    """
    values, image_ids = np.asarray(values, np.float64), np.asarray(image_ids)
    if values.shape != image_ids.shape or values.size == 0:
        raise ValueError(f"need one image id per value, got {values.shape} and {image_ids.shape}")
    images, members = np.unique(image_ids, return_inverse=True)
    sums = np.bincount(members, weights=values, minlength=len(images))
    counts = np.bincount(members, minlength=len(images))
    draws = np.random.default_rng(seed).integers(0, len(images), (replicates, len(images)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    return [float(v) for v in np.percentile(means, [tail, 100.0 - tail])]


def paired_bootstrap_of_files(annotations_path, results_a: Sequence, results_b: Sequence,
                              **options) -> dict:
    """:func:`paired_image_bootstrap` of COCO results files (one per run) against a COCO instances file."""
    ground_truth, categories = load_coco_ground_truth(annotations_path)

    def runs(paths):
        return [load_coco_results(path, ground_truth, categories) for path in paths]

    return paired_image_bootstrap(ground_truth, runs(results_a), runs(results_b), **options)


def paired_bootstrap_of_summaries(per_seed_a: Mapping, per_seed_b: Mapping, **options) -> dict:
    """:func:`paired_bootstrap_of_files` of two systems' ``evaluate_coco`` summaries, one per seed
    (the results files they name are the runs, the seeds of ``per_seed_a`` in order)."""
    seeds = list(per_seed_a)
    return paired_bootstrap_of_files(per_seed_a[seeds[0]]["annotations"],
                                     [per_seed_a[seed]["results"] for seed in seeds],
                                     [per_seed_b[seed]["results"] for seed in seeds], **options)
