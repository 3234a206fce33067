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

from pathlib import Path

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
                    batch_size: int = 16, rounds: int = 2) -> dict:
    """Every available engine's bare forward, GFLOP/s and agreement with the reference engine.

    Each engine's forward is timed in ``rounds`` rounds, every engine once per round, and its fastest
    round kept: a burst of load on a shared machine then slows one round of every engine, not the one
    engine it fell on (it once made ``auto`` pick a slower engine).
    """
    from hypercolumns.extract.cnn import device_name
    from hypercolumns.extract.engines import REFERENCE, available_engines
    from hypercolumns.pipelines.bench.bench_features import time_bare_forward
    from hypercolumns.pipelines.inference.engine import Engine

    reference = Engine(weights, device, batch_size).grid(model_path, weights)
    config = reference.model.feature_config
    crops, categories = engine_crops(reference.cnn, records, boxes)
    expected = heatmaps_of(reference.cnn, reference, crops, categories, batch_size)
    layers = config.spec.network_layers(reference.cnn.name)
    grids = {engine: (reference if engine == REFERENCE
                      else Engine(weights, device, batch_size, engine=engine).grid(model_path, weights))
             for engine in available_engines(reference.cnn.device)}
    seconds = {engine: float("inf") for engine in grids}
    for _ in range(rounds):
        for engine, grid in grids.items():
            seconds[engine] = min(seconds[engine], time_bare_forward(grid.cnn, crops, layers, batch_size))
    rows = []
    for engine, grid in grids.items():
        heatmaps = heatmaps_of(grid.cnn, grid, crops, categories, batch_size)
        difference = float(np.abs(heatmaps - expected).max())
        iou = float(mask_iou(heatmaps, expected).mean())
        rows.append({"engine": engine, "ms_per_crop": 1000 * seconds[engine],
                     "gflop_per_s": VGG16_GFLOP * (config.crop_size / 224) ** 2 / seconds[engine],
                     "max_heatmap_difference": difference, "mean_mask_iou": iou,
                     "agrees": difference < MAX_HEATMAP_DIFFERENCE and iou >= MIN_MASK_IOU})
    agreeing = [row for row in rows if row["agrees"]]
    fastest = min(agreeing, key=lambda row: row["ms_per_crop"])["engine"] if agreeing else REFERENCE
    return {"device": str(reference.cnn.device), "device_name": device_name(reference.cnn.device),
            "threads": torch.get_num_threads(), "rounds": rounds,
            "crops": len(crops), "batch_size": batch_size, "engines": rows, "fastest_agreeing": fastest,
            "tolerance": {"max_heatmap_difference": MAX_HEATMAP_DIFFERENCE, "mean_mask_iou": MIN_MASK_IOU}}


def measured_engine(engine: str, device=None, weights=None, model=None, images: int = 4) -> str:
    """``engine``, with ``auto`` made a name: this machine's stored choice, or, where none is stored yet, the
    choice of an engines measurement made now, once, stored for the next ``auto``: on ``images`` synthetic
    images, with ``weights`` (the network the command will run) and the command's grid ``model``, or
    without one a random grid standardised on those images' rows as train-grid would."""
    import tempfile

    from hypercolumns.extract.cnn import default_device
    from hypercolumns.extract.engines import measurement_path, remember_measurement, resolve_engine
    from hypercolumns.extract.weights import resolve_weights
    from hypercolumns.pipelines.bench.synthetic import random_grid, synthetic_records

    device = torch.device(device) if device is not None else default_device()
    if engine != "auto" or measurement_path(device).is_file():
        return resolve_engine(engine, device)
    print(f"--engine auto: no engine measurement for this machine yet; measuring each engine once on "
          f"{images} synthetic images (stored in {measurement_path(device).parent}; `make bench` remeasures)",
          flush=True)
    network = resolve_weights(weights)
    with tempfile.TemporaryDirectory(prefix="engines-") as folder:
        records = synthetic_records(Path(folder), images)
        grid = (model if plain_grid(model, network)
                else random_grid(network, Path(folder), standardized_on=records[:1]))
        result = measure_engines(grid, records, network, device, boxes=3 * images)
    print_engines(result)
    remember_measurement(result, result["device"])
    return resolve_engine("auto", device)


