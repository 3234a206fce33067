"""System 1's candidate features: a region candidate's mask seen from its box.

System 1 (the paper's §4.1) refines bottom-up region candidates given as
masks.  Each location's hypercolumn then also holds, as in the refinement
step of SDS (ECCV 2014):

- ``inout`` — whether the location lies inside the candidate: the mask read
  at the centre of the location's cell of the expanded box's 50 x 50 grid,
  exactly as the figure-ground target reads the instance mask
  (:func:`hypercolumns.extract.targets.sample_mask`), so a perfect candidate's
  bit is the label.  A 0/1 bit, as the paper says; a cell centre outside the
  image is 0.
- ``candidate`` — the mask over the expanded box averaged down to 10 x 10
  (exact area averaging of the pixels, each pixel ``(r, c)`` covering
  ``[c, c+1) x [r, r+1)``; the part of the box outside the image counts as
  background), flattened row-major: 100 values in [0, 1], the same at every
  location of the box.

At inference the candidates are the user's (``Segmenter.segment(...,
candidates=...)``, or a detection's ``segmentation`` in ``hypercolumns
segment``).  No candidate generator's output (MCG) exists here, so stage one
trains on a stand-in: :func:`degraded_candidate`, the box's ground-truth
instance mask made imperfect the way bottom-up candidates are (grown or
shrunk, a wobbly boundary, blocky like a union of superpixels), drawn from
the box's own generator so that reruns give the same rows.

The blocks' inputs travel with the network's layer outputs, under the block
names (:func:`candidate_inputs` makes that dict).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from hypercolumns.extract.hypercolumn import HEATMAP_SIZE
from hypercolumns.extract.layer_spec import CANDIDATE_GRID
from hypercolumns.extract.targets import sample_mask

# degraded_candidate's defaults, as fractions of sqrt(instance area).  On the
# shared training instances (box sides >= 24 px) the stand-ins overlap their
# instance by a mean IoU of 0.73 (5%/50%/95%: 0.55/0.74/0.88).
GROW = 0.08         # boundary moved out (in) by up to this much: dilation / erosion
WOBBLE = 0.10       # amplitude of the smooth random boundary displacement
WOBBLE_SCALE = 0.5  # spacing of the displacement field's random values
BLOCK = 0.06        # up to this coarse a resampling (blocky, like a union of superpixels)


def standin_source() -> str:
    """How stage one's training candidates are made, as shards record it (``candidate_source``)."""
    return (f"degraded-ground-truth:grow={GROW:g},wobble={WOBBLE:g},"
            f"wobble_scale={WOBBLE_SCALE:g},block={BLOCK:g}")


def inout_grid(mask: np.ndarray, expanded_box: np.ndarray, size: int = HEATMAP_SIZE) -> np.ndarray:
    """The in/out bit of every cell of the box grid, float32 ``(size, size)`` of 0 and 1."""
    return sample_mask(np.asarray(mask, bool), expanded_box, size).astype(np.float32)


def downsampled_candidate(mask: np.ndarray, expanded_box: np.ndarray,
                          grid: int = CANDIDATE_GRID) -> np.ndarray:
    """The mask's covered fraction of each of the box's ``grid x grid`` cells, float32 ``(grid*grid,)``."""
    height, width = mask.shape
    x0, y0, x1, y1 = (float(v) for v in expanded_box)
    rows = _coverage(y0, y1, grid, height)
    cols = _coverage(x0, x1, grid, width)
    return (rows @ np.asarray(mask, np.float64) @ cols.T).reshape(-1).astype(np.float32)


def _coverage(start: float, stop: float, cells: int, pixels: int) -> np.ndarray:
    """``(cells, pixels)``: the fraction of cell j of ``[start, stop)`` that pixel ``p`` covers."""
    edges = start + (stop - start) * np.arange(cells + 1) / cells
    pixel = np.arange(pixels, dtype=np.float64)
    overlap = np.minimum(edges[1:, None], pixel + 1) - np.maximum(edges[:-1, None], pixel)
    return np.clip(overlap, 0.0, None) * (cells / (stop - start))


