"""Files that are whole or absent: write ``<name>.tmp`` beside the target, rename when done.

A crash mid-write leaves only the ``.tmp`` (which the next write replaces),
never a half-written file under the final name; ``os.replace`` is atomic on
one file system.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path) -> Iterator[Path]:
    """Yield the temporary path to write; rename it onto ``path`` if the block ends without error."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    yield tmp
    os.replace(tmp, path)


def write_json_atomic(data, path, *, indent: int | None = None, default=None) -> Path:
    """``data`` as JSON at ``path`` (parent folders made), atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, default=default))
    return path
