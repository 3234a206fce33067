"""Poselets keypoint XML: the frame, the matching to persons, and its errors."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.masks import polygons_to_mask
from hypercolumns.data.pascal_part import load_pascal_part, read_pascal_part_record
from hypercolumns.data.poselets import (
    attach_poselets_keypoints,
    poselets_files,
    read_poselets_xml,
)

# (image, index of the PASCAL-Part object) -> number of keypoints, found by the
# silhouette match; note that <k> in the file name is not the object index.
EXPECTED_MATCHES = {
    ("2008_000652", 0): 13, ("2008_000700", 0): 16, ("2008_000726", 1): 11,
    ("2008_000939", 0): 7, ("2008_003228", 0): 8, ("2008_003228", 1): 11,
    ("2008_003228", 2): 11, ("2009_001103", 0): 6, ("2009_001103", 1): 13,
}


@pytest.fixture(scope="module")
def records(data_root):
    return load_pascal_part(data_root / "pascal-part")


def test_reads_one_file_in_the_continuous_frame(data_root):
    annotation = read_poselets_xml(data_root / "pascal-part" / "keypoints" / "2008_000652_0.xml")
    assert (annotation.image_id, annotation.category) == ("2008_000652", "person")
    assert len(annotation.keypoints) == 13
    # x="184.32" y="61.34", 1-based pixel centres -> minus 0.5.
    assert annotation.keypoints["L_Ear"] == pytest.approx((183.82, 60.84, 1))
    np.testing.assert_allclose(annotation.visible_box, [0.5, 6.5, 237.5, 209.5])
    assert annotation.silhouette.shape == (31, 2)
    np.testing.assert_allclose(annotation.silhouette[0], [58.5, 125.5])


def test_each_file_lands_on_its_person(records):
    matched = {
        (record.image_id, index): len(instance.keypoints)
        for record in records
        for index, instance in enumerate(record.instances)
        if instance.keypoints
    }
    assert matched == EXPECTED_MATCHES
    for record in records:
        for instance in record.instances:
            if not instance.keypoints:
                continue
            assert instance.category == "person"
            visible = np.array([(x, y) for x, y, v in instance.keypoints.values() if v])
            x0, y0, x1, y1 = instance.box
            # Within a pixel or two: the keypoints and the mask are separate annotations.
            assert (visible[:, 0] >= x0 - 2).all() and (visible[:, 0] <= x1 + 2).all()
            assert (visible[:, 1] >= y0 - 2).all() and (visible[:, 1] <= y1 + 2).all()


def test_coordinates_are_one_based(data_root, records):
    """Silhouettes fit their person masks better read as 1-based than as 0-based."""
    by_id = {record.image_id: record for record in records}
    mean_iou = {}
    # The reader has subtracted 0.5; a 0-based reading would instead add 0.5.
    for extra_shift in (0.0, 1.0):
        overlaps = []
        for path in sorted((data_root / "pascal-part" / "keypoints").glob("*.xml")):
            annotation = read_poselets_xml(path)
            record = by_id[annotation.image_id]
            person = next(i for i in record.instances if i.keypoints == annotation.keypoints)
            shifted = annotation.silhouette + extra_shift
            silhouette = polygons_to_mask([shifted], record.height, record.width)
            overlaps.append((silhouette & person.mask).sum() / (silhouette | person.mask).sum())
        mean_iou[extra_shift] = np.mean(overlaps)
    assert mean_iou[0.0] > mean_iou[1.0] + 0.005


def test_file_names_sort_by_k(tmp_path):
    for name in ("2008_1_10.xml", "2008_1_2.xml", "2008_1_0.xml", "2008_10_1.xml", "2008_1_x.xml"):
        (tmp_path / name).write_text("")
    names = [path.name for path in poselets_files(tmp_path, "2008_1")]
    assert names == ["2008_1_0.xml", "2008_1_2.xml", "2008_1_10.xml"]
    assert poselets_files(tmp_path / "absent", "2008_1") == []


def keypoint_xml(image_id, x0, y0, width, height, silhouette=True):
    segment = (
        f'<polylinesegments><segment name="foreground" x="{x0} {x0 + width} {x0 + width} {x0}" '
        f'y="{y0} {y0} {y0 + height} {y0 + height}"/></polylinesegments>'
        if silhouette else ""
    )
    return (
        f"<annotation><image>{image_id}</image><category>person</category>"
        f'<visible_bounds xmin="{x0}" ymin="{y0}" width="{width}" height="{height}"/>'
        f'<keypoints><keypoint name="Nose" visible="1" x="{x0 + 5}" y="{y0 + 5}" z="0"/>'
        "</keypoints>"
        f"{segment}</annotation>"
    )


@pytest.fixture
def person_record(data_root):
    # 2008_003228: three persons; person 1 spans x 100..301, y 24..375.
    return read_pascal_part_record(data_root / "pascal-part", "2008_003228", keypoints=False)


@pytest.mark.parametrize("silhouette", [True, False])
def test_matching_by_silhouette_or_box(tmp_path, person_record, silhouette):
    path = tmp_path / "2008_003228_9.xml"
    path.write_text(keypoint_xml("2008_003228", 101, 25, 200, 350, silhouette))
    attach_poselets_keypoints(person_record, [path])
    with_keypoints = [i for i, inst in enumerate(person_record.instances) if inst.keypoints]
    assert with_keypoints == [1]
    assert person_record.instances[1].keypoints["Nose"] == (105.5, 29.5, 1)


def test_file_over_no_person_is_an_error(tmp_path, person_record):
    path = tmp_path / "2008_003228_9.xml"
    path.write_text(keypoint_xml("2008_003228", 5, 5, 20, 20))
    with pytest.raises(InputError, match=r"2008_003228_9.xml: overlaps no person .* \(best 0.00\)"):
        attach_poselets_keypoints(person_record, [path])


def test_two_files_for_one_person_is_an_error(tmp_path, person_record):
    paths = [tmp_path / "2008_003228_8.xml", tmp_path / "2008_003228_9.xml"]
    for path in paths:
        path.write_text(keypoint_xml("2008_003228", 101, 25, 200, 350))
    with pytest.raises(InputError, match="both match instance 1"):
        attach_poselets_keypoints(person_record, paths)


def test_file_of_another_image_is_an_error(tmp_path, person_record):
    path = tmp_path / "2008_000001_0.xml"
    path.write_text(keypoint_xml("2008_000001", 101, 25, 200, 350))
    with pytest.raises(InputError, match="is for image '2008_000001', not '2008_003228'"):
        attach_poselets_keypoints(person_record, [path])


@pytest.mark.parametrize("old, new, message", [
    ('x="106"', 'x="nan"', "<keypoint> has a missing or malformed 'x'"),
    ('y="30"', 'y="inf"', "<keypoint> has a missing or malformed 'y'"),
    ('width="200"', 'width="wide"', "<visible_bounds> has a missing or malformed 'width'"),
    ('x="101 301', 'x="nan 301', "foreground polyline has non-finite coordinates"),
    ('x="101 301', 'x="a 301', "malformed foreground polyline"),
    ("<image>2008_003228</image>", "", "no <image> element"),
    ("</annotation>", "", "not well-formed XML"),
])
def test_malformed_values_are_named(tmp_path, old, new, message):
    path = tmp_path / "2008_003228_9.xml"
    text = keypoint_xml("2008_003228", 101, 25, 200, 350)
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError, match=f"{path}: {message}"):
        read_poselets_xml(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(MissingFileError, match=f"keypoint file not found: {tmp_path / 'x_0.xml'}"):
        read_poselets_xml(tmp_path / "x_0.xml")