def candidate_features(mask: np.ndarray, expanded_box: np.ndarray,
                       size: int = HEATMAP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """One candidate's ``inout`` grid ``(size, size)`` and ``candidate`` vector ``(100,)``, float32.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool
        The candidate region in the image.
    expanded_box : ndarray of shape (4,)
        The box whose crop the network sees (may stick out of the image).
    """
    return inout_grid(mask, expanded_box, size), downsampled_candidate(mask, expanded_box)


def candidate_inputs(masks, expanded_boxes: np.ndarray, device="cpu",
                     size: int = HEATMAP_SIZE) -> dict:
    """The candidate blocks' inputs for a batch of boxes, to merge into the layer outputs.

    Parameters
    ----------
    masks : ndarray of shape (B, H, W) or sequence of (H, W) bool arrays
        One candidate per box.
    expanded_boxes : ndarray of shape (B, 4)

    Returns
    -------
    dict
        ``"inout"``: tensor ``(B, 1, size, size)`` and ``"candidate"``: tensor
        ``(B, 100)``, float32 on ``device``.
    """
    if len(masks) != len(expanded_boxes):
        raise ValueError(f"got {len(masks)} candidate masks for {len(expanded_boxes)} boxes")
    grids, vectors = [], []
    for mask, box in zip(masks, expanded_boxes):
        grid, vector = candidate_features(mask, box, size)
        grids.append(grid)
        vectors.append(vector)
    grids = np.stack(grids) if grids else np.zeros((0, size, size), np.float32)
    vectors = np.stack(vectors) if vectors else np.zeros((0, CANDIDATE_GRID ** 2), np.float32)
    return {"inout": torch.from_numpy(grids)[:, None].to(device),
            "candidate": torch.from_numpy(vectors).to(device)}


def degraded_candidate(mask: np.ndarray, rng: np.random.Generator, grow: float = GROW,
                       wobble: float = WOBBLE, block: float = BLOCK) -> np.ndarray:
    """An imperfect candidate made from a ground-truth mask: stage one's stand-in for MCG.

    The boundary is moved along the signed distance to it: by one offset
    drawn in ``[-grow, grow]`` (dilation or erosion) plus a smooth random
    field of amplitude ``wobble`` (a wobbly boundary); the result is then
    resampled on blocks of up to ``block`` (blocky edges).  Lengths are
    fractions of the square root of the mask's area.

    Parameters
    ----------
    mask : ndarray of shape (H, W), bool
    rng : numpy Generator
        The box's generator: the same draws give the same candidate.

    Returns
    -------
    ndarray of shape (H, W), bool
        The degraded mask; the mask itself if degrading left nothing (a tiny
        instance eroded away): a candidate is never empty.
    """
    mask = np.asarray(mask, bool)
    scale = float(np.sqrt(mask.sum()))
    if scale == 0:
        return mask.copy()
    offset = rng.uniform(-grow, grow) * scale
    field = _smooth_noise(mask.shape, WOBBLE_SCALE * scale, rng) * wobble * scale
    candidate = _signed_distance(mask) + offset + field > 0
    candidate = _blocky(candidate, max(1, int(round(rng.uniform(0, block) * scale))))
    return candidate if candidate.any() else mask.copy()


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Pixels to the boundary: > 0 inside the mask (>= 1), < 0 outside (<= -1), float32 ``(H, W)``."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return inside - outside


def _smooth_noise(shape: tuple, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Standard normal values every ``spacing`` pixels, bilinearly interpolated to ``shape``."""
    height, width = shape
    spacing = max(spacing, 1.0)
    coarse = rng.standard_normal((int(np.ceil(height / spacing)) + 1,
                                  int(np.ceil(width / spacing)) + 1)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def _blocky(mask: np.ndarray, block: int) -> np.ndarray:
    """``mask`` decided by majority on ``block x block`` pixel blocks (unchanged for block 1)."""
    if block <= 1:
        return mask
    height, width = mask.shape
    small = (max(1, width // block), max(1, height // block))
    votes = cv2.resize(mask.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    return cv2.resize((votes >= 0.5).astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
