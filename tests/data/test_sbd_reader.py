"""SBD reader on .mat files written here in SBD's struct layout, and the split lists."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.sbd import (
    load_sbd,
    read_sbd_class_mat,
    read_sbd_instance_mat,
    read_sbd_record,
    read_split,
)

from data_test_files import write_jpeg

HEIGHT, WIDTH = 5, 7


def cell(arrays):
    """A MATLAB (n, 1) cell array of sparse boundary maps."""
    out = np.empty((len(arrays), 1), dtype=object)
    for row, array in enumerate(arrays):
        out[row, 0] = scipy.sparse.csc_matrix(array.astype(np.float64))
    return out


def boundary(mask):
    return mask & ~np.pad(mask, 1)[1:-1, 2:]


def instance_map():
    """Instance 1 a person (rows 0-1), instance 2 a dog (rows 3-4, cols 2-5)."""
    segmentation = np.zeros((HEIGHT, WIDTH), np.uint8)
    segmentation[0:2, :] = 1
    segmentation[3:5, 2:6] = 2
    return segmentation


def write_sbd(root, image_id="2008_000002", segmentation=None, categories=((15,), (12,)),
              as_record_array=False, height=HEIGHT, width=WIDTH):
    """Write img/inst/cls files of one image and train.txt, as SBD ships them."""
    dataset = root / "dataset"
    write_jpeg(dataset / "img" / f"{image_id}.jpg", height, width)
    segmentation = instance_map() if segmentation is None else segmentation
    categories = np.array(categories, dtype=np.uint8).reshape(-1, 1)
    masks = [segmentation == k for k in range(1, categories.shape[0] + 1)]
    fields = {
        "Segmentation": segmentation,
        "Categories": categories,
        "Boundaries": cell([boundary(mask) for mask in masks]),
    }
    if as_record_array:
        # The layout scipy.io.loadmat returns by default for a MATLAB-saved struct.
        gtinst = np.empty((1, 1), dtype=[(name, object) for name in fields])
        for name, value in fields.items():
            gtinst[0, 0][name] = value
    else:
        gtinst = fields
    (dataset / "inst").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(dataset / "inst" / f"{image_id}.mat", {"GTinst": gtinst})
    classes = np.zeros_like(segmentation)
    for index, label in enumerate(categories[:, 0], start=1):
        classes[segmentation == index] = label
    gtcls = {
        "Segmentation": classes,
        "Boundaries": cell([boundary(classes == c) for c in range(1, 21)]),
        "CategoriesPresent": np.unique(categories).reshape(-1, 1),
    }
    (dataset / "cls").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(dataset / "cls" / f"{image_id}.mat", {"GTcls": gtcls})
    (dataset / "train.txt").write_text(f"{image_id}\n")


@pytest.mark.parametrize("as_record_array", [False, True])
def test_instances_from_sbd_mats(tmp_path, as_record_array):
    write_sbd(tmp_path, as_record_array=as_record_array)
    [record] = load_sbd(tmp_path, "train")
    assert (record.image_id, record.height, record.width) == ("2008_000002", 5, 7)
    assert record.void is None
    person, dog = record.instances
    assert (person.category, dog.category) == ("person", "dog")
    np.testing.assert_array_equal(person.mask, instance_map() == 1)
    np.testing.assert_array_equal(dog.box, [2, 3, 6, 5])
    assert record.path == tmp_path / "dataset" / "img" / "2008_000002.jpg"


def test_single_instance_categories_squeeze_to_a_scalar(tmp_path):
    segmentation = (instance_map() == 1).astype(np.uint8)
    write_sbd(tmp_path, segmentation=segmentation, categories=((3,),))
    [instance] = read_sbd_record(tmp_path, "2008_000002").instances
    assert instance.category == "bird" and instance.mask.sum() == 2 * WIDTH


def test_class_mat_matches_instances(tmp_path):
    write_sbd(tmp_path)
    inst_mat = tmp_path / "dataset" / "inst" / "2008_000002.mat"
    segmentation, categories = read_sbd_instance_mat(inst_mat)
    classes = read_sbd_class_mat(tmp_path / "dataset" / "cls" / "2008_000002.mat")
    assert segmentation.dtype == np.uint8 and classes.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(categories, [15, 12])
    np.testing.assert_array_equal(classes[segmentation == 2], 12)
    np.testing.assert_array_equal(classes[segmentation == 0], 0)


def test_missing_image_is_named(tmp_path):
    write_sbd(tmp_path)
    (tmp_path / "dataset" / "img" / "2008_000002.jpg").unlink()
    with pytest.raises(MissingFileError, match="img/2008_000002.jpg"):
        read_sbd_record(tmp_path, "2008_000002")


def test_mask_of_another_size_is_an_error(tmp_path):
    write_sbd(tmp_path)
    write_jpeg(tmp_path / "dataset" / "img" / "2008_000002.jpg", HEIGHT + 1, WIDTH)
    with pytest.raises(InputError, match="inst/2008_000002.mat: mask is 7x5 but its image is 7x6"):
        read_sbd_record(tmp_path, "2008_000002")


def test_unknown_class_index_is_an_error(tmp_path):
    write_sbd(tmp_path, categories=((15,), (21,)))
    with pytest.raises(InputError, match=r"2008_000002.mat: class indices \[21\]"):
        read_sbd_record(tmp_path, "2008_000002")


def test_instance_index_without_category_is_an_error(tmp_path):
    write_sbd(tmp_path, categories=((15,),))
    with pytest.raises(InputError, match="instance index 2 but Categories lists 1"):
        read_sbd_record(tmp_path, "2008_000002")


def test_category_without_pixels_is_reported(tmp_path):
    write_sbd(tmp_path, categories=((15,), (12,), (7,)))
    with pytest.warns(UserWarning, match=r"2008_000002.mat: instance 3 \(car\) has no pixels"):
        record = read_sbd_record(tmp_path, "2008_000002")
    assert [i.category for i in record.instances] == ["person", "dog"]


def test_wrong_variable_is_an_error(tmp_path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"GTcls": {"Segmentation": instance_map()}})
    with pytest.raises(InputError, match=r"x.mat: expected a variable 'GTinst', found \['GTcls'\]"):
        read_sbd_instance_mat(path)


def test_sds_splits(data_root):
    train = read_split(data_root / "sds-splits" / "train.txt")
    val = read_split(data_root / "sds-splits" / "val.txt")
    assert (len(train), len(val)) == (5623, 5732)
    assert not set(train) & set(val)
    assert train[0] == "2008_000008"


def test_split_file_errors(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("2008_000001\n\n2008_000002\n")
    assert read_split(path) == ["2008_000001", "2008_000002"]
    path.write_text("2008_000001\n2008_000002 -1\n")
    with pytest.raises(InputError, match=r"list.txt:2: expected one image id"):
        read_split(path)
    path.write_text("2008_000001\n2008_000001\n")
    with pytest.raises(InputError, match=r"list.txt:2: image id '2008_000001' is listed twice"):
        read_split(path)
    with pytest.raises(MissingFileError, match="absent.txt"):
        read_split(tmp_path / "absent.txt")


def test_a_file_scipy_cannot_read_is_named(tmp_path):
    write_sbd(tmp_path)
    path = tmp_path / "dataset" / "inst" / "2008_000002.mat"
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(InputError, match=f"{path}: not a readable MATLAB v5 .mat file"):
        read_sbd_record(tmp_path, "2008_000002")
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(InputError, match="text.mat: not a readable MATLAB v5 .mat file"):
        read_sbd_instance_mat(tmp_path / "text.mat")


def test_fields_of_the_wrong_kind_are_named(tmp_path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"GTinst": {"Segmentation": instance_map(), "Categories": np.array(["person"], object)}})
    with pytest.raises(InputError, match="x.mat: Categories is not a list of class indices"):
        read_sbd_instance_mat(path)
    scipy.io.savemat(path, {"GTinst": {"Categories": np.array([[15]])}})
    with pytest.raises(InputError, match="x.mat: struct has no field 'Segmentation'"):
        read_sbd_instance_mat(path)
