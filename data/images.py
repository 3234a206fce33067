"""Reading images from disk, with errors that name the file; keys of image content.

A truncated image is refused, not read: ``cv2.imread`` decodes a JPEG whose
end is missing with the missing rows grey and only prints a libjpeg warning,
and the results computed on it look valid.  The check is cheap for a whole
file (:func:`_refuse_truncated`): a JPEG ends with its EOI marker ``FF D9``
and a PNG with its ``IEND`` chunk, which one read of the file's last bytes
shows.  Only a file that does not end so (truncated, or with bytes after the
image that some cameras write) is looked at further.  The pixels of a whole
file are ``cv2.imread``'s, unchanged.
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import cv2
import numpy as np

from hypercolumns.data.errors import InputError, require_file

_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def read_image(path) -> np.ndarray:
    """Read an image file as HWC uint8 RGB.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If it is a truncated JPEG or PNG, or OpenCV cannot decode it.
    """
    path = require_file(path, "image")
    _refuse_truncated(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image_size(path) -> tuple[int, int]:
    """Height and width of an image file, read from its header only.

    Cheaper than :func:`read_image` when a reader only needs the size to check
    its masks against (Pillow parses the header without decoding pixels).
    A truncated JPEG or PNG is refused as :func:`read_image` refuses it.

    Returns
    -------
    height, width : int

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If it is a truncated JPEG or PNG, or not an image Pillow can identify.
    """
    from PIL import Image, UnidentifiedImageError

    path = require_file(path, "image")
    _refuse_truncated(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: not a readable image ({error})") from error
    return height, width


def _refuse_truncated(path: Path) -> None:
    """InputError if ``path`` is a JPEG or PNG whose data ends before the image does.

    Other formats are left to the decoder.
    """
    with path.open("rb") as stream:
        head = stream.read(len(_PNG_SIGNATURE))
        stream.seek(max(0, path.stat().st_size - len(_PNG_END)))
        tail = stream.read()
    if head.startswith(_JPEG_START) and not tail.endswith(_JPEG_END):
        _refuse_truncated_jpeg(path)
    elif head == _PNG_SIGNATURE and tail != _PNG_END and not _png_has_end(path):
        raise InputError(f"{path}: truncated PNG (the file ends before its IEND chunk)")


def _refuse_truncated_jpeg(path: Path) -> None:
    """A JPEG that does not end with EOI: truncated unless a strict decode reads it whole.

    Pillow raises ``OSError: image file is truncated`` where libjpeg only warns
    (``ImageFile.LOAD_TRUNCATED_IMAGES`` is False unless someone sets it); its
    pixels are not used, only its verdict.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"{path}: truncated or corrupt JPEG ({error})") from None


def _png_has_end(path: Path) -> bool:
    """Whether the chunks of a PNG, walked from its signature, reach an IEND chunk in the file.

    Reads only the 8-byte chunk headers (lengths and types), seeking over the data.
    """
    size = path.stat().st_size
    with path.open("rb") as stream:
        position = len(_PNG_SIGNATURE)
        while position + 8 <= size:
            stream.seek(position)
            length, kind = struct.unpack(">I4s", stream.read(8))
            end = position + 8 + length + 4  # header, data, CRC
            if end > size:
                return False
            if kind == b"IEND":
                return True
            position = end
    return False


def image_key(image: np.ndarray) -> str:
    """A key of an image's content: shape, dtype and a blake2b digest of its pixels.

    For caches of what belongs to one image (its feature maps, its
    superpixels): ``id()`` of an array is reused once it is freed, the pixels are not.
    """
    pixels = np.ascontiguousarray(image)
    digest = hashlib.blake2b(pixels.tobytes(), digest_size=16).hexdigest()
    return f"{pixels.shape}:{pixels.dtype}:{digest}"
