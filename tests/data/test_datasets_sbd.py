"""The loaders on a ``make data`` root (SBD + SDS splits), and how they pick a data set."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.datasets import (
    DATASET_ENV,
    dataset_kind,
    load_training_records,
    load_val_records,
)
from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.data.sbd import read_sbd_record

from test_sbd_reader import HEIGHT, WIDTH, instance_map, write_sbd

# Each id has its own instances, so a record read under the wrong id would not match.
CATEGORIES = {
    "2008_000002": ((15,), (12,)),
    "2008_000003": ((3,), (7,)),
    "2008_000005": ((5,), (9,)),
    "2008_000007": ((20,), (1,)),
}
SDS_TRAIN = ["2008_000005", "2008_000002"]  # not sorted: list order must be kept
SDS_VAL = ["2008_000007", "2008_000003"]
SHARED_FOLDERS = ("coco128-seg", "pascal-part", "voc2011-relabeled", "sds-splits")


@pytest.fixture(autouse=True)
def no_dataset_env(monkeypatch):
    monkeypatch.delenv(DATASET_ENV, raising=False)


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def write_sbd_root(data_root, sds_splits=True):
    """A ``make data`` root: ``benchmark_RELEASE`` with 4 ids, SBD's own lists, and the SDS lists."""
    sbd_root = data_root / "benchmark_RELEASE"
    for shift, (image_id, categories) in enumerate(CATEGORIES.items()):
        segmentation = np.roll(instance_map(), shift, axis=1)
        write_sbd(sbd_root, image_id, segmentation=segmentation, categories=categories)
    # SBD's own split differs from the SDS one, so a fallback shows in the ids.
    write_lines(sbd_root / "dataset" / "train.txt", ["2008_000002", "2008_000003"])
    write_lines(sbd_root / "dataset" / "val.txt", ["2008_000005", "2008_000007"])
    if sds_splits:
        write_lines(data_root / "sds-splits" / "train.txt", SDS_TRAIN)
        write_lines(data_root / "sds-splits" / "val.txt", SDS_VAL)
    return data_root


def assert_same_instances(record, expected):
    assert record.image_id == expected.image_id
    assert (record.height, record.width) == (expected.height, expected.width) == (HEIGHT, WIDTH)
    assert [i.category for i in record.instances] == [i.category for i in expected.instances]
    for instance, expected_instance in zip(record.instances, expected.instances):
        np.testing.assert_array_equal(instance.mask, expected_instance.mask)


def test_sbd_root_reads_the_sds_splits_in_list_order(tmp_path):
    data_root = write_sbd_root(tmp_path)
    train, val = load_training_records(data_root), load_val_records(data_root)
    assert [r.image_id for r in train] == SDS_TRAIN
    assert [r.image_id for r in val] == SDS_VAL
    assert not {r.image_id for r in train} & {r.image_id for r in val}
    assert all(r.path.parent == data_root / "benchmark_RELEASE" / "dataset" / "img" for r in train + val)


def test_sbd_records_are_read_sbd_records(tmp_path):
    data_root = write_sbd_root(tmp_path)
    for record in load_training_records(data_root) + load_val_records(data_root):
        assert_same_instances(record, read_sbd_record(data_root / "benchmark_RELEASE", record.image_id))
        expected_names = [VOC_CLASSES[label - 1] for (label,) in CATEGORIES[record.image_id]]
        assert [i.category for i in record.instances] == expected_names


def test_without_sds_splits_sbd_lists_are_used_with_a_warning(tmp_path):
    data_root = write_sbd_root(tmp_path, sds_splits=False)
    with pytest.warns(UserWarning, match="not the paper's") as caught:
        train = load_training_records(data_root)
    message = str(caught[0].message)
    assert str(data_root / "sds-splits" / "train.txt") in message
    assert str(data_root / "benchmark_RELEASE" / "dataset" / "train.txt") in message
    assert [r.image_id for r in train] == ["2008_000002", "2008_000003"]
    with pytest.warns(UserWarning, match=str(data_root / "sds-splits" / "val.txt")):
        val = load_val_records(data_root)
    assert [r.image_id for r in val] == ["2008_000005", "2008_000007"]


def test_listed_id_without_inst_mat_is_an_error(tmp_path):
    data_root = write_sbd_root(tmp_path)
    (data_root / "benchmark_RELEASE" / "dataset" / "inst" / "2008_000002.mat").unlink()
    with pytest.raises(MissingFileError, match="inst/2008_000002.mat"):
        load_training_records(data_root)


def test_layout_detection(tmp_path, data_root):
    assert dataset_kind(write_sbd_root(tmp_path / "sbd")) == "sbd"
    assert dataset_kind(data_root) == "shared"
    for folder in ("coco128-seg", "pascal-part"):
        (tmp_path / folder / folder).mkdir(parents=True)
        assert dataset_kind(tmp_path / folder) == "shared"


def test_neither_layout_is_an_error(tmp_path):
    (tmp_path / "benchmark_RELEASE").mkdir()  # unpacked elsewhere: no dataset/ under it
    with pytest.raises(MissingFileError) as caught:
        load_training_records(tmp_path)
    message = str(caught.value)
    assert f"no data set found in {tmp_path}" in message
    for looked_for in ("benchmark_RELEASE/dataset", "coco128-seg", "pascal-part", "make data", "dataset.json"):
        assert looked_for in message


@pytest.fixture
def mixed_root(tmp_path, data_root):
    """An SBD root that also links in the shared data (whose sds-splits name ids SBD lacks)."""
    root = write_sbd_root(tmp_path, sds_splits=False)
    for folder in SHARED_FOLDERS:
        (root / folder).symlink_to(data_root / folder)
    return root


def shared_val_ids(data_root):
    return [r.image_id for r in load_val_records(data_root)]


def test_keyword_picks_the_data_set(mixed_root, data_root):
    assert dataset_kind(mixed_root) == "sbd"
    assert dataset_kind(mixed_root, "shared") == "shared"
    assert dataset_kind(data_root, "sbd") == "sbd"
    ids = [r.image_id for r in load_val_records(mixed_root, dataset="shared")]
    assert ids == shared_val_ids(data_root)
    with pytest.raises(MissingFileError, match="benchmark_RELEASE/dataset/img/2008_000008.jpg"):
        load_training_records(data_root, dataset="sbd")


def test_environment_picks_the_data_set_and_the_keyword_wins(mixed_root, data_root, monkeypatch):
    expected = shared_val_ids(data_root)
    monkeypatch.setenv(DATASET_ENV, "shared")
    assert dataset_kind(mixed_root) == "shared"
    assert [r.image_id for r in load_val_records(mixed_root)] == expected
    assert dataset_kind(mixed_root, "sbd") == "sbd"
    monkeypatch.setenv(DATASET_ENV, "sbd")
    assert dataset_kind(data_root) == "sbd"
    monkeypatch.setenv(DATASET_ENV, "")
    assert dataset_kind(data_root) == "shared"


def test_unknown_data_set_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"dataset='voc' is not a data set; expected one of 'sbd', 'shared'"):
        load_training_records(tmp_path, dataset="voc")
    monkeypatch.setenv(DATASET_ENV, "SBD")
    with pytest.raises(InputError, match=rf"\${DATASET_ENV}='SBD' .* 'sbd', 'shared'"):
        load_val_records(tmp_path)
