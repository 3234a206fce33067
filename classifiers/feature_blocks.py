"""Training on some blocks of the shards' hypercolumns (the paper's Table 1 ablations).

A grid trained on a subset of blocks gets its own resolved :class:`LayerSpec`:
the chosen blocks, in the shards' order, at new contiguous offsets, so its
``coef`` (K, K, D_subset), ``mean`` and ``scale`` line up with that spec and
inference builds kernels for those blocks only.  The ``xy`` block is always
kept, as ``LayerSpec.parse`` appends it to every spec.  The model still
records the shards' feature config: the rows were made with it.
"""
from __future__ import annotations

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.extract.layer_spec import Block, LayerSpec


def select_blocks(spec: LayerSpec, names) -> tuple[LayerSpec, np.ndarray | None]:
    """The sub-spec of ``names`` (plus ``xy``) and its columns in the full hypercolumn.

    Parameters
    ----------
    spec : LayerSpec
        The shards' resolved spec.
    names : sequence of str, or None
        Block names (``"global"``, ``"pool3"``, ...); None keeps every block.

    Returns
    -------
    LayerSpec
        Resolved, offsets from 0.
    ndarray of shape (D_subset,), int64, or None
        Columns of the full feature vector, in the sub-spec's order (None: all).
    """
    if names is None:
        return spec, None
    available = [block.name for block in spec.blocks]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise InputError(f"blocks {list(unknown or names)} are not blocks of the shards' layer "
                         f"spec {spec}; choose among {available}")
    blocks, columns, offset = [], [], 0
    for block in spec.blocks:
        if block.name in names or block.kind == "xy":
            blocks.append(Block(block.name, block.n, block.kind, offset, block.size,
                                block.channels))
            columns.append(np.arange(block.offset, block.offset + block.size))
            offset += block.size
    return LayerSpec(tuple(blocks)), np.concatenate(columns)
