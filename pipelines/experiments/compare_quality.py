"""``hypercolumns compare-quality``: candidates for better masks, each kept only if the inner folds pick it.

The candidates (issue 20) are of two kinds:

- **training variants**: the same boxes and CNN, other stage-one rows, each a
  folder of shards (``--variant NAME=SHARDS``, e.g. ``features --flips``,
  ``--boxes-per-instance 8``, ``--rows-per-cell 2``). Each gets the nested
  folds' 9 grids (:func:`~.nested_cv.fold_grids_of`, the same folds as the
  default's), trained with the default grid's K and options;
- **projections** (``--projections``: per-pixel, the superpixel stand-ins,
  the heatmap-seeded GrabCut), applied to every grid's heatmaps.

All of them are segmented in one CNN pass per box, and the inner folds of each
outer fold choose among every (variant, projection) pair
(:func:`~.nested_cv.nested_cv_report` with ``variants``); the outer folds
report each candidate held fixed and the nested choice ("selected": the
estimate of the whole procedure), against today's default (the default
shards, projected per pixel) with paired 95 % intervals over images. The
val images are not read.

The cost column is what a box costs at test time, measured on the first
training images with the default grid: the CNN and conv trick (the same for
every training variant) and each projection's time after it; a training
variant's extra cost is its stage-one rows, given beside it.
"""
from __future__ import annotations

import time
from pathlib import Path

from hypercolumns.data.errors import InputError

DEFAULT = "none"
"""Today's default: the default shards' grids, thresholded per pixel (what eval-sds's folds chose)."""

COLUMNS = ["candidate", "APr@0.5", "95% interval @0.5", "APr@0.7", "95% interval @0.7",
           f"diff@0.5 vs {DEFAULT}", f"diff@0.7 vs {DEFAULT}", "mean IoU", "95% interval IoU",
           "ms per box after the CNN", "stage-one rows"]


def projection_costs(model: Path, records: list, projections, device=None, images: int = 4) -> dict:
    """Milliseconds per box: ``"cnn"`` (CNN and conv trick) and each projection's time after it, on the
    ground-truth boxes of the first ``images`` records with instances (superpixels cut per image, as
    :class:`~hypercolumns.pipelines.inference.segment.Segmenter` does)."""
    from hypercolumns.pipelines.inference.segment import Segmenter
    from hypercolumns.pipelines.inference.superpixels import SuperpixelCache, projection_settings

    segmenter = Segmenter(model, device=device)
    chosen = [record for record in records if record.instances][:images]
    seconds = dict.fromkeys(["cnn", *projections], 0.0)
    boxes_done = 0
    if chosen:   # untimed: the first forward pays for loading the network and allocating its buffers
        segmenter.heatmaps(chosen[0].load_image(), chosen[0].boxes()[:1], [chosen[0].instances[0].category])
    for record in chosen:
        image, boxes = record.load_image(), record.boxes()
        start = time.perf_counter()
        heatmaps, expanded = segmenter.heatmaps(image, boxes, [i.category for i in record.instances])
        seconds["cnn"] += time.perf_counter() - start
        for p in projections:
            cache = SuperpixelCache(projection_settings(p))
            start = time.perf_counter()
            cache.masks(record.image_id, image, heatmaps, expanded)
            seconds[p] += time.perf_counter() - start
        boxes_done += len(boxes)
    return {key: 1000 * value / max(boxes_done, 1) for key, value in seconds.items()} | {"boxes": boxes_done}


def stage_one_rows(shards_dir: Path) -> int:
    from hypercolumns.extract.shards import shard_totals

    return shard_totals(shards_dir)["rows"]


def quality_rows(report: dict, coco: dict, costs: dict, rows_of: dict, replicates: int = 1000) -> list:
    """One row per candidate key of ``report["per_projection"]``, then ``selected``: AP^r with intervals,
    the paired difference to :data:`DEFAULT`, mean instance IoU with its interval over images, the cost."""
    from hypercolumns.eval.bootstrap import mean_interval_over_images
    from hypercolumns.pipelines.experiments.runner import instance_iou_over_seeds
    from hypercolumns.pipelines.experiments.tables import interval_columns, interval_text

    reference = report["per_projection"][DEFAULT]
    image_of = {image["id"]: image["dataset_image_id"] for image in coco["images"]}
    instance_images = [image_of[a["image_id"]] for a in coco["annotations"]]
    candidates = dict(report["per_projection"])
    if report.get("selected"):
        candidates["selected (inner folds' choice per outer fold)"] = report["selected"]
    rows = []
    for key, per_seed in candidates.items():
        iou = 100 * instance_iou_over_seeds(per_seed)
        row = {"candidate": key, **interval_columns(per_seed, reference, DEFAULT, replicates),
               "mean IoU": float(iou.mean()),
               "95% interval IoU": interval_text(mean_interval_over_images(iou, instance_images,
                                                                           replicates=replicates))}
        if key in report["candidates"]:
            variant, projection = report["candidates"][key]
            row["ms per box after the CNN"] = costs.get(projection)
            row["stage-one rows"] = rows_of.get(variant or "default")
        rows.append(row)
    return rows


