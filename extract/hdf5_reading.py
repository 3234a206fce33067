"""Reading an HDF5 file of ours that a user gave (a shard, a model): its faults become InputError.

A file the user names may be missing, not HDF5 at all, of another schema, or
cut short.  h5py refuses a truncated file at opening when its superblock
records the full length, but a file whose cut falls after what the superblock
covers opens and fails only when a dataset past the cut is read, maybe in a
worker process halfway through training.  So the whole reading runs under
:func:`reading_hdf5`: what h5py raises in it (``OSError``, ``KeyError`` for a
missing dataset or attribute), a JSON attribute that does not parse, and an
:class:`~hypercolumns.data.errors.InputError` of a content check that did not
name the file all become an ``InputError`` naming it.  Raised in a joblib or
Dask worker it reaches the command line as it is (both re-raise a task's
exception with its type and message).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

import h5py
import numpy as np

from hypercolumns.data.errors import InputError, require_file

READ_ERRORS = (OSError, KeyError, json.JSONDecodeError)
"""What reading a damaged or foreign HDF5 file of ours raises."""


@contextmanager
def reading_hdf5(path, what: str, hint: str | None = None) -> Iterator[h5py.File]:
    """``path`` open for reading; every fault of the file met inside becomes an InputError naming it.

    ``what`` names the kind of file in the messages (``"shard"``); ``hint``
    is added to the message of a missing file
    (:class:`~hypercolumns.data.errors.MissingFileError`).
    """
    path = require_file(path, what, hint)
    try:
        with h5py.File(path, "r") as f:
            yield f
    except InputError as error:   # before READ_ERRORS: a MissingFileError is an OSError too
        if str(path) in str(error):
            raise
        raise type(error)(f"{path}: {error}") from None
    except READ_ERRORS as error:
        reason = (f"an attribute is not valid JSON: {error}" if isinstance(error, json.JSONDecodeError)
                  else error.args[0] if isinstance(error, KeyError) and error.args else error)
        raise InputError(f"{path}: not a {what}, or a damaged one ({reason})") from None


@contextmanager
def open_schema_file(path, schema: str, what: str, hint: str | None = None) -> Iterator[h5py.File]:
    """:func:`reading_hdf5`, refusing a file whose ``schema`` attribute is not ``schema``."""
    with reading_hdf5(path, what, hint) as f:
        found = attr_text(f.attrs.get("schema"))
        if found != schema:
            raise InputError(f"{path}: not a {what} (schema {found!r}, expected {schema!r})")
        yield f


def attr_text(value) -> str | None:
    """An HDF5 string attribute as str (h5py may give bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def take_rows(dataset: h5py.Dataset, index: np.ndarray) -> np.ndarray:
    """``dataset[index]`` for increasing row indices ``index`` of a 2-D dataset.

    Rows stored raw (our shards: chunks of whole rows, no filter) are copied
    out of a memory map of the file, block by block, at the addresses HDF5
    reports for its chunks; anything else (a filter, a foreign byte order, a
    chunk not allocated, a chunk past the end of a cut-short file) goes
    through h5py's point selection, which also raises what a damaged file
    raises.  Why: stage two reads every cell's rows by index, and h5py's point
    selection costs ~0.16 ms a row of 3,842 float16 (~48 MB/s) where the copy
    from the map costs ~0.004 ms, the same bytes.
    """
    index = np.asarray(index, np.int64)
    rows_per_block = _raw_rows_per_block(dataset)
    if rows_per_block is None or index.size == 0:
        return dataset[index]
    mapped = np.memmap(dataset.file.filename, mode="r", dtype=np.uint8)
    block_bytes = rows_per_block * dataset.shape[1] * dataset.dtype.itemsize
    out = np.empty((index.size, dataset.shape[1]), dataset.dtype)
    block_of_row = index // rows_per_block
    starts = np.flatnonzero(np.r_[True, block_of_row[1:] != block_of_row[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], index.size]):
        block = int(block_of_row[start])
        offset = _block_address(dataset, block, rows_per_block, block_bytes)
        if offset is None or offset + block_bytes > mapped.size:
            return dataset[index]
        rows = mapped[offset:offset + block_bytes].view(dataset.dtype).reshape(rows_per_block, -1)
        out[start:stop] = rows[index[start:stop] - block * rows_per_block]
    return out


def _raw_rows_per_block(dataset: h5py.Dataset) -> int | None:
    """Rows per stored block of a 2-D dataset whose rows lie raw in the file (contiguous: all of
    them; chunked: a chunk of whole rows, no filter); None otherwise."""
    if (dataset.ndim != 2 or not dataset.dtype.isnative or dataset.dtype.kind not in "fiu"
            or dataset.file.driver != "sec2" or dataset.file.userblock_size != 0
            or dataset.id.get_create_plist().get_nfilters() != 0):
        return None
    if dataset.chunks is None:
        return max(dataset.shape[0], 1)
    return dataset.chunks[0] if dataset.chunks[1] == dataset.shape[1] else None


def _block_address(dataset: h5py.Dataset, block: int, rows_per_block: int, block_bytes: int) -> int | None:
    """File address of block ``block`` of rows, or None where HDF5 has not stored it whole."""
    if dataset.chunks is None:
        return dataset.id.get_offset()
    info = dataset.id.get_chunk_info_by_coord((block * rows_per_block, 0))
    return info.byte_offset if info.byte_offset is not None and info.size == block_bytes else None
