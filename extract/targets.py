"""Training targets on the 50 x 50 grid of an expanded box.

Every target is an int8 ``(50, 50)`` map: 1 positive, 0 negative, -1 ignore.
Grid cell ``(y, x)`` stands for the image point at its centre,
``(x0 + (x + 0.5) * w / 50, y0 + (y + 0.5) * h / 50)`` in the continuous
frame (``x0, y0, w, h`` of the expanded box); a mask is read at the pixel
that contains that point.  Points outside the image are background (0): the
crop shows mean colour there, not the object.

- figure-ground: the instance mask; VOC void pixels (255) are ignored.
- parts: one map per part name, positive on that part's pixels.
- keypoints: the cell nearest the keypoint is positive; cells farther than
  ``radius`` x the expanded box's diagonal (image pixels) are negative; those
  in between are ignored.  An unlabelled keypoint gives no positive and all
  negatives; an invisible one with a position gives no positive and keeps the
  ring around it ignored.
"""
from __future__ import annotations

import numpy as np

from hypercolumns.extract.hypercolumn import HEATMAP_SIZE

IGNORE = -1


def cell_centres(box: np.ndarray, size: int = HEATMAP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Continuous image coordinates of the grid cells' centres: ``xs (size,)``, ``ys (size,)``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    steps = (np.arange(size) + 0.5) / size
    return x0 + steps * (x1 - x0), y0 + steps * (y1 - y0)


def sample_mask(mask: np.ndarray, box: np.ndarray, size: int = HEATMAP_SIZE) -> np.ndarray:
    """``mask (H, W) bool`` read at the cell centres -> ``(size, size) bool`` (False outside the image)."""
    height, width = mask.shape
    xs, ys = cell_centres(box, size)
    cols, rows = np.floor(xs).astype(int), np.floor(ys).astype(int)
    inside_x, inside_y = (cols >= 0) & (cols < width), (rows >= 0) & (rows < height)
    sampled = mask[np.clip(rows, 0, height - 1)][:, np.clip(cols, 0, width - 1)]
    return sampled & inside_y[:, None] & inside_x[None, :]


def figure_ground_target(mask: np.ndarray, box: np.ndarray, void: np.ndarray | None = None,
                         size: int = HEATMAP_SIZE) -> np.ndarray:
    """The instance's figure-ground labels on the box grid, int8 ``(size, size)``."""
    target = sample_mask(mask, box, size).astype(np.int8)
    if void is not None:
        target[sample_mask(void, box, size)] = IGNORE
    return target


def part_targets(parts: dict, box: np.ndarray, void: np.ndarray | None = None,
                 size: int = HEATMAP_SIZE) -> dict:
    """``{part name: int8 (size, size)}``, positive on the part's pixels."""
    return {name: figure_ground_target(mask, box, void, size) for name, mask in parts.items()}


def keypoint_target(keypoint, box: np.ndarray, radius: float = 0.1,
                    size: int = HEATMAP_SIZE) -> np.ndarray:
    """Labels of one keypoint ``(x, y, visible)`` or ``None`` on the box grid, int8 ``(size, size)``."""
    target = np.zeros((size, size), np.int8)
    if keypoint is None:
        return target
    x, y, visible = keypoint
    xs, ys = cell_centres(box, size)
    distance = np.hypot(xs[None, :] - x, ys[:, None] - y)
    diagonal = np.hypot(box[2] - box[0], box[3] - box[1])
    target[distance <= radius * diagonal] = IGNORE
    if visible:
        x0, y0, x1, y1 = box
        col = int(np.clip(np.floor((x - x0) / (x1 - x0) * size), 0, size - 1))
        row = int(np.clip(np.floor((y - y0) / (y1 - y0) * size), 0, size - 1))
        inside = x0 <= x < x1 and y0 <= y < y1
        if inside:
            target[row, col] = 1
    return target
