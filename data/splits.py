"""Image-id lists: VOC's ``ImageSets``, SBD's ``train.txt``, the SDS splits.

All of them are plain text with one image id a line (``2008_000008``).
"""
from __future__ import annotations

from hypercolumns.data.errors import InputError, require_file


def read_split(path) -> list[str]:
    """Read a split file: one image id a line, in file order.

    Blank lines are ignored. A line with more than one field (VOC's per-class
    lists, ``2008_000002 -1``) or an id listed twice is an error, since either
    means the file is not a plain split list.

    Parameters
    ----------
    path : str or Path
        The list, e.g. ``sds-splits/train.txt``.

    Returns
    -------
    list of str
        The image ids.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        On a malformed line or a repeated id (the message names the file and line).
    """
    path = require_file(path, "split list")
    image_ids = []
    seen = set()
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1:
            raise InputError(
                f"{path}:{line_number}: expected one image id a line, got {line.strip()!r}"
            )
        image_id = fields[0]
        if image_id in seen:
            raise InputError(f"{path}:{line_number}: image id {image_id!r} is listed twice")
        seen.add(image_id)
        image_ids.append(image_id)
    return image_ids
