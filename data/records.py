"""The one record type every reader produces, and the conventions it holds.

Conventions (every reader converts to them on load, every writer back):

- **Images** are HWC ``uint8`` RGB, values in [0, 255].
- **Boxes** are float ``(N, 4)`` arrays ``x0, y0, x1, y1`` in continuous pixel
  coordinates: pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``, so a box that
  holds exactly pixels ``c0..c1`` (inclusive) is ``x0 = c0, x1 = c1 + 1``.
  VOC's 1-based inclusive XML boxes and COCO's ``[x, y, w, h]`` are converted
  in their readers.
- **Masks** are ``bool`` arrays of shape ``(H, W)``, the image's size.
- **Void** (VOC's 255 border) is a separate ``bool (H, W)`` mask per image:
  pixels that count neither as object nor as background.
- **Keypoints** are ``{name: (x, y, visible)}`` in the same continuous frame
  (a keypoint at the centre of pixel ``(r, c)`` is ``(c + 0.5, r + 0.5)``).
- **Categories** are the data set's own class names (``"person"``, ...); VOC's
  20 names are in :data:`VOC_CLASSES` (1-based indices in VOC PNGs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)


@dataclass
class Instance:
    """One object instance of an image.

    Attributes
    ----------
    mask : ndarray of shape (H, W), bool
        The instance's pixels.
    category : str
        Class name, e.g. ``"person"``.
    box : ndarray of shape (4,), float64
        ``x0, y0, x1, y1`` (see module conventions); the tight box of ``mask``
        unless the data set gives its own.
    difficult : bool
        VOC's difficult flag, or COCO's ``iscrowd``.
    parts : dict of str to ndarray (H, W) bool
        Named part masks (PASCAL-Part's fine names), possibly empty.
    keypoints : dict of str to (x, y, visible)
        Named keypoints, possibly empty.
    """

    mask: np.ndarray
    category: str
    box: np.ndarray | None = None
    difficult: bool = False
    parts: dict = field(default_factory=dict)
    keypoints: dict = field(default_factory=dict)

    def __post_init__(self):
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.mask.ndim != 2:
            raise ValueError(f"instance mask must be 2-D (H, W), got shape {self.mask.shape}")
        if self.box is None:
            self.box = mask_to_box(self.mask)
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)


@dataclass
class ImageRecord:
    """An image and its instances.

    Attributes
    ----------
    image_id : str
        The data set's id (``"2008_000652"``, ``"000000000009"``).
    path : Path
        The image file.
    height, width : int
        The image's size; every mask of the record has this shape.
    instances : list of Instance
    void : ndarray of shape (H, W), bool, or None
        Pixels to ignore (VOC's 255), if the data set marks any.
    """

    image_id: str
    path: Path
    height: int
    width: int
    instances: list = field(default_factory=list)
    void: np.ndarray | None = None

    def boxes(self) -> np.ndarray:
        """Instance boxes, float ``(N, 4)`` (``(0, 4)`` when there are none)."""
        if not self.instances:
            return np.zeros((0, 4))
        return np.stack([inst.box for inst in self.instances])

    def load_image(self) -> np.ndarray:
        """The image, HWC uint8 RGB."""
        from hypercolumns.data.images import read_image

        image = read_image(self.path)
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"{self.path}: image is {image.shape[1]}x{image.shape[0]} but its "
                f"annotations say {self.width}x{self.height}"
            )
        return image


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """Tight box ``x0, y0, x1, y1`` of a bool mask (all zeros for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros(4)
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)
