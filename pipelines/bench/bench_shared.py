"""``hypercolumns bench-shared``: per-box crops vs one shared whole-image forward, per box.

On the same images and boxes (jittered ground-truth boxes plus random ones,
``N`` per image, seeded), for each ``N`` of ``boxes_per_image``: the CNN's
GFLOP per box (analytic, :func:`cnn_gflops`) and the seconds per box of
``box_outputs`` (crop + forward, or resize + whole-image forward + RoIAlign;
image decoding excluded) in both modes, and how closely the shared mode's
hypercolumns follow the per-box ones: the Pearson correlation of the rows
that :func:`sample_hypercolumns` gives at the same random locations, per
block of the layer spec.  Goal (issue 10): >= 5x fewer CNN FLOPs per box at
>= 10 boxes per image.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from hypercolumns.extract.cnn import FrozenCNN, device_name, frozen_cnn
from hypercolumns.extract.features import DEFAULT_LAYERS
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, sample_hypercolumns
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.shared_features import SHARED_MARGIN, SharedImageCNN, cnn_gflops
from hypercolumns.pipelines.bench.report import timed, write_bench_json


def bench_boxes(record, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` boxes ``(count, 4)`` in one image: half jittered ground truth (cycled), half random.

    Jitter moves a box's centre by up to 10% of its size and scales each side
    by ``exp(U(-0.15, 0.15))``; random boxes have sides 10-80% of the image's.
    Images without instances get random boxes only.  All are clipped to the
    image and at least 4 px a side.
    """
    width, height = record.width, record.height
    truth = record.boxes()
    jittered_count = min(count, max(1, count // 2)) if len(truth) else 0
    boxes = []
    for index in range(jittered_count):
        x0, y0, x1, y1 = truth[index % len(truth)]
        size = np.array([x1 - x0, y1 - y0])
        centre = np.array([x0 + x1, y0 + y1]) / 2 + rng.uniform(-0.1, 0.1, 2) * size
        size = size * np.exp(rng.uniform(-0.15, 0.15, 2))
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2]))
    for _ in range(count - jittered_count):
        size = rng.uniform(0.1, 0.8, 2) * [width, height]
        corner = rng.uniform(0, 1, 2) * ([width, height] - size)
        boxes.append(np.concatenate([corner, corner + size]))
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 4)
    return boxes


class Correlation:
    """Pearson correlation of two streams of numbers, accumulated in float64."""

    def __init__(self):
        self.sums = np.zeros(6)   # n, x, y, xx, yy, xy

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x = x.detach().double().reshape(-1).cpu()
        y = y.detach().double().reshape(-1).cpu()
        self.sums += [x.numel(), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]

    def value(self) -> float:
        n, x, y, xx, yy, xy = self.sums
        denominator = math.sqrt(max(n * xx - x * x, 0.0) * max(n * yy - y * y, 0.0))
        return float((n * xy - x * y) / denominator) if denominator > 0 else float("nan")


def bench_shared_vs_per_box(cnn: FrozenCNN, records: list, boxes_per_image=(1, 10, 50),
                            scales=(224,), max_size: float = 1000, margin: int = SHARED_MARGIN,
                            spec: str = DEFAULT_LAYERS, batch_size: int = 16, seed: int = 0,
                            locations_per_box: int = 64) -> dict:
    """Both modes on the same boxes of ``records``: GFLOP and seconds per box, and agreement.

    Parameters
    ----------
    cnn : FrozenCNN
    records : list of ImageRecord
    boxes_per_image : sequence of int
    scales : sequence of float
        Shorter sides of the whole image, one shared mode each.
    spec : str
        Layer spec whose network layers are run and whose hypercolumns are compared.
    locations_per_box : int
        Random grid cells per box at which hypercolumn rows are compared.

    Returns
    -------
    dict
        ``rows``: one per (boxes per image, mode), with ``gflop_per_box``,
        ``seconds_per_box``, ``flop_ratio`` and ``speedup`` (per-box over this
        mode), and for shared modes ``correlation`` (per block and ``"all"``).
    """
    spec = LayerSpec.parse(spec).resolve(cnn.network)
    layers = spec.network_layers(cnn.name)
    shared_modes = {scale: SharedImageCNN(cnn, scale, max_size, margin) for scale in scales}
    images = [record.load_image() for record in records]
    _warm_up(cnn, shared_modes.values(), images[0], layers)
    per_box_gflop = cnn_gflops(cnn.network, cnn.crop_size, layers)
    rows = []
    for count in boxes_per_image:
        rng = np.random.default_rng(seed)
        expanded = [cnn.expand(bench_boxes(record, count, rng)) for record in records]
        total = sum(len(boxes) for boxes in expanded)
        seconds, correlations = _run_both(cnn, shared_modes, images, expanded, spec, batch_size,
                                          locations_per_box, seed)
        per_box_seconds = seconds["per-box"] / total
        rows.append({"boxes_per_image": count, "boxes": total, "mode": "per-box", "scale": None,
                     "gflop_per_box": per_box_gflop, "seconds_per_box": per_box_seconds,
                     "flop_ratio": 1.0, "speedup": 1.0})
        for scale, shared in shared_modes.items():
            gflop = sum(shared.image_gflops(image.shape[:2], layers) for image in images) / total
            rows.append({"boxes_per_image": count, "boxes": total, "mode": "shared", "scale": scale,
                         "gflop_per_box": gflop, "seconds_per_box": seconds[scale] / total,
                         "flop_ratio": per_box_gflop / gflop,
                         "speedup": per_box_seconds / (seconds[scale] / total),
                         "correlation": correlations[scale]})
    return {"device": str(cnn.device), "device_name": device_name(cnn.device),
            "threads": torch.get_num_threads(), "network": cnn.name, "layers": layers,
            "layer_spec": str(spec), "images": [record.image_id for record in records],
            "image_sizes": [list(image.shape[:2]) for image in images], "crop_size": cnn.crop_size,
            "max_size": max_size, "margin": margin, "batch_size": batch_size, "seed": seed,
            "locations_per_box": locations_per_box, "rows": rows}


