"""Files that are whole or absent: write ``<name>.tmp`` beside the target, rename when done;
and the one reader of JSON files (:func:`read_json`) and of MATLAB files
(:func:`read_mat`), whose errors name the file.

JSON is written strictly (no ``NaN``/``Infinity`` tokens, which are not JSON);
a report that has an absent figure writes it as ``null`` (:func:`nan_to_null`).

A crash mid-write leaves only the ``.tmp`` (which the next write replaces),
never a half-written file under the final name; ``os.replace`` is atomic on
one file system.

Two live writers of one file must not share a temporary name: the second
would truncate the first's file, and the first's rename would then put the
second's half-written file under the final name.  Dask can run a copy of a
task while the first copy still runs (a worker thought lost that is only
slow), so shards are written with ``private=True``: a temporary name of the
writer's own, ``<name>.<pid>-<random>.tmp``.  Their leftovers are removed by
the run that owns the folder (:func:`remove_leftovers`), not by the next writer.
"""
from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError, require_file


@contextmanager
def atomic_file(path, private: bool = False) -> Iterator[Path]:
    """Yield the temporary path to write; rename it onto ``path`` if the block ends without error.

    ``private``: a temporary name no other writer uses (see the module
    docstring) instead of ``<name>.tmp``, which a new writer replaces.
    """
    path = Path(path)
    if private:
        tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    else:
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
    yield tmp
    _flush_to_disk(tmp)
    os.replace(tmp, path)


def _flush_to_disk(path: Path) -> None:
    """fsync, so that a power loss cannot leave an empty file under the final name after the rename."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_leftovers(folder, pattern: str) -> list[Path]:
    """Delete the temporary files ``<folder>/<pattern>`` of writers that died; returns them.

    Only for a folder whose writers have all ended (a rename of a live one would fail).
    """
    leftovers = sorted(Path(folder).glob(pattern))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def write_json_atomic(data, path, *, indent: int | None = None, default=None) -> Path:
    """``data`` as JSON at ``path`` (parent folders made), atomically; returns the path.

    Strict JSON: a NaN or infinite float raises ``ValueError`` before anything
    is written (pass the data through :func:`nan_to_null` to write ``null``).
    """
    path = Path(path)
    text = json.dumps(data, indent=indent, default=default, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return path


def nan_to_null(data):
    """``data`` with every NaN or infinite float (numpy floats too) as ``None``, recursively.

    Dicts (keys made strings, as JSON's), lists, tuples and numpy arrays (as
    lists) are rebuilt; other values are returned as they are.  For reports in which a figure that
    cannot be computed (an AP with no ground truth) is written as ``null``.
    """
    if isinstance(data, dict):
        return {str(key): nan_to_null(value) for key, value in data.items()}
    if isinstance(data, np.ndarray):
        data = data.tolist()
    if isinstance(data, (list, tuple)):
        return [nan_to_null(value) for value in data]
    if isinstance(data, (float, np.floating)) and not math.isfinite(data):
        return None
    return data


def is_finite_number(value) -> bool:
    """Whether a JSON value is a finite number: not a bool, a string, or the ``NaN`` and
    ``Infinity`` that Python's json reads as floats."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)  # an int is finite (and may not fit a float)


def is_finite_box(bbox) -> bool:
    """Whether a JSON value is a COCO ``[x, y, w, h]``: a list of four finite numbers."""
    return isinstance(bbox, list) and len(bbox) == 4 and all(map(is_finite_number, bbox))


def read_mat(path, what: str = "MATLAB file", **options) -> dict:
    """``scipy.io.loadmat(path, **options)``; errors name the file.

    Raises
    ------
    MissingFileError
        ``"<what> not found: <path>"``.
    InputError
        If scipy cannot read it (not a .mat file, a truncated one, a v7.3 HDF5 one).
    """
    from scipy.io import loadmat

    path = require_file(path, what)
    try:
        return loadmat(path, **options)
    except Exception as error:  # scipy raises several types (ValueError, TypeError, OSError, ...)
        raise InputError(f"{path}: not a readable MATLAB v5 .mat file ({error})") from None


def read_json(path) -> object:
    """The parsed JSON of ``path``; errors name the file."""
    path = require_file(path, "JSON file")
    try:
        with path.open() as stream:
            return json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
