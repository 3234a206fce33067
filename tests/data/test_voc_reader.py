"""VOC layout reader and writer: tiny files written here, and the real voc2011-relabeled."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.data.voc import (
    load_voc,
    read_index_png,
    read_voc_record,
    read_voc_xml,
)

from data_test_files import voc_palette, write_index_png, write_jpeg, write_voc_pngs, write_voc_xml


def write_tiny_voc(record, root):
    """The tiny record in the exact VOC layout: JPEG, both PNGs, XML, train list."""
    write_jpeg(root / "JPEGImages" / f"{record.image_id}.jpg", record.height, record.width)
    write_voc_pngs(record, root)
    write_voc_xml(record, root)
    split = root / "ImageSets" / "Segmentation" / "train.txt"
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_text(f"{record.image_id}\n")


def test_palette_is_the_devkit_colormap(data_root):
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    np.testing.assert_array_equal(
        palette[:5], [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    )
    np.testing.assert_array_equal(palette[255], [224, 224, 192])
    real = Image.open(data_root / "voc2011-relabeled" / "SegmentationClass" / "2011_000003.png")
    np.testing.assert_array_equal(np.array(real.getpalette()).reshape(-1, 3), palette)


def test_opencv_does_not_give_palette_indices(data_root):
    # Why the reader uses Pillow: OpenCV expands palette PNGs to colours.
    path = data_root / "voc2011-relabeled" / "SegmentationObject" / "2011_000003.png"
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (338, 500, 3)
    indices = read_index_png(path)
    assert indices.shape == (338, 500) and indices.dtype == np.uint8
    assert set(np.unique(indices).tolist()) == {0, 1, 2, 3}


def test_writer_writes_palette_pngs_of_indices(tiny_record, tmp_path):
    object_png, class_png = write_voc_pngs(tiny_record, tmp_path)
    assert object_png == tmp_path / "SegmentationObject" / "2099_000001.png"
    with Image.open(object_png) as image:
        assert image.mode == "P"
        objects = np.array(image)
    with Image.open(class_png) as image:
        classes = np.array(image)
    assert objects[1, 1] == 1 and objects[2, 4] == 2  # the dog overwrote the person at column 4
    assert classes[1, 1] == 15 and classes[2, 4] == 12  # person, dog (1-based)
    assert (objects[5] == 255).all() and (classes[5] == 255).all()
    assert objects[0, 0] == 0


def test_roundtrip_through_the_voc_layout(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    [record] = load_voc(tmp_path, "train")
    assert (record.image_id, record.height, record.width) == ("2099_000001", 6, 8)
    person, dog = record.instances
    assert (person.category, dog.category) == ("person", "dog")
    assert (person.difficult, dog.difficult) == (False, True)
    expected_person = tiny_record.instances[0].mask & ~tiny_record.instances[1].mask
    np.testing.assert_array_equal(person.mask, expected_person)
    np.testing.assert_array_equal(dog.mask, tiny_record.instances[1].mask)
    # XML boxes came back through VOC's 1-based inclusive integers unchanged.
    np.testing.assert_array_equal(person.box, [1, 1, 5, 4])
    np.testing.assert_array_equal(dog.box, [4, 2, 7, 5])
    np.testing.assert_array_equal(record.void, tiny_record.void)


def test_xml_boxes_are_converted_from_one_based_inclusive(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(
        "<annotation><object><name>cat</name><difficult>1</difficult>"
        "<bndbox><xmin>3</xmin><ymin>1</ymin><xmax>5</xmax><ymax>1</ymax></bndbox></object>"
        "<object><name>dog</name></object></annotation>"
    )
    cat, dog = read_voc_xml(path)
    # Pixels 2..4 (0-based) and row 0 -> continuous [2, 5) x [0, 1).
    np.testing.assert_array_equal(cat.box, [2, 0, 5, 1])
    assert cat.difficult and cat.category == "cat"
    assert dog.box is None and not dog.difficult


def test_missing_image_is_named(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    (tmp_path / "JPEGImages" / "2099_000001.jpg").unlink()
    with pytest.raises(MissingFileError, match="2099_000001.jpg"):
        read_voc_record(tmp_path, "2099_000001")


def test_mask_of_another_size_is_an_error(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    write_jpeg(tmp_path / "JPEGImages" / "2099_000001.jpg", 7, 8)
    with pytest.raises(InputError, match=r"SegmentationObject/2099_000001.png: mask is 8x6 .* 8x7"):
        read_voc_record(tmp_path, "2099_000001")


def test_unknown_class_index_is_an_error(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    classes = np.array(Image.open(tmp_path / "SegmentationClass" / "2099_000001.png"))
    classes[classes == 12] = 21
    write_index_png(classes, tmp_path / "SegmentationClass" / "2099_000001.png")
    with pytest.raises(InputError, match="Class/2099_000001.png: instance 2 has class index 21"):
        read_voc_record(tmp_path, "2099_000001")


def test_instance_over_two_classes_is_an_error(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    classes = np.array(Image.open(tmp_path / "SegmentationClass" / "2099_000001.png"))
    classes[1, 1] = 7
    write_index_png(classes, tmp_path / "SegmentationClass" / "2099_000001.png")
    with pytest.raises(InputError, match=r"instance 1 covers class indices \[7, 15\]"):
        read_voc_record(tmp_path, "2099_000001")


def test_xml_that_disagrees_with_the_pngs_is_an_error(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    xml = tmp_path / "Annotations" / "2099_000001.xml"
    xml.write_text(xml.read_text().replace("<name>dog</name>", "<name>cat</name>"))
    with pytest.raises(InputError, match="2099_000001.xml: object 2 is 'cat'"):
        read_voc_record(tmp_path, "2099_000001")


def test_xml_object_without_pixels_is_reported(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    xml = tmp_path / "Annotations" / "2099_000001.xml"
    extra_object = "<object><name>cat</name></object></annotation>"
    xml.write_text(xml.read_text().replace("</annotation>", extra_object))
    with pytest.warns(UserWarning, match=r"2099_000001.xml: objects \[3\] have no pixels"):
        record = read_voc_record(tmp_path, "2099_000001")
    assert len(record.instances) == 2


def test_colour_png_is_rejected(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    path = tmp_path / "SegmentationObject" / "2099_000001.png"
    Image.open(path).convert("RGB").save(path)
    with pytest.raises(InputError, match="2099_000001.png: expected a palette"):
        read_voc_record(tmp_path, "2099_000001")


def test_real_voc2011_relabeled(data_root):
    root = data_root / "voc2011-relabeled"
    records = {record.image_id: record for record in load_voc(root)}
    assert sorted(records) == ["2011_000003", "2011_000006", "2011_000025"]
    categories = {
        image_id: [instance.category for instance in record.instances]
        for image_id, record in records.items()
    }
    assert categories == {
        "2011_000003": ["person", "person", "bottle"],
        "2011_000006": ["person", "person", "person", "chair", "person", "sofa"],
        "2011_000025": ["bus", "bus", "car"],
    }
    # Void is marked in the class PNGs only (labelme's export), and is picked up.
    assert {image_id: int(r.void.sum()) for image_id, r in records.items()} == {
        "2011_000003": 9460, "2011_000006": 909, "2011_000025": 0,
    }
    areas = [int(instance.mask.sum()) for instance in records["2011_000003"].instances]
    assert areas == [15662, 17218, 873]
    np.testing.assert_array_equal(records["2011_000003"].instances[2].box, [369, 159, 388, 213])
    assert records["2011_000003"].load_image().shape == (338, 500, 3)


def test_real_class_names_file_is_voc_order(data_root):
    names = (data_root / "voc2011-relabeled" / "class_names.txt").read_text().split("\n")
    spelled = [name.replace(" ", "").replace("/", "") for name in names if name.strip()]
    assert spelled == ["_background_", *VOC_CLASSES]


def test_a_truncated_mask_png_is_named(tiny_record, tmp_path):
    write_tiny_voc(tiny_record, tmp_path)
    path = tmp_path / "SegmentationClass" / "2099_000001.png"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InputError, match=f"{path}: not a readable PNG"):
        read_voc_record(tmp_path, "2099_000001")


def test_malformed_xml_is_named(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text("<annotation><object><name>cat</name><bndbox><xmin>one</xmin><ymin>1</ymin><xmax>5</xmax>"
                    "<ymax>5</ymax></bndbox></object></annotation>")
    with pytest.raises(InputError, match=f"{path}: object 1 has a malformed <bndbox>"):
        read_voc_xml(path)
    path.write_text(path.read_text().replace("one", "nan"))
    with pytest.raises(InputError, match=f"{path}: object 1 has a malformed <bndbox>"):
        read_voc_xml(path)
    path.write_text("<annotation><object>")
    with pytest.raises(InputError, match=f"{path}: not well-formed XML"):
        read_voc_xml(path)
    with pytest.raises(MissingFileError, match=f"VOC annotation XML not found: {tmp_path / 'nope.xml'}"):
        read_voc_xml(tmp_path / "nope.xml")
