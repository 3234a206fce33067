"""Mean IU from a hand-computed confusion matrix; pasting instances by score."""
import math

import numpy as np
import pytest

from hypercolumns.eval.mean_iu import confusion_matrix, iu_per_class, mean_iu, paste_instances


def test_confusion_and_mean_iu_by_hand():
    gt = np.array([[0, 0, 1, 1], [0, 255, 1, 2]])
    predicted = np.array([[0, 1, 1, 1], [0, 0, 2, 2]])
    confusion = confusion_matrix(gt, predicted, n_classes=4)
    # pairs (gt, pred), the void pixel skipped: (0,0) (0,1) (1,1) (1,1) (0,0) (1,2) (2,2)
    expected = np.array([[2, 1, 0, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(confusion, expected)
    # IU: class 0 2/(3+2-2), class 1 2/(3+3-2), class 2 1/(1+2-1), class 3 absent -> NaN
    iu = iu_per_class(confusion)
    np.testing.assert_allclose(iu[:3], [2 / 3, 1 / 2, 1 / 2])
    assert math.isnan(iu[3])
    # the mean over the 3 labels present; absent class 3 is left out (the devkit would give NaN)
    assert mean_iu(confusion) == pytest.approx((2 / 3 + 1 / 2 + 1 / 2) / 3)
    # accumulating images is summing their matrices
    assert mean_iu(confusion + confusion) == pytest.approx(mean_iu(confusion))


def test_class_only_predicted_counts_with_iu_zero():
    confusion = confusion_matrix(np.array([[0, 0]]), np.array([[0, 1]]), n_classes=3)
    np.testing.assert_allclose(iu_per_class(confusion)[:2], [0.5, 0.0])
    assert math.isnan(iu_per_class(confusion)[2])


def test_bad_labels_and_empty():
    with pytest.raises(ValueError, match="label 7 outside"):
        confusion_matrix(np.array([[0, 7]]), np.array([[0, 0]]), n_classes=3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 3), int), n_classes=3)
    assert math.isnan(mean_iu(np.zeros((3, 3), int)))  # no pixel counted: nothing to measure


def test_paste_higher_score_wins_and_threshold():
    low = np.array([[1, 1, 1, 0]], bool)
    high = np.array([[0, 1, 1, 1]], bool)
    below = np.array([[1, 1, 1, 1]], bool)
    labels = paste_instances(1, 4, [high, low, below], categories=[2, 5, 9], scores=[0.9, 0.4, 0.1], threshold=0.2)
    np.testing.assert_array_equal(labels, [[5, 2, 2, 2]])
    assert labels.dtype == np.uint8
    # a score equal to the threshold is not pasted; on a tie in score the later instance wins
    np.testing.assert_array_equal(paste_instances(1, 4, [low, high], [5, 2], [0.5, 0.5], 0.4), [[5, 2, 2, 2]])
    np.testing.assert_array_equal(paste_instances(1, 4, [low], [5], [0.4], 0.4), [[0, 0, 0, 0]])


def test_paste_checks_inputs():
    with pytest.raises(ValueError, match="categories"):
        paste_instances(1, 2, [np.ones((1, 2), bool)], [255], [1.0], 0.0)
    with pytest.raises(ValueError, match="2 categories"):
        paste_instances(1, 2, [np.ones((1, 2), bool)], [1, 2], [1.0], 0.0)


def test_voc_devkit_convention_on_a_hand_confusion_matrix():
    # VOCevalseg.m: rows ground truth, columns prediction; IU_j = TP / (row_j + col_j - TP);
    # avacc = mean over all labels.
    confusion = np.array([[5, 1, 0, 0],    # background: TP 5, row 6, column 7 -> 5 / 8
                          [2, 3, 0, 0],    # class 1:    TP 3, row 5, column 5 -> 3 / 7
                          [0, 1, 0, 0],    # class 2:    TP 0, row 1, column 0 -> 0 / 1 (missed)
                          [0, 0, 0, 0]])   # class 3:    absent from both -> 0 / 0
    iu = iu_per_class(confusion)
    np.testing.assert_array_equal(iu[:3], [5 / 8, 3 / 7, 0.0])
    assert math.isnan(iu[3])               # undefined, as the devkit's 0 / 0 (its mean: NaN)
    # class 3 left out: (0.625 + 0.428571... + 0) / 3 = 0.351190
    assert mean_iu(confusion) == pytest.approx((5 / 8 + 3 / 7 + 0) / 3, rel=1e-15)
    assert mean_iu(confusion) == pytest.approx(0.351190, abs=1e-6)
    # where every label occurs the devkit's mean over all K is defined, and it is ours
    everywhere = confusion[:3, :3]
    assert mean_iu(everywhere) == pytest.approx((5 / 8 + 3 / 7 + 0) / 3, rel=1e-15)


def test_a_class_predicted_on_absent_ground_truth_counts_zero():
    # 21 labels as VOC; one image of background and cat (8). Predicting a few pixels of cow (10)
    # on background brings cow into the mean with IU 0.
    gt = np.zeros((2, 5), np.uint8)
    gt[:, :2] = 8
    gt[1, 4] = 255                          # void: counted nowhere, whatever is predicted there
    abstaining = gt.copy()
    abstaining[1, 4] = 3
    spurious = abstaining.copy()
    spurious[0, 4] = 10
    # abstaining: background 5/5, cat 4/4, 19 others 0/0 (left out) -> (1 + 1) / 2
    assert mean_iu(confusion_matrix(gt, abstaining, 21)) == pytest.approx(1.0, rel=1e-15)
    # spurious: background 4 / (5 + 4 - 4) = 4/5, cat 1, cow 0 / 1 -> (0.8 + 1 + 0) / 3
    assert mean_iu(confusion_matrix(gt, spurious, 21)) == pytest.approx(1.8 / 3, rel=1e-15)
