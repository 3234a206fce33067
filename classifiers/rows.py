"""Which training rows each grid cell gets, and the held-out split by image.

Stage two never holds all rows: :class:`RowIndex` keeps only the small
per-row facts of every shard (shard, row, location, label, image, category;
~20 bytes a row), each cell job then reads its own rows' features with
``extract.shards.read_rows`` and a mask of exactly those rows.

- **Held out by image.** A row is held out when the sha256 of
  ``"<seed>:<image_id>"`` falls below the held-out fraction, so every row of
  an image, and every jittered box of its instances, lands on the same side.
- **Rows per cell.** A cell with more rows than ``max_rows`` keeps a uniform
  sample of them drawn with ``numpy.random.default_rng([seed, K, cell,
  crc32(category)])``: the same rows on every run with the same arguments.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.extract.shards import image_rows, open_shard, read_rows, target_labels
from hypercolumns.classifiers.selection import heldout_images


@dataclass
class RowIndex:
    """Per-row facts of every labelled row of a set of shards, in (shard, row) order.

    Attributes
    ----------
    shards : list of Path
    shard : ndarray of shape (n,), int32 — index into ``shards``
    row : ndarray of shape (n,), int32 — row within its shard
    location : ndarray of shape (n,), int16 — ``y * 50 + x``
    label : ndarray of shape (n,), int8 — 0 / 1 (ignored rows are left out)
    image_id, category : ndarray of shape (n,), object (str) — of the row's box
    heldout : ndarray of shape (n,), bool — the row's image is held out
    """

    shards: list
    shard: np.ndarray
    row: np.ndarray
    location: np.ndarray
    label: np.ndarray
    image_id: np.ndarray
    category: np.ndarray
    heldout: np.ndarray

    @classmethod
    def build(cls, shards: list, target: str, holdout: float, seed: int,
              exclude_images=()) -> "RowIndex":
        """Read the labels, locations and box facts (not the features) of every shard.

        Rows of ``exclude_images`` (image ids) are left out, as if never extracted.
        """
        parts = [_shard_facts(Path(path), target, set(exclude_images)) for path in shards]
        shard = np.concatenate([np.full(len(p["row"]), i, np.int32) for i, p in enumerate(parts)])
        image_id = np.concatenate([p["image_id"] for p in parts])
        index = cls([Path(p) for p in shards], shard,
                    *(np.concatenate([p[key] for p in parts])
                      for key in ("row", "location", "label")),
                    image_id, np.concatenate([p["category"] for p in parts]),
                    heldout_images(image_id, holdout, seed))
        if len(index.label) == 0:
            left_out = f" outside the {len(set(exclude_images))} excluded images" if exclude_images else ""
            raise InputError(f"the shards in {Path(shards[0]).parent} have no rows with a known "
                             f"{target!r} label{left_out}")
        return index

    def cell_rows(self, K: int, cell: int, max_rows: int | None, seed: int,
                  category: str | None = None) -> np.ndarray:
        """Sorted positions of the rows of ``cell`` (and ``category``), at most ``max_rows``."""
        from hypercolumns.classifiers.grid import cell_of_location  # the grid reads rows from here

        selected = cell_of_location(self.location, K) == cell
        if category is not None:
            selected &= self.category == category
        positions = np.flatnonzero(selected)
        if max_rows is not None and len(positions) > max_rows:
            rng = np.random.default_rng([seed, K, cell, zlib.crc32((category or "").encode())])
            positions = np.sort(rng.choice(positions, max_rows, replace=False))
        return positions

    def parts(self, positions: np.ndarray) -> list:
        """``[(shard path, sorted row indices)]`` covering ``positions`` (for a cell job)."""
        positions = np.sort(positions)
        return [(str(self.shards[s]), self.row[positions[self.shard[positions] == s]])
                for s in np.unique(self.shard[positions])]


def read_cell(parts: list, target: str) -> dict:
    """Features, labels and image ids of the rows named by ``parts``, in (shard, row) order.

    Returns
    -------
    dict
        ``features`` (n, D) float16, ``labels`` (n,) int8, ``image_id`` (n,) object.
    """
    pieces = []
    for path, rows in parts:
        pieces.append(read_rows(Path(path), target, mask=_row_mask(rows)))
        if len(pieces[-1]["labels"]) != len(rows):
            raise InputError(f"{path}: expected {len(rows)} labelled rows, read "
                             f"{len(pieces[-1]['labels'])}; was the shard rewritten meanwhile?")
    if not pieces:
        return {"features": np.zeros((0, 0), np.float16), "labels": np.zeros(0, np.int8),
                "image_id": np.zeros(0, object)}
    return {key: np.concatenate([piece[key] for piece in pieces])
            for key in ("features", "labels", "image_id")}


def _row_mask(rows: np.ndarray):
    def mask(shard_file: h5py.File) -> np.ndarray:
        selected = np.zeros(shard_file["location"].shape[0], bool)
        selected[rows] = True
        return selected
    return mask


def _shard_facts(path: Path, target: str, exclude_images: set = frozenset()) -> dict:
    with open_shard(path) as f:
        labels = target_labels(f, path, target)
        kept = labels >= 0
        if exclude_images:
            kept &= ~image_rows(f, exclude_images)
        rows = np.flatnonzero(kept).astype(np.int32)
        box_index = f["box_index"][:][rows]
        return {"row": rows, "location": f["location"][:][rows], "label": labels[rows],
                "image_id": f["boxes/image_id"].asstr()[:][box_index].astype(object),
                "category": f["boxes/category"].asstr()[:][box_index].astype(object)}
