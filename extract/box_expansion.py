"""Expanding a box "slightly" before cropping (R-CNN's context padding).

R-CNN and the authors' SDS code warp the box with ``p`` pixels of context on
every side *at the network's input size* ``S``: the crop is the box enlarged
about its centre by ``S / (S - 2p)`` in each direction.  With S = 224 and
p = 16 the box fills the central 192 x 192 pixels of the crop.
"""
from __future__ import annotations

import numpy as np


def expansion_factor(crop_size: int, padding: int) -> float:
    if not 0 <= 2 * padding < crop_size:
        raise ValueError(f"padding {padding} leaves no room in a {crop_size}px crop")
    return crop_size / (crop_size - 2 * padding)


def expand_boxes(boxes: np.ndarray, crop_size: int = 224, padding: int = 16) -> np.ndarray:
    """Enlarge boxes about their centres so that ``padding`` px of context surround them.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        ``x0, y0, x1, y1`` in continuous pixel coordinates.

    Returns
    -------
    ndarray of shape (N, 4), float64
        The expanded boxes (may extend past the image).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    factor = expansion_factor(crop_size, padding)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centres - half, centres + half], axis=1)
