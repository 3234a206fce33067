"""``hypercolumns reproduce-table2``: System 2 (segmenting box detections), the paper's Table 2.

Detections (those of the synthetic detector of :mod:`synthetic_detections`,
or a real detector's file given with ``--detections``) go through the
paper's pool expansion (boxes NMS removed, scored above ``--pool-threshold``
and overlapping every kept box by < 0.7, then NMS at 0.7; sizes printed per
class), every pool box is segmented
by a grid (``segment_systems``, detection scores kept), and three rows are
scored: *Only global* and *Hyp* (their grids' masks, the detector's scores)
and *Hyp + rescoring* (linear SVMs on region descriptors, trained on the
training images' pools, turned into ``P(IoU > 0.7)`` by
:meth:`RegionRescorer.fit_combiner`, then region NMS at mask IoU 0.3).

Two tables (``--protocol``, as ``eval-sds`` has it):

- **cross-validated** (``nested-cv``, the default on the shared data): the
  training images' pools, each outer fold segmented by grids trained without
  it and rescored with settings chosen by its inner folds
  (:mod:`~.rescoring_cv`); AP^r with 95 % bootstrap intervals over images and
  each row's paired difference to Hyp;
- **val**: the val images, rescored by SVMs trained on the training images'
  pools as the outer folds' grids segmented them, with the settings the outer
  folds chose.  Columns: AP^r at 0.5 / 0.7 (official rule), the difference to
  Hyp, mean IU of the semantic segmentation made by pasting the regions whose
  score is above a threshold chosen on the training pools (one for detection
  scores, one for rescored probabilities), and pool sizes; the paper's Table 2
  (O-Net rows) beside.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.boxes import xyxy_to_xywh
from hypercolumns.data.detections import read_coco_detections, read_mat_detections
from hypercolumns.data.files import read_json, write_json_atomic
from hypercolumns.data.masks import decode_rle
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.system2.pool_expansion import expand_detections
from hypercolumns.pipelines.experiments.nested_cv import score_covered
from hypercolumns.pipelines.experiments.runner import System, _slug, load_systems, segment_systems
from hypercolumns.pipelines.experiments.tables import (difference_columns, dump, interval_columns, print_table,
                                                      write_table)
from hypercolumns.pipelines.experiments.rescoring_cv import (CANDIDATES, COMPANION, chosen_projections,
                                                            describe_regions, fit_rescorer, fold_regions,
                                                            nested_rescoring, rescore)
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.system2.region_descriptor import region_feature_config
from hypercolumns.classifiers.selection import choose, reporting_on
from hypercolumns.pipelines.system2.semantic import ground_truth_labels, predicted_labels, semantic_mean_iu
from hypercolumns.pipelines.inference.superpixels import projection_settings
from hypercolumns.pipelines.system2.synthetic_detections import synthetic_detections

HYP_K = 10
PAPER = {"Only global": ("O-Net, only fc7", 52.6, 22.4), "Hyp": ("O-Net, Hyp", 56.5, 37.0),
         "Hyp + rescoring": ("O-Net, Hyp + rescoring", 60.0, 40.4)}
COLUMNS = ["system", "APr@0.5", "APr@0.7", "diff@0.5 vs Hyp", "diff@0.7 vs Hyp", "mean IU", "paste threshold",
           "pool", "paper row", "paper APr@0.5", "paper APr@0.7"]


def voc_records(records: list) -> list:
    """Records keeping only instances of VOC's 20 classes (records left empty dropped)."""
    kept = [replace(r, instances=[i for i in r.instances if i.category in VOC_CLASSES]) for r in records]
    return [r for r in kept if r.instances]


def read_detector_output(path: Path, pre_nms: Path | None = None) -> list:
    """A real detector's :class:`~hypercolumns.data.detections.Detections` from a file.

    A COCO results JSON (``category_id``: VOC's 1-based class index) or an
    R-CNN/SDS ``.mat`` naming its ``classes`` and ``image_ids``, with ``pre_nms``
    the same run's boxes before NMS (:mod:`hypercolumns.data.detections`).
    """
    if Path(path).suffix.lower() == ".mat":
        return read_mat_detections(path, pre_nms)
    if pre_nms is not None:
        raise InputError(f"--pre-nms {pre_nms} goes with a .mat --detections file; {path} is read "
                         "as a COCO results list, whose boxes are the detector's final ones")
    return read_coco_detections(path, dict(enumerate(VOC_CLASSES, start=1)))


