"""The paper's 13 keypoint columns: the table, the renaming, and left/right on the real files."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.coco import load_coco
from hypercolumns.data.errors import InputError
from hypercolumns.data.keypoint_names import (
    COCO_KEYPOINTS,
    KEYPOINT_TABLE,
    PAPER_KEYPOINT_LABELS,
    PAPER_KEYPOINTS,
    POSELETS_PERSON_KEYPOINTS,
    apply_to_records,
    to_paper_keypoints,
)
from hypercolumns.data.pascal_part import load_pascal_part
from hypercolumns.data.poselets import read_poselets_xml
from hypercolumns.data.records import ImageRecord, Instance


@pytest.fixture(scope="module")
def coco_records(data_root):
    folder = data_root / "coco-person-keypoints"
    return apply_to_records(load_coco(folder / "test_coco.json", folder), "coco")


@pytest.fixture(scope="module")
def poselets_records(data_root):
    return apply_to_records(load_pascal_part(data_root / "pascal-part"), "poselets")


def test_table_matches_table_3_columns():
    assert PAPER_KEYPOINT_LABELS == (
        "LS", "LE", "LW", "RS", "RE", "RW", "LH", "LK", "LA", "RH", "RK", "RA", "N"
    )
    assert PAPER_KEYPOINTS[:3] == ("left_shoulder", "left_elbow", "left_wrist")
    assert PAPER_KEYPOINTS[-1] == "nose"
    # Each source name appears once and belongs to that source's vocabulary.
    for column, vocabulary in ((2, COCO_KEYPOINTS), (3, POSELETS_PERSON_KEYPOINTS)):
        names = [row[column] for row in KEYPOINT_TABLE]
        assert len(set(names)) == 13 and set(names) <= set(vocabulary)


def test_coco_renaming_drops_eyes_and_ears():
    keypoints = {name: (float(i), 2.0 * i, i % 2) for i, name in enumerate(COCO_KEYPOINTS)}
    paper = to_paper_keypoints(keypoints, "coco")
    assert list(paper) == list(PAPER_KEYPOINTS)
    assert paper["nose"] == (0.0, 0.0, 0) and paper["right_ankle"] == (16.0, 32.0, 0)


def test_poselets_renaming_keeps_order_and_drops_the_rest():
    keypoints = {"R_Wrist": (5.0, 6.0, 0), "B_Head": (1.0, 1.0, 1), "L_Toes": (2.0, 2.0, 1),
                 "Nose": (3.0, 4.0, 1), "L_Shoulder": (7.0, 8.0, 1)}
    paper = to_paper_keypoints(keypoints, "poselets")
    assert list(paper) == ["left_shoulder", "right_wrist", "nose"]
    assert paper["right_wrist"] == (5.0, 6.0, 0)


def test_unknown_names_and_sources_are_errors():
    with pytest.raises(InputError, match=r"a.xml: unknown poselets keypoint names \['L_Sholder'"):
        to_paper_keypoints({"L_Sholder": (0, 0, 1), "Nose": (0, 0, 1)}, "poselets", "a.xml")
    with pytest.raises(InputError, match="unknown coco keypoint names"):
        to_paper_keypoints({"L_Shoulder": (0, 0, 1)}, "coco")
    with pytest.raises(ValueError, match="keypoint source must be one of"):
        to_paper_keypoints({}, "mpii")


def test_apply_to_records_names_the_image():
    instance = Instance(np.ones((2, 2), bool), "person", keypoints={"Neck": (0.0, 0.0, 1)})
    record = ImageRecord("2099_000001", "x.jpg", 2, 2, [instance])
    with pytest.raises(InputError, match=r"image 2099_000001, instance 0\).*'Neck'"):
        apply_to_records([record], "poselets")


def test_real_files_map_onto_paper_names(coco_records, poselets_records):
    coco = [i.keypoints for r in coco_records for i in r.instances if i.keypoints]
    poselets = [i.keypoints for r in poselets_records for i in r.instances if i.keypoints]
    assert (len(coco), len(poselets)) == (12, 9)
    for keypoints in coco + poselets:
        assert set(keypoints) <= set(PAPER_KEYPOINTS)
    # 2008_000652_0.xml: L_Shoulder x="187.82" (1-based) -> 187.32, person 0 of the image.
    first = next(r for r in poselets_records if r.image_id == "2008_000652").instances[0]
    assert first.keypoints["left_shoulder"] == pytest.approx((187.32, 110.52, 1))
    assert "L_Ear" not in first.keypoints and len(first.keypoints) == 9


def _faceless(keypoints, face_names):
    """Seen from the back: neither the nose nor an eye is labelled (ears may be)."""
    return not any(name in keypoints for name in face_names)


def _left_right_counts(instances):
    """(left x > right x, cases) for eyes and shoulders of frontal persons; the
    left-minus-right shoulder x of back views (both shoulders visible)."""
    eyes, shoulders, backs = [0, 0], [0, 0], []
    for keypoints, eye_left, eye_right, back in instances:
        ls, rs = keypoints.get("left_shoulder"), keypoints.get("right_shoulder")
        frontal = keypoints.get("nose", (0, 0, 0))[2] == 1
        if frontal and eye_left is not None and eye_right is not None:
            eyes[0] += eye_left[0] > eye_right[0]
            eyes[1] += 1
        if frontal and ls and rs and ls[2] and rs[2]:
            shoulders[0] += ls[0] > rs[0]
            shoulders[1] += 1
        if back and ls and rs and ls[2] and rs[2]:
            backs.append(ls[0] - rs[0])
    return eyes, shoulders, backs


def test_left_is_the_persons_own_left_in_coco(data_root, coco_records):
    folder = data_root / "coco-person-keypoints"
    raw = [i.keypoints for r in load_coco(folder / "test_coco.json", folder) for i in r.instances]
    paper = [i.keypoints for r in coco_records for i in r.instances]
    instances = [
        (p, k.get("left_eye"), k.get("right_eye"), _faceless(k, ("nose", "left_eye", "right_eye")))
        for p, k in zip(paper, raw, strict=True)
    ]
    eyes, shoulders, backs = _left_right_counts(instances)
    assert eyes == [9, 9]
    assert shoulders == [9, 11]
    assert len(backs) == 1 and backs[0] < 0


def test_left_is_the_persons_own_left_in_poselets(data_root):
    instances = []
    for path in sorted((data_root / "pascal-part" / "keypoints").glob("*.xml")):
        raw = read_poselets_xml(path).keypoints
        paper = to_paper_keypoints(raw, "poselets", str(path))
        back = _faceless(raw, ("Nose", "L_Eye", "R_Eye"))
        instances.append((paper, raw.get("L_Eye"), raw.get("R_Eye"), back))
    eyes, shoulders, backs = _left_right_counts(instances)
    assert eyes == [6, 6]
    assert shoulders == [5, 5]
    assert len(backs) == 1 and backs[0] < 0
