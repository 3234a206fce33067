"""A file written through atomic_file is whole or keeps its old content."""
import json

import pytest

from hypercolumns.extract.atomic_file import atomic_file, write_json_atomic


def test_an_error_mid_write_leaves_the_old_file_and_only_the_tmp(tmp_path):
    target = tmp_path / "model.h5"
    target.write_text("old")
    (tmp_path / "model.h5.tmp").write_text("stale leftover of a crash")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            assert tmp == tmp_path / "model.h5.tmp" and not tmp.exists()   # the leftover is gone
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert (tmp_path / "model.h5.tmp").read_text() == "half"
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and not (tmp_path / "model.h5.tmp").exists()


def test_json_goes_into_new_folders_with_the_given_encoding(tmp_path):
    path = write_json_atomic({"a": 1}, tmp_path / "x" / "y.json", indent=2, default=str)
    assert json.loads(path.read_text()) == {"a": 1} and "\n  " in path.read_text()
    with pytest.raises(TypeError):
        write_json_atomic({"b": object()}, tmp_path / "z.json")
    assert not (tmp_path / "z.json").exists()
