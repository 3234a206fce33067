"""``hypercolumns bench-features``: the bare CNN forward vs the whole stage-one extraction, per crop.

Also the CPU preparation of the batches alone (crops, locations, labels;
:func:`prepare_batch` on decoded images, one thread), per box.

Both are timed in one run on the same training boxes: the bare forward
passes pre-made crops through the frozen network (``channels_last`` on the
CPU, as stage one runs it); the extraction is :func:`run_features` end to end
(image decoding, cropping, forward, hypercolumn sampling, targets, HDF5
writing).  Target: extraction at >= 80% of the bare forward's rate.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from hypercolumns.extract.cnn import FrozenCNN, device_name, frozen_cnn
from hypercolumns.extract.features import (DEFAULT_LAYERS, ImageCache, feature_config, plan_boxes,
                                           prepare_batch, run_features)
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.pipelines.bench.report import timed, write_bench_json


def time_bare_forward(cnn: FrozenCNN, crops: torch.Tensor, layers: list, batch_size: int) -> float:
    """Seconds per crop of the network's forward alone (after one warm-up batch)."""
    cnn.forward(crops[:batch_size], layers)
    start = time.perf_counter()
    for index in range(0, len(crops), batch_size):
        cnn.forward(crops[index:index + batch_size], layers)
    return (time.perf_counter() - start) / len(crops)


def time_preparation(cnn: FrozenCNN, records: list, jobs: list, config: dict, batch_size: int,
                     spec: LayerSpec | None = None) -> float:
    """Seconds per box of :func:`prepare_batch` alone (one thread, images already decoded, after one warm-up pass)."""
    images = ImageCache(records, keep=len(records) + 1)
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    candidates = bool(spec and spec.needs_candidates)
    def prepare_all() -> None:
        for batch in batches:
            prepare_batch(batch, records, images, cnn, config, candidates=candidates)

    _, seconds = timed(prepare_all, "cpu", warm_up=True)   # CPU work: no GPU to wait for
    return seconds / len(jobs)


def measure_extraction(cnn: FrozenCNN, records: list, boxes: int = 96, batch_size: int = 16) -> dict:
    """Bare forward and whole extraction, ms per crop, on the first ``boxes`` training boxes."""
    spec = LayerSpec.parse(DEFAULT_LAYERS).resolve(cnn.network)
    config = feature_config(cnn, spec)
    jobs = plan_boxes(records, config)[:boxes]
    records = [records[i] for i in sorted({job.record for job in jobs})]
    jobs = plan_boxes(records, config)[:boxes]
    crops = torch.cat([cnn.crops(records[j.record].load_image(), cnn.expand(j.box[None])) for j in jobs])
    bare = time_bare_forward(cnn, crops, spec.network_layers(cnn.name), batch_size)
    prepare = time_preparation(cnn, records, jobs, config, batch_size, spec)
    with tempfile.TemporaryDirectory() as folder:
        # one untimed batch first, as for the bare forward: on a GPU the first gathers and
        # copies load their kernels, which would otherwise count against a few boxes
        warm_up = [records[jobs[0].record]]
        run_features(warm_up, Path(folder) / "warm-up", cnn, spec, config,
                     boxes_per_shard=batch_size, batch_size=batch_size, show_progress=False)
        start = time.perf_counter()
        run_features(records, Path(folder) / "timed", cnn, spec, config, boxes_per_shard=len(jobs),
                     batch_size=batch_size, show_progress=False)
        extraction = (time.perf_counter() - start) / len(jobs)
    return {"device": str(cnn.device), "device_name": device_name(cnn.device),
            "threads": torch.get_num_threads(), "boxes": len(jobs), "batch_size": batch_size,
            "layer_spec": str(spec), "bare_forward_ms_per_crop": bare * 1e3,
            "prepare_ms_per_box": prepare * 1e3, "extraction_ms_per_crop": extraction * 1e3,
            "extraction_rate_vs_forward": bare / extraction}


def print_extraction(result: dict, crop_size: int) -> None:
    print(f"{result['boxes']} crops of {crop_size}px, batch {result['batch_size']}, "
          f"{result['device_name']} ({result['threads']} threads)")
    print(f"bare CNN forward   {result['bare_forward_ms_per_crop']:7.1f} ms/crop")
    print(f"batch preparation  {result['prepare_ms_per_box']:7.1f} ms/box (CPU, one thread)")
    print(f"whole extraction   {result['extraction_ms_per_crop']:7.1f} ms/crop")
    print(f"extraction rate = {result['extraction_rate_vs_forward']:.0%} of the bare forward's "
          "(target >= 80%)")


def bench_features(data_root: Path, out: Path, boxes: int = 96, batch_size: int = 16, device=None) -> list:
    """:func:`measure_extraction` on the training records, printed and written to ``out``."""
    from hypercolumns.data.datasets import load_training_records

    cnn = frozen_cnn(device=device)
    result = measure_extraction(cnn, load_training_records(data_root), boxes, batch_size)
    print_extraction(result, cnn.crop_size)
    return write_bench_json(result, out, "bench-features")
