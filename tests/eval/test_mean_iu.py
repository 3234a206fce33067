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
    assert math.isnan(mean_iu(np.zeros((3, 3), int)))


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
