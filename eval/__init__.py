"""Evaluation: AP^r (the SDS benchmark), mean IU, permutation tests. No torch here.

Modules: :mod:`~hypercolumns.eval.masks` (mask IoU; the RLE codec is
:mod:`hypercolumns.data.masks`),
:mod:`~hypercolumns.eval.instances` (what AP^r takes),
:mod:`~hypercolumns.eval.assignment` (the sds and mnc matching rules),
:mod:`~hypercolumns.eval.average_precision` (AP from ranked flags),
:mod:`~hypercolumns.eval.apr` (match / accumulate / summarize),
:mod:`~hypercolumns.eval.mean_iu` (semantic segmentation),
:mod:`~hypercolumns.eval.permutation` (paired sign-flip tests),
:mod:`~hypercolumns.eval.coco` (COCO files in),
:mod:`~hypercolumns.eval.evaluate` (the ``hypercolumns evaluate`` command).
"""
from hypercolumns.eval.apr import (
    APR_THRESHOLDS,
    RULES,
    Accumulation,
    ClassAccumulation,
    ClassMatch,
    ImageMatch,
    accumulate,
    evaluate_apr,
    match_all,
    match_image,
    mean_iou_given_box,
    per_instance_best_iou,
    summarize,
)
from hypercolumns.eval.assignment import assign_detections
from hypercolumns.eval.average_precision import average_precision, precision_recall
from hypercolumns.eval.coco import load_coco_ground_truth, load_coco_results
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.eval.instances import Detection, ImageGroundTruth
from hypercolumns.eval.masks import mask_iou, mask_shape, paired_mask_iou, rle_iou
from hypercolumns.eval.mean_iu import VOID_LABEL, confusion_matrix, iu_per_class, mean_iu, paste_instances
from hypercolumns.eval.permutation import paired_permutation_test, per_class_apr_permutation_test

from hypercolumns.eval.apk import (
    KEYPOINT_LABELS, KeypointPrediction, PersonKeypoints, evaluate_apk, person_keypoints, torso_height,
)
from hypercolumns.eval.apr_part import (
    ImagePartGroundTruth, PartDetection, PartInstance, evaluate_apr_part, part_overlap,
)

__all__ = [
    # apr
    "APR_THRESHOLDS", "RULES", "Accumulation", "ClassAccumulation", "ClassMatch", "ImageMatch",
    "accumulate", "evaluate_apr", "match_all", "match_image", "mean_iou_given_box",
    "per_instance_best_iou", "summarize",
    # assignment, average_precision, instances, coco, evaluate
    "assign_detections", "average_precision", "precision_recall", "Detection", "ImageGroundTruth",
    "load_coco_ground_truth", "load_coco_results", "evaluate_coco",
    # masks
    "mask_iou", "mask_shape", "paired_mask_iou", "rle_iou",
    # mean_iu, permutation
    "VOID_LABEL", "confusion_matrix", "iu_per_class", "mean_iu", "paste_instances",
    "paired_permutation_test", "per_class_apr_permutation_test",
    # apk, apr_part
    "KEYPOINT_LABELS", "KeypointPrediction", "PersonKeypoints", "evaluate_apk", "person_keypoints",
    "torso_height",
    "ImagePartGroundTruth", "PartDetection", "PartInstance", "evaluate_apr_part", "part_overlap",
]
