"""VOC2009 person keypoints: files written here in the release's layout, and read back."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.keypoint_names import to_paper_keypoints
from hypercolumns.data.pascal_part import load_pascal_part
from hypercolumns.data.voc2009_keypoints import (
    load_voc2009_keypoints,
    read_person_file,
    read_voc_class_list,
    split_halves,
)

from data_test_files import write_person_file

PERSON_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotation id="{id}">
   <image>{image}</image>
   <category>person</category>
   <subcategory>Female</subcategory>
   <visible_bounds height="68.00" width="36.00" xmin="180.00" ymin="36.00"/>
   <keypoints>
{keypoints}
   </keypoints>
   <polylinesegments>
      <segment name="foreground" x="181 216 216 181 " y="36 36 103 103 "/>
   </polylinesegments>
</annotation>
"""

KEYPOINT = '      <keypoint name="{0}" visible="{3}" x="{1}" y="{2}" z="0.00" zorder="1"/>'


def write_release_file(root, image, k, keypoints, image_tag=None):
    """Write ``annotations/person/<image>_<k>.xml`` as the release has them (1-based x, y)."""
    lines = "\n".join(KEYPOINT.format(*keypoint) for keypoint in keypoints)
    path = root / "annotations" / "person" / f"{image}_{k}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PERSON_XML.format(id=k + 3, image=image_tag or image, keypoints=lines))
    return path


@pytest.fixture
def release(tmp_path):
    """Two images, three persons (numbered 0, 2, 3 like the release), one other class."""
    write_release_file(tmp_path, "2009_000012", 0, [
        ("L_Eye", "212.25", "55.71", 1), ("L_Shoulder", "225.77", "90.80", 0),
        ("Nose", "207.54", "60.75", 1), ("R_Shoulder", "170.29", "97.04", 1),
    ])
    write_release_file(tmp_path, "2009_000012", 2, [("R_Ankle", "10.00", "20.00", 1)])
    write_release_file(tmp_path, "2009_000012", 3, [("R_Toes", "1.00", "1.00", 1)])
    write_release_file(tmp_path, "2009_000034", 0, [("L_Hip", "1.00", "2.00", 1)])
    (tmp_path / "annotations" / "person" / "notes.txt").write_text("not a person file")
    (tmp_path / "annotations" / "cat").mkdir()
    (tmp_path / "annotations" / "cat" / "2009_000012_1.xml").write_text("<annotation/>")
    return tmp_path


def test_reads_the_layout(release):
    persons = load_voc2009_keypoints(release)
    assert list(persons) == ["2009_000012", "2009_000034"]
    assert [p.number for p in persons["2009_000012"]] == [0, 2, 3]
    first = persons["2009_000012"][0]
    assert first.path.name == "2009_000012_0.xml"
    # 1-based pixel centres -> continuous; L_Eye dropped; paper order.
    assert list(first.keypoints) == ["left_shoulder", "right_shoulder", "nose"]
    assert first.keypoints["left_shoulder"] == pytest.approx((225.27, 90.30, 0))
    assert first.keypoints["nose"] == pytest.approx((207.04, 60.25, 1))
    np.testing.assert_allclose(first.visible_box, [179.5, 35.5, 215.5, 103.5])
    assert persons["2009_000012"][1].keypoints == {"right_ankle": pytest.approx((9.5, 19.5, 1))}
    assert persons["2009_000012"][2].keypoints == {}  # only toes: nothing in the paper's 13


def test_image_ids_select_and_keep_empty_images(release):
    persons = load_voc2009_keypoints(release, image_ids=["2009_000034", "2009_000099"])
    assert list(persons) == ["2009_000034", "2009_000099"]
    assert persons["2009_000099"] == []
    assert persons["2009_000034"][0].keypoints == {"left_hip": pytest.approx((0.5, 1.5, 1))}


def test_malformed_files_are_named(release):
    bad = release / "annotations" / "person" / "2009_000034_2.xml"
    bad.write_text("<annotation><image>2009_000034</image><keypoints>")
    with pytest.raises(InputError, match=f"{bad}: not well-formed XML"):
        load_voc2009_keypoints(release)
    # A file of an image that is not asked for is not read.
    assert len(load_voc2009_keypoints(release, image_ids=["2009_000012"])["2009_000012"]) == 3


