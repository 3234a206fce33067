"""Expanding a box "slightly" before cropping (R-CNN's context padding).

R-CNN and the authors' SDS code warp the box with ``p`` pixels of context on
every side *at the network's input size* ``S``: the crop is the box enlarged
about its centre by ``S / (S - 2p)`` in each direction.  With S = 224 and
p = 16 the box fills the central 192 x 192 pixels of the crop.

:class:`SmallBoxContext` (ours, not the paper's: a candidate of
``compare-quality``) gives boxes under a size more context than the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SmallBoxContext:
    """Boxes whose side ``sqrt(w * h)`` is under ``below`` image px get ``padding`` px of context
    at the input size instead of the CNN's padding: a small object, upsampled most, keeps more of
    its surroundings in the crop.  ``below`` 0: no box (the paper's single padding)."""

    below: int = 0
    padding: int = 0

    def __post_init__(self):
        if self.below < 0:
            raise ValueError(f"small-box context: below {self.below} px must be >= 0")

    @classmethod
    def parse(cls, text: str) -> "SmallBoxContext":
        """From the recorded form: ``"none"`` or ``"below=<px>,padding=<px>"``; ValueError otherwise."""
        if text in ("none", ""):
            return cls()
        try:
            options = dict(item.split("=", 1) for item in text.split(","))
            if set(options) != {"below", "padding"}:
                raise ValueError
            below, padding = int(options["below"]), int(options["padding"])
        except ValueError:
            raise ValueError(f"small-box context {text!r}: expected 'none' or 'below=<px>,padding=<px>'") from None
        return cls(below, padding)

    def __str__(self) -> str:
        return "none" if not self.below else f"below={self.below},padding={self.padding}"


def expansion_factor(crop_size: int, padding: int) -> float:
    if not 0 <= 2 * padding < crop_size:
        raise ValueError(f"padding {padding} leaves no room in a {crop_size}px crop")
    return crop_size / (crop_size - 2 * padding)


def expand_boxes(boxes: np.ndarray, crop_size: int = 224, padding: int = 16,
                 small: SmallBoxContext = SmallBoxContext()) -> np.ndarray:
    """Enlarge boxes about their centres so that ``padding`` px of context surround them
    (``small.padding`` px for the boxes ``small`` names).

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
    factor = np.full((len(boxes), 1), expansion_factor(crop_size, padding))
    if small.below:
        sides = np.sqrt(np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 0), axis=1))
        factor[sides < small.below] = expansion_factor(crop_size, small.padding)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centres - half, centres + half], axis=1)