def detections_on(records: list, seed: int, detections: list | None = None) -> list:
    """The detections on ``records``' images: the synthetic detector's (``seed``), or those of
    ``detections`` (a detector's file) whose image id is one of the records'."""
    if detections is None:
        return synthetic_detections(records, seed)
    ids = {str(record.image_id): record.image_id for record in records}
    mine = [replace(d, image_id=ids[str(d.image_id)]) for d in detections if str(d.image_id) in ids]
    if not mine:
        raise InputError(f"the detections file has none on these {len(records)} images (ids such as "
                         f"{', '.join(list(ids)[:3])}); it must cover the val images and the training "
                         "images, whose pools train the rescoring")
    return mine


def pool_detections(records: list, coco: dict, seed: int, pool_threshold: float, detections=None):
    """The expanded pool of :func:`detections_on` the records as a COCO results list, and pool sizes."""
    detections = [d for d in detections_on(records, seed, detections) if d.category in VOC_CLASSES]
    pools, sizes = expand_detections(detections, pool_threshold)
    image_ids = {record.image_id: index for index, record in enumerate(records, start=1)}
    category_ids = {c["name"]: c["id"] for c in coco["categories"]}
    results = []
    for pool in pools:
        for box, score in zip(pool.boxes, pool.scores):
            results.append({"image_id": image_ids[pool.image_id], "category_id": category_ids[pool.category],
                            "bbox": xyxy_to_xywh(box).tolist(), "score": float(score)})
    return results, sizes


def mean_iu_of(records: list, coco: dict, results: list, threshold: float) -> float:
    names = {c["id"]: c["name"] for c in coco["categories"]}
    pairs = []
    for image_id, record in enumerate(records, start=1):
        mine = [r for r in results if r["image_id"] == image_id]
        masks = [decode_rle(r["segmentation"]) for r in mine]
        predicted = predicted_labels(record.height, record.width, masks,
                                     [names[r["category_id"]] for r in mine],
                                     [r["score"] for r in mine], threshold)
        pairs.append((ground_truth_labels(record), predicted))
    return semantic_mean_iu(pairs)["mean_iu"]


PASTE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def choose_paste_threshold(records: list, coco: dict, results: list) -> tuple[float, float]:
    """The threshold of :data:`PASTE_THRESHOLDS` with the best mean IU on training regions
    (:func:`~hypercolumns.classifiers.selection.choose`: ``records`` must be training images)."""
    ious = {t: mean_iu_of(records, coco, results, t) for t in PASTE_THRESHOLDS}
    selection = choose("paste threshold", ious, [record.image_id for record in records],
                       criterion="mean IU of the pasted regions", selected_on="training images' pools")
    print(f"  {selection.line()}")
    return selection.chosen, ious[selection.chosen]


def reproduce_table2(data_root: Path, models: Path, only_global: Path, work: Path, out: Path,
                     seed: int = 0, pool_threshold: float = 0.3, train_images: int | None = None,
                     detections: Path | None = None, pre_nms: Path | None = None,
                     shards: Path = Path("work/features"), cv_work: Path = Path("work/sds-cv"),
                     only_global_folds: Path = Path("work/table1/cross-val/Only_global"),
                     projections: Path = Path("results/sds/summary.json"),
                     protocol: str | None = None, replicates: int = 1000) -> list:
    """Table 2: System 2 cross-validated on the training pools and on the val images; prints the
    tables and returns the paths written.

    Hyp is ``models/grid-K10.h5``, Only global ``only_global``; their fold grids
    come from ``shards`` (Hyp's in ``cv_work``, ``eval-sds``'s, Only global's in
    ``only_global_folds``, ``reproduce-table1``'s), trained where missing.  The
    pools of the first ``train_images`` training images with VOC classes (all:
    None) train and choose the rescoring.  ``detections`` (with ``pre_nms``, see
    :func:`read_detector_output`) is a detector's output on the training and val
    images; None: the synthetic detector's.  ``protocol``: ``nested-cv`` or
    ``plain`` (val only); None: ``eval-sds``'s default for the data.  ``projections``: ``eval-sds``'s
    ``summary.json``, whose cross-validation chose the projection of each outer fold and of val.
    """
    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.pipelines.experiments.nested_cv import default_protocol

    protocol = protocol or default_protocol(data_root)
    if protocol not in ("nested-cv", "plain"):
        raise ValueError(f"protocol must be 'nested-cv' or 'plain', got {protocol!r}")
    val = voc_records(load_val_records(data_root))
    with reporting_on(record.image_id for record in val):   # no choice below may look at them
        return _reproduce_table2(val, Path(data_root), Path(models), Path(only_global), Path(work), Path(out),
                                 seed, pool_threshold, train_images, detections, pre_nms, Path(shards),
                                 Path(cv_work), Path(only_global_folds), Path(projections), protocol,
                                 replicates)


