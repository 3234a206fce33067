"""The box descriptor of box regression: one vector per box from the network's top conv map.

- ``spatial`` (:data:`SPATIAL_BLOCK`, ``conv5_3@3x3``): the map average-pooled
  on a 3 x 3 grid (4,608 values for VGG16), our stand-in for R-CNN's pool5
  input: it keeps where in the box the object lies.  Computed by running the
  CNN on the boxes (:func:`box_descriptors`).
- ``global``: the shards' ``global`` block (mean and max of the map over the
  box), the same at every location of a box, so read from each box's first
  row without running the CNN (:func:`read_box_descriptors`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hypercolumns.data.errors import InputError
from hypercolumns.extract.hypercolumn import global_descriptor
from hypercolumns.extract.layer_spec import GLOBAL_SOURCE
from hypercolumns.extract.hdf5_reading import take_rows
from hypercolumns.extract.shards import open_shard, shards_config

SPATIAL_BLOCK = "conv5_3@3x3"


def spatial_descriptor(top_map: torch.Tensor, grid: int = 3) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C * grid * grid)``: the map average-pooled on a grid.

    Unlike :func:`~hypercolumns.extract.hypercolumn.global_descriptor` it keeps
    where in the box things are, which box regression needs (R-CNN regressed
    from pool5's 6 x 6 grid).
    """
    return torch.nn.functional.adaptive_avg_pool2d(top_map, grid).flatten(1)


def box_descriptors(cnn, image: np.ndarray, boxes: np.ndarray, block: str, batch_size: int = 16):
    """Descriptors ``(N, D)`` float64 of boxes of one image for a regressor's ``feature_block``."""
    layer = GLOBAL_SOURCE[cnn.name]
    describe = spatial_descriptor if block == SPATIAL_BLOCK else global_descriptor
    expanded = cnn.expand(boxes)
    return np.concatenate([
        describe(cnn.box_outputs(image, expanded[i:i + batch_size], [layer])[layer]).cpu().numpy()
        for i in range(0, len(boxes), batch_size)]).astype(np.float64)


def read_box_descriptors(shard_paths, block: str = "global") -> dict:
    """One row per box of each shard (mirrored crops of a ``flips`` config left out): the ``block`` columns
    of the box's first row.

    Parameters
    ----------
    shard_paths : sequence of path
        Shards of one feature config (``extract.shards``).
    block : str
        Block name of the shards' ``blocks`` attribute.

    Returns
    -------
    dict
        ``features`` (B, size) float32, ``box`` (B, 4) float64, ``image_id``,
        ``category``, ``dataset`` (B,) object, ``instance`` (B,) int64, ``iou``
        (B,) float64, ``shard`` (B,) object (the path of each box's shard),
        ``config`` (the shards' feature config).
    """
    paths = [Path(p) for p in shard_paths]
    if not paths:
        raise ValueError("no shards given to read box descriptors from")
    config = shards_config(paths)
    blocks = {b["name"]: b for b in config.blocks}
    if block not in blocks:
        raise InputError(f"{paths[0]} has no {block!r} block; its blocks are {list(blocks)}")
    start, size = int(blocks[block]["offset"]), int(blocks[block]["size"])
    parts = {key: [] for key in ("features", "box", "image_id", "category", "dataset",
                                 "instance", "iou", "shard")}
    for path in paths:
        with open_shard(path) as f:
            boxes, first_rows = np.unique(f["box_index"][:], return_index=True)
            order = np.argsort(first_rows)  # h5py reads increasing rows
            boxes, first_rows = boxes[order], first_rows[order]
            if "boxes/flipped" in f:  # a mirrored crop's descriptor is not its box's
                kept = f["boxes/flipped"][:][boxes] == 0
                boxes, first_rows = boxes[kept], first_rows[kept]
            if first_rows.size:
                parts["features"].append(np.asarray(
                    take_rows(f["features"], first_rows)[:, start:start + size], np.float32))
            else:
                parts["features"].append(np.zeros((0, size), np.float32))
            parts["box"].append(f["boxes/box"][:][boxes].astype(np.float64))
            for key in ("image_id", "category", "dataset"):
                parts[key].append(f[f"boxes/{key}"].asstr()[:][boxes].astype(object))
            parts["instance"].append(f["boxes/instance"][:][boxes].astype(np.int64))
            parts["iou"].append(f["boxes/iou"][:][boxes].astype(np.float64))
            parts["shard"].append(np.full(boxes.size, str(path), dtype=object))
    result = {key: np.concatenate(value) for key, value in parts.items()}
    result["config"] = config
    return result
