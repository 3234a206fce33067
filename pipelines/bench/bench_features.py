"""``hypercolumns bench-features``: the bare CNN forward vs the whole stage-one extraction, per crop.

Also the CPU preparation of the batches alone (crops, locations, labels;
:func:`prepare_batch` on decoded images, one thread), per box.

Both are timed in one run on the same training boxes: the bare forward
passes pre-made crops through the frozen network (``channels_last`` on the
CPU, as stage one runs it); the extraction is :func:`run_features` end to end
(image decoding, cropping, forward, hypercolumn sampling, targets, HDF5
writing), timed on two sizes so that its fixed costs (set-up, the pipeline's fill and drain, the
last shard's write) and its steady per-crop rate are told apart.  Target: extraction at >= 95% of the
bare forward's rate on a CPU, >= 80% on a GPU.
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


def steady_state(crops: tuple, seconds: tuple) -> dict:
    """Per-crop cost and fixed cost from two timed runs of ``crops[0] < crops[1]`` crops: the slope
    (what each further crop costs, as in a long run) and the intercept (set-up, the pipeline's
    fill and drain, the last shard's write: paid once per run)."""
    (n_small, n_large), (t_small, t_large) = crops, seconds
    if not n_large > n_small:
        raise ValueError(f"the second run must have more crops than the first, got {crops}")
    per_crop = (t_large - t_small) / (n_large - n_small)
    return {"ms_per_crop": per_crop * 1e3, "fixed_seconds": t_large - per_crop * n_large}


def whole_images_of(records: list, jobs: list, boxes: int) -> list:
    """The fewest leading images whose boxes (all of them: ``run_features`` extracts every box of an
    image it is given) number at least ``boxes``."""
    counts: dict = {}
    for job in jobs:
        counts[job.record] = counts.get(job.record, 0) + 1
    chosen, total = [], 0
    for record_index, count in counts.items():
        if total >= boxes:
            break
        chosen.append(records[record_index])
        total += count
    return chosen


def timed_run(records: list, folder: Path, cnn: FrozenCNN, spec: LayerSpec, config, batch_size: int) -> tuple:
    """(crops extracted, seconds) of ``run_features`` on ``records``, in shards of two batches as a long
    run writes them (each shard's write overlapping the next one's forward)."""
    start = time.perf_counter()
    summary = run_features(records, folder, cnn, spec, config, boxes_per_shard=2 * batch_size,
                           batch_size=batch_size, show_progress=False)
    return summary["boxes"], time.perf_counter() - start


def measure_extraction(cnn: FrozenCNN, records: list, boxes: int = 96, batch_size: int = 16) -> dict:
    """Bare forward and extraction, ms per crop, on the boxes of the first training images that hold
    ``boxes`` boxes (every box of those images: all of them are extracted and counted).

    Extraction is timed twice, on the images holding about half the boxes and on all of them:
    ``extraction_ms_per_crop`` is the whole second run over its crops (fixed costs included), and
    ``steady_ms_per_crop`` the slope between the two runs (:func:`steady_state`), the rate of a long
    run such as ``make features``, whose fixed costs are spread over thousands of crops.
    """
    spec = LayerSpec.parse(DEFAULT_LAYERS).resolve(cnn.network)
    config = feature_config(cnn, spec)
    records = whole_images_of(records, plan_boxes(records, config), boxes)
    jobs = plan_boxes(records, config)
    half = whole_images_of(records, jobs, boxes // 2)
    if len(half) == len(records):   # one image holds them all: no slope to take
        half = records[:0]
    crops = torch.cat([cnn.crops(records[j.record].load_image(), cnn.expand(j.box[None])) for j in jobs])
    bare = time_bare_forward(cnn, crops, spec.network_layers(cnn.name), batch_size)
    prepare = time_preparation(cnn, records, jobs, config, batch_size, spec)
    with tempfile.TemporaryDirectory() as folder:
        # one untimed batch first, as for the bare forward: on a GPU the first gathers and
        # copies load their kernels, which would otherwise count against a few boxes
        warm_up = [records[jobs[0].record]]
        run_features(warm_up, Path(folder) / "warm-up", cnn, spec, config,
                     boxes_per_shard=batch_size, batch_size=batch_size, show_progress=False)
        small = timed_run(half, Path(folder) / "half", cnn, spec, config, batch_size) if half else (0, 0.0)
        large = timed_run(records, Path(folder) / "all", cnn, spec, config, batch_size)
    steady = steady_state((small[0], large[0]), (small[1], large[1]))
    extraction = large[1] / large[0]
    return {"device": str(cnn.device), "device_name": device_name(cnn.device), "engine": cnn.engine,
            "threads": torch.get_num_threads(), "boxes": large[0], "boxes_first_run": small[0],
            "batch_size": batch_size, "layer_spec": str(spec), "bare_forward_ms_per_crop": bare * 1e3,
            "prepare_ms_per_box": prepare * 1e3, "extraction_ms_per_crop": extraction * 1e3,
            "extraction_rate_vs_forward": bare / extraction, "steady_ms_per_crop": steady["ms_per_crop"],
            "steady_rate_vs_forward": bare * 1e3 / steady["ms_per_crop"],
            "fixed_seconds": steady["fixed_seconds"]}


def print_extraction(result: dict, crop_size: int) -> None:
    print(f"{result['boxes']} crops of {crop_size}px, batch {result['batch_size']}, "
          f"{result['device_name']} ({result['threads']} threads), engine {result.get('engine', 'torch')}")
    print(f"bare CNN forward   {result['bare_forward_ms_per_crop']:7.1f} ms/crop")
    print(f"batch preparation  {result['prepare_ms_per_box']:7.1f} ms/box (CPU, one thread)")
    print(f"whole extraction   {result['extraction_ms_per_crop']:7.1f} ms/crop "
          f"({result['boxes']} crops, fixed costs included)")
    print(f"steady extraction  {result['steady_ms_per_crop']:7.1f} ms/crop (slope between runs of "
          f"{result['boxes_first_run']} and {result['boxes']} crops; fixed {result['fixed_seconds']:.1f} s per run)")
    print(f"extraction rate = {result['extraction_rate_vs_forward']:.0%} of the bare forward's whole, "
          f"{result['steady_rate_vs_forward']:.0%} steady (goal: >= 95% on a CPU, >= 80% on a GPU)")


def bench_features(data_root: Path, out: Path, boxes: int = 96, batch_size: int = 16, device=None) -> list:
    """:func:`measure_extraction` on the training records, printed and written to ``out``."""
    from hypercolumns.data.datasets import load_training_records

    cnn = frozen_cnn(device=device)
    result = measure_extraction(cnn, load_training_records(data_root), boxes, batch_size)
    print_extraction(result, cnn.crop_size)
    return write_bench_json(result, out, "bench-features")
