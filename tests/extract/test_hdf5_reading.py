"""The reader of user HDF5 files: a fault of the file becomes an InputError naming it, a bug does not."""
from __future__ import annotations

import struct

import h5py
import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError, require_file
from hypercolumns.extract.hdf5_reading import open_schema_file, reading_hdf5, take_rows, _raw_rows_per_block


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


# ------------------------------------------------------------------ take_rows: rows by index

def _rows_file(path, layout: str, n: int = 2600, dim: int = 37):
    """A file whose dataset ``x`` holds ``n`` distinct rows stored as ``layout``."""
    values = np.random.default_rng(n).normal(size=(n, dim)).astype(np.float16)
    options = {"chunked": {"chunks": (1024, dim)},                 # as shards: whole rows, last chunk partial
               "contiguous": {},
               "compressed": {"chunks": (1024, dim), "compression": "gzip"},
               "column chunks": {"chunks": (256, 8)},
               "big-endian": {"chunks": (1024, dim), "dtype": ">f2"}}[layout]
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=values, **options)
    return values


@pytest.mark.parametrize("layout, mapped", [("chunked", 1024), ("contiguous", 2600), ("compressed", None),
                                            ("column chunks", None), ("big-endian", None)])
def test_take_rows_gives_numpys_rows_for_every_storage_layout(tmp_path, layout, mapped):
    """The map is used where rows lie raw (``mapped``: rows per block), h5py elsewhere; the same rows."""
    values = _rows_file(tmp_path / "rows.h5", layout)
    with h5py.File(tmp_path / "rows.h5", "r") as f:
        assert _raw_rows_per_block(f["x"]) == mapped
    rng = np.random.default_rng(0)
    for index in (np.array([0]), np.array([2599]), np.array([1023, 1024, 2048, 2599]),
                  np.sort(rng.choice(2600, 300, replace=False)), np.arange(2600)):
        with h5py.File(tmp_path / "rows.h5", "r") as f:
            taken = take_rows(f["x"], index)
        assert taken.dtype == np.float16 or layout == "big-endian"
        np.testing.assert_array_equal(taken, values[index])


def test_take_rows_of_a_file_cut_inside_its_chunks_raises_as_h5py_does(tmp_path):
    """A chunk past the end of a cut file is not read from the map (which would fault): h5py's own
    read raises, as it would without the map; the chunks before the cut still read from the map.
    The cut length is recorded as the end of file in the superblock (version 0: byte 40), so that
    h5py opens the file."""
    path = tmp_path / "rows.h5"
    values = _rows_file(path, "chunked")
    with h5py.File(path, "r") as f:
        last = f["x"].id.get_chunk_info(2)
    data = bytearray(path.read_bytes())
    assert last.byte_offset + last.size == len(data), "the last chunk is expected at the end of the file"
    data = data[:last.byte_offset + last.size // 2]
    assert data[8] == 0, "superblock version 0 expected"
    data[40:48] = struct.pack("<Q", len(data))
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(take_rows(f["x"], np.array([5, 1030])), values[[5, 1030]])
        with pytest.raises(OSError):
            take_rows(f["x"], np.array([5, 2100]))
