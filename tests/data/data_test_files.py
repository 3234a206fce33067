"""Writers of small files in real data formats, for the data tests.

(A uniquely named module rather than conftest: test folders have no
``__init__.py``, so a plain ``import conftest`` could pick another folder's.)
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_jpeg(path: Path, height: int, width: int) -> Path:
    """Write a grey ``height x width`` JPEG (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 128, dtype=np.uint8))
    return path
