"""A file written through atomic_file is whole or keeps its old content; JSON read back names the file."""
import json
import math

import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.files import atomic_file, nan_to_null, read_json, remove_leftovers, write_json_atomic


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


def test_two_live_private_writers_never_share_a_file(tmp_path):
    target = tmp_path / "shard-00000.h5"
    # a Dask task and its rerun copy, interleaved: the first finishes after the second started
    with atomic_file(target, private=True) as first:
        first.write_text("first, whole")
        with atomic_file(target, private=True) as second:
            assert second != first and second.name.startswith("shard-00000.h5.")
            assert first.read_text() == "first, whole"        # not truncated by the second
            second.write_text("second, whole")
        assert target.read_text() == "second, whole"
    assert target.read_text() == "first, whole"               # the last rename wins, whole
    assert not list(tmp_path.glob("*.tmp"))


def test_leftovers_of_dead_writers_are_removed_and_named(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "shard-00003.h5", private=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("worker killed")
    (tmp_path / "other.tmp").write_text("not a shard's")
    removed = remove_leftovers(tmp_path, "shard-*.tmp")
    assert [p.name.split(".")[0] for p in removed] == ["shard-00003"]
    assert not list(tmp_path.glob("shard-*.tmp")) and (tmp_path / "other.tmp").exists()


def test_read_json_names_the_file(tmp_path):
    assert read_json(write_json_atomic([1, {"a": None}], tmp_path / "ok.json")) == [1, {"a": None}]
    with pytest.raises(MissingFileError, match="JSON file not found: .*nope.json"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text('{"a": ')
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        read_json(tmp_path / "broken.json")
    (tmp_path / "latin1.json").write_bytes(b'["\xe9"]')  # not UTF-8
    with pytest.raises(ValueError, match="latin1.json: not valid JSON"):  # an InputError is a ValueError
        read_json(tmp_path / "latin1.json")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_json_is_written_strictly_and_nothing_is_left(tmp_path, bad):
    target = tmp_path / "results.json"
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json_atomic([{"score": 0.5}, {"score": float(bad)}], target)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .tmp


def test_nan_to_null_replaces_every_absent_figure(tmp_path):
    data = {"APr@0.5": 61.2, "per_class": {"bird": {"APr@0.5": math.nan, "n_gt": 0},
                                           3: [math.inf, (-math.inf, np.float64("nan"))]},
            "ratios": (np.float32("nan"), np.float32(0.5), 2, None, "NaN", True),
            "accuracy": np.array([[0.5, np.nan], [np.inf, 1.0]], np.float32)}
    assert nan_to_null(data) == {"APr@0.5": 61.2, "per_class": {"bird": {"APr@0.5": None, "n_gt": 0},
                                                                "3": [None, [None, None]]},
                                 "ratios": [None, np.float32(0.5), 2, None, "NaN", True],
                                 "accuracy": [[0.5, None], [None, 1.0]]}
    written = write_json_atomic(nan_to_null({"bird": math.nan, "cat": 50.0}), tmp_path / "summary.json")
    assert written.read_text() == '{"bird": null, "cat": 50.0}'
