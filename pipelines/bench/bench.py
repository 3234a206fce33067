"""``hypercolumns bench``: every speed figure of the project in one run, as ratios, to one JSON file.

Sections (``--sections``, default all):

- ``extraction``: stage one end to end vs the bare CNN forward, ms per crop;
- ``inference``: per box, the conv trick and the explicit hypercolumn
  computation vs the CNN forward; ``segment`` on the val images one at a time and by
  ``segment_many``, each against the bare forward of the same crops;
- ``training``: liblinear rows/s per grid cell with 1 and 2 processes;
- ``shared``: shared whole-image features vs one forward per box, CNN GFLOP and
  seconds per box at 1, 10 and 50 boxes per image;
- ``engines``: the bare CNN forward on every engine this machine runs (torch fp32
  in two layouts, bf16 where native, onnxruntime), GFLOP/s, and each one's heatmap
  difference and mask IoU against fp32 torch; it runs first, and ``--engine auto`` (``make bench``'s)
  then runs the other sections on the fastest engine that agreed in it;
- ``engines-cv`` (on request, after ``make eval-sds``): every engine's masks of the training
  images' oracle boxes, each image segmented by the outer fold grid (``--cv-work``) that never saw
  it: AP^r with its paired difference to fp32 torch's, and the per-instance mask IoU between them.

Each run writes ``bench-<UTC time>.json`` and ``bench.json`` (the latest) to
``--out`` with the machine (CPU model, cores, torch threads, GPU name), so
runs can be compared; ``--compare OLD.json`` prints new / old for every figure.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from hypercolumns.data.errors import InputError, MissingFileError, require_file
from hypercolumns.pipelines.bench.report import write_bench_json

SECTIONS = ("extraction", "inference", "training", "shared", "engines")
ON_REQUEST = ("engines-cv",)
"""Sections not in the default run: ``engines-cv`` segments every training image once per engine (minutes)."""


def machine() -> dict:
    """CPU model, cores, torch threads and version, GPU name (None without CUDA)."""
    from hypercolumns.extract.cnn import cpuinfo

    cpu = cpuinfo("model name") or platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "gpu": gpu, "host": platform.node()}


def run_sections(sections, data_root: Path, model: Path, shards: Path, weights=None, boxes: int = 96,
                 batch_size: int = 16, images: int = 4, device=None, cv_work: Path | None = None,
                 out: Path | None = None, engines: str | None = None, engine: str = "torch",
                 records: list | None = None) -> dict:
    """Each section's figures (printed as they come), by section name; ``engine`` runs the CNN of the
    extraction, inference and shared sections (the engines sections measure theirs). The engines section
    runs first, so that ``engine="auto"`` is the fastest agreeing engine of this very run. ``records``
    (``--synthetic``'s) stand for both the training and the val records; the engines measurement made
    on them is not stored for ``auto``."""
    from hypercolumns.data.datasets import load_training_records, load_val_records
    from hypercolumns.extract.cnn import frozen_cnn
    from hypercolumns.pipelines.bench.bench_engines import measured_engine

    training = (lambda: records) if records is not None else (lambda: load_training_records(data_root))
    val = (lambda: records) if records is not None else (lambda: load_val_records(data_root))
    results = {}
    if "engines" in sections:   # first: ``auto`` below picks from this run's own measurement
        from hypercolumns.extract.engines import remember_measurement
        from hypercolumns.pipelines.bench.bench_engines import measure_engines, print_engines

        results["engines"] = measure_engines(model, training(), weights, device, batch_size=batch_size)
        print_engines(results["engines"])
        if records is None:
            print(f"  stored for --engine auto: "
                  f"{remember_measurement(results['engines'], results['engines']['device'])}")
    if {"extraction", "inference", "shared"} & set(sections):
        asked = engine
        if engine == "auto" and "engines" in sections:   # this run's own choice (stored or, synthetic, not)
            engine = results["engines"]["fastest_agreeing"]
        engine = measured_engine(engine, device, weights, model)
        results["engine"] = {"asked": asked, "chosen": engine}
        print(f"engine of the extraction, inference and shared sections: {engine}"
              + (" (auto: the fastest that agreed with fp32 torch)" if asked == "auto" else ""))
    cnn = None  # one network for the sections that run it directly
    if {"extraction", "shared"} & set(sections):
        cnn = frozen_cnn(weights, device=device, engine=engine)
    if "extraction" in sections:
        from hypercolumns.pipelines.bench.bench_features import measure_extraction, print_extraction

        results["extraction"] = measure_extraction(cnn, training(), boxes, batch_size)
        print_extraction(results["extraction"], cnn.crop_size)
    if "inference" in sections:
        from hypercolumns.pipelines.bench.bench_inference import (measure_inference, measure_many_images,
                                                                  print_inference, print_many_images)
        from hypercolumns.pipelines.inference.segment import Segmenter

        segmenter = Segmenter(model, weights=weights, device=device, cnn_engine=engine, batch_size=batch_size)
        results["inference"] = measure_inference(segmenter, val())
        print_inference(results["inference"])
        results["inference"]["many_images"] = measure_many_images(segmenter, val(), batch_size)
        print_many_images(results["inference"]["many_images"])
    if "training" in sections:
        from hypercolumns.pipelines.bench.bench_training import measure_grid_training, print_grid_training

        results["training"] = measure_grid_training(shards)
        print_grid_training(results["training"])
    if "shared" in sections:
        from hypercolumns.pipelines.bench.bench_shared import bench_shared_vs_per_box, print_rows

        results["shared"] = bench_shared_vs_per_box(cnn, val()[:images])
        print_rows(results["shared"])
    if "engines-cv" in sections:
        from hypercolumns.pipelines.bench.bench_engines import cross_validated_agreement, print_agreement

        results["engines-cv"] = cross_validated_agreement(data_root, model, shards, cv_work,
                                                          Path(out) / "engines-cv", weights, device,
                                                          engines.split(",") if engines else None)
        print_agreement(results["engines-cv"])
    return results


def compare(new: dict, old: dict, prefix: str = "") -> list[str]:
    """``key: new / old = ratio`` for every number both runs have."""
    lines = []
    for key, value in new.items():
        if key not in old:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict):
            lines += compare(value, old[key], f"{prefix}{key}.")
        elif (isinstance(value, (int, float)) and isinstance(old[key], (int, float))
              and not isinstance(value, bool) and old[key]):
            lines.append(f"{prefix}{key}: {value:.4g} / {old[key]:.4g} = {value / old[key]:.3f}")
    return lines


def parse_sections(text: str) -> tuple:
    sections = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS + ON_REQUEST]
    if unknown or not sections:
        raise InputError(f"--sections {text!r}: choose from {', '.join(SECTIONS + ON_REQUEST)}")
    return sections


def bench(data_root: Path, model: Path, out: Path, shards: Path, sections: str = ",".join(SECTIONS),
          compare_with: Path | None = None, synthetic: int = 0, **settings) -> list:
    """The ``sections`` (comma-separated) of :func:`run_sections` (``settings``: its keywords),
    compared with the earlier run ``compare_with`` if given; writes and returns the JSON paths.
    ``synthetic``: on that many synthetic images with random weights and a random grid
    (:mod:`~.synthetic`), for a machine without the shared data or the converted weights."""
    sections = parse_sections(sections)
    if synthetic:
        return _bench_synthetic(synthetic, sections, out, compare_with, settings)
    if {"inference", "engines", "engines-cv"} & set(sections):
        require_file(model, "grid model for the inference and engines sections",
                     "run `make train-grid` or pass --sections without inference and engines")
    needing_shards = [s for s in ("training", "engines-cv") if s in sections]
    if needing_shards and not any(Path(shards).glob("shard-*.h5")):
        raise MissingFileError(f"{shards}: no shards for the {' and '.join(needing_shards)} section; run "
                                f"`make features` or pass --sections without {' and '.join(needing_shards)}")
    return _report(lambda: run_sections(sections, data_root, model, shards, out=out, **settings), out, compare_with)


SYNTHETIC_SECTIONS = ("extraction", "inference", "shared", "engines")
"""The sections ``--synthetic`` can run: the others read stage-one shards or eval-sds's fold grids."""


def _bench_synthetic(count: int, sections: tuple, out: Path, compare_with, settings: dict) -> list:
    import tempfile

    from hypercolumns.pipelines.bench.synthetic import random_grid, random_weights, synthetic_records

    refused = [s for s in sections if s not in SYNTHETIC_SECTIONS]
    if refused:
        raise InputError(f"--synthetic: the {', '.join(refused)} section needs the real data's shards; "
                         f"choose among {', '.join(SYNTHETIC_SECTIONS)}")
    if settings.get("weights"):
        raise InputError("--synthetic runs a random network: leave out --weights")
    if settings.get("engine") == "auto" and "engines" not in sections:   # never from, or into, the real store
        raise InputError("--synthetic --engine auto picks among this run's own engines measurement: "
                         "add the engines section, or name an engine")
    with tempfile.TemporaryDirectory(prefix="bench-synthetic-") as folder:
        print(f"synthetic: {count} images of 500 x 375 with 3 instances each, random VGG16 and K = 10 grid")
        records = synthetic_records(Path(folder), count)
        weights = random_weights()
        model = random_grid(weights, Path(folder), standardized_on=records[:1])   # unsaturated heatmaps
        settings = {**settings, "weights": weights}
        return _report(lambda: {"synthetic_images": count,
                                **run_sections(sections, None, model, None, out=out, records=records, **settings)},
                       out, compare_with, name="bench-synthetic")


def _report(measure, out: Path, compare_with, name: str = "bench") -> list:
    """``measure()``'s sections with the machine and the time, compared with ``compare_with``, written."""
    old = json.loads(Path(compare_with).read_text()) if compare_with else None
    print(f"machine: {machine()}")
    start = time.perf_counter()
    report = {"machine": machine(), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **measure()}
    report["seconds"] = time.perf_counter() - start
    if old is not None:
        print(f"new / old ({compare_with}):")
        print("\n".join(f"  {line}" for line in compare(report, old)))
    return write_bench_json(report, out, f"{name}-{report['time_utc'].replace(':', '')}", name)
