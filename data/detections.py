"""Detections files in and out: COCO results lists and R-CNN/SDS ``.mat`` box arrays.

What a detector gives System 2 (box NMS and pool expansion are
:mod:`hypercolumns.pipelines.system2.pool_expansion`). Conventions (those of
:mod:`hypercolumns.data.records`, converted here at the boundary):

- Boxes are float ``(N, 4)`` ``x0, y0, x1, y1`` in continuous pixel coordinates
  (pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``); scores are float ``(N,)``,
  higher is better, any range.
- COCO results give ``bbox = [x, y, w, h]`` in the same continuous frame
  (:func:`~hypercolumns.data.boxes.xywh_to_xyxy`).
- The R-CNN/SDS ``.mat`` files give rows ``[x1 y1 x2 y2 score]`` in MATLAB's
  1-based inclusive pixel convention: the box holds pixel columns ``x1..x2``
  (1-based), i.e. 0-based ``x1 - 1 .. x2 - 1``, so ``x0 = x1 - 1`` and
  ``x1' = x2`` (rows alike).  :func:`write_mat_detections` applies the inverse.

``.mat`` layout (read and written here): variable ``boxes`` is a cell array
``boxes{c, i}`` (classes x images) of ``N x 5`` double matrices, or R-CNN's
nested ``boxes{c}{i}``; a single-image file may hold a flat cell of one matrix
per class.  Optional cell arrays of strings ``classes`` (C) and ``image_ids``
(I) name the axes; when a file lacks them the caller passes them.  A detector
gives a post-NMS file and, optionally, a pre-NMS file with every scored box:
the boxes NMS removed are the pre-NMS rows that are not in the post-NMS file.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.boxes import xywh_to_xyxy, xyxy_to_xywh
from hypercolumns.data.coco import is_coco_id
from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.files import is_finite_box, is_finite_number, read_json, read_mat

# rows of a pre- and a post-NMS file are the same box when every value agrees to this
_ROW_TOLERANCE = 1e-4


@dataclass
class Detections:
    """The scored boxes of one class in one image.

    Attributes
    ----------
    image_id : str or int
        The image (a COCO results ``image_id``, or an entry of a ``.mat``
        file's ``image_ids``).
    category : str or int
        The class: a name where the source names classes, else COCO's
        ``category_id``.
    boxes : ndarray of shape (N, 4), float64
        ``x0, y0, x1, y1``, continuous pixel coordinates.
    scores : ndarray of shape (N,), float64
    kept : ndarray of shape (N,), bool
        True for the boxes that survived the detector's NMS; False for those
        it removed (known only from a pre-NMS file).  All True for a source
        that gives only its final detections.
    """

    image_id: object
    category: object
    boxes: np.ndarray
    scores: np.ndarray
    kept: np.ndarray | None = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float64).reshape(-1)
        if self.kept is None:
            self.kept = np.ones(len(self.scores), bool)
        self.kept = np.asarray(self.kept, bool).reshape(-1)
        if not len(self.boxes) == len(self.scores) == len(self.kept):
            raise ValueError(f"image {self.image_id}, class {self.category}: {len(self.boxes)} "
                             f"boxes, {len(self.scores)} scores and {len(self.kept)} kept flags; "
                             "expected one of each per box")

    def post_nms(self) -> "Detections":
        """The detector's final detections (the kept rows)."""
        return Detections(self.image_id, self.category, self.boxes[self.kept],
                          self.scores[self.kept])

    def suppressed(self) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(M, 4)`` and scores ``(M,)`` that the detector's NMS removed."""
        return self.boxes[~self.kept], self.scores[~self.kept]


# ---------------------------------------------------------------- COCO results JSON

BOX_FORMATS = ("xywh", "xyxy")
"""How a detections file's ``bbox`` reads: COCO's ``[x, y, w, h]`` (the default), or ``[x0, y0, x1, y1]``
(torchvision, segment-anything)."""


def read_detections(path, box_format: str = "xywh") -> list:
    """A COCO results list (``image_id``, ``category_id``, ``bbox``, ``score``), its boxes as COCO's
    ``[x, y, w, h]``: given so (``box_format="xywh"``), or converted from ``[x0, y0, x1, y1]`` (``"xyxy"``;
    the entries are copies, the file's own boxes are their ``bbox_as_given``).

    Every entry is checked (:func:`_check_detection`); a problem raises
    :class:`~hypercolumns.data.errors.InputError` naming the file and the entry.
    """
    entries = read_json(require_file(path, "detections file"))
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of detections (COCO results format)")
    return _checked(entries, path, box_format)


def _checked(entries: list, path, box_format: str) -> list:
    """:func:`read_detections`'s checks and conversion of a list of entries."""
    if box_format not in BOX_FORMATS:
        raise InputError(f"--box-format must be one of {', '.join(BOX_FORMATS)}, got {box_format!r}")
    if box_format == "xyxy":
        entries = [_from_xyxy(entry, index, path) for index, entry in enumerate(entries)]
    for index, entry in enumerate(entries):
        _check_detection(entry, index, path)
    return entries


def read_detections_of_files(path, images_dir, box_format: str = "xywh") -> tuple[list, dict, dict]:
    """Detections for images in a folder, without a ground-truth file (``segment --images DIR``).

    The file holds either a list of entries that name their image by ``file_name`` (under
    ``images_dir``) instead of ``image_id``, or an object ``{"images": [{id, file_name}, ...],
    "detections": [COCO results entries], "categories": [{id, name}, ...] (optional)}``.  Image sizes
    come from the files' headers.

    Returns
    -------
    entries : list
        :func:`read_detections`'s, each with an ``image_id`` (for a ``file_name`` entry, its image's
        number in order of first appearance, from 1; the entry itself is its ``as_given``).
    images : dict
        ``{image id: CocoImage}``.
    names : dict
        ``{category id: name}``; empty without ``categories``.
    """
    from hypercolumns.data.coco import CocoImage
    from hypercolumns.data.images import read_image_size

    data = read_json(require_file(path, "detections file"))
    listed, names = {}, {}
    if isinstance(data, dict):
        if not isinstance(data.get("images"), list) or not isinstance(data.get("detections"), list):
            raise InputError(f"{path}: expected a list of detections with `file_name`, or an object with "
                             "`images` (id, file_name) and `detections` lists")
        for index, image in enumerate(data["images"]):
            if not isinstance(image, dict) or not is_coco_id(image.get("id")) or not isinstance(
                    image.get("file_name"), str) or image["id"] in listed:
                raise InputError(f"{path}: images[{index}] is {image!r:.80}; expected {{id, file_name}}, "
                                 "each id once")
            listed[image["id"]] = image["file_name"]
        if not isinstance(data.get("categories", []), list):
            raise InputError(f"{path}: `categories` is {data['categories']!r:.80}; expected a list of {{id, name}}")
        for index, category in enumerate(data.get("categories", [])):
            if not isinstance(category, dict) or not is_coco_id(category.get("id")) or "name" not in category:
                raise InputError(f"{path}: categories[{index}] is {category!r:.80}; expected {{id, name}}")
            names[category["id"]] = str(category["name"])
        entries = data["detections"]
    elif isinstance(data, list):
        entries, ids = [], {}
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
                raise InputError(f"{path}: detection {index} is {entry!r:.80}; expected an object with "
                                 "`file_name` (its image under --images), `category_id`, `bbox`, `score`")
            if entry["file_name"] not in ids:
                ids[entry["file_name"]] = len(ids) + 1
                listed[ids[entry["file_name"]]] = entry["file_name"]
            entries.append({**entry, "image_id": ids[entry["file_name"]], "as_given": entry})
    else:
        raise InputError(f"{path}: expected a list of detections or an object with `images` and `detections`")
    entries = _checked(entries, path, box_format)
    used = {entry["image_id"] for entry in entries}
    images = {}
    for image_id, file_name in listed.items():
        if image_id in used:
            height, width = read_image_size(Path(images_dir) / file_name)
            images[image_id] = CocoImage(image_id, file_name, width, height)
    return entries, images, names


def _from_xyxy(entry, index: int, path):
    """A copy of ``entry`` with its ``[x0, y0, x1, y1]`` box as ``[x, y, w, h]`` (as given where it is no box)."""
    if not isinstance(entry, dict) or not is_finite_box(entry.get("bbox")):
        return entry
    x0, y0, x1, y1 = entry["bbox"]
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"{path}: detection {index} has bbox {entry['bbox']!r:.80}; expected "
                         "[x0, y0, x1, y1] with x1 > x0 and y1 > y0 (--box-format xyxy; COCO's "
                         "[x, y, w, h] is --box-format xywh)")
    return {**entry, "bbox": xyxy_to_xywh(entry["bbox"]).tolist(), "bbox_as_given": entry["bbox"]}


