"""The typed stage-one config writes what the dict of earlier versions wrote, and reads their files."""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.extract.config import FeatureConfig, FeatureSource
from hypercolumns.extract.shards import read_config, write_shard

SHARED = "shared:scale=224,max_size=1000,margin=16,padding_mode=border"


def todays_dict(**changes) -> dict:
    """A feature config as ``feature_config()`` returned it before it was typed."""
    config = {
        "feature_source": "per-box", "candidate_source": "none",
        "network": "vgg16", "weights_sha256": "ab" * 32, "layer_spec": "conv4_3:1,global,xy",
        "blocks": [{"name": "conv4_3", "n": 1, "kind": "map", "offset": 0, "size": 512,
                    "channels": 512},
                   {"name": "global", "n": 1, "kind": "vector", "offset": 512, "size": 1024,
                    "channels": 1024},
                   {"name": "xy", "n": 1, "kind": "xy", "offset": 1536, "size": 2, "channels": 2}],
        "feature_dim": 1538, "crop_size": 224, "padding": 16, "heatmap_size": 50,
        "sample_grid": 10, "rows_per_cell": 1, "seed": 0, "targets": ["figure_ground"],
        "boxes_per_instance": 4, "min_iou": 0.7,
    }
    return {**config, **changes}


KEYS = ("network", "weights_sha256", "layer_spec", "blocks", "feature_dim", "crop_size",
        "padding", "heatmap_size", "sample_grid", "rows_per_cell", "seed", "targets",
        "boxes_per_instance", "min_iou")


def old_hash(config: dict) -> str:
    """The hash as shards.config_hash computed it from the dict: defaults of later keys left out."""
    keys = list(KEYS) + [key for key, default in (("feature_source", "per-box"),
                                                  ("candidate_source", "none"))
                         if config.get(key, default) != default]
    canonical = json.dumps({key: config[key] for key in keys}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def old_attributes(config: dict) -> dict:
    """The shard attributes the dict gave: every hashed key, lists and dicts as JSON."""
    keys = [key for key in config if key in KEYS or config[key] not in ("per-box", "none")]
    return {key: json.dumps(config[key]) if isinstance(config[key], (list, dict)) else config[key]
            for key in keys}


def one_row_shard(path, config: FeatureConfig):
    rows = {"features": np.zeros((1, config.feature_dim), np.float16), "location": [0],
            "box_index": [0], "labels": {"figure_ground": [1]}}
    boxes = {"image_id": ["a"], "dataset": ["d"], "category": ["c"], "box": np.ones((1, 4)),
             "expanded_box": np.ones((1, 4)), "instance": [0], "iou": [1.0]}
    return write_shard(path, config, rows, boxes)


@pytest.mark.parametrize("changes", [{}, {"feature_source": SHARED},
                                     {"candidate_source": "degraded-ground-truth:grow=1"}])
def test_todays_dict_round_trips_to_the_same_attributes_hash_and_json(tmp_path, changes):
    old = todays_dict(**changes)
    config = FeatureConfig.from_dict(old)
    assert config.compute_hash() == old_hash(old)
    path = one_row_shard(tmp_path / "shard-00000.h5", config)
    with h5py.File(path, "r") as f:
        written = {key: f.attrs[key] for key in f.attrs
                   if key not in ("schema", "config_hash", "boxes_hash", "complete")}
        assert f.attrs["config_hash"] == old_hash(old)
    expected = old_attributes(old)
    assert set(written) == set(expected)
    for key, value in expected.items():
        assert written[key] == value, key
    again = read_config(path)
    assert again == FeatureConfig.from_dict({**old, "config_hash": old_hash(old)})
    # a model file's JSON: the shard's keys in order, the optional ones, the hash last
    recorded = {key: old[key] for key in KEYS} | {
        "feature_source": old["feature_source"], "candidate_source": old["candidate_source"],
        "config_hash": old_hash(old)}
    assert json.dumps(again.to_dict()) == json.dumps(recorded)


def test_a_config_without_the_later_keys_reads_as_their_defaults(tmp_path):
    old = {key: value for key, value in todays_dict().items()
           if key not in ("feature_source", "candidate_source")}
    config = FeatureConfig.from_dict(old)
    assert config.feature_source == FeatureSource() and str(config.feature_source) == "per-box"
    assert config.candidate_source == "none"
    assert config.compute_hash() == old_hash(old)
    path = one_row_shard(tmp_path / "shard-00000.h5", config)
    with h5py.File(path, "r") as f:
        assert "feature_source" not in f.attrs and "candidate_source" not in f.attrs
    assert read_config(path).feature_source.mode == "per-box"


def test_the_feature_source_round_trips_and_a_missing_key_is_named():
    source = FeatureSource.parse(SHARED)
    assert (source.mode, source.scale, source.max_size, source.margin) == ("shared", 224, 1000, 16)
    assert str(source) == SHARED and str(FeatureSource.parse("per-box")) == "per-box"
    # recorded before the margin was written: 16 px, the margin then (the default is none today)
    assert FeatureSource.parse("shared:scale=96") == FeatureSource("shared", 96.0, margin=16)
    assert FeatureSource("shared").margin == 0
    with pytest.raises(InputError, match="'shared:margin=3'"):
        FeatureSource.parse("shared:margin=3")
    with pytest.raises(InputError, match="lacks network"):
        FeatureConfig.from_dict({key: v for key, v in todays_dict().items() if key != "network"})
