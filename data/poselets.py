"""Poselets person keypoints (Bourdev & Malik's VOC keypoint set), XML files.

One file per annotated person, ``keypoints/<image>_<k>.xml``::

    <annotation id="189">
      <image>2008_000652</image> <category>person</category>
      <visible_bounds xmin="1.00" ymin="7.00" width="237.00" height="203.00"/>
      <keypoints>
        <keypoint name="L_Ear" visible="1" x="184.32" y="61.34" z="0.00" zorder="1"/> ...
      </keypoints>
      <polylinesegments>
        <segment name="foreground" x="59 82 ..." y="126 121 ..."/>
      </polylinesegments>
    </annotation>

Keypoints become ``{name: (x, y, visible)}`` with ``visible`` 1 or 0 (an
occluded keypoint keeps its guessed position, possibly outside the image);
``z`` (depth) and ``zorder`` are dropped.

**Coordinates are 1-based (MATLAB) pixel centres**: continuous = value - 0.5.
Evidence on the 9 files shipped: no coordinate is ever 0; a ``visible_bounds``
starts at ``xmin = 1.00`` for a person whose mask reaches column 0; bounds reach
``500.00`` on a 500-wide image. And with the ``foreground`` silhouettes
shifted by s pixels from the file's values, their mean IoU with the PASCAL-Part
person masks is 0.901 at s = -0.5 (this reading), 0.902 at s = -1, but 0.887
at s = +0.5, the reading 0-based pixel indices would need (a test keeps this
check).

**What ``<k>`` is**: not the index of the person among the PASCAL-Part objects,
nor its rank among the persons: ``2008_000726_2`` exists for an image with two
objects, and ``2009_001103_0`` is PASCAL-Part object 1 while ``_2`` is object 0.
It fits a 0-based index into the image's VOC XML object list (which orders
objects differently and is not shipped here, so this is unverified). The files
are therefore matched to persons by geometry: the ``foreground`` silhouette
against each person's mask (IoU 0.70-0.97 for the match, at most 0.01 for any
other person on the shipped files), or, for a file without a silhouette, the
``visible_bounds`` box against the person's box.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.masks import polygons_to_mask
from hypercolumns.data.records import ImageRecord

MIN_MATCH_IOU = 0.5
"""A keypoint file must overlap its person at least this much (IoU) to be attached."""

_PIXEL_CENTRE_OFFSET = 0.5  # 1-based pixel centre c + 1 -> continuous c + 0.5


@dataclass
class PoseletsAnnotation:
    """One poselets XML file, in the continuous frame of :mod:`records`.

    Attributes
    ----------
    path : Path
    image_id : str
    category : str
        ``<category>``; ``"person"`` when the file has none.
    keypoints : dict of str to (x, y, visible)
        ``x, y`` float, ``visible`` int 0 or 1.
    visible_box : ndarray of shape (4,), float64 or None
        ``x0, y0, x1, y1`` of ``visible_bounds``.
    silhouette : ndarray of shape (K, 2), float64 or None
        The ``foreground`` polygon's vertices ``x, y``.
    """

    path: Path
    image_id: str
    category: str
    keypoints: dict
    visible_box: np.ndarray | None
    silhouette: np.ndarray | None


def read_poselets_xml(path) -> PoseletsAnnotation:
    """Read one poselets keypoint file; see the module docstring for the frame."""
    path = require_file(path, "keypoint file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise InputError(f"{path}: not well-formed XML ({error})") from error
    image_id = (root.findtext("image") or "").strip()
    if not image_id:
        raise InputError(f"{path}: no <image> element")
    return PoseletsAnnotation(
        path=path,
        image_id=image_id,
        category=(root.findtext("category") or "person").strip(),
        keypoints=_read_keypoints(root, path),
        visible_box=_read_visible_box(root, path),
        silhouette=_read_silhouette(root, path),
    )


def _number(element, key: str, path: Path) -> float:
    try:
        value = float(element.get(key))
    except (TypeError, ValueError):
        value = None
    if value is None or not np.isfinite(value):  # float() also reads "nan" and "inf"
        raise InputError(f"{path}: <{element.tag}> has a missing or malformed {key!r}")
    return value


def _read_keypoints(root, path: Path) -> dict:
    keypoints = {}
    for element in root.iterfind("keypoints/keypoint"):
        name = element.get("name")
        if not name:
            raise InputError(f"{path}: a <keypoint> has no name")
        if name in keypoints:
            raise InputError(f"{path}: keypoint {name!r} is given twice")
        x = _number(element, "x", path) - _PIXEL_CENTRE_OFFSET
        y = _number(element, "y", path) - _PIXEL_CENTRE_OFFSET
        keypoints[name] = (x, y, int(_number(element, "visible", path) > 0))
    return keypoints


def _read_visible_box(root, path: Path) -> np.ndarray | None:
    element = root.find("visible_bounds")
    if element is None:
        return None
    xmin, ymin = (_number(element, key, path) - _PIXEL_CENTRE_OFFSET for key in ("xmin", "ymin"))
    width, height = (_number(element, key, path) for key in ("width", "height"))
    return np.array([xmin, ymin, xmin + width, ymin + height])


def _read_silhouette(root, path: Path) -> np.ndarray | None:
    for segment in root.iterfind("polylinesegments/segment"):
        if segment.get("name") != "foreground":
            continue
        try:
            xs = np.array(segment.get("x", "").split(), dtype=np.float64)
            ys = np.array(segment.get("y", "").split(), dtype=np.float64)
        except ValueError as error:
            raise InputError(f"{path}: malformed foreground polyline ({error})") from None
        if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            raise InputError(f"{path}: foreground polyline has non-finite coordinates")
        if xs.size != ys.size or xs.size < 3:
            raise InputError(
                f"{path}: foreground polyline needs >= 3 points with as many x as y, "
                f"got {xs.size} x and {ys.size} y"
            )
        return np.stack([xs, ys], axis=1) - _PIXEL_CENTRE_OFFSET
    return None


def poselets_files(keypoint_dir, image_id: str) -> list[Path]:
    """The files ``<image_id>_<k>.xml`` of ``keypoint_dir``, sorted by ``k``; [] if none."""
    pattern = re.compile(rf"{re.escape(image_id)}_(\d+)\.xml")
    keypoint_dir = Path(keypoint_dir)
    if not keypoint_dir.is_dir():
        return []
    numbered = []
    for path in keypoint_dir.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            numbered.append((int(match[1]), path))
    return [path for _, path in sorted(numbered)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def match_overlaps(annotation: PoseletsAnnotation, record: ImageRecord) -> np.ndarray:
    """Overlap of a keypoint file with each instance of ``record``.

    Returns
    -------
    ndarray of shape (n_instances,), float64
        Silhouette-mask IoU (box IoU when the file has no silhouette); 0 for
        instances of another category.
    """
    if annotation.silhouette is not None:
        silhouette = polygons_to_mask([annotation.silhouette], record.height, record.width)
    elif annotation.visible_box is None:
        raise InputError(
            f"{annotation.path}: neither a foreground silhouette nor visible_bounds to match"
        )
    overlaps = np.zeros(len(record.instances))
    for index, instance in enumerate(record.instances):
        if instance.category != annotation.category:
            continue
        if annotation.silhouette is not None:
            overlaps[index] = _iou(silhouette, instance.mask)
        else:
            overlaps[index] = box_iou(annotation.visible_box, instance.box)[0, 0]
    return overlaps


def attach_poselets_keypoints(record: ImageRecord, xml_paths) -> None:
    """Read keypoint files and set ``keypoints`` of the person each one overlaps most.

    Parameters
    ----------
    record : ImageRecord
        Modified in place.
    xml_paths : iterable of path
        Files of this image (see :func:`poselets_files`).

    Raises
    ------
    InputError
        If a file names another image, overlaps no person by
        :data:`MIN_MATCH_IOU`, or two files pick the same person.
    """
    claimed = {}
    for path in xml_paths:
        annotation = read_poselets_xml(path)
        if annotation.image_id != record.image_id:
            raise InputError(
                f"{path}: is for image {annotation.image_id!r}, not {record.image_id!r}"
            )
        overlaps = match_overlaps(annotation, record)
        best = int(np.argmax(overlaps)) if overlaps.size else -1
        if best < 0 or overlaps[best] < MIN_MATCH_IOU:
            best_iou = overlaps.max() if overlaps.size else 0.0
            raise InputError(
                f"{path}: overlaps no {annotation.category} of {record.image_id} by IoU "
                f">= {MIN_MATCH_IOU} (best {best_iou:.2f})"
            )
        if best in claimed:
            raise InputError(
                f"{path} and {claimed[best]}: both match instance {best} of {record.image_id}"
            )
        claimed[best] = path
        record.instances[best].keypoints = dict(annotation.keypoints)