def wholly_outside(bbox, height: int, width: int) -> bool:
    """Whether a COCO ``[x, y, w, h]`` box shares no area with an ``height x width`` image."""
    x, y, w, h = bbox
    return x + w <= 0 or y + h <= 0 or x >= width or y >= height


def extends_past(bbox, height: int, width: int, tolerance: float = 1.0) -> bool:
    """Whether a COCO ``[x, y, w, h]`` box reaches more than ``tolerance`` px past an image's edge."""
    x, y, w, h = bbox
    return x < -tolerance or y < -tolerance or x + w > width + tolerance or y + h > height + tolerance


def check_box_format(entries: list, sizes: dict, box_format: str, path) -> None:
    """InputError when most boxes reach past their images as ``box_format`` reads them but fewer would
    as the other format: the file is almost surely in the other one, and the error names it.

    ``entries``: :func:`read_detections`'s (COCO boxes); ``sizes``: ``{image_id: (height, width)}``.
    """
    if len(entries) < 2:     # one box past its image is a warning (segment's), not a format
        return
    past = sum(extends_past(e["bbox"], *sizes[e["image_id"]]) for e in entries)
    if 2 * past <= len(entries):
        return
    given = [e.get("bbox_as_given", e["bbox"]) for e in entries]
    if box_format == "xywh":      # the same numbers read as corners, where they can be
        other = "xyxy"
        if any(x1 <= x0 or y1 <= y0 for x0, y0, x1, y1 in given):
            return
        reread = xyxy_to_xywh(given).tolist()
    else:
        other, reread = "xywh", given
    past_other = sum(extends_past(b, *sizes[e["image_id"]]) for b, e in zip(reread, entries))
    if past_other < past:
        raise InputError(f"{path}: {past} of {len(entries)} boxes reach past their images read as "
                         f"--box-format {box_format}, {past_other} as {other}: give --box-format {other}")


