"""Keypoint and part targets built from a real PASCAL-Part mask and a real poselets file.

The image is 2008_000652 (a baby crawling towards the camera): its poselets file
puts the nose at (152.38, 65.89) and the left wrist at (201.89, 178.29)
(0-based, continuous frame); the person's box is x 0..238, y 5..212.
"""
import numpy as np
import pytest

from hypercolumns.data.keypoint_names import apply_to_records
from hypercolumns.data.part_groups import group_part_masks
from hypercolumns.data.pascal_part import read_pascal_part_record
from hypercolumns.extract.box_expansion import expand_boxes
from hypercolumns.extract.targets import IGNORE, keypoint_target, part_targets


@pytest.fixture(scope="module")
def baby(data_root):
    record = read_pascal_part_record(data_root / "pascal-part", "2008_000652")
    apply_to_records([record], "poselets")
    (person,) = record.instances
    return record, person, expand_boxes(person.box[None])[0]


def cell_of(point, box):
    x0, y0, x1, y1 = box
    return (int((point[1] - y0) / (y1 - y0) * 50), int((point[0] - x0) / (x1 - x0) * 50))


def test_the_nose_target_is_positive_at_the_nose_and_ignored_around_it(baby):
    _, person, box = baby
    np.testing.assert_allclose(person.box, [0, 5, 238, 212])
    nose = person.keypoints["nose"]
    assert nose[:2] == pytest.approx((152.38, 65.89))
    target = keypoint_target(nose, box)
    # expanded box: x -20.3..258.3, y -11.9..228.9 -> the nose is in row 16, column 31
    assert cell_of(nose, box) == (16, 31)
    assert target[16, 31] == 1 and (target == 1).sum() == 1
    # 0.1 x diagonal (368 px) = 36.8 px: ~6.6 cells across, ~7.6 cells down are ignored
    assert target[16, 31 + 6] == IGNORE and target[16, 31 + 8] == 0
    assert target[16 - 7, 31] == IGNORE and target[16 - 9, 31] == 0
    # the left wrist (lower right, the baby's left hand) is far: negative there
    wrist_cell = cell_of(person.keypoints["left_wrist"], box)
    assert wrist_cell == (39, 39) and target[wrist_cell] == 0


def test_part_targets_put_the_nose_on_the_head_and_the_wrist_on_an_arm(baby):
    record, person, box = baby
    groups = group_part_masks(person)
    assert list(groups) == ["head", "torso", "arms", "legs"]
    targets = part_targets(groups, box, record.void)
    nose_cell = cell_of(person.keypoints["nose"], box)
    wrist_cell = cell_of(person.keypoints["left_wrist"], box)
    assert targets["head"][nose_cell] == 1 and targets["torso"][nose_cell] == 0
    assert targets["arms"][wrist_cell] == 1 and targets["head"][wrist_cell] == 0
    # the head lies in the top half of the box, the legs in the bottom part
    head_rows = np.flatnonzero(targets["head"].any(axis=1))
    assert head_rows.max() < 25
    leg_rows = np.flatnonzero(targets["legs"].any(axis=1))
    assert leg_rows.size and leg_rows.min() > head_rows.max()
    # no part cell outside the person's own figure-ground
    from hypercolumns.extract.targets import figure_ground_target
    figure = figure_ground_target(person.mask, box)
    for name, target in targets.items():
        assert not ((target == 1) & (figure == 0)).any(), name
