"""``hypercolumns train-grid`` end to end on small synthetic shards."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from synthetic_shards import small_config, small_spec

from hypercolumns.classifiers.feature_blocks import select_blocks
from hypercolumns.classifiers.grid_model import AGNOSTIC
from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.classifiers.rows import RowIndex
from hypercolumns.classifiers.standardize import standardization_from_shards
from hypercolumns.classifiers.grid import search_cells
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.extract.shards import list_shards
from hypercolumns.pipelines.commands.train_grid import main


@pytest.fixture(scope="module")
def trained(shard_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("grids")
    code = main(["--shards", str(shard_folder), "--out", str(out), "--K", "1", "2", "5",
                 "--C-grid", "1e-3", "1e-2", "--holdout", "0.25", "--n-jobs", "2",
                 "--max-rows-per-cell", "1500", "--category-mode", "per-category",
                 "--min-rows-per-cell", "70"])
    assert code == 0
    return out, json.loads((out / "train-summary.json").read_text())


def test_writes_one_loadable_model_per_K_with_block_shaped_weights(trained):
    out, summary = trained
    spec = small_spec()
    for K in (1, 2, 5):
        path = out / f"grid-K{K}.h5"
        assert str(path) in summary["files"]
        model = load_grid(path, expected_config=small_config())
        assert model.K == K and model.spec == spec
        assert model.coef[AGNOSTIC].shape == (K, K, spec.dim)
        with h5py.File(path, "r") as f:
            for block in spec.blocks:
                assert f[f"grids/{AGNOSTIC}/coef/{block.name}"].shape == (K, K, block.size)
            assert f.attrs["feature_config_hash"] == small_config().config_hash
        assert model.info["grids"][AGNOSTIC]["C"] in (1e-3, 1e-2)
    assert not list(out.glob("*.tmp"))


def test_prints_what_it_wrote(shard_folder, tmp_path, capsys):
    assert main(["--shards", str(shard_folder), "--out", str(tmp_path), "--K", "2",
                 "--C-grid", "1e-3", "--n-jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "K=2:" in printed and "rows per cell" in printed and "C=0.001" in printed
    assert f"wrote {tmp_path / 'grid-K2.h5'}" in printed
    assert f"wrote {tmp_path / 'train-summary.json'}" in printed


def test_held_out_split_is_by_image(trained, shard_folder):
    _, summary = trained
    heldout, train = set(summary["split"]["heldout_images"]), set(summary["split"]["train_images"])
    assert heldout and train and not heldout & train
    index = RowIndex.build(list_shards(shard_folder), "figure_ground", 0.25, 0)
    assert heldout | train == set(index.image_id)
    for image in set(index.image_id):
        flags = index.heldout[index.image_id == image]
        assert flags.all() or not flags.any()  # all rows of an image on one side
        assert flags[0] == (image in heldout)


def test_summary_reports_each_K(trained):
    _, summary = trained
    for K in ("1", "2", "5"):
        facts = summary["grids"][K]
        assert facts["C"] in (1e-3, 1e-2) and set(facts["search"]) == {"0.001", "0.01"}
        assert 0.5 < facts["train_accuracy"] <= 1 and 0.5 < facts["heldout_accuracy"] <= 1
        rows = facts["rows_per_cell"]
        assert rows["min"] <= rows["median"] <= rows["max"] <= 1500
    assert summary["grids"]["1"]["rows_per_cell"]["max"] == 1500  # 4,500+ rows, capped
    assert summary["grids"]["5"]["search_cells"] == [list(divmod(k, 5)) for k in search_cells(5, 9)]


def test_per_category_grids_where_there_are_enough_rows(trained):
    out, summary = trained
    # 1,400-1,700 rows per category: 70 rows per cell admits K = 1, 2 (not 5: 1,750 rows)
    assert set(summary["grids"]["2"]["categories"]) == {"car", "dog", "person"}
    assert summary["grids"]["5"]["categories"] == {}
    assert set(summary["grids"]["5"]["categories_without_grid"]) == {"car", "dog", "person"}
    model = load_grid(out / "grid-K2.h5")
    assert model.categories == [AGNOSTIC, "car", "dog", "person"]
    assert model.category_key("dog") == "dog"
    assert load_grid(out / "grid-K5.h5").category_key("dog") == AGNOSTIC


def test_rows_per_cell_sample_is_deterministic(shard_folder):
    index = RowIndex.build(list_shards(shard_folder), "figure_ground", 0.2, 0)
    first = index.cell_rows(1, 0, 1000, seed=0)
    assert len(first) == 1000 and np.all(np.diff(first) > 0)
    np.testing.assert_array_equal(first, index.cell_rows(1, 0, 1000, seed=0))
    assert not np.array_equal(first, index.cell_rows(1, 0, 1000, seed=1))


def test_search_cells_are_spread_and_include_the_corners():
    assert search_cells(2, 9) == [0, 1, 2, 3]
    cells = search_cells(10, 9)
    assert len(cells) == 9 and cells[0] == 0 and cells[-1] == 99


def test_user_errors_name_the_problem(shard_folder, tmp_path):
    with pytest.raises(MissingFileError, match="missing"):
        main(["--shards", str(tmp_path / "missing"), "--out", str(tmp_path)])
    with pytest.raises(InputError, match="--holdout 0"):
        main(["--shards", str(shard_folder), "--out", str(tmp_path), "--holdout", "0"])
    with pytest.raises(InputError, match="no labels for target 'parts'"):
        main(["--shards", str(shard_folder), "--out", str(tmp_path), "--target", "parts"])


def test_select_blocks_reoffsets_the_chosen_blocks_and_keeps_xy():
    spec = small_spec()  # pool3:3 (36), conv4_3 (6), global (6), xy (2)
    subset, columns = select_blocks(spec, ("global",))
    assert [(b.name, b.offset, b.size) for b in subset.blocks] == [("global", 0, 6), ("xy", 6, 2)]
    assert columns.tolist() == list(range(42, 50))
    assert select_blocks(spec, None) == (spec, None)
    with pytest.raises(InputError, match="fc7.*choose among"):
        select_blocks(spec, ("fc7",))


def test_training_on_some_blocks_gives_a_model_of_that_spec(shard_folder, tmp_path):
    options = TrainOptions(Ks=(2,), C_grid=(1e-2,), n_jobs=1, blocks=("conv4_3", "global"),
                           show_progress=False)
    summary = train_grids(shard_folder, tmp_path, options, log=lambda line: None)
    model = load_grid(tmp_path / "grid-K2.h5", expected_config=small_config())
    assert [b.name for b in model.spec.blocks] == ["conv4_3", "global", "xy"]
    assert model.spec.dim == 14 and model.coef[AGNOSTIC].shape == (2, 2, 14)
    full = standardization_from_shards(list_shards(shard_folder))
    np.testing.assert_allclose(model.mean, full.mean[36:], rtol=1e-6)
    assert summary["options"]["blocks"] == ("conv4_3", "global")


def test_excluded_images_leave_the_row_index_and_the_standardisation(shard_folder):
    shards = list_shards(shard_folder)
    excluded = ("img0001", "img0004", "img0009")
    full = RowIndex.build(shards, "figure_ground", 0.25, 0)
    kept = ~np.isin(full.image_id.astype(str), excluded)
    index = RowIndex.build(shards, "figure_ground", 0.25, 0, exclude_images=excluded)
    assert not set(excluded) & set(index.image_id)
    for name in ("shard", "row", "location", "label", "heldout"):
        np.testing.assert_array_equal(getattr(index, name), getattr(full, name)[kept])
    features = []
    for path in shards:                          # every row (labelled or not) of the kept images
        with h5py.File(path, "r") as f:
            image_of_row = f["boxes/image_id"].asstr()[:][f["box_index"][:]]
            features.append(f["features"][:][~np.isin(image_of_row, excluded)].astype(np.float64))
    features = np.concatenate(features)
    standardization = standardization_from_shards(shards, exclude_images=excluded)
    assert standardization.n_rows == len(features)
    np.testing.assert_allclose(standardization.mean, features.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(standardization.std, features.std(axis=0), rtol=1e-5, atol=1e-6)


def test_training_without_some_images_never_sees_them(shard_folder, tmp_path):
    excluded = ("img0000", "img0005")
    summary = train_grids(shard_folder, tmp_path, TrainOptions(Ks=(2,), C_grid=(1e-3,), n_jobs=1,
                                                              exclude_images=excluded,
                                                              show_progress=False), log=lambda *_: None)
    seen = set(summary["split"]["heldout_images"]) | set(summary["split"]["train_images"])
    assert seen and not seen & set(excluded)
    assert tuple(summary["options"]["exclude_images"]) == excluded
    full = RowIndex.build(list_shards(shard_folder), "figure_ground", 0.2, 0)
    assert summary["rows"] == int((~np.isin(full.image_id.astype(str), excluded)).sum())


def test_trained_here_knows_the_grids_these_shards_and_options_made(shard_folder, tmp_path):
    from hypercolumns.classifiers.provenance import trained_here

    options = TrainOptions(Ks=(2,), C_grid=(1e-3,), n_jobs=1, show_progress=False)
    assert not trained_here(tmp_path, shard_folder, options)
    train_grids(shard_folder, tmp_path, options, log=lambda *_: None)
    assert trained_here(tmp_path, shard_folder, replace(options, n_jobs=2, show_progress=True))
    assert not trained_here(tmp_path, shard_folder, replace(options, C_grid=(1e-2,)))
    assert not trained_here(tmp_path, shard_folder, replace(options, Ks=(2, 5)))
    summary_path = tmp_path / "train-summary.json"
    summary = json.loads(summary_path.read_text())
    del summary["options"]["exclude_images"]        # a summary from before that option existed
    summary_path.write_text(json.dumps(summary))
    assert trained_here(tmp_path, shard_folder, options)
    assert not trained_here(tmp_path, shard_folder, replace(options, exclude_images=("img0001",)))
    (tmp_path / "grid-K2.h5").unlink()
    assert not trained_here(tmp_path, shard_folder, options)


def test_trained_here_finds_grids_trained_from_another_folder(shard_folder, tmp_path, monkeypatch):
    """The summary records the grid paths as given (relative to where the run started): a later run
    started elsewhere, naming the same folder, keeps them (it retrained every fold grid before)."""
    from hypercolumns.classifiers.provenance import trained_here

    options = TrainOptions(Ks=(2,), C_grid=(1e-3,), n_jobs=1, show_progress=False)
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    train_grids(shard_folder, Path("work/grids"), options, log=lambda *_: None)
    assert json.loads((tmp_path / "project/work/grids/train-summary.json").read_text())["files"][0] == \
        "work/grids/grid-K2.h5"
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert trained_here(tmp_path / "project/work/grids", shard_folder, options)
    (tmp_path / "project/work/grids/grid-K2.h5").unlink()
    assert not trained_here(tmp_path / "project/work/grids", shard_folder, options)


def test_grids_on_the_same_rows_share_one_pass_over_the_shards_until_a_file_changes(shard_folder, tmp_path,
                                                                                     monkeypatch):
    import shutil

    import hypercolumns.classifiers.train as train

    shards_copy = tmp_path / "shards"
    shutil.copytree(shard_folder, shards_copy)
    passes = []
    counted = train.standardization_from_shards
    monkeypatch.setattr(train, "standardization_from_shards",
                        lambda *args, **kwargs: passes.append(1) or counted(*args, **kwargs))

    def raw_mean():   # every row of every shard file, as numpy reads them now
        return np.concatenate([h5py.File(p, "r")["features"][:].astype(np.float64)
                               for p in list_shards(shards_copy)]).mean(axis=0)

    options = TrainOptions(Ks=(1,), C_grid=(1e-2,), n_jobs=1, show_progress=False)
    quiet = dict(log=lambda line: None)
    train_grids(shards_copy, tmp_path / "full", options, **quiet)
    train_grids(shards_copy, tmp_path / "blocks", replace(options, blocks=("conv4_3", "global")), **quiet)
    assert len(passes) == 1
    np.testing.assert_allclose(load_grid(tmp_path / "blocks" / "grid-K1.h5").mean, raw_mean()[36:], rtol=1e-5)
    train_grids(shards_copy, tmp_path / "fold", replace(options, exclude_images=("img0001",)), **quiet)
    assert len(passes) == 2                          # other rows: another pass

    first = list_shards(shards_copy)[0]
    with h5py.File(first, "r+") as f:                # the same path, other features
        f["features"][...] = f["features"][:] * 2 + 1
    train_grids(shards_copy, tmp_path / "changed", replace(options, blocks=("conv4_3", "global")), **quiet)
    assert len(passes) == 3
    np.testing.assert_allclose(load_grid(tmp_path / "changed" / "grid-K1.h5").mean, raw_mean()[36:], rtol=1e-5)
