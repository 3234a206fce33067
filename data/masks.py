"""The mask codec: COCO RLE encode and decode, polygons to RLE and to masks.

Conventions (those of :mod:`hypercolumns.data.records`):

- A mask is a ``bool`` array of shape ``(H, W)``; a stack of masks of one
  image is ``(N, H, W)``.
- A COCO RLE is a dict ``{"size": [H, W], "counts": str}`` (column-major run
  lengths, compressed as pycocotools writes them). :func:`encode_rle` returns
  ``counts`` as ``str`` so that the dict can go to JSON as it is;
  :func:`decode_rle` also takes ``bytes`` and uncompressed (list) counts.
- Every RLE read is checked on the way to pycocotools
  (:func:`to_compressed_rle`): its run lengths, decoded as pycocotools reads
  them (:func:`run_lengths`), must sum to ``H * W``. :func:`checked_rle` adds
  the form and names the user's file and entry.
- A polygon vertex ``(x, y)`` is a point of the continuous frame (pixel
  ``(r, c)`` covers ``[c, c+1) x [r, r+1)``). Polygons are rasterised with
  pycocotools, the rasteriser that made COCO's own masks, so that polygons
  derived from COCO's (coco128-seg's YOLO labels are COCO polygons divided by
  width and height) decode to COCO's masks. A square with corners 0 and 10
  covers exactly the 10 x 10 pixels 0..9. OpenCV's ``fillPoly`` is not used:
  it rounds vertices to pixel centres and includes the outline, so the same
  square would cover 11 x 11 pixels (about half a pixel of dilation all
  round, which matters for small objects).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pycocotools.mask as mask_utils

from hypercolumns.data.errors import InputError
from hypercolumns.data.files import is_finite_number

# pycocotools reads a compressed run length with 32-bit shifts: 6 characters (30 bits) at most.
_MAX_CHARS_PER_RUN = 6


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of one mask, JSON-safe.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool

    Returns
    -------
    rle : dict
        ``{"size": [H, W], "counts": str}``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode_rle takes one (H, W) mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def encode_window_rle(window: np.ndarray, top: int, left: int, image_shape) -> dict:
    """:func:`encode_rle` of an ``image_shape`` mask that is False outside ``window``, a ``(h, w)`` bool
    array at rows ``top ..`` and columns ``left ..``, without making the image-sized array: the run
    lengths come from the window's own transitions, so the cost grows with the window, not the image.
    """
    window = np.asarray(window, dtype=bool)
    height, width = int(image_shape[0]), int(image_shape[1])
    h, w = window.shape
    if top < 0 or left < 0 or top + h > height or left + w > width:
        raise ValueError(f"a {h} x {w} window at ({top}, {left}) leaves the {height} x {width} image")
    padded = np.zeros((w, h + 2), np.int8)     # columns first: COCO's runs go down each column
    padded[:, 1:-1] = window.T
    columns, rows = np.nonzero(np.diff(padded, axis=1))     # sorted by column, then row
    edges = (left + columns).astype(np.int64) * height + top + rows   # a run's start, its end, the next start...
    joined = np.flatnonzero(edges[1:-1:2] == edges[2::2])   # a run down to the image's bottom row that the
    if joined.size:                                          # next column continues from its top row
        edges = np.delete(edges, np.concatenate([2 * joined + 1, 2 * joined + 2]))
    counts = np.diff(np.concatenate([[0], edges, [height * width]]))
    if len(counts) > 1 and counts[-1] == 0:   # a run to the last pixel: pycocotools writes no empty run after it
        counts = counts[:-1]
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: Mapping) -> np.ndarray:
    """Mask of a COCO RLE.

    Parameters
    ----------
    rle : dict
        ``{"size": [H, W], "counts": str, bytes or list of int}``.

    Returns
    -------
    mask : ndarray of shape (H, W), bool
    """
    return decode_rles([rle])[0]


def decode_rles(rles: Sequence[Mapping]) -> np.ndarray:
    """Masks of COCO RLEs of one size, decoded in one call.

    Parameters
    ----------
    rles : sequence of N RLE dicts
        As :func:`decode_rle` takes; all of the same size.

    Returns
    -------
    masks : ndarray of shape (N, H, W), bool
    """
    if len(rles) == 0:
        raise ValueError("no RLEs to decode: their size is unknown")
    compressed = [to_compressed_rle(rle) for rle in rles]
    sizes = {tuple(rle["size"]) for rle in compressed}
    if len(sizes) > 1:
        raise ValueError(f"RLEs of different sizes {sorted(sizes)} cannot be stacked")
    with warnings.catch_warnings():
        # pycocotools' decode trips numpy 2's __array__(copy=...) deprecation; the result is right
        warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
        decoded = mask_utils.decode(compressed)
    return np.moveaxis(decoded, 2, 0).astype(bool, order="C")


def to_compressed_rle(rle: Mapping) -> dict:
    """The pycocotools form of an RLE, ``counts`` as compressed ``bytes``, its run lengths checked.

    The one check of every RLE read (:func:`checked_rle` adds the form and the
    file's name): the run lengths must be non-negative and sum to ``H * W``.
    pycocotools does not check this: its ``rleDecode`` refuses only runs that
    overrun the mask and leaves the pixels after a short RLE as whatever its
    (malloc'd) buffer held, while its ``rleIou`` counts them as background, so
    the two would disagree on a malformed RLE.

    Raises
    ------
    TypeError
        On something that is not an RLE dict.
    ValueError
        On run lengths that cannot be read or do not cover ``H * W`` pixels.
    """
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise TypeError(f"expected an RLE dict with 'size' and 'counts', got {type(rle).__name__}")
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if not isinstance(counts, (bytes, list)):
        raise TypeError(f"RLE counts must be str, bytes or a list of int, got {type(counts).__name__}")
    _check_run_lengths(run_lengths(counts), height, width)
    if isinstance(counts, list):
        return mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": counts}


def run_lengths(counts) -> np.ndarray:
    """The run lengths of an RLE's ``counts``, read as pycocotools reads them.

    Parameters
    ----------
    counts : list of int, or str or bytes
        Uncompressed run lengths, or pycocotools' compressed string.

    Returns
    -------
    runs : ndarray of shape (M,), int64
        Column-major, background first; not checked against a size (they may
        be negative where a string decodes to that).

    Raises
    ------
    ValueError
        On a compressed string that pycocotools would misread: a character
        outside ``'0'`` to ``'o'``, a string ending inside a run length, or a
        run length of more than 6 characters.

    Notes
    -----
    Follows ``rleFrString`` of ``common/maskApi.c`` in cocodataset/cocoapi and
    in ppwwyyxx/cocoapi (the source of PyPI's pycocotools 2.0.x): each character less 48 holds 5 bits of
    the value, least significant first, and a continuation bit 0x20; bit 0x10
    of a value's last character is its sign; from the fourth value on, a value
    is the difference to the run two before.
    """
    if isinstance(counts, list):
        return np.asarray(counts, dtype=np.int64).reshape(-1)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    codes = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    outside = (codes < 0) | (codes > 63)
    if outside.any():
        position = int(np.flatnonzero(outside)[0])
        raise ValueError(f"RLE counts cannot be decoded: character {chr(codes[position] + 48)!r} at "
                         f"{position} is not one of COCO's '0' to 'o'")
    ends = np.flatnonzero((codes & 0x20) == 0)  # a character without continuation ends a value
    if codes.size and (ends.size == 0 or ends[-1] != codes.size - 1):
        raise ValueError("RLE counts cannot be decoded: the string ends inside a run length")
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    n_chars = ends - starts + 1
    if (n_chars > _MAX_CHARS_PER_RUN).any():
        raise ValueError(f"RLE counts cannot be decoded: a run length of more than "
                         f"{_MAX_CHARS_PER_RUN} characters")
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    shifts = 5 * (np.arange(codes.size) - np.repeat(starts, n_chars))
    values = np.add.reduceat((codes & 0x1F) << shifts, starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * n_chars[negative])  # sign extension
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])  # run 3 = value 3 + run 1, run 5 = value 5 + run 3, ...
    runs[2::2] = np.cumsum(values[2::2])  # run 4 = value 4 + run 2, ...; run 0 and 2 as read
    return runs


def _check_run_lengths(runs: np.ndarray, height: int, width: int) -> None:
    negative = np.flatnonzero(runs < 0)
    if negative.size:
        raise ValueError(f"RLE run {int(negative[0])} has the negative length {int(runs[negative[0]])}")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(f"RLE run lengths sum to {total}, not {height} x {width} = {height * width} pixels")


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Compressed RLE of the union of COCO polygons: the one rasterisation of polygons.

    Parameters
    ----------
    polygons : sequence of sequences of float
        Each ``[x1, y1, x2, y2, ...]`` with at least 3 points, continuous
        frame; parts outside the image are clipped.
    height, width : int

    Returns
    -------
    rle : dict
        ``{"size": [H, W], "counts": bytes}``.
    """
    for polygon in polygons:
        # pycocotools reads a 4-number list as a box, not a polygon.
        if len(polygon) < 6 or len(polygon) % 2:
            raise ValueError(
                f"a polygon needs an even number (>= 6) of coordinates x1, y1, x2, y2, ..., "
                f"got {len(polygon)}"
            )
    if not polygons:
        return to_compressed_rle(encode_rle(np.zeros((height, width), dtype=bool)))
    return mask_utils.merge(mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width))


def polygons_to_mask(polygons, height: int, width: int) -> np.ndarray:
    """Rasterise the union of polygons given as vertex arrays.

    Parameters
    ----------
    polygons : sequence of ndarray of shape (K, 2), float
        Vertices ``x, y`` in the continuous frame, ``K >= 3`` each; parts
        outside the image are clipped.
    height, width : int
        The mask's size.

    Returns
    -------
    ndarray of shape (height, width), bool
    """
    flat = []
    for polygon in polygons:
        polygon = np.asarray(polygon, dtype=np.float64)
        if polygon.ndim != 2 or polygon.shape[1] != 2 or polygon.shape[0] < 3:
            raise ValueError(f"polygon must have shape (K, 2) with K >= 3, got {polygon.shape}")
        flat.append(polygon.ravel().tolist())
    if not flat:
        raise ValueError("no polygon to rasterise")
    return decode_rle(polygons_to_rle(flat, height, width))


def segmentation_to_mask(segmentation, height: int, width: int, where: str) -> np.ndarray:
    """Decode a COCO ``segmentation`` (polygons or RLE) to a bool ``(height, width)`` mask.

    Parameters
    ----------
    segmentation : list of list of float, or dict
        Polygons ``[[x1, y1, x2, y2, ...], ...]`` in the continuous frame, or
        an RLE ``{"size": [h, w], "counts": list or str}``.
    where : str
        Names the file and annotation in error messages.

    Raises
    ------
    InputError
        On an empty segmentation, a malformed polygon, or an RLE that
        :func:`checked_rle` refuses.
    """
    if isinstance(segmentation, dict):
        return decode_rle(checked_rle(segmentation, height, width, where))
    return decode_rle(polygons_to_rle(_valid_polygons(segmentation, where), height, width))


def _valid_polygons(segmentation, where: str) -> list:
    if not isinstance(segmentation, list) or not segmentation:
        raise InputError(f"{where}: empty or malformed segmentation {str(segmentation)[:60]!r}")
    for polygon in segmentation:
        if not isinstance(polygon, list) or len(polygon) % 2 or not all(map(is_finite_number, polygon)):
            raise InputError(f"{where}: a polygon must be a flat list x1, y1, x2, y2, ... of "
                             f"finite numbers, got {polygon!r:.60}")
    polygons = [[float(v) for v in polygon] for polygon in segmentation if len(polygon) >= 6]
    if not polygons:
        raise InputError(f"{where}: no polygon with at least 3 points")
    # pycocotools would read a 4-number list as a box: drop such slivers, loudly.
    for polygon in segmentation:
        if len(polygon) < 6:
            warnings.warn(f"{where}: dropped a polygon of {len(polygon) // 2} points", stacklevel=4)
    return polygons


def checked_rle(rle, height: int, width: int, where: str) -> dict:
    """A user's COCO RLE checked against an image of ``height`` x ``width``, compressed.

    Checks the form (``size`` ``[H, W]`` equal to the image's, ``counts`` a
    string or a list of non-negative integers), then the run lengths as
    :func:`to_compressed_rle` does (readable, summing to ``H * W``).

    Returns
    -------
    rle : dict
        ``{"size": [H, W], "counts": bytes}``, as :func:`to_compressed_rle`.

    Raises
    ------
    InputError
        Naming ``where`` (the file and the entry).
    """
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise InputError(f"{where}: segmentation {rle!r:.60} is not a COCO RLE "
                         "{'size': [H, W], 'counts': ...} (an RLE needs 'size' and 'counts')")
    size, counts = rle["size"], rle["counts"]
    if not isinstance(size, list) or len(size) != 2 or not all(map(_is_count, size)):
        raise InputError(f"{where}: RLE size {size!r:.40} is not [H, W] of two non-negative integers")
    if size != [height, width]:
        raise InputError(
            f"{where}: RLE size {list(size)} differs from the image's [{height}, {width}]"
        )
    if not ((isinstance(counts, str) and counts.isascii())
            or (isinstance(counts, list) and all(map(_is_count, counts)))):
        raise InputError(f"{where}: RLE counts {counts!r:.40} are neither a compressed string "
                         "nor a list of non-negative integers")
    try:
        return to_compressed_rle(rle)
    except ValueError as error:
        raise InputError(f"{where}: {error}") from None


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
