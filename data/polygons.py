"""Polygon rasterisation in the continuous pixel frame of :mod:`records`.

A vertex ``(x, y)`` is a point of the continuous frame (pixel ``(r, c)`` covers
``[c, c+1) x [r, r+1)``). Polygons are rasterised with pycocotools, the
rasteriser that made COCO's own masks, so that polygons derived from COCO's
(coco128-seg's YOLO labels are COCO polygons divided by width and height)
decode to COCO's masks. A square with corners 0 and 10 covers exactly the
10 x 10 pixels 0..9.

OpenCV's ``fillPoly`` is not used: it rounds vertices to pixel centres and
includes the outline, so the same square would cover 11 x 11 pixels (about
half a pixel of dilation all round, which matters for small objects).
"""
from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as mask_utils


def polygons_to_mask(polygons, height: int, width: int) -> np.ndarray:
    """Rasterise the union of polygons.

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
    # Every flat list has >= 6 numbers, so pycocotools reads them as polygons
    # (a 4-number list would be taken for a box).
    return decode_rle(mask_utils.merge(mask_utils.frPyObjects(flat, height, width)))


def decode_rle(rle: dict) -> np.ndarray:
    """Decode one pycocotools RLE to a bool ``(H, W)`` mask.

    pycocotools' Cython decoder (2.0.x) triggers numpy 2's DeprecationWarning
    about ``__array__`` and ``copy`` on every call; it is harmless and
    silenced here so that real warnings (orphans, dropped polygons) stand out.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        return mask_utils.decode(rle).astype(bool)


def polygon_to_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise one polygon, ``(K, 2)`` float continuous vertices; see :func:`polygons_to_mask`."""
    return polygons_to_mask([polygon], height, width)