def compare_quality(data_root: Path, model: Path, shards: Path, variants: dict, out: Path, cv_work: Path,
                    variants_work: Path, projections, seeds=(0,), replicates: int = 1000, device=None,
                    cost_images: int = 4) -> dict:
    """Train the variants' nested fold grids where missing, segment the training images' oracle boxes
    with every candidate, choose on the inner folds, print and write the table; returns the report.

    ``model``: the default K grid (its K and training options are every variant's); ``shards`` its
    shards and ``cv_work`` its nested fold grids (``eval-sds``'s); ``variants``: ``{name: shards dir}``,
    their fold grids in ``variants_work/<name>``.
    """
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.data.files import write_json_atomic
    from hypercolumns.pipelines.experiments.cross_val import iou_by_size
    from hypercolumns.pipelines.experiments.nested_cv import (fold_grids_of, nested_cv_report, selection_lines,
                                                             selection_record)
    from hypercolumns.pipelines.experiments.oracle import coco_annotations
    from hypercolumns.pipelines.experiments.runner import instance_iou_over_seeds, load_systems
    from hypercolumns.pipelines.experiments.tables import dump, print_table, write_table

    out = Path(out)
    projections = tuple(dict.fromkeys([DEFAULT, *projections]))
    records = load_training_records(data_root)
    grids = fold_grids_of(Path(model), shards, records, cv_work)
    variant_grids = {name: fold_grids_of(Path(model), folder, records, Path(variants_work) / name)
                     for name, folder in variants.items()}
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, out / "annotations.json")
    report = nested_cv_report(grids, records, coco, annotations, data_root, out, load_systems([], device=device),
                              "quality", tuple(seeds), projections, variants=variant_grids)
    costs = projection_costs(Path(model), records, projections, device, cost_images)
    rows_of = {"default": stage_one_rows(shards)} | {name: stage_one_rows(f) for name, f in variants.items()}
    rows = quality_rows(report, coco, costs, rows_of, replicates)
    for line in selection_lines(report):
        print(line)
    print(f"Mask quality on {len(records)} training images ({len(coco['annotations'])} instances), "
          f"{len(grids.folds)} outer folds by image, oracle boxes, seeds {list(seeds)}; each candidate fixed, "
          f"then the inner folds' choice; 95% bootstrap intervals over images; diff: candidate - {DEFAULT} "
          f"(today's default) with its paired interval; cost on {costs['boxes']} ground-truth boxes of the first "
          f"{cost_images} training images, CNN and conv trick {costs['cnn']:.0f} ms per box")
    print_table(rows, COLUMNS)
    written = list(write_table(rows, COLUMNS, out / "quality", "Mask-quality candidates, nested cross-validation "
                               "on the shared training images"))
    selected = report.get("selected")
    sizes = iou_by_size(coco, {"default (none)": instance_iou_over_seeds(report["per_projection"][DEFAULT]),
                               **({"selected": instance_iou_over_seeds(selected)} if selected else {})})
    size_columns = ["relative size", "instances", "default (none)", *(["selected"] if selected else [])]
    print("mean instance IoU by size (sqrt(box area / image area)), mean over seeds:")
    print_table(sizes, size_columns)
    written += write_table(sizes, size_columns, out / "iou-by-size", "Mean instance IoU by relative size, "
                           "today's default and the nested choice")
    result = {"rows": rows, "iou_by_size": sizes, "selection": selection_record(report), "costs": costs,
              "stage_one_rows": rows_of, "variants": {name: str(f) for name, f in variants.items()},
              "projections": list(projections), "seeds": list(seeds),
              "selected_on": "training images: inner folds of each outer fold, 2-fold by image"}
    written.append(dump(result | {"per_candidate": report["per_projection"]}, out / "quality.json"))
    print(f"wrote {', '.join(map(str, written))}")
    return result


def parse_variants(items) -> dict:
    """``NAME=SHARDS`` flags -> ``{name: Path}``; InputError naming a malformed or repeated one."""
    from hypercolumns.pipelines.experiments.nested_cv import check_variant_name

    variants = {}
    for item in items or ():
        name, sep, folder = str(item).partition("=")
        try:
            check_variant_name(name)
        except ValueError as error:
            raise InputError(f"--variant {item!r}: {error}") from None
        if not sep or not folder or name in variants:
            raise InputError(f"--variant {item!r}: expected NAME=SHARDS_FOLDER, each NAME once")
        variants[name] = Path(folder)
    return variants
