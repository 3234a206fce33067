"""The VOC2009 person keypoints the paper evaluates on (Table 3), in the poselets release's layout.

**Assumed layout** (that of Berkeley's poselets keypoint release for PASCAL
VOC, Bourdev, Maji & Malik, as public copies of it are laid out; the full set
cannot be downloaded here, so it is inferred, not checked on the original)::

    <root>/
        annotations/
            person/
                <image_id>_<k>.xml   one poselets XML file per annotated person
            <other class>/...        other classes' keypoints: not read here
        README.txt                   optional

- ``<image_id>`` is the VOC id (``2009_000012``) and ``<k>`` a non-negative
  integer. ``k`` is kept as given but not interpreted: in the release, person
  files are numbered ``_0, _2, _3, ...`` (no ``_1``), as are the 9 shared
  files of ``pascal-part/keypoints/``, whose ``k`` is not the PASCAL-Part
  object index either (see :mod:`hypercolumns.data.poselets`).
- Each file is the poselets XML that :func:`~hypercolumns.data.poselets.read_poselets_xml`
  reads (``<image>``, ``<category>``, ``<visible_bounds>``, ``<keypoints>``
  with ``name, visible, x, y, z``; 1-based pixel centres, converted here to
  the continuous frame of :mod:`hypercolumns.data.records` by subtracting 0.5).
  ``<image>`` must equal the file name's ``<image_id>`` and ``<category>``
  must be ``person``.
- Keypoints are renamed to the paper's 13 by :mod:`hypercolumns.data.keypoint_names`
  (ears, eyes, toes, feet and head points dropped); occluded keypoints keep
  their guessed position with ``visible = 0``.
- Non-``.xml`` files in ``annotations/person/`` are ignored.

**The evaluation set.** Table 3 uses "the person subset of VOC2009 val
(second half)". The release's README says the person annotations of the
2010 and 2011 images are not curated, and that the VOC2009 val persons are
curated and were not used to train poselets. The person subset is read from
VOC2009's ``ImageSets/Main/person_val.txt`` (:func:`read_voc_class_list`);
which half is "second" is not written down in the paper: :func:`split_halves`
takes the sorted ids and cuts them in two, an assumption to revisit if the
authors' list turns up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError, require_file, require_folder
from hypercolumns.data.keypoint_names import to_paper_keypoints
from hypercolumns.data.poselets import read_poselets_xml

PERSON_DIR = Path("annotations") / "person"
"""Where the person files lie under the release's root."""

_FILE_NAME = re.compile(r"(?P<image_id>.+)_(?P<number>\d+)\.xml")
_PIXEL_CENTRE_OFFSET = 0.5  # as in poselets: 1-based centre c + 1 <-> continuous c + 0.5


@dataclass
class KeypointPerson:
    """One annotated person of the release.

    Attributes
    ----------
    image_id : str
    number : int
        ``<k>`` of the file name, as given.
    path : Path
    keypoints : dict of str to (x, y, visible)
        Paper names (:data:`~hypercolumns.data.keypoint_names.PAPER_KEYPOINTS`),
        continuous frame, ``visible`` 0 or 1.
    visible_box : ndarray of shape (4,), float64, or None
        ``x0, y0, x1, y1`` of ``<visible_bounds>``.
    """

    image_id: str
    number: int
    path: Path
    keypoints: dict
    visible_box: np.ndarray | None


def read_person_file(path) -> KeypointPerson:
    """Read one ``<image_id>_<k>.xml`` person file.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If its name is not ``<image_id>_<k>.xml``, it is not well-formed XML,
        its ``<image>`` differs from its name, its category is not person, or
        it has an unknown keypoint name (each message names the file).
    """
    path = Path(path)
    match = _FILE_NAME.fullmatch(path.name)
    if match is None:
        raise InputError(
            f"{path}: expected a file named <image_id>_<k>.xml, e.g. 2009_000012_0.xml"
        )
    annotation = read_poselets_xml(path)
    if annotation.image_id != match["image_id"]:
        raise InputError(
            f"{path}: <image> is {annotation.image_id!r} but the file name says "
            f"{match['image_id']!r}"
        )
    if annotation.category != "person":
        raise InputError(f"{path}: <category> is {annotation.category!r}, expected 'person'")
    return KeypointPerson(
        image_id=annotation.image_id,
        number=int(match["number"]),
        path=path,
        keypoints=to_paper_keypoints(annotation.keypoints, "poselets", str(path)),
        visible_box=annotation.visible_box,
    )


def load_voc2009_keypoints(root, image_ids=None) -> dict:
    """Read the person keypoints of the release, grouped by image.

    Parameters
    ----------
    root : str or Path
        The release's root, holding ``annotations/person/``.
    image_ids : iterable of str or None
        Keep these images only, each with a (possibly empty) list, in sorted
        order; None keeps every image that has a file.

    Returns
    -------
    dict of str to list of KeypointPerson
        Image id -> its persons, sorted by ``number``; images sorted by id.

    Raises
    ------
    MissingFileError
        If ``<root>/annotations/person`` does not exist.
    InputError
        As :func:`read_person_file`.
    """
    person_dir = require_folder(Path(root) / PERSON_DIR, "person keypoint folder",
                                f"expected <root>/{PERSON_DIR.as_posix()}/<image_id>_<k>.xml")
    wanted = None if image_ids is None else set(image_ids)
    by_image = {image_id: [] for image_id in sorted(wanted or ())}
    for path in sorted(person_dir.glob("*.xml")):
        match = _FILE_NAME.fullmatch(path.name)
        if wanted is not None and match is not None and match["image_id"] not in wanted:
            continue
        person = read_person_file(path)
        by_image.setdefault(person.image_id, []).append(person)
    for persons in by_image.values():
        persons.sort(key=lambda person: person.number)
    return dict(sorted(by_image.items()))


def read_voc_class_list(path, include_difficult: bool = False) -> list[str]:
    """Image ids of a VOC per-class list (``ImageSets/Main/person_val.txt``).

    Each line is ``<image_id> <flag>``: 1 the class is present, -1 absent, 0
    present only as difficult objects.

    Parameters
    ----------
    path : str or Path
    include_difficult : bool
        Also keep the images whose flag is 0.

    Returns
    -------
    list of str
        In file order.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        On a line that is not an id and a flag in {-1, 0, 1} (names file and line).
    """
    path = require_file(path, "VOC class list")
    keep = {"1", "0"} if include_difficult else {"1"}
    image_ids = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("1", "-1", "0"):
            raise InputError(
                f"{path}:{line_number}: expected '<image_id> <1|-1|0>', got {line.strip()!r}"
            )
        if fields[1] in keep:
            image_ids.append(fields[0])
    return image_ids


def split_halves(image_ids) -> tuple[list[str], list[str]]:
    """Sorted ids cut into a first and a second half (the second one shorter when odd)."""
    ordered = sorted(image_ids)
    middle = (len(ordered) + 1) // 2
    return ordered[:middle], ordered[middle:]
