"""``hypercolumns bench-scale``: how the three stages' time and memory grow with the data.

Stage one (``features``), stage two (``train-grid``, K = 10) and ``segment``
(the ground-truth boxes of the same images, per pixel) run on 1×, 2× and 4× a
base set of ``--images`` shared training images; the copies are the same
images under new ids, which changes nothing for timing.  Each stage runs in a
fresh process, so its peak resident memory is its own (``ru_maxrss``: the larger
of the process's and its largest worker's).  Printed
per stage and size: seconds, boxes, peak MB; then the slope (seconds per box,
by least squares through the three sizes) and the ratio of the largest peak to
the smallest (1.0: flat).  From the slopes, the projected time of
``make features train-grid eval-sds`` on SBD's SDS split (5,623 training and
5,732 val images), with the shared data's boxes per image: stage one on the
training boxes; stage two's slope times 3 (train-grid's K = 10 grid and the 3
fold grids of 2/3 the rows each; linear, so an upper bound once the rows per
cell reach ``max_rows_per_cell``); ``segment``'s per box on each training
instance once and each val instance 3 times (the oracle seeds).

Goals (issue 19): time linear in boxes; stage two's peak flat (it is bounded
per cell by ``max_rows_per_cell``); ``segment``'s peak flat in the images.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.pipelines.bench.report import in_fresh_process, peak_resident_mb

SBD_TRAIN_IMAGES, SBD_VAL_IMAGES = 5623, 5732
FACTORS = (1, 2, 4)


def replicated(records: list, factor: int) -> list:
    """``records`` ``factor`` times, the copies under new image ids (``<id>#copy<k>``)."""
    return [record if k == 0 else replace(record, image_id=f"{record.image_id}#copy{k}")
            for k in range(factor) for record in records]


def _stage(name: str, records: list, folder: str, weights) -> tuple:
    """One stage in this (fresh) process: ``(seconds, boxes, peak MB)``; ``segment``'s records are
    ``(image id, image file, boxes)``."""
    from hypercolumns.classifiers.train import TrainOptions, train_grids
    from hypercolumns.extract.cnn import frozen_cnn
    from hypercolumns.extract.features import DEFAULT_LAYERS, feature_config, run_features
    from hypercolumns.extract.layer_spec import LayerSpec
    from hypercolumns.extract.shards import shard_totals

    folder = Path(folder)
    start = time.perf_counter()
    if name == "features":
        cnn = frozen_cnn(weights, device="cpu")
        spec = LayerSpec.parse(DEFAULT_LAYERS).resolve(cnn.network)
        boxes = run_features(records, folder / "features", cnn, spec, feature_config(cnn, spec),
                             show_progress=False)["boxes"]
    elif name == "train-grid":
        train_grids(folder / "features", folder / "models", TrainOptions(Ks=(10,), show_progress=False),
                    log=lambda *_: None)
        boxes = shard_totals(folder / "features")["boxes"]
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)   # its idle workers would hold this process 300 s
    else:   # as `hypercolumns segment` runs: boxes and image files in (no masks), segment_many
        from hypercolumns.data.images import read_image
        from hypercolumns.pipelines.inference.segment import Segmenter

        segmenter = Segmenter(folder / "models" / "grid-K10.h5", weights, device="cpu")
        items = ((image_id, read_image(path), image_boxes, "__all__", image_id) for image_id, path, image_boxes in records)
        boxes = sum(len(result.rles()) for _, _, result in segmenter.segment_many(items))
    seconds = time.perf_counter() - start
    # the largest of this process and its workers (train-grid's cells run in joblib's processes)
    return seconds, int(boxes), peak_resident_mb()


def run_stage(name: str, records: list, folder: Path, weights=None) -> dict:
    """``name`` on ``records`` in a spawned process: seconds, boxes, peak resident MB. ``segment`` is handed
    only what the command reads (image ids, files and boxes), not the records' masks."""
    if name == "segment":
        records = [(record.image_id, str(record.path), record.boxes()) for record in records if record.instances]
    seconds, boxes, peak = in_fresh_process(f"bench-scale: {name}", _stage, name, records, str(folder), weights)
    return {"seconds": seconds, "boxes": boxes, "peak_mb": peak}


def slope(points: list) -> float:
    """Least-squares seconds per box through ``(boxes, seconds)`` points."""
    x, y = np.array(points, float).T
    return float(np.polyfit(x, y, 1)[0]) if len(x) > 1 and np.ptp(x) > 0 else float("nan")


def scale_report(measured: dict, boxes_per_image: float) -> dict:
    """Slopes, peak ratios and the SBD projection from ``{stage: [row per factor]}``."""
    report = {}
    for stage, rows in measured.items():
        peaks = [row["peak_mb"] for row in rows]
        report[stage] = {"seconds_per_box": slope([(row["boxes"], row["seconds"]) for row in rows]),
                         "peak_ratio": max(peaks) / min(peaks)}
    train_boxes = SBD_TRAIN_IMAGES * boxes_per_image
    instances_per_image = boxes_per_image / 4           # stage one samples 4 boxes per instance
    # eval-sds under the plain protocol (SBD's default): 3 fold grids of 2/3 the rows besides train-grid's,
    # each training instance segmented once by its fold's grid, each val instance once per seed (3)
    projected = {"features": report["features"]["seconds_per_box"] * train_boxes,
                 "train-grid + fold grids": report["train-grid"]["seconds_per_box"] * train_boxes * 3,
                 "segment (eval-sds)": report["segment"]["seconds_per_box"] * instances_per_image
                 * (SBD_TRAIN_IMAGES + 3 * SBD_VAL_IMAGES)}
    return {"stages": report, "sbd_projection_hours": {k: v / 3600 for k, v in projected.items()},
            "sbd_projection_total_hours": sum(projected.values()) / 3600, "boxes_per_image": boxes_per_image}


def bench_scale(data_root: Path, out: Path, images: int = 16, weights=None, factors=FACTORS) -> dict:
    """Every stage at each factor of the first ``images`` training images with instances; prints the table."""
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.pipelines.bench.bench import machine
    from hypercolumns.pipelines.bench.report import write_bench_json

    base = [record for record in load_training_records(data_root) if record.instances][:images]
    measured = {"features": [], "train-grid": [], "segment": []}
    for factor in factors:
        records = replicated(base, factor)
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            for stage in measured:
                row = {"factor": factor, "images": len(records), **run_stage(stage, records, Path(folder), weights)}
                measured[stage].append(row)
                print(f"{stage:<11} {factor}x ({row['images']} images, {row['boxes']} boxes): "
                      f"{row['seconds']:.1f} s, peak {row['peak_mb']:.0f} MB", flush=True)
    boxes_per_image = measured["features"][0]["boxes"] / len(base)
    report = scale_report(measured, boxes_per_image)
    for stage, figures in report["stages"].items():
        print(f"{stage:<11} slope {1000 * figures['seconds_per_box']:.1f} ms per box, "
              f"peak memory largest / smallest {figures['peak_ratio']:.2f}")
    print(f"projected on SBD's SDS split ({SBD_TRAIN_IMAGES:,} training, {SBD_VAL_IMAGES:,} val images, "
          f"{boxes_per_image:.1f} training boxes per image as here), this machine: "
          + ", ".join(f"{k} {v:.1f} h" for k, v in report["sbd_projection_hours"].items())
          + f"; {report['sbd_projection_total_hours']:.1f} h in all")
    result = {"machine": machine(), "measured": measured, **report}
    write_bench_json(result, out, "bench-scale")
    return result
