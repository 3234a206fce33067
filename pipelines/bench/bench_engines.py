"""``make bench``'s ``engines`` section: the frozen CNN's bare forward on every engine this machine runs,
side by side, with how far each one's output is from fp32 torch's.

Per engine (:func:`~hypercolumns.extract.engines.available_engines`): ms per
crop at the stage-one batch size after one warm-up batch, GFLOP/s against
VGG16's :data:`VGG16_GFLOP` per 224² crop (the distance to the machine's
limit), and, on the ground-truth boxes of the first training images, the
grid's heatmaps against the reference engine's: the largest absolute
difference of a probability, and the mean per-box IoU of the masks they give
(thresholded at 0.4 on the 50 × 50 grid).  An engine *agrees* when its
largest difference is under :data:`MAX_HEATMAP_DIFFERENCE` and its mean mask
IoU at least :data:`MIN_MASK_IOU`; the fastest engine that agrees is the
one to choose.
"""
from __future__ import annotations

import numpy as np
import torch

VGG16_GFLOP = 30.7
"""Multiply-adds x 2 of VGG16's 13 conv layers on one 224 x 224 crop, in GFLOP."""
MAX_HEATMAP_DIFFERENCE = 0.02
"""Largest heatmap difference (a probability) an engine may have against fp32 torch."""
MIN_MASK_IOU = 0.99
"""Smallest mean per-box IoU of its masks with fp32 torch's."""


def engine_crops(cnn, records: list, boxes: int) -> tuple:
    """Preprocessed crops of the ground-truth boxes of the first records, ``boxes`` of them at most,
    and each box's category."""
    crops, categories = [], []
    for record in records:
        if len(categories) >= boxes:
            break
        if not record.instances:
            continue
        image = record.load_image()
        take = record.boxes()[:boxes - len(categories)]
        crops.append(cnn.crops(image, cnn.expand(take)))
        categories += [instance.category for instance in record.instances[:len(take)]]
    return torch.cat(crops), categories


def heatmaps_of(cnn, grid, crops: torch.Tensor, categories: list, batch_size: int) -> np.ndarray:
    maps = [grid.predictor(cnn.forward(crops[i:i + batch_size], grid.layers), categories[i:i + batch_size])
            .cpu().numpy() for i in range(0, len(crops), batch_size)]
    return np.concatenate(maps)


def mask_iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.4) -> np.ndarray:
    """Per-box IoU of the masks ``heatmap >= threshold`` of two ``(N, S, S)`` heatmap stacks (1 where
    both are empty)."""
    ma, mb = a >= threshold, b >= threshold
    inter, union = (ma & mb).sum(axis=(1, 2)), (ma | mb).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def measure_engines(model_path, records: list, weights=None, device=None, boxes: int = 48,
                    batch_size: int = 16) -> dict:
    """Every available engine's bare forward, GFLOP/s and agreement with the reference engine."""
    from hypercolumns.extract.cnn import device_name
    from hypercolumns.extract.engines import REFERENCE, available_engines
    from hypercolumns.pipelines.bench.bench_features import time_bare_forward
    from hypercolumns.pipelines.inference.engine import Engine

    reference = Engine(weights, device, batch_size).grid(model_path, weights)
    config = reference.model.feature_config
    crops, categories = engine_crops(reference.cnn, records, boxes)
    expected = heatmaps_of(reference.cnn, reference, crops, categories, batch_size)
    layers = config.spec.network_layers(reference.cnn.name)
    rows = []
    for engine in available_engines(reference.cnn.device):
        grid = (reference if engine == REFERENCE
                else Engine(weights, device, batch_size, engine=engine).grid(model_path, weights))
        seconds = time_bare_forward(grid.cnn, crops, layers, batch_size)
        heatmaps = heatmaps_of(grid.cnn, grid, crops, categories, batch_size)
        difference = float(np.abs(heatmaps - expected).max())
        iou = float(mask_iou(heatmaps, expected).mean())
        rows.append({"engine": engine, "ms_per_crop": 1000 * seconds,
                     "gflop_per_s": VGG16_GFLOP * (config.crop_size / 224) ** 2 / seconds,
                     "max_heatmap_difference": difference, "mean_mask_iou": iou,
                     "agrees": difference < MAX_HEATMAP_DIFFERENCE and iou >= MIN_MASK_IOU})
    agreeing = [row for row in rows if row["agrees"]]
    fastest = min(agreeing, key=lambda row: row["ms_per_crop"])["engine"] if agreeing else REFERENCE
    return {"device": str(reference.cnn.device), "device_name": device_name(reference.cnn.device),
            "threads": torch.get_num_threads(),
            "crops": len(crops), "batch_size": batch_size, "engines": rows, "fastest_agreeing": fastest,
            "tolerance": {"max_heatmap_difference": MAX_HEATMAP_DIFFERENCE, "mean_mask_iou": MIN_MASK_IOU}}


def print_engines(result: dict) -> None:
    print(f"CNN engines, {result['crops']} crops at batch {result['batch_size']}, {result['device_name']} "
          f"({result['threads']} threads); agreement with fp32 torch: max heatmap difference < "
          f"{MAX_HEATMAP_DIFFERENCE}, mean mask IoU >= {MIN_MASK_IOU}")
    print(f"  {'engine':<12} {'ms/crop':>8} {'GFLOP/s':>8} {'max diff':>9} {'mask IoU':>9}  agrees")
    for row in result["engines"]:
        print(f"  {row['engine']:<12} {row['ms_per_crop']:8.1f} {row['gflop_per_s']:8.1f} "
              f"{row['max_heatmap_difference']:9.2e} {row['mean_mask_iou']:9.4f}  {'yes' if row['agrees'] else 'no'}")
    print(f"  fastest that agrees: {result['fastest_agreeing']}")