def select_detections(entries: list, min_score: float | None = None, max_per_image: int | None = None) -> list:
    """The indices of the entries kept, in input order: score at least ``min_score``, then at most
    ``max_per_image`` per image, the highest scores (ties: the earlier entry)."""
    kept = [i for i, e in enumerate(entries) if min_score is None or e["score"] >= min_score]
    if max_per_image is not None:
        by_image = defaultdict(list)
        for i in kept:
            by_image[entries[i]["image_id"]].append(i)
        best = {i for indices in by_image.values()
                for i in sorted(indices, key=lambda i: -entries[i]["score"])[:max_per_image]}
        kept = [i for i in kept if i in best]
    return kept


def _check_detection(entry, index: int, path) -> None:
    """One COCO results entry: an object with int/str ids, a finite box of positive size, a finite score."""
    if not isinstance(entry, dict):
        raise InputError(f"{path}: detection {index} is {entry!r:.80}; expected an object "
                         "{image_id, category_id, bbox, score}")
    missing = [k for k in ("image_id", "category_id", "bbox", "score") if k not in entry]
    if missing:
        raise InputError(f"{path}: detection {index} lacks {', '.join(missing)}")
    for key in ("image_id", "category_id"):
        if not is_coco_id(entry[key]):
            raise InputError(f"{path}: detection {index} has {key} {entry[key]!r:.80}; "
                             "expected an integer or a string")
    bbox = entry["bbox"]
    if not is_finite_box(bbox) or bbox[2] <= 0 or bbox[3] <= 0:
        raise InputError(f"{path}: detection {index} has bbox {bbox!r:.80}; expected "
                         "[x, y, w, h] of finite numbers with w, h > 0")
    if not is_finite_number(entry["score"]):
        raise InputError(f"{path}: detection {index} has score {entry['score']!r:.80}; "
                         "expected a finite number")


