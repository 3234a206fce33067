"""Training boxes: jittered copies of the ground-truth boxes, labelled by overlap.

The paper trains on bottom-up candidates (MCG) that overlap a ground-truth
instance by >= 70%, each labelled from the instance it overlaps most.  No
candidate generator's output exists here, so we draw boxes around every
ground-truth box (random shift and log-scale of each side), keep those whose
box IoU with their best-overlapping instance is >= ``min_iou``, and label each
from that instance.  Draws are seeded per image (from the global seed and the
image id), so any subset of images reproduces the same boxes.
"""
from __future__ import annotations

import hashlib

import numpy as np

from hypercolumns.data.boxes import box_iou


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator seeded by the global seed and the image id (stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def jitter_boxes(box: np.ndarray, count: int, rng: np.random.Generator,
                 shift: float = 0.15, log_scale: float = 0.2) -> np.ndarray:
    """``count`` boxes around ``box``: centre shifted by up to ``shift`` of the side, sides scaled by ``exp(U(-log_scale, log_scale))``."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-shift, shift, count) * width
    cy = (y0 + y1) / 2 + rng.uniform(-shift, shift, count) * height
    half_w = width / 2 * np.exp(rng.uniform(-log_scale, log_scale, count))
    half_h = height / 2 * np.exp(rng.uniform(-log_scale, log_scale, count))
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def sample_training_boxes(gt_boxes: np.ndarray, image_size: tuple, per_instance: int,
                          rng: np.random.Generator, min_iou: float = 0.7,
                          min_side: float = 24.0, max_draws: int = 50):
    """Jittered boxes for every instance of one image.

    Parameters
    ----------
    gt_boxes : ndarray of shape (N, 4)
    image_size : (height, width)
        Sampled boxes are clipped to the image.
    per_instance : int
        Boxes kept per instance (fewer if ``max_draws`` draws do not give them).
    min_side : float
        Instances whose box is smaller than this on a side get no boxes: their
        crops are mostly context.

    Returns
    -------
    boxes : ndarray of shape (M, 4), float64
    instance : ndarray of shape (M,), int
        The instance each box overlaps most (its label source).
    iou : ndarray of shape (M,), float64
    """
    height, width = image_size
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    kept_boxes, kept_instance, kept_iou = [], [], []
    for index, gt in enumerate(gt_boxes):
        if min(gt[2] - gt[0], gt[3] - gt[1]) < min_side:
            continue
        draws = jitter_boxes(gt, max_draws, rng)
        draws[:, [0, 2]] = np.clip(draws[:, [0, 2]], 0, width)
        draws[:, [1, 3]] = np.clip(draws[:, [1, 3]], 0, height)
        overlaps = box_iou(draws, gt_boxes)
        best = overlaps.argmax(axis=1)
        best_iou = overlaps[np.arange(len(draws)), best]
        good = np.flatnonzero((best == index) & (best_iou >= min_iou))[:per_instance]
        kept_boxes.append(draws[good])
        kept_instance.append(best[good])
        kept_iou.append(best_iou[good])
    if not kept_boxes:
        return np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)
    return np.concatenate(kept_boxes), np.concatenate(kept_instance), np.concatenate(kept_iou)


def stratified_locations(rng: np.random.Generator, rows_per_cell: int, sample_grid: int = 10,
                         size: int = 50) -> np.ndarray:
    """Flat grid locations, ``rows_per_cell`` drawn (without replacement) in each of ``sample_grid``² cells.

    Every cell of a 10 x 10 grid gets rows from every box, and since 50/K is
    a multiple of 5 for K = 1, 2, 5, 10, every cell of every K x K grid does too.
    """
    if size % sample_grid:
        raise ValueError(f"sample grid {sample_grid} does not divide the {size}x{size} grid")
    step = size // sample_grid
    if not 1 <= rows_per_cell <= step * step:
        raise ValueError(f"rows_per_cell must be in 1..{step * step}, got {rows_per_cell}")
    if rows_per_cell == 1:
        fast = _one_per_cell(rng, sample_grid, step, size)
        if fast is not None:
            return fast
    locations = []
    for cell_row in range(sample_grid):
        for cell_col in range(sample_grid):
            picks = rng.choice(step * step, rows_per_cell, replace=False)
            rows = cell_row * step + picks // step
            cols = cell_col * step + picks % step
            locations.append(rows * size + cols)
    return np.concatenate(locations).astype(np.int64)


def _one_per_cell(rng: np.random.Generator, sample_grid: int, step: int, size: int,
                  force_fallback: bool = False):
    """:func:`stratified_locations` for one row per cell, from the same draws as its ``rng.choice`` loop.

    ``Generator.choice(n, 1, replace=False)`` (n <= 10000) is Floyd's algorithm
    with one draw, ``random_bounded_uint64(0, n - 1)``, i.e. Lemire's bounded
    draw on one ``next_uint32`` (the shuffle of one element draws nothing).  A
    PCG64 with no buffered half-word gives its ``next_uint32``s as the low then
    high halves of its raw 64-bit outputs, so ``sample_grid``² (even) draws are
    ``random_raw(sample_grid² / 2)`` split in halves, and leave the generator in
    the same state.  Lemire's draw keeps ``(x * n) >> 32`` unless the low word
    ``(x * n) mod 2^32 < (2^32 - n) mod n``, where it draws again: then (about
    once in 10^8 boxes) the state is restored and ``None`` returned for the loop.
    Also ``None`` for any other generator or state.
    """
    cells = sample_grid * sample_grid
    bit_generator = rng.bit_generator
    if cells % 2 or type(bit_generator) is not np.random.PCG64:
        return None
    state = bit_generator.state
    if state["has_uint32"]:
        return None
    raw = bit_generator.random_raw(cells // 2)
    words = np.empty(cells, np.uint64)
    words[0::2] = raw & np.uint64(0xFFFFFFFF)
    words[1::2] = raw >> np.uint64(32)
    n = step * step
    product = words * np.uint64(n)                      # < 2^32 * n: no overflow
    if force_fallback or (product & np.uint64(0xFFFFFFFF) < np.uint64(n)).any():
        bit_generator.state = state                     # rejection possible: redo with choice
        return None
    # the last next_uint32 leaves its high half as the (unused) buffered word: keep even that
    state["state"] = bit_generator.state["state"]
    state["uinteger"] = int(words[-1])
    bit_generator.state = state
    picks = (product >> np.uint64(32)).astype(np.int64)
    cell = np.arange(cells)
    rows = (cell // sample_grid) * step + picks // step
    cols = (cell % sample_grid) * step + picks % step
    return (rows * size + cols).astype(np.int64)
