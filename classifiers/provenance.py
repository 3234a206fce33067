"""Provenance: was this model made from these inputs, with these options?

Every model file (grid, box regressor, region rescorer) records the config
of the features it was fitted on: attribute ``feature_config`` (JSON, with
the ``config_hash`` of the shards or descriptors) and ``feature_config_hash``
(:func:`record_config`).  ``train-grid``'s ``train-summary.json`` records
the shards' folder and hash and the options.  One comparison,
:func:`config_mismatch`, answers every question asked of them: may this
model read these features (:func:`check_made_from`, when a model file is
loaded with the config its caller computes), was this file made from these
shards (:func:`made_from`), was this folder trained from these shards with
these options (:func:`trained_here`).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from hypercolumns.data.errors import InputError
from hypercolumns.data.files import read_json
from hypercolumns.extract.config import FeatureConfig, key_differences
from hypercolumns.extract.hdf5_reading import reading_hdf5
from hypercolumns.extract.shards import list_shards, shards_config

RUN_OPTIONS = ("show_progress", "n_jobs", "scheduler")
"""Options of ``train-grid`` that say how the work is spread, not what is trained."""


def record_config(attrs, config) -> None:
    """Write a model file's ``feature_config`` and ``feature_config_hash`` attributes.

    ``config``: a :class:`FeatureConfig`, a descriptor config dict, or None.
    """
    values = _as_dict(config)
    attrs["feature_config"] = json.dumps(values)
    attrs["feature_config_hash"] = str(values.get("config_hash", ""))


def recorded_config(attrs) -> dict:
    """The ``feature_config`` a model file records, as written."""
    return json.loads(attrs["feature_config"])


def config_mismatch(stored, expected) -> list[str]:
    """Why a model recording ``stored`` was not made from ``expected``; [] if it was.

    ``stored`` and ``expected`` are configs (:class:`FeatureConfig` or a
    recorded dict); ``expected`` may also be just a ``config_hash``.  Each key
    whose value differs is named, then the hash when the recorded hashes differ
    (a config not yet written has none and is compared by its keys alone).
    """
    stored = _as_dict(stored)
    if isinstance(expected, str):
        return _hash_mismatch(stored.get("config_hash"), expected)
    values = _as_dict(expected)
    if "config_hash" not in values and not isinstance(expected, FeatureConfig):
        raise ValueError("the expected config has no config_hash; pass the config as recorded "
                         "(extract.shards.read_config, region_feature_config(cnn)) or its hash")
    return (key_differences(stored, values, "model")
            + _hash_mismatch(stored.get("config_hash"), values.get("config_hash")))


def _hash_mismatch(stored_hash, expected_hash) -> list[str]:
    if expected_hash is None or stored_hash == expected_hash:
        return []
    return [f"config_hash: model has {stored_hash!r}, current config {expected_hash!r}"]


def _as_dict(config) -> dict:
    return config.to_dict() if isinstance(config, FeatureConfig) else dict(config or {})


def check_made_from(path, stored, expected, remedy: str) -> None:
    """InputError naming ``path`` and what differs unless its model was made from ``expected``
    (one line: the command line shows it as it is)."""
    differences = config_mismatch(stored, expected)
    if differences:
        raise InputError(f"{path} was made from features of another config ("
                         + "; ".join(differences) + f"); {remedy}")


def made_from(path, config_hash: str) -> bool:
    """Whether the model file at ``path`` exists and was made from the shards of ``config_hash``."""
    path = Path(path)
    if not path.is_file():
        return False
    with reading_hdf5(path, "model file") as f:
        stored = recorded_config(f.attrs)
    if config_mismatch(stored, config_hash):
        print(f"{path} was made from other shards: making it again")
        return False
    return True


def trained_here(out_dir: Path, shards_dir: Path, options) -> bool:
    """Whether ``out_dir`` already holds what ``train_grids(shards_dir, out_dir, options)`` makes.

    Its ``train-summary.json`` must name the same shards (folder and config
    hash) and options (``TrainOptions``, all but :data:`RUN_OPTIONS`), and a
    file for each K of ``options`` that is there, so a rerun after a crash
    trains only what is missing.
    """
    summary_path = Path(out_dir) / "train-summary.json"
    if not summary_path.is_file():
        return False
    summary = read_json(summary_path)

    def as_json(o) -> dict:
        return {k: v for k, v in json.loads(json.dumps(asdict(o))).items() if k not in RUN_OPTIONS}

    wanted, defaults = as_json(options), as_json(type(options)())
    # an option missing from an older summary did not exist then: it was its default
    recorded = {k: summary["options"].get(k, defaults[k]) for k in wanted}
    files = [summary["grids"].get(str(K), {}).get("file") for K in options.Ks]
    return (summary.get("shards") == str(shards_dir) and recorded == wanted
            and not config_mismatch({"config_hash": summary.get("feature_config_hash")},
                                    shards_config(list_shards(shards_dir)).config_hash)
            # each grid beside its summary: the recorded path is relative to the folder the run started in
            and all(file is not None and (Path(out_dir) / Path(file).name).is_file() for file in files))
