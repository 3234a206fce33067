"""Cropping an expanded box out of an image and warping it to the network's input.

Geometry: the expanded box ``x0, y0, x1, y1`` (continuous frame, see
``data/records.py``) is mapped onto the ``S x S`` crop so that crop pixel
``u`` (centre ``u + 0.5``) reads the image at continuous ``x0 + (u + 0.5) * w / S``,
i.e. pixel index ``x0 + (u + 0.5) * w / S - 0.5``, bilinearly (``cv2.warpAffine``).
Outside the image the crop is filled with the network's mean colour, so that
after mean subtraction it is zero (R-CNN's convention).

Preprocessing follows the weights' own ``input`` record (channel order,
scale, mean, std): Caffe/Keras ImageNet weights take BGR 0..255 minus the BGR
mean; torchvision weights take RGB scaled to 0..1, normalised.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch


def crop_and_warp(image: np.ndarray, box: np.ndarray, size: int, fill_rgb,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Warp one (expanded) box of an image to ``size x size``.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8 or float32, RGB
        A float32 image (:func:`float_image`) is warped as it is, so callers
        warping many boxes of one image convert it once; the values are the
        same as for its uint8 original.
    box : ndarray of shape (4,)
        ``x0, y0, x1, y1``, may extend past the image.
    fill_rgb : sequence of 3 float
        Colour for pixels outside the image (0..255).
    out : ndarray of shape (size, size, 3), float32, C-contiguous, optional
        Written in place (e.g. one slot of a batch).

    Returns
    -------
    ndarray of shape (size, size, 3), float32, RGB, values 0..255
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {box} has no area")
    scale_x, scale_y = (x1 - x0) / size, (y1 - y0) / size
    # dst -> src affine map, in pixel-index coordinates of both images
    matrix = np.array([[scale_x, 0.0, x0 + 0.5 * scale_x - 0.5],
                       [0.0, scale_y, y0 + 0.5 * scale_y - 0.5]])
    warped = cv2.warpAffine(float_image(image), matrix, (size, size), dst=out,
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT,
                            borderValue=tuple(float(c) for c in fill_rgb))
    if out is not None and not np.shares_memory(warped, out):  # cv2 reallocated: never silently drop
        out[...] = warped
        return out
    return warped


def float_image(image: np.ndarray) -> np.ndarray:
    """``image`` as C-contiguous float32 (itself when it already is)."""
    if image.dtype == np.float32 and image.flags.c_contiguous:
        return image
    return image.astype(np.float32)


def warp_boxes(image: np.ndarray, boxes: np.ndarray, size: int, fill_rgb,
               out: np.ndarray | None = None) -> np.ndarray:
    """:func:`crop_and_warp` of every box ``(N, 4)`` -> ``(N, size, size, 3)`` float32 (into ``out`` if given).

    The image is converted to float32 once for all the boxes.
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    if out is None:
        out = np.empty((len(boxes), size, size, 3), np.float32)
    image = float_image(image)
    for index, box in enumerate(boxes):
        crop_and_warp(image, box, size, fill_rgb, out=out[index])
    return out


def mean_fill_rgb(input_spec: dict) -> list[float]:
    """The RGB 0..255 colour that preprocesses to zero under ``input_spec``."""
    mean = np.asarray(input_spec["mean"], dtype=np.float64) / input_spec["scale"]
    if input_spec["channel_order"] == "BGR":
        mean = mean[::-1]
    return mean.tolist()


def preprocess(crops: np.ndarray, input_spec: dict) -> torch.Tensor:
    """RGB 0..255 crops ``(B, S, S, 3)`` -> network input ``(B, 3, S, S)`` float32.

    ``(crop[..., channel] * scale - mean) / std`` in float32, written channel by
    channel straight into the ``(B, 3, S, S)`` result (the same float32
    operations, element by element, as on the whole ``(B, S, S, 3)`` array).
    """
    crops = np.asarray(crops, dtype=np.float32)
    mean = np.asarray(input_spec["mean"], np.float32)
    std = np.asarray(input_spec["std"], np.float32)
    scale = np.float32(input_spec["scale"])
    out = np.empty((crops.shape[0], 3) + crops.shape[1:3], np.float32)
    for channel in range(3):
        source = 2 - channel if input_spec["channel_order"] == "BGR" else channel
        plane = out[:, channel]
        np.multiply(crops[..., source], scale, out=plane)
        np.subtract(plane, mean[channel], out=plane)
        np.divide(plane, std[channel], out=plane)
    return torch.from_numpy(out)
