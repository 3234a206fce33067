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