def _warm_up(cnn, shared_modes, image, layers) -> None:
    box = cnn.expand(np.array([[0, 0, image.shape[1] / 2, image.shape[0] / 2]]))
    cnn.box_outputs(image, box, layers)
    for shared in shared_modes:
        shared.box_outputs(image, box, layers)
        shared.clear_cache()


def _run_both(cnn, shared_modes: dict, images, expanded, spec, batch_size, locations_per_box, seed):
    """Seconds of ``box_outputs`` per mode over all boxes, and each shared mode's correlation.

    Each shared mode's cache is emptied at every image, so each image costs it
    one forward; batches of one image alternate between the modes so that
    only one batch of outputs is held at a time.
    """
    generator = torch.Generator().manual_seed(seed)
    layers = spec.network_layers(cnn.name)
    blocks = [block for block in spec.blocks if block.kind != "xy"]
    networked = slice(0, max(block.offset + block.size for block in blocks))
    seconds = dict.fromkeys(["per-box", *shared_modes], 0.0)
    correlations = {scale: {name: Correlation() for name in [*(b.name for b in blocks), "all"]}
                    for scale in shared_modes}
    for image, boxes in zip(images, expanded):
        for shared in shared_modes.values():
            shared.clear_cache()
        for start in range(0, len(boxes), batch_size):
            batch = boxes[start:start + batch_size]
            locations = torch.randint(0, HEATMAP_SIZE * HEATMAP_SIZE, (len(batch), locations_per_box),
                                      generator=generator).to(cnn.device)
            outputs, elapsed = timed(lambda: cnn.box_outputs(image, batch, layers), cnn.device)
            seconds["per-box"] += elapsed
            reference = sample_hypercolumns(outputs, spec, cnn.name, locations)
            for scale, shared in shared_modes.items():
                outputs, elapsed = timed(lambda: shared.box_outputs(image, batch, layers), cnn.device)
                seconds[scale] += elapsed
                rows = sample_hypercolumns(outputs, spec, cnn.name, locations)
                for block in blocks:
                    part = slice(block.offset, block.offset + block.size)
                    correlations[scale][block.name].add(rows[..., part], reference[..., part])
                correlations[scale]["all"].add(rows[..., networked], reference[..., networked])
    return seconds, {scale: {name: c.value() for name, c in by_block.items()}
                     for scale, by_block in correlations.items()}


def print_rows(result: dict) -> None:
    print(f"{len(result['images'])} images, {result['network']} {result['layers']} on "
          f"{result['device_name']} ({result['threads']} threads)")
    print(f"{'boxes/img':>9} {'mode':>12} {'GFLOP/box':>10} {'ms/box':>8} {'FLOPs x':>8} "
          f"{'speed x':>8}  hypercolumn correlation")
    for row in result["rows"]:
        mode = row["mode"] if row["scale"] is None else f"shared@{row['scale']:g}"
        correlation = " ".join(f"{k} {v:.3f}" for k, v in row.get("correlation", {}).items())
        print(f"{row['boxes_per_image']:>9} {mode:>12} {row['gflop_per_box']:>10.2f} "
              f"{row['seconds_per_box'] * 1e3:>8.2f} {row['flop_ratio']:>8.2f} {row['speedup']:>8.2f}  "
              f"{correlation}")


def bench_shared(data_root: Path, out: Path, split: str = "val", images: int = 4,
                 boxes_per_image=(1, 10, 50), scales=(224, 600), max_size: float = 1000,
                 margin: int = SHARED_MARGIN, layers: str = DEFAULT_LAYERS, batch_size: int = 16,
                 seed: int = 0, weights=None, device=None) -> list:
    """:func:`bench_shared_vs_per_box` on the first ``images`` of ``split``, printed, written to ``out``."""
    from hypercolumns.data.datasets import load_training_records, load_val_records

    load = load_val_records if split == "val" else load_training_records
    records = load(data_root)[:images]
    cnn = frozen_cnn(weights, device=device)
    result = bench_shared_vs_per_box(cnn, records, boxes_per_image, scales, max_size, margin, layers,
                                     batch_size, seed)
    print_rows(result)
    return write_bench_json(result, out, "bench-shared")
