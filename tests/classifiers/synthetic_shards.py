"""Small synthetic shards for the stage-two tests (schema of ``extract.shards``).

A helper module, not a conftest, so that its name cannot clash with ``tests/conftest.py``.
"""
from __future__ import annotations

import numpy as np

from dataclasses import replace

from hypercolumns.extract.config import FeatureConfig
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.shards import write_shard

CATEGORIES = ("person", "dog", "car")


class FakeNetwork:
    """Stands in for a TappedNetwork: a name and a few narrow layers."""

    name = "vgg16"

    def channels(self, layer: str) -> int:
        return {"pool3": 4, "conv4_3": 6, "conv5_3": 3}[layer]


def small_spec() -> LayerSpec:
    """``pool3:3,conv4_3,global,xy``: 36 + 6 + 6 + 2 = 50 dims."""
    return LayerSpec.parse("pool3:3,conv4_3,global").resolve(FakeNetwork())


def small_config(spec: LayerSpec | None = None, **changes) -> FeatureConfig:
    """A feature config of ``spec`` (default :func:`small_spec`) with its ``config_hash``."""
    spec = spec or small_spec()
    config = {
        "network": "vgg16", "weights_sha256": "ab" * 32, "layer_spec": str(spec),
        "blocks": [{"name": b.name, "n": b.n, "kind": b.kind, "offset": b.offset,
                    "size": b.size, "channels": b.channels} for b in spec.blocks],
        "feature_dim": spec.dim, "crop_size": 224, "padding": 16, "heatmap_size": 50,
        "sample_grid": 10, "rows_per_cell": 1, "seed": 0, "targets": ["figure_ground"],
        "boxes_per_instance": 4, "min_iou": 0.7,
    }
    config.update(changes)
    config = FeatureConfig.from_dict(config)
    return replace(config, config_hash=config.compute_hash())


def synthetic_box_rows(rng: np.random.Generator, n_features: int):
    """100 stratified locations of one box: features carry a noisy figure/ground signal.

    The figure is an ellipse around the box centre; dimension 0 is the label
    plus noise, the rest is noise on scales from 0.01 to 1000, and the last
    two are the location's x, y.
    """
    gy, gx = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    y = (gy * 5 + rng.integers(0, 5, (10, 10))).ravel()
    x = (gx * 5 + rng.integers(0, 5, (10, 10))).ravel()
    labels = ((((y - 25) / 18.0) ** 2 + ((x - 25) / 15.0) ** 2) < 1).astype(np.int8)
    labels[rng.random(100) < 0.05] = -1
    scales = np.logspace(-2, 3, n_features)
    features = rng.normal(size=(100, n_features)) * scales
    features[:, 0] = (labels == 1) * 2.0 + rng.normal(size=100)
    features[:, -2], features[:, -1] = (x + 0.5) / 50, (y + 0.5) / 50
    return features, labels, y * 50 + x


def write_synthetic_shards(folder, n_shards=2, boxes_per_shard=12, seed=0, config=None,
                           boxes_per_image=3):
    """Shards of synthetic boxes; ``boxes_per_image`` consecutive boxes share an image."""
    config = config or small_config()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, box_number = [], 0
    for shard in range(n_shards):
        parts = [synthetic_box_rows(rng, config.feature_dim) for _ in range(boxes_per_shard)]
        numbers = range(box_number, box_number + boxes_per_shard)
        box_number += boxes_per_shard
        rows = {"features": np.concatenate([p[0] for p in parts]).astype(np.float16),
                "labels": {"figure_ground": np.concatenate([p[1] for p in parts])},
                "location": np.concatenate([p[2] for p in parts]),
                "box_index": np.repeat(np.arange(boxes_per_shard), 100)}
        boxes = {"image_id": [f"img{n // boxes_per_image:04d}" for n in numbers],
                 "dataset": ["synthetic"] * boxes_per_shard,
                 "category": [CATEGORIES[(n // boxes_per_image) % len(CATEGORIES)]
                              for n in numbers],
                 "box": np.zeros((boxes_per_shard, 4)),
                 "expanded_box": np.zeros((boxes_per_shard, 4)),
                 "instance": np.zeros(boxes_per_shard), "iou": np.ones(boxes_per_shard)}
        paths.append(write_shard(folder / f"shard-{shard:05d}.h5", config, rows, boxes))
    return paths
