"""Semantic segmentation by pasting: ground-truth maps, pasting order, mean IU by hand."""
import numpy as np
import pytest

from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.pipelines.system2.semantic import (VOC_LABEL, ground_truth_labels, predicted_labels,
                                             semantic_mean_iu)


def test_ground_truth_map_from_instances_with_void_and_a_non_voc_class(tmp_path):
    cat = np.zeros((4, 6), bool)
    cat[:, :2] = True
    cup = np.zeros((4, 6), bool)
    cup[0, 4:] = True
    void = np.zeros((4, 6), bool)
    void[3, 3] = True
    record = ImageRecord("x", tmp_path / "x.jpg", 4, 6,
                         [Instance(cat, "cat"), Instance(cup, "cup")], void)
    labels = ground_truth_labels(record)
    assert (labels[:, :2] == VOC_LABEL["cat"]).all()
    assert (labels[0, 4:] == 255).all()          # a COCO-only class is void
    assert labels[3, 3] == 255 and labels[1, 3] == 0


def test_higher_scores_win_and_mean_iu_is_computed_by_hand():
    a = np.zeros((2, 4), bool)
    a[:, :3] = True                               # "cat", score 0.9
    b = np.zeros((2, 4), bool)
    b[:, 2:] = True                               # "dog", score 0.5: loses column 2
    predicted = predicted_labels(2, 4, [a, b], ["cat", "dog"], [0.9, 0.5])
    assert predicted.tolist() == [[8, 8, 8, 12]] * 2
    gt = np.array([[8, 8, 12, 12], [0, 8, 12, 12]], np.uint8)
    result = semantic_mean_iu([(gt, predicted)])
    # background: TP 0, FN 1 (gt 0 predicted 8) -> IU 0
    # cat (8): TP 3, FP 3 (gt 12 at col 2 twice + gt 0 once), FN 0 -> 3 / 6 = 0.5
    # dog (12): TP 2, FN 2 (col 2 predicted 8), FP 0 -> 2 / 4 = 0.5
    assert result["per_class"]["background"] == pytest.approx(0.0)
    assert result["per_class"]["cat"] == pytest.approx(50.0)
    assert result["per_class"]["dog"] == pytest.approx(50.0)
    assert result["mean_iu"] == pytest.approx((0 + 50 + 50) / 3)
