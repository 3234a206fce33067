"""Reading images from disk, with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_image(path) -> np.ndarray:
    """Read an image file as HWC uint8 RGB.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
