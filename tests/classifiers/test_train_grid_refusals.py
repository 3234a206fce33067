"""``hypercolumns train-grid`` refuses bad input (issue 16): exit 2, one line naming it, nothing in --out."""
from __future__ import annotations

import shutil
import struct

import h5py
import pytest
from distributed import LocalCluster
from refusal import assert_refused
from synthetic_shards import small_config, write_synthetic_shards

from hypercolumns.classifiers import train
from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.extract.shards import list_shards, read_rows
from hypercolumns.pipelines.commands.cli import main as cli

QUICK = ["--K", "1", "--C-grid", "1e-3", "--n-jobs", "1"]


@pytest.fixture
def shards(tmp_path):
    """Three small shards of one config, fresh for each test (the tests damage them)."""
    folder = tmp_path / "shards"
    write_synthetic_shards(folder, n_shards=3, boxes_per_shard=6)
    return folder


def assert_train_grid_refused(capsys, shards, out, names, *flags) -> str:
    """``train-grid`` on ``shards`` into ``out`` is refused naming ``names``; ``out`` is not made."""
    return assert_refused(capsys, ["train-grid", "--shards", shards, "--out", out, *QUICK, *flags],
                          names, [out])


def cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def cut_in_half_keeping_it_openable(path) -> None:
    """Rewrite the shard at ``path`` with its features last, cut that in half, and record the
    cut length as the end of file in the superblock (version 0: end-of-file address at byte
    40): h5py opens it, reads its attributes and small datasets, and fails on the features."""
    whole = path.with_name("whole.tmp")
    path.rename(whole)
    with h5py.File(whole, "r") as source, h5py.File(path, "w") as copy:
        copy.attrs.update(source.attrs)
        for name in ("location", "box_index", "labels", "boxes"):
            source.copy(source[name], copy, name)
        copy.create_dataset("features", data=source["features"][:])  # contiguous, at the end
    whole.unlink()
    data = bytearray(path.read_bytes()[:path.stat().st_size // 2])
    assert data[8] == 0, "superblock version 0 expected"
    data[40:48] = struct.pack("<Q", len(data))
    path.write_bytes(bytes(data))


def test_a_folder_without_shards_is_refused(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no shards here")
    assert_train_grid_refused(capsys, empty, tmp_path / "out", [empty, "no shards"])


def test_a_folder_that_does_not_exist_is_refused(capsys, tmp_path):
    missing = tmp_path / "missing"
    assert_train_grid_refused(capsys, missing, tmp_path / "out", [missing, "not found"])
    with pytest.raises(MissingFileError):
        list_shards(missing)


def test_a_shard_of_another_config_among_the_others_is_refused_naming_both_hashes(
        capsys, shards, tmp_path):
    other = small_config(padding=8)
    write_synthetic_shards(tmp_path / "other", n_shards=1, config=other)
    odd = shards / "shard-00001.h5"
    shutil.move(tmp_path / "other" / "shard-00000.h5", odd)
    line = assert_train_grid_refused(capsys, shards, tmp_path / "out",
                   [odd, other.config_hash, small_config().config_hash, shards / "shard-00000.h5"])
    assert "padding: shard-00001.h5 has 8, shard-00000.h5 16" in line


def test_a_truncated_shard_is_refused(capsys, shards, tmp_path):
    cut_in_half(shards / "shard-00001.h5")
    assert_train_grid_refused(capsys, shards, tmp_path / "out", [shards / "shard-00001.h5", "truncated"])


def test_a_shard_that_opens_but_is_cut_short_is_refused_when_its_data_is_read(
        capsys, shards, tmp_path):
    damaged = shards / "shard-00002.h5"
    cut_in_half_keeping_it_openable(damaged)
    with h5py.File(damaged, "r") as f:  # the cut is met only when the features are read
        assert f.attrs["schema"] == "hypercolumns.shard/1" and len(f["location"][:]) == 600
    assert_train_grid_refused(capsys, shards, tmp_path / "out", [damaged, "corruption"])
    with pytest.raises(InputError, match="shard-00002.h5: not a hypercolumns shard, or a damaged one"):
        read_rows(damaged)


def damage_after_indexing(monkeypatch, path) -> None:
    """Cut ``path`` in half once the rows are indexed and standardised: only the cell jobs meet it."""
    load = train.load_training_set

    def load_then_damage(*args, **kwargs):
        data = load(*args, **kwargs)
        cut_in_half(path)
        return data

    monkeypatch.setattr(train, "load_training_set", load_then_damage)


def test_a_shard_damaged_under_the_worker_processes_is_refused_naming_it(
        capsys, shards, tmp_path, monkeypatch):
    damaged = shards / "shard-00001.h5"
    damage_after_indexing(monkeypatch, damaged)
    line = assert_train_grid_refused(capsys, shards, tmp_path / "out", [damaged], "--n-jobs", "2")
    assert "_RemoteTraceback" not in line


def test_a_shard_damaged_under_dask_workers_is_refused_naming_it(
        capsys, shards, tmp_path, monkeypatch):
    damaged = shards / "shard-00000.h5"
    damage_after_indexing(monkeypatch, damaged)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert_train_grid_refused(capsys, shards, tmp_path / "out", [damaged], "--scheduler",
                cluster.scheduler_address)


def test_a_file_that_is_not_hdf5_is_refused(capsys, shards, tmp_path):
    (shards / "shard-00001.h5").write_text("these are not hypercolumns\n")
    assert_train_grid_refused(capsys, shards, tmp_path / "out",
            [shards / "shard-00001.h5", "not a hypercolumns shard"])


def test_an_hdf5_file_of_another_schema_is_refused(capsys, shards, tmp_path):
    with h5py.File(shards / "shard-00002.h5", "w") as f:
        f.attrs["schema"] = "hypercolumns.grid/1"
    assert_train_grid_refused(capsys, shards, tmp_path / "out",
            [shards / "shard-00002.h5", "hypercolumns.grid/1", "hypercolumns.shard/1"])


def test_a_shard_without_one_of_its_datasets_is_refused(capsys, shards, tmp_path):
    with h5py.File(shards / "shard-00001.h5", "a") as f:
        del f["box_index"]
    assert_train_grid_refused(capsys, shards, tmp_path / "out", [shards / "shard-00001.h5", "box_index"])


def test_a_target_the_shards_lack_is_refused(capsys, shards, tmp_path):
    assert_train_grid_refused(capsys, shards, tmp_path / "out",
            [shards / "shard-00000.h5", "'parts'", "figure_ground"], "--target", "parts")


@pytest.mark.parametrize("flag,value", [
    ("--K", "0"), ("--K", "51"), ("--C-grid", "0"), ("--C-grid", "nan"), ("--holdout", "1.5"),
    ("--holdout", "-0.1"), ("--max-rows-per-cell", "0"), ("--search-cells", "0"),
    ("--min-rows-per-cell", "-1"), ("--n-jobs", "0"), ("--blocks", "fc7")])
def test_an_impossible_option_value_is_refused_naming_the_option(capsys, shards, tmp_path,
                                                                 flag, value):
    assert_train_grid_refused(capsys, shards, tmp_path / "out", [flag if flag != "--blocks" else "fc7"], flag, value)


def test_holdout_zero_with_several_C_values_is_refused(capsys, shards, tmp_path):
    assert_train_grid_refused(capsys, shards, tmp_path / "out", ["--holdout 0", "--C-grid"],
            "--holdout", "0", "--C-grid", "1e-3", "1e-2")


@pytest.mark.parametrize("flag", ["--solver", "--category-mode"])
def test_an_unknown_choice_is_refused_by_the_parser(capsys, shards, tmp_path, flag):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_status:
        cli(["train-grid", "--shards", str(shards), "--out", str(tmp_path / "out"), flag, "bogus"])
    assert exit_status.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "invalid choice: 'bogus'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_options_of_the_python_api_are_checked_alike(tmp_path):
    with pytest.raises(InputError, match="--solver"):
        train.train_grids(tmp_path, tmp_path / "out", train.TrainOptions(solver="bogus"))