def read_coco_detections(path, names: dict | None = None) -> list:
    """A COCO results JSON as :class:`Detections`, one per (image, category).

    Parameters
    ----------
    path : path to a JSON list of ``{image_id, category_id, bbox [x, y, w, h], score}``
    names : dict of int to str, optional
        ``{category_id: name}``; without it ``category`` is the id.

    Returns
    -------
    detections : list of Detections
        In order of first appearance; every box is kept (the file holds final
        detections).
    """
    groups = defaultdict(list)
    for entry in read_detections(path):
        category = entry["category_id"]
        if names is not None:
            if category not in names:
                raise InputError(f"{path}: category_id {category} is not among the known "
                                 f"categories {sorted(names)}")
            category = names[category]
        groups[(entry["image_id"], category)].append(entry)
    detections = []
    for (image_id, category), entries in groups.items():
        boxes = xywh_to_xyxy([e["bbox"] for e in entries])
        detections.append(Detections(image_id, category, boxes, [e["score"] for e in entries]))
    return detections


# ---------------------------------------------------------------- R-CNN / SDS .mat files

def read_mat_detections(path, pre_nms_path=None, classes=None, image_ids=None) -> list:
    """R-CNN/SDS per-class box arrays (see the module's ``.mat`` layout) as :class:`Detections`.

    Parameters
    ----------
    path : path to the post-NMS ``.mat`` file (the detector's final boxes)
    pre_nms_path : path, optional
        The same detector's boxes before NMS; rows absent from ``path`` are
        marked ``kept=False``.
    classes : sequence of str, optional
        Class names in the file's class order; required when the file has no
        ``classes`` variable.
    image_ids : sequence, optional
        Image ids in the file's image order; required when the file has no
        ``image_ids`` variable.

    Returns
    -------
    detections : list of Detections
        One per (image, class) with at least one box, classes outer, images inner.
    """
    post = _read_mat_rows(path, classes, image_ids)
    if pre_nms_path is None:
        return [Detections(i, c, rows[:, :4], rows[:, 4]) for (c, i), rows in post.items()
                if len(rows)]
    pre = _read_mat_rows(pre_nms_path, classes, image_ids)
    if set(pre) != set(post):
        raise InputError(f"{pre_nms_path} and {path} cover different classes or images; "
                         "expected the same detector run before and after NMS")
    detections = []
    for key, rows in pre.items():
        kept = _match_rows(rows, post[key], f"{path} (class {key[0]}, image {key[1]})",
                           pre_nms_path)
        if len(rows):
            detections.append(Detections(key[1], key[0], rows[:, :4], rows[:, 4], kept))
    return detections


def _match_rows(pre_rows: np.ndarray, post_rows: np.ndarray, where: str, pre_path) -> np.ndarray:
    """Kept flags over ``pre_rows``: each post row claims one equal, unclaimed pre row."""
    kept = np.zeros(len(pre_rows), bool)
    for row in post_rows:
        equal = np.flatnonzero(~kept & np.all(np.abs(pre_rows - row) <= _ROW_TOLERANCE, axis=1))
        if equal.size == 0:
            raise InputError(f"{where}: detection {row.tolist()} is not in the pre-NMS file "
                             f"{pre_path}; expected post-NMS boxes to be a subset of pre-NMS ones")
        kept[equal[0]] = True
    return kept


def _read_mat_rows(path, classes, image_ids) -> dict:
    """``{(class, image_id): (N, 5) [x0 y0 x1 y1 score]}`` in our frame, from one ``.mat`` file."""
    content = read_mat(path, "detections file")
    if "boxes" not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise InputError(f"{path}: no variable 'boxes' (found {found}); expected a cell array "
                         "boxes{class, image} of N x 5 [x1 y1 x2 y2 score] matrices")
    classes = _axis_names(content, "classes", classes, path)
    image_ids = _axis_names(content, "image_ids", image_ids, path)
    cells = _class_image_cells(content["boxes"], len(classes), len(image_ids), path)
    return {(c, i): _matlab_rows(cells[ci][ii], path, c, i)
            for ci, c in enumerate(classes) for ii, i in enumerate(image_ids)}


def _axis_names(content: dict, name: str, given, path) -> list:
    if given is not None:
        return list(given)
    if name not in content:
        raise InputError(f"{path}: no variable '{name}'; pass {name}=[...] in the file's order")
    value = content[name]
    if value.dtype.kind == "U":  # a char matrix: one padded row per name
        return [row.strip() for row in np.atleast_1d(value).ravel()]
    return [_cell_string(item) for item in value.ravel()]


