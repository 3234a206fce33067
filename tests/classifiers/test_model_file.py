"""Grid model files: round trip, block layout, and the refusals."""
from __future__ import annotations

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
from synthetic_shards import small_config, small_spec

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.model_file import SCHEMA, load_grid, save_grid
from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.extract.config import FeatureSource


def random_model(K=3, seed=0) -> GridModel:
    spec = small_spec()
    rng = np.random.default_rng(seed)
    categories = [AGNOSTIC, "person"]
    info = {"solver": "dual", "grids": {
        name: {"C": 1e-4, "n_rows": rng.integers(0, 500, (K, K)),
               "train_accuracy": rng.random((K, K)), "notes": {"0,1": "single class"}}
        for name in categories}}
    return GridModel(K, spec, categories,
                     {name: rng.normal(size=(K, K, spec.dim)).astype(np.float32)
                      for name in categories},
                     {name: rng.normal(size=(K, K)).astype(np.float32) for name in categories},
                     rng.normal(size=spec.dim).astype(np.float32),
                     rng.random(spec.dim).astype(np.float32) + 0.5, small_config(spec), info)


def test_round_trip_keeps_every_array_and_fact(tmp_path):
    model = random_model()
    path = save_grid(model, tmp_path / "grid-K3.h5")
    loaded = load_grid(path, expected_config=small_config())
    assert loaded.K == 3 and loaded.categories == model.categories
    assert loaded.spec == model.spec and loaded.feature_config == model.feature_config
    for name in model.categories:
        np.testing.assert_array_equal(loaded.coef[name], model.coef[name])
        np.testing.assert_array_equal(loaded.intercept[name], model.intercept[name])
        facts, stored = loaded.info["grids"][name], model.info["grids"][name]
        np.testing.assert_array_equal(facts["n_rows"], stored["n_rows"])
        np.testing.assert_allclose(facts["train_accuracy"], stored["train_accuracy"], rtol=1e-6)
        assert facts["C"] == 1e-4 and facts["notes"] == {"0,1": "single class"}
    np.testing.assert_array_equal(loaded.mean, model.mean)
    np.testing.assert_array_equal(loaded.scale, model.scale)
    assert loaded.info["solver"] == "dual"
    assert not (tmp_path / "grid-K3.h5.tmp").exists()


def test_weights_are_split_into_the_blocks_of_the_spec(tmp_path):
    model = random_model(K=2)
    path = save_grid(model, tmp_path / "grid.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == SCHEMA and f.attrs["feature_dim"] == 50
        assert f.attrs["feature_config_hash"] == small_config().config_hash
        for block in model.spec.blocks:
            stored = f[f"grids/person/coef/{block.name}"]
            assert stored.shape == (2, 2, block.size) and stored.dtype == np.float32
            np.testing.assert_array_equal(
                stored[:], model.coef["person"][:, :, block.offset:block.offset + block.size])
        assert f["grids/person/n_rows"].dtype == np.int64
        assert f["standardization/scale"].shape == (50,)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MissingFileError, match="nothing.h5"):
        load_grid(tmp_path / "nothing.h5")


def test_wrong_schema_is_named(tmp_path):
    path = tmp_path / "shard-like.h5"
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = "hypercolumns.shard/1"
    with pytest.raises(InputError, match=r"shard-like\.h5.*not a grid model"):
        load_grid(path)


def test_a_file_that_is_not_hdf5_is_named(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5")
    with pytest.raises(InputError, match=r"notes\.h5: not a grid model"):
        load_grid(path)


def test_model_of_another_feature_config_is_refused_naming_the_keys(tmp_path):
    path = save_grid(random_model(), tmp_path / "grid.h5")
    other = small_config(crop_size=227, min_iou=0.5)
    with pytest.raises(InputError) as error:
        load_grid(path, expected_config=other)
    message = str(error.value)
    assert "grid.h5" in message and "crop_size" in message and "min_iou" in message
    assert "padding" not in message


def test_a_model_recorded_before_the_optional_keys_existed_loads_with_their_defaults(tmp_path):
    path = save_grid(random_model(), tmp_path / "grid.h5")
    with h5py.File(path, "r+") as f:           # as written before feature_source, candidate_source
        recorded = json.loads(f.attrs["feature_config"])
        del recorded["feature_source"], recorded["candidate_source"]
        f.attrs["feature_config"] = json.dumps(recorded)
    loaded = load_grid(path, expected_config=small_config())
    assert str(loaded.feature_config.feature_source) == "per-box"
    assert loaded.feature_config.candidate_source == "none"
    shared = replace(small_config(), feature_source=FeatureSource("shared", 224.0))
    with pytest.raises(InputError, match="grid.h5.*feature_source: model has 'per-box'"):
        load_grid(path, expected_config=shared)


def test_coef_of_the_wrong_width_is_not_written(tmp_path):
    model = random_model(K=2)
    model.coef["person"] = model.coef["person"][:, :, :10]
    with pytest.raises(ValueError, match="expected \\(2, 2, 50\\)"):
        save_grid(model, tmp_path / "grid.h5")
    assert not (tmp_path / "grid.h5").exists()
