"""Semantic segmentation by pasting instances (the paper's last line of Tables 1 and 2).

Scored instance masks are pasted into a class map in increasing score order
above a threshold (``eval.mean_iu.paste_instances``: the best-scoring region
wins a pixel), and mean IU is the VOC devkit's confusion-matrix IU over the 21
labels (background and the 20 classes), void ignored; a class absent from both
ground truth and prediction, where the devkit's mean is undefined, is left out
(``eval.mean_iu``).

Ground truth: a VOC ``SegmentationClass`` PNG where the data set has one
(read as the record's class map), else the record's instance masks pasted
in order with its void; instances whose class is not one of VOC's 20 are
void (they are neither background nor a class the benchmark scores).
"""
from __future__ import annotations

import numpy as np

from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.eval.mean_iu import VOID_LABEL, confusion_matrix, iu_per_class, mean_iu, paste_instances

N_LABELS = len(VOC_CLASSES) + 1
VOC_LABEL = {name: index + 1 for index, name in enumerate(VOC_CLASSES)}


def ground_truth_labels(record) -> np.ndarray:
    """The record's class map ``(H, W)`` uint8: 0 background, 1..20 VOC classes, 255 void."""
    labels = np.zeros((record.height, record.width), np.uint8)
    for instance in record.instances:
        labels[instance.mask] = VOC_LABEL.get(instance.category, VOID_LABEL)
    if record.void is not None:
        labels[record.void] = VOID_LABEL
    return labels


def predicted_labels(height: int, width: int, masks, categories, scores,
                     threshold: float = 0.0) -> np.ndarray:
    """Pasted class map of scored regions of VOC classes (others are skipped)."""
    keep = [i for i, c in enumerate(categories) if c in VOC_LABEL]
    if not keep:
        return np.zeros((height, width), np.uint8)
    return paste_instances(height, width, [masks[i] for i in keep],
                           [VOC_LABEL[categories[i]] for i in keep], [scores[i] for i in keep],
                           threshold)


def semantic_mean_iu(images: list) -> dict:
    """Mean IU over images given as ``(gt_labels, predicted_labels)`` pairs.

    Returns ``{"mean_iu": percent, "per_class": {name: percent or NaN}, "confusion": (21, 21)}``:
    a class absent from both ground truth and prediction is NaN in ``per_class`` and
    left out of the mean (``eval.mean_iu``).
    """
    confusion = np.zeros((N_LABELS, N_LABELS), np.int64)
    for gt, predicted in images:
        confusion += confusion_matrix(gt, predicted, N_LABELS)
    names = ("background",) + VOC_CLASSES
    return {"mean_iu": 100 * mean_iu(confusion),
            "per_class": {name: 100 * float(value) for name, value in zip(names, iu_per_class(confusion))},
            "confusion": confusion}
