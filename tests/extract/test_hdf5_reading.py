"""The reader of user HDF5 files: a fault of the file becomes an InputError naming it, a bug does not."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError, require_file
from hypercolumns.extract.hdf5_reading import open_schema_file, reading_hdf5


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "file.h5"
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = "test/1"
        f.create_dataset("values", data=np.arange(4))
    return path


def test_a_missing_dataset_met_inside_names_the_file(path):
    with pytest.raises(InputError, match=r"file\.h5: not a test file, or a damaged one .*'absent'"):
        with reading_hdf5(path, "test file") as f:
            f["absent"]


def test_a_bug_inside_keeps_its_own_type_and_message(path):
    with pytest.raises(ValueError, match="^operands could not be broadcast") as error:
        with reading_hdf5(path, "test file") as f:
            f["values"][:] + np.zeros(3)
    assert type(error.value) is ValueError


def test_an_input_error_inside_gets_the_file_named_once(path, tmp_path):
    with pytest.raises(InputError, match=r"^.*file\.h5: config lacks a key$"):
        with reading_hdf5(path, "test file"):
            raise InputError("config lacks a key")
    with pytest.raises(InputError) as error:
        with reading_hdf5(path, "test file"):
            raise InputError(f"{path}: already named")
    assert str(error.value) == f"{path}: already named"


def test_another_missing_file_met_inside_stays_a_missing_file_error(path, tmp_path):
    with pytest.raises(MissingFileError, match="other.json"):
        with reading_hdf5(path, "test file"):
            require_file(tmp_path / "other.json", "side file")


def test_a_missing_file_and_another_schema(path, tmp_path):
    with pytest.raises(MissingFileError, match="test file not found: .*absent.h5 \\(make one\\)"):
        with reading_hdf5(tmp_path / "absent.h5", "test file", "make one"):
            pass
    with pytest.raises(InputError, match="not a test file \\(schema 'test/1', expected 'test/2'\\)"):
        with open_schema_file(path, "test/2", "test file"):
            pass
    with open_schema_file(path, "test/1", "test file") as f:
        assert f["values"][:].tolist() == [0, 1, 2, 3]
