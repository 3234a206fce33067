"""Semantic segmentation: mean IU from a confusion matrix, and pasting instances.

Label maps are integer arrays ``(H, W)``: 0 background, 1..K-1 the classes
(VOC's 1-based indices), ``VOID_LABEL`` (255) pixels counted nowhere.

Convention: the VOC devkit's ``VOCevalseg.m`` (``VOCcode/VOCevalseg.m``; read
in the copy of quantombone/exemplarsvm). One confusion matrix summed over all
images, rows the ground truth and columns the prediction, pixels whose ground
truth is 255 left out; the IU of class j is ``C[j, j] / (row j + column j -
C[j, j])``, ``TP / (TP + FP + FN)``; the mean is over all K labels, the
background included (21 on VOC). A class absent from both ground truth and
prediction has a zero union: the devkit divides 0 by 0 and its mean is NaN,
so it defines no number for an image set that lacks a class. Here that class
is left out of the mean (the mean over the labels with a non-zero union, as
mmsegmentation's and torchmetrics' ``nanmean``): wherever the devkit's mean is
defined (every label occurs, as on VOC val) this is exactly the devkit's
number; a class predicted where the ground truth has none counts 0.
"""
from __future__ import annotations

import numpy as np

from hypercolumns.eval.masks import as_mask_stack

VOID_LABEL = 255


def confusion_matrix(gt_labels: np.ndarray, predicted_labels: np.ndarray, n_classes: int, *,
                     void_label: int = VOID_LABEL) -> np.ndarray:
    """Pixel counts of (ground truth, prediction) label pairs, void ignored.

    Parameters
    ----------
    gt_labels : ndarray of shape (H, W), int
        Values in ``[0, n_classes)`` or ``void_label``.
    predicted_labels : ndarray of shape (H, W), int
        Values in ``[0, n_classes)``; pixels void in the ground truth are not read.
    n_classes : int
        Including the background.
    void_label : int

    Returns
    -------
    confusion : ndarray of shape (n_classes, n_classes), int64
        ``confusion[g, p]`` pixels of class g predicted as p. Sum over images
        to accumulate a data set.
    """
    gt_labels = np.asarray(gt_labels)
    predicted_labels = np.asarray(predicted_labels)
    if gt_labels.shape != predicted_labels.shape:
        raise ValueError(f"ground truth {gt_labels.shape} and prediction {predicted_labels.shape} differ in shape")
    counted = gt_labels != void_label
    gt_flat = gt_labels[counted].astype(np.int64)
    predicted_flat = predicted_labels[counted].astype(np.int64)
    _check_labels(gt_flat, n_classes, "ground truth")
    _check_labels(predicted_flat, n_classes, "prediction")
    pairs = np.bincount(gt_flat * n_classes + predicted_flat, minlength=n_classes * n_classes)
    return pairs.reshape(n_classes, n_classes)


def _check_labels(labels: np.ndarray, n_classes: int, what: str) -> None:
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        raise ValueError(
            f"{what} has label {int(labels[bad][0])} outside [0, {n_classes}) "
            f"(void pixels must be {VOID_LABEL} in the ground truth)"
        )


def iu_per_class(confusion: np.ndarray) -> np.ndarray:
    """Intersection over union of each class.

    Parameters
    ----------
    confusion : ndarray of shape (K, K), int

    Returns
    -------
    iu : ndarray of shape (K,), float64
        In [0, 1]; NaN for a class absent from both ground truth and
        prediction (zero union: the devkit's 0 / 0).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"a confusion matrix is square (K, K), got shape {confusion.shape}")
    intersection = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    iu = np.full(len(confusion), np.nan)
    np.divide(intersection, union, out=iu, where=union > 0)
    return iu


def mean_iu(confusion: np.ndarray) -> float:
    """Mean IU over the labels present in ground truth or prediction (the devkit's
    ``avacc = mean(accuracies)`` wherever that is defined; see the module's docstring).

    Parameters
    ----------
    confusion : ndarray of shape (K, K)

    Returns
    -------
    mean_iu : float
        In [0, 1]; NaN when no pixel is counted at all.
    """
    iu = iu_per_class(confusion)
    present = ~np.isnan(iu)
    return float(iu[present].mean()) if present.any() else float("nan")


def paste_instances(height: int, width: int, masks, categories, scores, threshold: float) -> np.ndarray:
    """A class map from scored instances: higher scores are painted last and win.

    Parameters
    ----------
    height, width : int
    masks : ndarray of shape (N, H, W), bool, or sequence of (H, W) masks or RLE dicts
    categories : sequence of N int
        Class labels in ``[1, 254]``.
    scores : sequence of N float
    threshold : float
        Instances scoring strictly above it are pasted; ties in score paint in
        input order (the later one wins).

    Returns
    -------
    labels : ndarray of shape (H, W), uint8
        0 where no instance was pasted.
    """
    stack = as_mask_stack(masks, height, width)
    categories = np.asarray(categories, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(stack) == len(categories) == len(scores):
        raise ValueError(f"got {len(stack)} masks, {len(categories)} categories and {len(scores)} scores")
    if np.any((categories < 1) | (categories >= VOID_LABEL)):
        raise ValueError(f"categories must be labels in [1, {VOID_LABEL - 1}], got {categories.tolist()}")
    labels = np.zeros((height, width), dtype=np.uint8)
    for index in np.argsort(scores, kind="stable"):
        if scores[index] > threshold:
            labels[stack[index]] = categories[index]
    return labels
