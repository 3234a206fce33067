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


def crop_and_warp(image: np.ndarray, box: np.ndarray, size: int, fill_rgb) -> np.ndarray:
    """Warp one (expanded) box of an image to ``size x size``.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    box : ndarray of shape (4,)
        ``x0, y0, x1, y1``, may extend past the image.
    fill_rgb : sequence of 3 float
        Colour for pixels outside the image (0..255).

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
    return cv2.warpAffine(image.astype(np.float32), matrix, (size, size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(c) for c in fill_rgb))


def mean_fill_rgb(input_spec: dict) -> list[float]:
    """The RGB 0..255 colour that preprocesses to zero under ``input_spec``."""
    mean = np.asarray(input_spec["mean"], dtype=np.float64) / input_spec["scale"]
    if input_spec["channel_order"] == "BGR":
        mean = mean[::-1]
    return mean.tolist()


def preprocess(crops: np.ndarray, input_spec: dict) -> torch.Tensor:
    """RGB 0..255 crops ``(B, S, S, 3)`` -> network input ``(B, 3, S, S)`` float32."""
    crops = np.asarray(crops, dtype=np.float32)
    if input_spec["channel_order"] == "BGR":
        crops = crops[..., ::-1]
    mean = np.asarray(input_spec["mean"], np.float32)
    std = np.asarray(input_spec["std"], np.float32)
    normalised = (crops * np.float32(input_spec["scale"]) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))
