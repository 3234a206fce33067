"""Pasting a box's heatmap back into its image (protocol.md, "Pasting a heatmap back").

Frame: boxes are ``x0, y0, x1, y1`` in the continuous pixel frame of
``hypercolumns.data.records`` (pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``);
the box is the one the heatmap's grid covers (the expanded box the crop was
cut from), and may extend past the image.

Rule (the authors' ``paste_output``, moved from their inclusive integer boxes
to our continuous frame):

- the box's corners are rounded up and clipped to the image: the pasted
  columns are ``c = max(ceil(x0), 0) .. min(ceil(x1), W) - 1``, i.e. the pixels
  whose integer coordinate ``c`` (their left edge) lies in ``[x0, x1)``;
- column ``c`` takes heatmap column ``floor((c - x0) * S / w)`` clamped to
  ``0 .. S-1``, with ``x0`` and ``w = x1 - x0`` of the *unclipped* box (the
  grid spans the whole box, also the part outside the image); rows alike;
- pixels outside the box get 0.

So ``x`` in the protocol's ``floor((x - x0) * 50 / w)`` is the pixel's column
index ``c`` (its left edge), not its centre ``c + 0.5``: the authors' code
indexes pixels by integers and so do we; with ``w`` >= 50 the two differ by
at most one cell.
"""
from __future__ import annotations

import math

import numpy as np

# Pixels whose left edge lies on a cell boundary up to round-off (e.g. 3 - 1.2
# giving 1.7999...) take the cell to the right, as exact arithmetic would.
_ROUND_OFF = 1e-9


def paste_window(box, image_shape, size: int):
    """Where a box's heatmap lands in the image, and which cells land there.

    Parameters
    ----------
    box : array-like of shape (4,)
        ``x0, y0, x1, y1``, continuous pixel frame, ``x1 > x0``, ``y1 > y0``.
    image_shape : tuple
        ``(H, W)`` or ``(H, W, channels)``.
    size : int
        The heatmap's side ``S``.

    Returns
    -------
    rows, cols : slice
        The image rows and columns the box covers after rounding and clipping
        (empty slices when the box misses the image).
    row_cells, col_cells : ndarray of shape (len(rows),) and (len(cols),), int64
        The heatmap row of each image row, the heatmap column of each column.
    """
    x0, y0, x1, y1 = _check_box(box)
    height, width = int(image_shape[0]), int(image_shape[1])
    rows, row_cells = _axis_window(y0, y1, height, size)
    cols, col_cells = _axis_window(x0, x1, width, size)
    return rows, cols, row_cells, col_cells


def paste_heatmap(heatmap: np.ndarray, box, image_shape, window=None) -> np.ndarray:
    """One heatmap into its image, or into a window of it.

    Parameters
    ----------
    heatmap : ndarray of shape (S, S)
        Values on the box's grid, rows then columns (e.g. probabilities in [0, 1]).
    box : array-like of shape (4,)
        The box the grid covers, continuous pixel frame.
    image_shape : tuple
        ``(H, W)`` or ``(H, W, channels)``.
    window : (slice, slice), optional
        Image rows and columns to return (default: the whole image), so that a
        mask's window needs no image-sized array.

    Returns
    -------
    ndarray of shape (H, W) or the window's, float32
        The heatmap's nearest cell at every pixel of the box, 0 elsewhere.
    """
    heatmap = _check_heatmap(heatmap)
    rows, cols, row_cells, col_cells = paste_window(box, image_shape, heatmap.shape[0])
    if window is None:
        window = (slice(0, int(image_shape[0])), slice(0, int(image_shape[1])))
    out_rows, out_cols = window
    pasted = np.zeros((out_rows.stop - out_rows.start, out_cols.stop - out_cols.start), np.float32)
    keep_rows = _overlap(rows, out_rows)
    keep_cols = _overlap(cols, out_cols)
    pasted[keep_rows.start - out_rows.start:keep_rows.stop - out_rows.start,
           keep_cols.start - out_cols.start:keep_cols.stop - out_cols.start] = heatmap[np.ix_(
               row_cells[keep_rows.start - rows.start:keep_rows.stop - rows.start],
               col_cells[keep_cols.start - cols.start:keep_cols.stop - cols.start])]
    return pasted


def _overlap(a: slice, b: slice) -> slice:
    """The pixels two windows share along one axis (empty, at ``a.start`` clipped into ``b``, if none)."""
    start = min(max(a.start, b.start), b.stop)
    return slice(start, max(min(a.stop, b.stop), start))


def heatmaps_and_boxes(heatmaps, boxes) -> tuple[np.ndarray, np.ndarray]:
    """``heatmaps`` as an ``(N, S, S)`` array and ``boxes`` as ``(N, 4)`` float64, the same N
    (ValueError otherwise)."""
    heatmaps = np.asarray(heatmaps)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if heatmaps.ndim != 3 or len(heatmaps) != len(boxes):
        raise ValueError(f"expected heatmaps (N, S, S) and boxes (N, 4) with the same N, got "
                         f"{heatmaps.shape} and {boxes.shape}")
    return heatmaps, boxes


def paste_heatmaps(heatmaps: np.ndarray, boxes: np.ndarray, image_shape) -> np.ndarray:
    """Many heatmaps into one image: ``(N, S, S)`` and boxes ``(N, 4)`` -> ``(N, H, W)`` float32."""
    heatmaps, boxes = heatmaps_and_boxes(heatmaps, boxes)
    pasted = np.zeros((len(boxes), *image_shape[:2]), dtype=np.float32)
    for index, (heatmap, box) in enumerate(zip(heatmaps, boxes)):
        pasted[index] = paste_heatmap(heatmap, box, image_shape)
    return pasted


def _axis_window(low: float, high: float, length: int, size: int):
    """Pixels ``[ceil(low), ceil(high))`` clipped to ``[0, length)``, and their cells."""
    first = min(max(math.ceil(low), 0), length)
    stop = max(min(math.ceil(high), length), first)
    pixels = np.arange(first, stop, dtype=np.float64)
    cells = np.floor((pixels - low) * size / (high - low) + _ROUND_OFF)
    return slice(first, stop), np.clip(cells, 0, size - 1).astype(np.int64)


def _check_box(box) -> tuple[float, float, float, float]:
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"a box must be 4 finite numbers x0, y0, x1, y1, got {box!r}")
    x0, y0, x1, y1 = values.tolist()
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {values.tolist()} is empty: need x1 > x0 and y1 > y0")
    return x0, y0, x1, y1


def _check_heatmap(heatmap) -> np.ndarray:
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2 or heatmap.shape[0] != heatmap.shape[1]:
        raise ValueError(f"a heatmap must be square (S, S), got shape {heatmap.shape}; "
                         f"move a torch tensor to numpy with .cpu().numpy()")
    return heatmap
