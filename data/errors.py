"""The project's one error type for bad input: a file or argument the user gave is wrong.

Every stage raises :class:`InputError` for a problem of the user's making (a
malformed file, an unknown id, an impossible option, a file that is not
there) with a message that names the file and the entry.  The command line
turns exactly this type into one line on stderr and exit status 2; any other
exception is a bug of ours and keeps its traceback.  A third-party reader's
error on a user's file (h5py, json, OpenCV, ...) is caught where the file is
read and raised again as an :class:`InputError` naming it.
"""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input (a malformed file, an unknown id, an impossible option); the message names it.

    A ``ValueError``, so callers that catch ``ValueError`` still catch it.
    """


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder the user named is not there (also a ``FileNotFoundError``)."""


def require_file(path, what: str = "file", hint: str | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a file; else :class:`MissingFileError`
    ``"<what> not found: <path> (<hint>)"``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{what} not found: {path}" + (f" ({hint})" if hint else ""))
    return path


def require_folder(path, what: str = "folder", hint: str | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a folder; else :class:`MissingFileError`."""
    path = Path(path)
    if not path.is_dir():
        raise MissingFileError(f"{what} not found: {path}" + (f" ({hint})" if hint else ""))
    return path