def fold_grids(data_root: Path, hyp_model: Path, shards: Path, cv_work: Path, only_global_folds: Path,
               nested: bool):
    """Hyp's nested fold grids (``eval-sds``'s, :func:`~.nested_cv.train_nested_grids`, outer only
    unless ``nested``) and Only global's outer fold grids (``reproduce-table1``'s), trained where missing."""
    from hypercolumns.classifiers.train import TrainOptions
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.pipelines.experiments.cross_val import train_grids_without
    from hypercolumns.pipelines.experiments.nested_cv import fold_grids_of

    records = load_training_records(data_root)
    grids = fold_grids_of(hyp_model, shards, records, cv_work, 3, 2 if nested else 0)
    left_out = {f"fold {f.outer}": f.reported for f in grids.folds}
    paths = train_grids_without(shards.absolute(), {r.image_id for r in records}, left_out, only_global_folds,
                                HYP_K, replace(TrainOptions(), blocks=("global",)))
    return records, grids, {COMPANION: {f.outer: paths[f"fold {f.outer}"] for f in grids.folds}}


CV_COLUMNS = ["system", "APr@0.5", "95% interval @0.5", "APr@0.7", "95% interval @0.7", "diff@0.5 vs Hyp",
              "diff@0.7 vs Hyp", "pool"]


def cross_validated_rows(rows: dict, annotations_path, out: Path, seed: int, replicates: int) -> list:
    """One row per system: AP^r of its pooled outer-fold results, interval, difference to Hyp."""
    summaries = {name: {seed: score_covered(results, annotations_path, out / "results" / f"{_slug(name)}.json")}
                 for name, results in rows.items()}
    return [{"system": name, **interval_columns(summaries[name], summaries["Hyp"], "Hyp", replicates),
             "pool": len(rows[name])} for name in rows]


def _reproduce_table2(val, data_root, models, only_global, work, out, seed, pool_threshold, train_images,
                      detections, pre_nms, shards, cv_work, only_global_folds, projections, protocol,
                      replicates) -> list:
    detector = None if detections is None else read_detector_output(detections, pre_nms)
    records, grids, companions = fold_grids(data_root, models / f"grid-K{HYP_K}.h5", shards, cv_work,
                                            only_global_folds, protocol == "nested-cv")
    per_fold, for_val = chosen_projections(projections, grids.folds)
    print(f"projection (eval-sds's choice, {projections}): val {for_val}; outer folds " +
          ", ".join(f"{o} {p}" for o, p in per_fold.items()))
    projection = projection_settings(for_val)
    hyp = System("Hyp", models / f"grid-K{HYP_K}.h5", projection)
    systems = [System(COMPANION, only_global, projection), hyp]
    engines = load_systems(systems)
    work.mkdir(parents=True, exist_ok=True)
    train = voc_records(records)[:train_images]
    coco_train = coco_annotations(train, data_root)
    train_annotations = write_json_atomic(coco_train, out / "cross-val" / "annotations.json")
    pool_train, _ = pool_detections(train, coco_train, seed, pool_threshold, detector)
    regions = fold_regions(grids, companions, train, coco_train, pool_train, data_root, engines,
                           per_fold, work / "fold-regions")
    report = nested_rescoring(grids, regions, coco_train, train_annotations, work / "choices")
    written, cv = [], {}
    for line in [f"outer fold {o}: {s.line()}" for o, s in report.choices.items()] + [f"val: {report.for_val.line()}"]:
        print(line)
    if report.outer:
        cv_rows = cross_validated_rows(report.outer, train_annotations, out / "cross-val", seed, replicates)
        print(f"Table 2 cross-validated on the pools of {len(train)} training images "
              f"({len(coco_train['annotations'])} instances), {len(grids.folds)} outer folds by image, rescoring "
              f"chosen on {grids.inner} inner folds; synthetic detections seed {seed}; 95% bootstrap intervals over "
              "images; diff: row - Hyp with its paired interval")
        print_table(cv_rows, CV_COLUMNS)
        written += write_table(cv_rows, CV_COLUMNS, out / "table2-cross-val",
                               "Table 2 (System 2) cross-validated on the shared training images' pools")
        cv = {"rows": cv_rows, "images": len(train), "instances": len(coco_train["annotations"]),
              "per_outer_fold": {str(o): s.as_dict() for o, s in report.choices.items()}}
    cnn = engines.grid(hyp.model_path).cnn
    C, per_class, combiner = CANDIDATES[report.for_val.chosen]
    rescorer = fit_rescorer(report.training, C, per_class, combiner, region_feature_config(cnn))
    rescorer.save(work / "rescorer.h5")
    a, b, c = rescorer.combiner_
    print(f"rescoring for val ({report.for_val.chosen}) trained on {len(report.training.results)} training "
          f"regions; sigmoid({a:.2f} * logit(detection) + {b:.2f} * margin + {c:.2f}) -> {work / 'rescorer.h5'}")
    thresholds = {"detection": choose_paste_threshold(train, coco_train, report.training.results)[0],
                  "rescored": choose_paste_threshold(train, coco_train, report.for_val_results)[0]}
    written += _val_table(val, data_root, out, seed, pool_threshold, detector, detections, systems, engines,
                          rescorer, thresholds, replicates)
    summary = read_json(out / "summary.json")
    summary.update({"cross_validation": cv, "rescoring": report.for_val.as_dict(),
                    "projection": {"val": for_val, "per_outer_fold": {str(o): p for o, p in per_fold.items()},
                                   "chosen_by": str(projections)}})
    written.append(dump(summary, out / "summary.json"))
    print(f"wrote {', '.join(map(str, dict.fromkeys(written)))}, {out}/results/")
    return list(dict.fromkeys(written))