def _cell_string(item):
    item = np.asarray(item).ravel()
    if item.size == 0:
        return ""
    value = item[0]
    return value.item() if isinstance(value, np.generic) else value


def _class_image_cells(boxes: np.ndarray, n_classes: int, n_images: int, path) -> list:
    """``cells[class][image]`` from a (C, I) cell, a nested cell, or one image's flat cell."""
    expected = (f"expected boxes{{class, image}} with {n_classes} classes and {n_images} "
                "images, or R-CNN's nested boxes{class}{image}")
    if boxes.dtype != object:
        raise InputError(f"{path}: 'boxes' is a {boxes.dtype} array of shape {boxes.shape}; "
                         f"{expected}")
    if boxes.ndim == 2 and boxes.shape == (n_classes, n_images):
        return [list(boxes[c]) for c in range(n_classes)]
    flat = boxes.ravel()
    if flat.size == n_classes and all(np.asarray(c).dtype == object for c in flat):
        nested = [list(np.asarray(c).ravel()) for c in flat]
        if all(len(c) == n_images for c in nested):
            return nested
    if flat.size == n_classes and n_images == 1:
        return [[c] for c in flat]
    raise InputError(f"{path}: 'boxes' has shape {boxes.shape}; {expected}")


def _matlab_rows(matrix, path, category, image_id) -> np.ndarray:
    """One ``N x 5`` MATLAB matrix -> ``(N, 5)`` float64 in the continuous frame."""
    rows = np.asarray(matrix)
    if rows.size == 0:
        return np.zeros((0, 5))
    if rows.dtype == object or rows.ndim != 2 or rows.shape[1] != 5:
        raise InputError(f"{path}: class {category}, image {image_id}: boxes of shape "
                         f"{rows.shape}; expected N x 5 [x1 y1 x2 y2 score]")
    rows = rows.astype(np.float64)
    if not np.isfinite(rows).all():
        row = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise InputError(f"{path}: class {category}, image {image_id}: row {row + 1} "
                         f"{rows[row].tolist()} has non-finite values; expected finite "
                         "[x1 y1 x2 y2 score]")
    rows[:, 0:2] -= 1.0  # 1-based inclusive first pixel -> continuous left/top edge
    if np.any(rows[:, 2:4] < rows[:, 0:2]):
        raise InputError(f"{path}: class {category}, image {image_id}: a box with x2 < x1 - 1 "
                         "or y2 < y1 - 1; expected [x1 y1 x2 y2 score], 1-based inclusive")
    return rows


def write_mat_detections(detections, path, classes, image_ids, kept_only: bool = False) -> Path:
    """Write :class:`Detections` in the module's ``.mat`` layout (1-based inclusive rows).

    Parameters
    ----------
    detections : iterable of Detections
    path : output ``.mat`` file (parents are created)
    classes : sequence of str
        The file's class order; every detection's category must be in it.
    image_ids : sequence
        The file's image order (written as strings).
    kept_only : bool
        False writes every box (the pre-NMS file a detector gives), True only
        the kept ones (the post-NMS file).
    """
    from scipy.io import savemat

    path = Path(path)
    class_index = {c: k for k, c in enumerate(classes)}
    image_index = {str(i): k for k, i in enumerate(image_ids)}
    cells = np.empty((len(classes), len(image_ids)), object)
    for key in np.ndindex(cells.shape):
        cells[key] = np.zeros((0, 5))
    for entry in detections:
        if entry.category not in class_index or str(entry.image_id) not in image_index:
            raise ValueError(f"{path}: detection of class {entry.category} in image "
                             f"{entry.image_id} is outside the classes or image ids given")
        select = entry.kept if kept_only else np.ones(len(entry.scores), bool)
        rows = np.concatenate([entry.boxes[select], entry.scores[select, None]], axis=1)
        rows[:, 0:2] += 1.0
        key = (class_index[entry.category], image_index[str(entry.image_id)])
        cells[key] = np.concatenate([cells[key], rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"boxes": cells, "classes": np.array([str(c) for c in classes], object),
                   "image_ids": np.array([str(i) for i in image_ids], object)})
    return path
