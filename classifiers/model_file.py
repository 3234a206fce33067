"""A trained :class:`GridModel` on disk: HDF5, schema ``hypercolumns.grid/1``.

Root attributes
    ``schema``, ``K``, ``layer_spec`` (str), ``blocks`` (``LayerSpec.to_json()``),
    ``feature_dim``, ``feature_config`` (JSON of the shards' config, with its
    ``config_hash``), ``feature_config_hash``, ``network``, ``weights_sha256``,
    ``categories`` (JSON list), ``info`` (JSON: training facts; the per-cell
    arrays below are not repeated in it).

Datasets (D features, K x K cells, float32 unless stated)

=======================================  ===============  ==============================
``standardization/mean``                 (D,)             ``z = (feature - mean) / scale``
``standardization/scale``                (D,)             > 0
``grids/<category>/coef/<block name>``   (K, K, size)     standardised-space weights of
                                                          the block's slice of the
                                                          hypercolumn, in block order
``grids/<category>/intercept``           (K, K)
``grids/<category>/n_rows``              (K, K) int64     training rows of each cell
``grids/<category>/train_accuracy``      (K, K)           NaN where unknown
=======================================  ===============  ==============================

Each ``grids/<category>`` group has attribute ``C`` (NaN where unknown).
``<category>`` is ``__all__`` for the class-agnostic grid.  The weights are
split by block so inference can reshape each block into a convolution kernel.

The file is written to ``<name>.tmp`` and renamed, so a model under its final
name is whole.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from hypercolumns.classifiers.grid_model import GridModel
from hypercolumns.classifiers.provenance import check_made_from, record_config, recorded_config
from hypercolumns.data.files import atomic_file
from hypercolumns.extract.config import FeatureConfig
from hypercolumns.extract.hdf5_reading import attr_text, open_schema_file
from hypercolumns.extract.layer_spec import LayerSpec

SCHEMA = "hypercolumns.grid/1"
PER_CELL = ("n_rows", "train_accuracy")


def save_grid(model: GridModel, path: Path) -> Path:
    """Write ``model`` to ``path`` (atomically); returns the path."""
    path = Path(path)
    _check_model(model, path)
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attributes(f, model)
        f.create_dataset("standardization/mean", data=np.asarray(model.mean, np.float32))
        f.create_dataset("standardization/scale", data=np.asarray(model.scale, np.float32))
        for category in model.categories:
            _write_grid(f.create_group(f"grids/{category}"), model, category)
    return path


def load_grid(path: Path, expected_config: FeatureConfig | None = None) -> GridModel:
    """Read a model file.

    Parameters
    ----------
    path : path
    expected_config : FeatureConfig, optional
        The feature config the caller will compute features with; a model
        trained on features made otherwise is refused
        (:func:`~hypercolumns.classifiers.provenance.check_made_from`).

    Raises
    ------
    MissingFileError
        No file at ``path``.
    InputError
        Not a ``hypercolumns.grid/1`` file, a damaged one (truncated, a
        dataset or attribute missing), or its feature config differs from
        ``expected_config`` (naming each differing key); the message names the file.
    """
    with open_schema_file(path, SCHEMA, "grid model", "run `hypercolumns train-grid`") as f:
        feature_config = FeatureConfig.from_dict(recorded_config(f.attrs))
        if expected_config is not None:
            check_made_from(path, feature_config, expected_config,
                            "retrain with `hypercolumns train-grid` on shards of this config")
        return _read_model(f, feature_config)


def _check_model(model: GridModel, path: Path) -> None:
    dim = model.spec.dim
    for category in model.categories:
        if "/" in category or not category:
            raise ValueError(f"{path}: category {category!r} cannot name an HDF5 group")
        shape = np.shape(model.coef[category])
        if shape != (model.K, model.K, dim):
            raise ValueError(f"{path}: coef of {category!r} has shape {shape}, expected "
                             f"({model.K}, {model.K}, {dim})")
    if np.shape(model.mean) != (dim,) or np.shape(model.scale) != (dim,):
        raise ValueError(f"{path}: mean and scale must have shape ({dim},)")


def _write_attributes(f: h5py.File, model: GridModel) -> None:
    config = model.feature_config
    f.attrs["schema"] = SCHEMA
    f.attrs["K"] = int(model.K)
    f.attrs["layer_spec"] = str(model.spec)
    f.attrs["blocks"] = model.spec.to_json()
    f.attrs["feature_dim"] = int(model.spec.dim)
    record_config(f.attrs, config)
    f.attrs["network"] = config.network
    f.attrs["weights_sha256"] = config.weights_sha256
    f.attrs["categories"] = json.dumps(list(model.categories))
    f.attrs["info"] = json.dumps(_info_without_cells(model.info), default=json_default)


def _write_grid(group: h5py.Group, model: GridModel, category: str) -> None:
    K = model.K
    coef = np.asarray(model.coef[category], np.float32)
    for block in model.spec.blocks:
        block_coef = coef[:, :, block.offset:block.offset + block.size]
        group.create_dataset(f"coef/{block.name}", data=block_coef)
    group.create_dataset("intercept", data=np.asarray(model.intercept[category], np.float32))
    facts = model.info.get("grids", {}).get(category, {})
    group.create_dataset("n_rows", data=np.asarray(facts.get("n_rows", np.zeros((K, K))), np.int64))
    group.create_dataset("train_accuracy", data=np.asarray(
        facts.get("train_accuracy", np.full((K, K), np.nan)), np.float32))
    group.attrs["C"] = float(facts.get("C", np.nan))


def _read_model(f: h5py.File, feature_config: FeatureConfig) -> GridModel:
    spec = LayerSpec.from_json(attr_text(f.attrs["blocks"]))
    categories = json.loads(attr_text(f.attrs["categories"]))
    info = json.loads(attr_text(f.attrs["info"]))
    coef, intercept = {}, {}
    for category in categories:
        group = f[f"grids/{category}"]
        coef[category] = np.concatenate([group[f"coef/{b.name}"][:] for b in spec.blocks], axis=2)
        intercept[category] = group["intercept"][:]
        facts = info.setdefault("grids", {}).setdefault(category, {})
        facts.update({name: group[name][:] for name in PER_CELL})
        facts["C"] = float(group.attrs["C"])
    return GridModel(int(f.attrs["K"]), spec, categories, coef, intercept,
                     f["standardization/mean"][:], f["standardization/scale"][:],
                     feature_config, info)


def _info_without_cells(info: dict) -> dict:
    """``info`` minus the per-cell arrays and C, which have their own datasets."""
    info = dict(info)
    if "grids" in info:
        info["grids"] = {category: {k: v for k, v in facts.items() if k not in PER_CELL + ("C",)}
                         for category, facts in info["grids"].items()}
    return info


def json_default(value):
    """``json.dumps(default=...)`` for numpy arrays and scalars in the files' info JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
