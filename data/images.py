"""Reading images from disk, with errors that name the file; keys of image content."""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from hypercolumns.data.errors import InputError


def read_image(path) -> np.ndarray:
    """Read an image file as HWC uint8 RGB.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    InputError
        If OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image_size(path) -> tuple[int, int]:
    """Height and width of an image file, read from its header only.

    Cheaper than :func:`read_image` when a reader only needs the size to check
    its masks against (Pillow parses the header without decoding pixels).

    Returns
    -------
    height, width : int

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    InputError
        If the file is not an image Pillow can identify.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: not a readable image ({error})") from error
    return height, width


def image_key(image: np.ndarray) -> str:
    """A key of an image's content: shape, dtype and a blake2b digest of its pixels.

    For caches of what belongs to one image (its feature maps, its
    superpixels): ``id()`` of an array is reused once it is freed, the pixels are not.
    """
    pixels = np.ascontiguousarray(image)
    digest = hashlib.blake2b(pixels.tobytes(), digest_size=16).hexdigest()
    return f"{pixels.shape}:{pixels.dtype}:{digest}"
