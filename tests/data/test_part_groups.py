"""Top-level parts from PASCAL-Part's fine parts: the table, and real person and cat masks."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.data.part_groups import (
    PART_GROUPS,
    PART_TABLE,
    group_of,
    group_part_masks,
    part_label_map,
)
from hypercolumns.data.pascal_part import load_pascal_part, read_pascal_part_record
from hypercolumns.data.records import Instance


@pytest.fixture(scope="module")
def person(data_root):
    """2008_000652: a child, 18 fine parts, and poselets keypoints from a separate annotation."""
    return read_pascal_part_record(data_root / "pascal-part", "2008_000652").instances[0]


@pytest.fixture(scope="module")
def cat(data_root):
    """2010_005275: a cat with head, ears, eyes, nose, neck, four legs and paws, and a tail."""
    return read_pascal_part_record(data_root / "pascal-part", "2010_005275").instances[0]


def test_groups_are_table_4s():
    assert PART_GROUPS["person"] == ("head", "torso", "arms", "legs")
    for category in ("horse", "cow", "sheep", "cat", "dog"):
        assert PART_GROUPS[category] == ("head", "torso", "legs", "tail")
    assert PART_GROUPS["bird"] == ("head", "torso", "legs", "wings", "tail")
    for category, groups in PART_TABLE.items():
        fines = [fine for names in groups.values() for fine in names]
        assert len(fines) == len(set(fines)), category  # each fine part in one group


def test_documented_vocabulary():
    assert len([f for g in PART_TABLE["person"].values() for f in g]) == 24
    assert len([f for g in PART_TABLE["cow"].values() for f in g]) == 19
    assert len([f for g in PART_TABLE["horse"].values() for f in g]) == 21
    assert len([f for g in PART_TABLE["dog"].values() for f in g]) == 18
    assert len([f for g in PART_TABLE["bird"].values() for f in g]) == 13
    assert group_of("person", "hair") == "head" and group_of("person", "neck") == "torso"
    assert group_of("person", "lhand") == "arms" and group_of("person", "rfoot") == "legs"
    assert group_of("horse", "lbho") == "legs" and group_of("cow", "rhorn") == "head"
    assert group_of("bird", "beak") == "head" and group_of("bird", "rwing") == "wings"


def test_every_shared_fine_part_has_a_group(data_root):
    seen = set()
    for record in load_pascal_part(data_root / "pascal-part"):
        for instance in record.instances:
            if instance.category in PART_TABLE:
                for fine in instance.parts:
                    seen.add((instance.category, fine, group_of(instance.category, fine)))
    assert len(seen) == 81
    assert ("horse", "lfho", "legs") in seen and ("dog", "lbpa", "legs") in seen


def test_unknown_parts_and_classes_are_errors():
    with pytest.raises(InputError, match=r"x.mat: unknown part 'wing' for class 'person'"):
        group_of("person", "wing", "x.mat")
    with pytest.raises(ValueError, match=r"class 'car' has no top-level parts"):
        group_of("car", "wheel_1")
    instance = Instance(np.ones((2, 3), bool), "cat", parts={"lhorn": np.ones((2, 3), bool)})
    with pytest.raises(InputError, match=r"unknown part 'lhorn' for class 'cat'"):
        part_label_map(instance)
    with pytest.raises(ValueError, match="fill must be"):
        part_label_map(instance, fill="mode")


def test_person_groups(person):
    masks = group_part_masks(person)
    assert list(masks) == ["head", "torso", "arms", "legs"]
    for fine in ("head", "leye", "reye", "lear", "rear", "mouth", "nose"):
        assert not (person.parts[fine] & ~masks["head"]).any()
    assert not (person.parts["neck"] & ~masks["torso"]).any()
    assert not ((person.parts["lhand"] | person.parts["ruarm"]) & ~masks["arms"]).any()
    assert not ((person.parts["lfoot"] | person.parts["ruleg"]) & ~masks["legs"]).any()
    for fine_mask in person.parts.values():  # every part pixel lies in the object
        assert not (fine_mask & ~person.mask).any()
    assert [int(m.sum()) for m in masks.values()] == [6414, 7933, 7736, 5075]


def test_person_label_map_against_its_poselets_keypoints(person):
    labels = part_label_map(person)
    assert labels.dtype == np.int8 and labels.shape == person.mask.shape
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}
    assert not labels[~person.mask].any()
    assert (labels[person.parts["leye"]] == 1).all()
    # The keypoints are a separate annotation of the same child: each falls in its part.
    expected = {"L_Eye": 1, "R_Eye": 1, "Nose": 1, "L_Ear": 1, "R_Ear": 1, "L_Elbow": 3,
                "R_Elbow": 3, "L_Wrist": 3, "R_Wrist": 3, "L_Hip": 4, "R_Hip": 4}
    for name, label in expected.items():
        x, y, visible = person.keypoints[name]
        assert visible and labels[int(y), int(x)] == label, name
    # 1.9 % of the child is in no part: 0 by default, its nearest part with fill.
    assert (person.mask & (labels == 0)).sum() == 457
    filled = part_label_map(person, fill="nearest")
    assert (filled[person.mask] > 0).all() and not filled[~person.mask].any()
    np.testing.assert_array_equal(filled[labels > 0], labels[labels > 0])


def test_cat_label_map(cat):
    labels = part_label_map(cat)
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}  # head, torso, legs, tail
    for fine, label in (("lear", 1), ("leye", 1), ("nose", 1), ("neck", 2), ("rfleg", 3),
                        ("rfpa", 3), ("tail", 4)):
        assert (labels[cat.parts[fine]] == label).all(), fine
    masks = group_part_masks(cat)
    assert not (cat.parts["leye"] & ~masks["head"]).any()
    # The neck is drawn over 1,779 head pixels: those are torso (the later part wins).
    assert (cat.parts["head"] & (labels == 2)).sum() == 1779
    for mask in masks.values():
        assert not (mask & ~cat.mask).any()


def test_overlap_order_and_nearest_fill_by_hand():
    mask = np.zeros((2, 7), bool)
    mask[0] = True
    head = np.zeros_like(mask)
    head[0, :2] = True
    torso = np.zeros_like(mask)
    torso[0, 1] = True  # over the head at column 1
    arm = np.zeros_like(mask)
    arm[0, 6] = arm[1, 6] = True  # (1, 6) is outside the object: dropped
    person = Instance(mask, "person", parts={"head": head, "torso": torso, "rhand": arm})
    np.testing.assert_array_equal(part_label_map(person)[0], [1, 2, 0, 0, 0, 0, 3])
    # Columns 2-3 are nearer column 1 (torso), 4-5 nearer column 6 (arms).
    np.testing.assert_array_equal(part_label_map(person, fill="nearest")[0], [1, 2, 2, 2, 3, 3, 3])
    assert not part_label_map(person).any(axis=1)[1]
    masks = group_part_masks(person)
    assert masks["head"][0, 1] and masks["torso"][0, 1] and not masks["arms"][1, 6]
    assert not masks["legs"].any()


def test_object_without_parts():
    bird = Instance(np.ones((3, 3), bool), "bird")
    assert not part_label_map(bird, fill="nearest").any()
    assert all(not m.any() for m in group_part_masks(bird).values())