def _val_table(val, data_root, out, seed, pool_threshold, detector, detections, systems, engines, rescorer,
               thresholds, replicates) -> list:
    hyp = systems[1]
    cnn = engines.grid(hyp.model_path).cnn
    coco = coco_annotations(val, data_root)
    annotations = write_json_atomic(coco, out / "val_annotations.json")
    pool, sizes = pool_detections(val, coco, seed, pool_threshold, detector)
    results = segment_systems(systems, val, coco, pool, data_root, engines, score="detection")
    probabilities = rescorer.score(describe_regions(cnn, coco, data_root, {"Hyp": results["Hyp"]})["Hyp"],
                                   [r["category_id"] for r in results["Hyp"]],
                                   np.array([r["score"] for r in results["Hyp"]]))
    results["Hyp + rescoring"] = rescore(results["Hyp"], probabilities)
    pool_size = sum(s["after"] for s in sizes.values())
    summaries = {name: evaluate_coco(annotations, write_json_atomic(
        entries, out / "results" / f"{name.replace(' ', '_')}.json")) for name, entries in results.items()}
    rows = []
    for name, entries in results.items():
        summary = summaries[name]
        kind = "rescored" if name.endswith("rescoring") else "detection"
        paper_row, paper_05, paper_07 = PAPER[name]
        row = {"system": name, "APr@0.5": summary["APr@0.5"], "APr@0.7": summary["APr@0.7"],
               "mean IU": mean_iu_of(val, coco, entries, thresholds[kind]), "paste threshold": thresholds[kind],
               "pool": len(entries) if kind == "rescored" else pool_size, "paper row": paper_row,
               "paper APr@0.5": paper_05, "paper APr@0.7": paper_07}
        if name != "Hyp":   # the paired bootstrap over the val images, against Hyp
            row.update(difference_columns({seed: summary}, {seed: summaries["Hyp"]}, "Hyp", replicates))
        rows.append(row)
    print("pool sizes per class (detections after the detector's NMS -> expanded pool): " +
          ", ".join(f"{c} {s['before']}->{s['after']}" for c, s in sorted(sizes.items())))
    source = (f"detections of {detections}" if detections is not None
              else "synthetic detections (README, Deviations)")
    print(f"Table 2 on {len(val)} val images ({sum(len(r.instances) for r in val)} instances: a small sample), "
          f"{source}; diff: row - Hyp with its paired 95% bootstrap interval over images; paper: VOC2012 val, "
          "R-CNN detections")
    print_table(rows, COLUMNS)
    md, csv = write_table(rows, COLUMNS, out / "table2", "Table 2 (System 2) on the shared val images")
    summary_path = dump({"rows": rows, "pool_sizes": sizes, "paste_thresholds": thresholds}, out / "summary.json")
    return [md, csv, summary_path]
