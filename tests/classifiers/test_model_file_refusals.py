"""The model loaders refuse a damaged or foreign file with an InputError naming it (issue 16).

Each loader (grid model, box regressor, region rescorer) is given a file it
saved and then damaged: garbage bytes, a truncated copy, HDF5 without the
``schema`` attribute, a dataset or attribute deleted, a JSON attribute that
does not parse.  Each must be an :class:`InputError` (never h5py's ``OSError``
or ``KeyError``) whose message names the file; a missing file is a
:class:`MissingFileError`.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from synthetic_shards import small_config
from test_model_file import random_model

from hypercolumns.classifiers.bbox_regression import BoxRegressor
from hypercolumns.classifiers.grid_model import GridModel
from hypercolumns.classifiers.model_file import load_grid, save_grid
from hypercolumns.classifiers.provenance import check_made_from, made_from
from hypercolumns.classifiers.rescoring import RegionRescorer, load_rescorer
from hypercolumns.data.errors import InputError, MissingFileError


def saved_grid(path):
    return save_grid(random_model(K=2), path)


def saved_box_regressor(path):
    rng = np.random.default_rng(0)
    proposals = np.tile([[10.0, 10.0, 60.0, 80.0]], (40, 1)) + rng.uniform(0, 5, (40, 4))
    model = BoxRegressor(alpha=1.0, min_iou=0.5).fit(
        rng.normal(size=(40, 6)), proposals, proposals + rng.normal(0, 1, (40, 4)),
        ["cat"] * 40, np.ones(40), feature_config=small_config(), feature_block="global")
    return model.save(path)


def saved_rescorer(path):
    rng = np.random.default_rng(0)
    positives, negatives = rng.normal(size=(20, 8)) + 3, rng.normal(size=(60, 8)) - 3
    rescorer = RegionRescorer(C=1e-2, initial_negatives=30).fit(
        np.concatenate([positives, negatives]), ["cat"] * 80,
        np.concatenate([np.full(20, 0.9), np.full(60, 0.1)]), {"config_hash": "ab" * 8})
    return rescorer.save(path)


# (how to save one, how to load one, a dataset, an attribute, the class loaded)
LOADERS = {
    "grid model": (saved_grid, load_grid, "standardization/mean", "categories", GridModel),
    "box regressor": (saved_box_regressor, BoxRegressor.load, "coef", "alpha", BoxRegressor),
    "region rescorer": (saved_rescorer, load_rescorer, "standardization/scale", "params", RegionRescorer),
}


@pytest.fixture(params=list(LOADERS))
def loader(request, tmp_path):
    """``(saved file, load, what, dataset, attribute, class)`` for each kind of model file."""
    save, load, dataset, attribute, kind = LOADERS[request.param]
    return save(tmp_path / "model.h5"), load, request.param, dataset, attribute, kind


def assert_load_refused(load, path, *names) -> str:
    with pytest.raises(InputError) as error:
        load(path)
    message = str(error.value)
    for name in (str(path), *names):
        assert name in message, f"{name!r} not in {message!r}"
    assert "\n" not in message
    return message


def test_the_saved_file_loads(loader):
    path, load, *_, kind = loader
    assert isinstance(load(path), kind)  # the damage below is all that makes the other tests fail


def test_a_missing_file_is_a_missing_file_error(loader, tmp_path):
    _, load, what, *_ = loader
    with pytest.raises(MissingFileError, match=f"{what} not found: .*absent.h5"):
        load(tmp_path / "absent.h5")


def test_a_file_of_garbage_is_refused(loader):
    path, load, what, *_ = loader
    path.write_bytes(b"\x89 these bytes are no model\n" * 40)
    assert_load_refused(load, path, f"not a {what}")


def test_a_truncated_file_is_refused(loader):
    path, load, what, *_ = loader
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert_load_refused(load, path, f"not a {what}, or a damaged one", "truncated")


def test_an_hdf5_file_without_the_schema_attribute_is_refused(loader):
    path, load, what, *_ = loader
    with h5py.File(path, "a") as f:
        del f.attrs["schema"]
    assert_load_refused(load, path, f"not a {what} (schema None")


def test_a_file_without_one_of_its_datasets_is_refused(loader):
    path, load, what, dataset, *_ = loader
    with h5py.File(path, "a") as f:
        del f[dataset]
    assert_load_refused(load, path, what, dataset.split("/")[-1])


def test_a_file_without_one_of_its_attributes_is_refused(loader):
    path, load, what, _, attribute, _ = loader
    with h5py.File(path, "a") as f:
        del f.attrs[attribute]
    assert_load_refused(load, path, what, attribute)


def test_a_json_attribute_that_does_not_parse_is_refused(loader):
    path, load, what, *_ = loader
    with h5py.File(path, "a") as f:
        f.attrs["feature_config"] = '{"network": "vgg16",'
    assert_load_refused(load, path, what)


def test_a_recorded_feature_config_lacking_keys_is_refused_naming_the_file(tmp_path):
    path = saved_grid(tmp_path / "grid.h5")
    with h5py.File(path, "a") as f:
        recorded = json.loads(f.attrs["feature_config"])
        del recorded["crop_size"]
        f.attrs["feature_config"] = json.dumps(recorded)
    assert_load_refused(load_grid, path, "feature config lacks crop_size")


def test_a_model_of_other_features_is_refused_in_one_line(tmp_path):
    path = saved_grid(tmp_path / "grid.h5")
    with pytest.raises(InputError) as error:
        load_grid(path, expected_config=small_config(crop_size=227, min_iou=0.5))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "crop_size: model has 224, current config 227; min_iou: model has 0.7" in message
    with pytest.raises(InputError, match="remedy$"):
        check_made_from(path, small_config(), small_config(padding=8), "remedy")


def test_made_from_refuses_a_damaged_model_file(tmp_path):
    path = tmp_path / "grid-K2.h5"
    path.write_text("not a model")
    with pytest.raises(InputError, match="grid-K2.h5: not a model file"):
        made_from(path, small_config().config_hash)
