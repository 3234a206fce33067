"""Region descriptors for rescoring (SDS's region pathway, on one network).

A region is a box and its predicted mask: the expanded box is cropped as in
stage one, every pixel outside the mask (warped to the crop by nearest
neighbour, with the crop's geometry) is set to the network's mean so that the
preprocessed input is exactly 0 there, and the frozen CNN's global descriptor
of that region crop is concatenated with the one of the ordinary box crop.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from hypercolumns.extract.hypercolumn import global_descriptor
from hypercolumns.extract.layer_spec import GLOBAL_SOURCE


def warp_mask(mask: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour warp of a mask with the crop geometry of ``extract.crop``.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool, image frame
    box : ndarray of shape (4,)
        Expanded box ``x0, y0, x1, y1`` (continuous frame), may extend past the image.
    size : int
        Crop side ``S``.

    Returns
    -------
    ndarray of shape (S, S), bool
        True where the crop pixel's sample point lies in an image pixel of the mask.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    centres = np.arange(size) + 0.5
    cols = np.floor(x0 + centres * (x1 - x0) / size).astype(np.int64)
    rows = np.floor(y0 + centres * (y1 - y0) / size).astype(np.int64)
    height, width = mask.shape
    col_in, row_in = (cols >= 0) & (cols < width), (rows >= 0) & (rows < height)
    warped = mask[np.clip(rows, 0, height - 1)][:, np.clip(cols, 0, width - 1)]
    return warped & row_in[:, None] & col_in[None, :]


def warp_masks(masks: np.ndarray, expanded_boxes: np.ndarray, size: int) -> np.ndarray:
    """:func:`warp_mask` of each mask ``(N, H, W)`` with its box ``(N, 4)``: ``(N, S, S)`` bool."""
    return np.stack([warp_mask(m, b, size) for m, b in zip(masks, expanded_boxes)])


def mask_crops(box_crops: torch.Tensor, warped: np.ndarray) -> torch.Tensor:
    """Region crops from preprocessed box crops: exactly 0 outside the warped masks.

    Parameters
    ----------
    box_crops : tensor of shape (N, 3, S, S), float32, preprocessed (``FrozenCNN.crops``)
    warped : ndarray of shape (N, S, S), bool (:func:`warp_mask`)

    Returns
    -------
    tensor of shape (N, 3, S, S), float32
    """
    keep = torch.from_numpy(np.ascontiguousarray(warped)[:, None, :, :])
    return torch.where(keep, box_crops, torch.zeros((), dtype=box_crops.dtype))


def region_and_box_crops(cnn, image: np.ndarray, expanded_boxes: np.ndarray,
                         masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The two network inputs of each region.

    Parameters
    ----------
    cnn : FrozenCNN
    image : ndarray of shape (H, W, 3), uint8, RGB
    expanded_boxes : ndarray of shape (N, 4), float (``cnn.expand`` of the boxes)
    masks : ndarray of shape (N, H, W), bool, image frame

    Returns
    -------
    regions, boxes : tensors of shape (N, 3, S, S), float32, preprocessed
    warped : ndarray of shape (N, S, S), bool
    """
    box_crops = cnn.crops(image, expanded_boxes)
    warped = warp_masks(masks, expanded_boxes, cnn.crop_size)
    return mask_crops(box_crops, warped), box_crops, warped


def region_descriptors(cnn, image: np.ndarray, boxes: np.ndarray, masks: np.ndarray,
                       batch_size: int = 16) -> np.ndarray:
    """``[region, box]`` global descriptors of boxes with their predicted masks.

    Parameters
    ----------
    cnn : FrozenCNN
    image : ndarray of shape (H, W, 3), uint8, RGB
    boxes : ndarray of shape (N, 4), float
        Unexpanded boxes ``x0, y0, x1, y1``, continuous frame; expanded as in stage one.
    masks : ndarray of shape (N, H, W), bool, image frame
    batch_size : int
        Boxes per forward pass (each pass carries 2 * batch_size crops).

    Returns
    -------
    ndarray of shape (N, 2 * D), float32
        ``D = 2 * channels`` of the top conv map (1,024 for VGG16's conv5_3):
        the region crop's descriptor first, then the box crop's.
    """
    return region_descriptor_sets(cnn, image, boxes, [masks], batch_size)[0]


def region_descriptor_sets(cnn, image: np.ndarray, boxes: np.ndarray, mask_sets: list,
                           batch_size: int = 16) -> list:
    """:func:`region_descriptors` of the same boxes under several sets of masks (e.g. the masks of
    several grids), the box crop's descriptor computed once: one list entry ``(N, 2 * D)`` per set.

    ``mask_sets``: one ``(N, H, W)`` bool array per set.  Each pass carries
    ``(len(mask_sets) + 1) * batch_size`` crops.
    """
    checked = [_checked_inputs(image, boxes, masks) for masks in mask_sets]
    image, boxes = checked[0][0], checked[0][1]
    layer = GLOBAL_SOURCE[cnn.name]
    dim = 2 * cnn.network.channels(layer)
    if len(boxes) == 0:
        return [np.zeros((0, 2 * dim), np.float32) for _ in mask_sets]
    expanded = cnn.expand(boxes)
    parts: list = [[] for _ in mask_sets]
    for start in range(0, len(boxes), batch_size):
        chunk = slice(start, start + batch_size)
        box_crops = cnn.crops(image, expanded[chunk])
        regions = [mask_crops(box_crops, warp_masks(masks[chunk], expanded[chunk], cnn.crop_size))
                   for _, _, masks in checked]
        vectors = global_descriptor(cnn.forward(torch.cat(regions + [box_crops]), [layer])[layer].float())
        vectors = vectors.cpu().numpy().reshape(len(regions) + 1, len(box_crops), -1)
        for index in range(len(regions)):
            parts[index].append(np.concatenate([vectors[index], vectors[-1]], axis=1))
    return [np.concatenate(p).astype(np.float32) for p in parts]


def region_feature_config(cnn) -> dict:
    """What the region descriptors depend on, with its ``config_hash`` (16 hex digits)."""
    config = {
        "descriptor": "region_and_box_global", "network": cnn.name,
        "weights_sha256": cnn.weights.sha256, "global_source": GLOBAL_SOURCE[cnn.name],
        "crop_size": int(cnn.crop_size), "padding": int(cnn.padding), "mask_warp": "nearest",
        "feature_dim": 4 * cnn.network.channels(GLOBAL_SOURCE[cnn.name]),
    }
    canonical = json.dumps(config, sort_keys=True)
    return {**config, "config_hash": hashlib.sha256(canonical.encode()).hexdigest()[:16]}


def _checked_inputs(image, boxes, masks):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} "
                         f"dtype {image.dtype}")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    masks = np.asarray(masks)
    if masks.shape != (len(boxes),) + image.shape[:2]:
        raise ValueError(f"masks must have shape ({len(boxes)}, {image.shape[0]}, "
                         f"{image.shape[1]}) (one per box, image frame), got {masks.shape}")
    if masks.dtype != bool:
        raise TypeError(f"masks must be bool, got {masks.dtype} (threshold them first)")
    return image, boxes, masks