@pytest.mark.parametrize(
    "name, keypoints, image_tag, message",
    [
        ("2009_000050_0.xml", [("L_Sholder", "1", "1", 1)], None, "unknown poselets keypoint"),
        ("2009_000050_0.xml", [("Nose", "1", "1", 1)], "2009_000051", "<image> is '2009_000051'"),
        ("2009_000050_0.xml", [("Nose", "x", "1", 1)], None, "malformed 'x'"),
        ("2009_000050_a.xml", [("Nose", "1", "1", 1)], None, "expected a file named <image_id>_"),
        ("2009_000050.xml", [("Nose", "1", "1", 1)], None, "the file name says '2009'"),
    ],
)
def test_bad_files(tmp_path, name, keypoints, image_tag, message):
    path = write_release_file(tmp_path, "2009_000050", 0, keypoints, image_tag)
    path = path.rename(path.with_name(name))
    with pytest.raises(InputError, match=message) as error:
        load_voc2009_keypoints(tmp_path)
    assert str(path) in str(error.value)


def test_other_category_and_missing_folder(tmp_path):
    path = write_release_file(tmp_path, "2009_000050", 0, [("Nose", "1", "1", 1)])
    path.write_text(path.read_text().replace("<category>person", "<category>dog"))
    with pytest.raises(InputError, match=f"{path}: <category> is 'dog'"):
        read_person_file(path)
    with pytest.raises(MissingFileError, match="annotations/person"):
        load_voc2009_keypoints(tmp_path / "elsewhere")


def test_the_shared_poselets_files_read_in_this_layout(data_root, tmp_path):
    """The 9 real files, put in the release's layout, give what the PASCAL-Part path gives."""
    person_dir = tmp_path / "annotations" / "person"
    shutil.copytree(data_root / "pascal-part" / "keypoints", person_dir)
    persons = load_voc2009_keypoints(tmp_path)
    assert sum(len(p) for p in persons.values()) == 9
    assert [p.number for p in persons["2008_003228"]] == [0, 2, 3]
    attached = sorted(
        sorted(to_paper_keypoints(i.keypoints, "poselets").items())
        for r in load_pascal_part(data_root / "pascal-part") for i in r.instances if i.keypoints
    )
    read_here = sorted(sorted(p.keypoints.items()) for ps in persons.values() for p in ps)
    assert read_here == attached


def test_writer_round_trip(tmp_path):
    keypoints = {"left_wrist": (10.25, 20.5, 1), "nose": (0.5, 0.5, 0)}
    box = [1.5, 2.5, 40.5, 60.5]
    path = write_person_file(tmp_path, "2009_000077", 2, keypoints, visible_box=box)
    assert path == tmp_path / "annotations" / "person" / "2009_000077_2.xml"
    assert 'name="L_Wrist"' in path.read_text() and 'x="10.75"' in path.read_text()
    person = read_person_file(path)
    assert (person.image_id, person.number) == ("2009_000077", 2)
    assert person.keypoints == {k: pytest.approx(v) for k, v in keypoints.items()}
    np.testing.assert_allclose(person.visible_box, [1.5, 2.5, 40.5, 60.5])


def test_class_list_and_halves(tmp_path):
    path = tmp_path / "person_val.txt"
    path.write_text("2009_000003 -1\n2009_000001  1\n\n2009_000002  0\n2009_000004  1\n")
    assert read_voc_class_list(path) == ["2009_000001", "2009_000004"]
    assert read_voc_class_list(path, include_difficult=True) == [
        "2009_000001", "2009_000002", "2009_000004"]
    path.write_text("2009_000001 1\n2009_000002 yes\n")
    with pytest.raises(InputError, match=f"{path}:2: expected"):
        read_voc_class_list(path)
    with pytest.raises(MissingFileError, match="person_test.txt"):
        read_voc_class_list(tmp_path / "person_test.txt")
    assert split_halves(["c", "a", "e", "b", "d"]) == (["a", "b", "c"], ["d", "e"])
    assert split_halves([]) == ([], [])