def plain_grid(model, weights) -> bool:
    """Whether the grid file ``model`` can be measured as :func:`measure_engines` does: agnostic, on per-box
    crops of ``weights``' network, taking no region candidates (a fine-tuned grid's own weights, a
    per-category, shared-feature or System 1 grid are not)."""
    from hypercolumns.classifiers.grid_model import AGNOSTIC
    from hypercolumns.classifiers.model_file import load_grid

    if model is None or not Path(model).is_file():
        return False
    grid = load_grid(model)
    config = grid.feature_config
    return (list(grid.categories) == [AGNOSTIC] and not grid.info.get("weights_file")
            and config.feature_source.mode == "per-box" and not grid.spec.needs_candidates
            and config.weights_sha256 == weights.sha256)


def print_engines(result: dict) -> None:
    print(f"CNN engines, {result['crops']} crops at batch {result['batch_size']} (each the fastest of "
          f"{result.get('rounds', 1)} rounds), {result['device_name']} "
          f"({result['threads']} threads); agreement with fp32 torch: max heatmap difference < "
          f"{MAX_HEATMAP_DIFFERENCE}, mean mask IoU >= {MIN_MASK_IOU}")
    print(f"  {'engine':<12} {'ms/crop':>8} {'GFLOP/s':>8} {'max diff':>9} {'mask IoU':>9}  agrees")
    for row in result["engines"]:
        print(f"  {row['engine']:<12} {row['ms_per_crop']:8.1f} {row['gflop_per_s']:8.1f} "
              f"{row['max_heatmap_difference']:9.2e} {row['mean_mask_iou']:9.4f}  {'yes' if row['agrees'] else 'no'}")
    print(f"  fastest that agrees: {result['fastest_agreeing']}")


def engine_agreement(results: dict, coco: dict, annotations_path, out, seed: int = 0,
                     reference: str | None = None, replicates: int = 1000) -> list:
    """Each engine's masks of the same oracle boxes against the reference engine's.

    ``results``: ``{engine: results list}``, each in the order of the oracle
    boxes (one per annotation of ``coco``), the reference engine's among them.
    Per engine: AP^r at 0.5 and 0.7 with its paired difference to the
    reference's (95 % bootstrap interval over images), and the per-instance IoU
    of its mask with the reference engine's mask of the same box (the mean,
    and the smallest; 1 where both are empty: they agree), with the mean's 95 % bootstrap interval over
    images; the quantity the GPU and ``auto`` defaults are judged by (:data:`MIN_MASK_IOU`).
    """
    from hypercolumns.eval.bootstrap import mean_interval_over_images
    from hypercolumns.eval.masks import paired_mask_iou
    from hypercolumns.extract.engines import REFERENCE
    from hypercolumns.pipelines.experiments.runner import score_results
    from hypercolumns.pipelines.experiments.tables import difference_columns

    reference = reference or REFERENCE
    summaries = {engine: {seed: score_results(rows, coco, annotations_path, out, f"engine {engine}", seed)}
                 for engine, rows in results.items()}
    table = []
    for engine, rows in results.items():
        masks, reference_masks = ([r["segmentation"] for r in rs] for rs in (rows, results[reference]))
        both_empty = np.array([_empty(a) and _empty(b) for a, b in zip(masks, reference_masks)])
        ious = np.where(both_empty, 1.0, paired_mask_iou(masks, reference_masks))   # both empty: they agree
        row = {"engine": engine, "APr@0.5": summaries[engine][seed]["APr@0.5"],
               "APr@0.7": summaries[engine][seed]["APr@0.7"], "instances": len(ious),
               "mean_mask_iou_vs_reference": float(ious.mean()),
               "mean_mask_iou_interval": mean_interval_over_images(ious, [r["image_id"] for r in rows],
                                                                   replicates=replicates),
               "min_mask_iou_vs_reference": float(ious.min()), "below_min_mask_iou": int(np.sum(ious < MIN_MASK_IOU))}
        if engine != reference:
            row.update(difference_columns(summaries[engine], summaries[reference], reference, replicates))
        table.append(row)
    return table


def _empty(rle) -> bool:
    """Whether a COCO RLE holds no pixel (its odd runs, the ones, sum to 0)."""
    from hypercolumns.data.masks import run_lengths

    return int(run_lengths(rle["counts"])[1::2].sum()) == 0


def cross_validated_agreement(data_root, model, shards, cv_work, out, weights=None, device=None,
                              engines=None, projection: str = "none", seed: int = 0) -> dict:
    """:func:`engine_agreement` on the training images' oracle boxes, each image segmented by the outer
    fold grid of ``eval-sds`` (in ``cv_work``; trained there where missing) that never saw it, once
    per engine (default: fp32 torch and the reduced-precision engines that run here; the fp32 ones agree
    with it to about 1e-6 in :func:`measure_engines`, and each costs minutes here); with each engine's
    seconds per box."""
    import time

    from hypercolumns.classifiers.selection import NestedFold
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.data.files import write_json_atomic
    from hypercolumns.extract.cnn import device_name
    from hypercolumns.extract.engines import REDUCED_PRECISION, REFERENCE, available_engines, check_engine
    from hypercolumns.pipelines.experiments.nested_cv import NestedGrids, _merge, fold_grids_of, segment_folds
    from hypercolumns.pipelines.experiments.oracle import coco_annotations, oracle_detections
    from hypercolumns.pipelines.experiments.runner import Engines
    from hypercolumns.pipelines.inference.engine import Engine

    where = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    for engine in engines or ():
        check_engine(engine, where)   # before the fold grids and the first engine's minutes
    records = load_training_records(data_root)
    nested = fold_grids_of(model, shards, records, cv_work)
    grids = NestedGrids([NestedFold(f.outer, f.reported, ()) for f in nested.folds],
                        {label: path for label, path in nested.models.items() if label[0] == "outer"})
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, Path(out) / "annotations.json")
    detections = oracle_detections(coco, seed)
    engines = engines or [e for e in available_engines(where) if e in REDUCED_PRECISION]
    engines = [REFERENCE] + [e for e in engines if e != REFERENCE]
    results, seconds = {}, {}
    for engine in engines:
        start = time.perf_counter()
        segmented = segment_folds(grids, records, coco, detections, data_root,
                                  Engines(Engine(weights, device, engine=engine), {}), (projection,))
        seconds[engine] = (time.perf_counter() - start) / len(detections)
        results[engine] = _merge([segmented[(("outer", f.outer), projection)] for f in grids.folds])
    table = engine_agreement(results, coco, annotations, out, seed)
    for row in table:
        row["seconds_per_box"] = seconds[row["engine"]]
    return {"device_name": device_name(where), "images": len(records),
            "folds": len(grids.folds), "projection": projection, "seed": seed, "engines": table,
            "tolerance": {"mean_mask_iou": MIN_MASK_IOU}}


def print_agreement(result: dict) -> None:
    print(f"CNN engines on the {result['images']} training images' oracle boxes (seed {result['seed']}), each "
          f"segmented by the {result['folds']}-fold outer grid that never saw it, projection "
          f"{result['projection']}, {result['device_name']}; masks against fp32 torch's "
          f"(agreement: mean IoU >= {MIN_MASK_IOU})")
    print(f"  {'engine':<12} {'s/box':>6} {'APr@0.5':>8} {'APr@0.7':>8} {'diff@0.5':>20} {'diff@0.7':>20} "
          f"{'mean IoU [95% over images]':>27} {'min IoU':>8} {'< ' + str(MIN_MASK_IOU):>7}")
    for row in result["engines"]:
        print(f"  {row['engine']:<12} {row['seconds_per_box']:6.3f} {row['APr@0.5']:8.1f} {row['APr@0.7']:8.1f} "
              f"{row.get('diff@0.5 vs torch', '-'):>20} {row.get('diff@0.7 vs torch', '-'):>20} "
              f"{row['mean_mask_iou_vs_reference']:9.4f} [{row['mean_mask_iou_interval'][0]:.4f}, "
              f"{row['mean_mask_iou_interval'][1]:.4f}] {row['min_mask_iou_vs_reference']:8.4f} "
              f"{row['below_min_mask_iou']:7d}")
