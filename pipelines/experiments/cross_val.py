"""Cross-validated AP^r of grids from several shard sets, on the training images.

The val split holds 12 images (39 instances in 12 classes): one instance
crossing an IoU threshold moves a single-instance class's AP by 100 points
and the mean over classes by 8, so two feature sources (issue 10: per-box
crops vs shared whole-image features) cannot be told apart there to within
a few points.  The training images hold twenty times the instances.  They
are split into folds by a hash of their id; each fold's oracle boxes are
segmented by grids trained only on the other folds' rows of the same shards
(``TrainOptions.exclude_images``: the fold's images leave the row index and
the standardisation, so no grid sees the images it is scored on); the
pooled held-out results are scored once, and the difference of the first
two systems gets a paired bootstrap over images (:mod:`eval.bootstrap`).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.classifiers.selection import fold_members, image_folds
from hypercolumns.classifiers.provenance import trained_here
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.eval.bootstrap import paired_bootstrap_of_summaries
from hypercolumns.data.files import write_json_atomic
from hypercolumns.extract.shards import list_shards, open_shard
from hypercolumns.pipelines.experiments.runner import (System, _slug, instance_iou_over_seeds, load_systems,
                                                      score_results, segment_systems)
from hypercolumns.pipelines.experiments.tables import dump
from hypercolumns.pipelines.experiments.oracle import coco_annotations, oracle_detections
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS


def train_fold_grids(shards: dict, records: list, folds: int, out: Path, K: int = 10,
                     fold_seed: int = 0, options: TrainOptions | None = None, log=print) -> dict:
    """``{(name, fold): model path}``: a K grid per shard set and fold, trained without that fold.

    ``options`` (default ``train-grid``'s) sets everything else of the training.
    A fold's grid already trained with these shards and options is kept
    (:func:`train_grids_without`).

    Raises
    ------
    ValueError
        If a shard set holds an image that is not one of ``records`` (shards
        of another data set: leaving out a fold would then leave out nothing).
    """
    ids = [record.image_id for record in records]
    members = fold_members(ids, image_folds(ids, folds, fold_seed), folds)
    models = {}
    for name, shards_dir in shards.items():
        left_out = {f"fold {fold}": excluded for fold, excluded in enumerate(members)}
        paths = train_grids_without(Path(shards_dir), set(ids), left_out, Path(out) / _slug(name), K,
                                    options, log=lambda line, name=name: log(f"{name}, {line}"))
        models.update({(name, fold): paths[f"fold {fold}"] for fold in range(folds)})
    return models


def train_grids_without(shards_dir: Path, record_ids: set, left_out: dict, out: Path, K: int,
                        options: TrainOptions | None = None, log=print) -> dict:
    """``{label: model path}``: a K grid from ``shards_dir`` per entry of ``left_out`` (label ->
    the image ids it is trained without), in ``out/<label as a folder name>``.

    A grid already trained there with these shards and options is kept
    (:func:`~hypercolumns.classifiers.provenance.trained_here`); the shards must
    hold only images of ``record_ids`` (else leaving some out could leave out nothing).
    """
    _check_shard_images(shards_dir, record_ids)
    paths = {}
    for label, excluded in left_out.items():
        excluded = tuple(sorted(excluded))
        label_options = replace(options or TrainOptions(), Ks=(K,), exclude_images=excluded)
        folder = Path(out) / label.replace(" ", "-")
        if not trained_here(folder, shards_dir, label_options):
            log(f"{label}: training K={K} without its {len(excluded)} images")
            train_grids(shards_dir, folder, label_options, log=log)
        paths[label] = folder / f"grid-K{K}.h5"
    return paths


def _check_shard_images(shards_dir: Path, record_ids: set) -> None:
    for shard in list_shards(shards_dir):
        with open_shard(shard) as f:
            strangers = set(f["boxes/image_id"].asstr()[:]) - record_ids
        if strangers:
            raise InputError(f"{shard} holds boxes of images that are not among the {len(record_ids)} "
                             f"records being cross-validated (e.g. {sorted(strangers)[0]!r}): the shards "
                             "come from another data set or DATA_ROOT")


def _check_left_out(model_path, fold_images: set) -> None:
    """The grid at ``model_path`` was trained without exactly ``fold_images`` (None: no grid)."""
    if model_path is None:
        return
    summary = json.loads((Path(model_path).parent / "train-summary.json").read_text())
    left_out = set(summary["options"].get("exclude_images", ()))
    if left_out != fold_images:
        raise InputError(f"{model_path} was trained without {len(left_out)} images, not its fold's "
                         f"{len(fold_images)}: another fold split (fold_seed) or other records")


def cross_validated_apr(models: dict, records: list, data_root, out: Path, folds: int,
                        seeds=(0,), fold_seed: int = 0, superpixels=DEFAULT_SUPERPIXELS,
                        device=None, replicates: int = 1000) -> dict:
    """Segment every training image's oracle boxes with its fold's grids; score the pooled results.

    Parameters
    ----------
    models : dict of (name, fold) to Path
        From :func:`train_fold_grids`.
    records : list of ImageRecord
        The images the grids were trained on (the same list and order).
    out : Path
        Gets ``annotations.json``, ``oracle_boxes_seed<s>.json`` and
        ``results/<name>_seed<s>.json``.

    Returns
    -------
    dict
        ``summaries``: ``{name: {seed: evaluate_coco summary}}``;
        ``bootstrap``: :func:`~hypercolumns.eval.bootstrap.paired_image_bootstrap` of the first two names,
        their seeds as runs; ``iou_by_size``: mean instance IoU per size bin,
        mean over seeds;
        ``images``, ``instances``, ``folds``.
    """
    out = Path(out)
    names = list(dict.fromkeys(name for name, _ in models))
    ids = [record.image_id for record in records]
    fold_of = image_folds(ids, folds, fold_seed)
    members = fold_members(ids, fold_of, folds)
    for (name, fold), path in models.items():
        _check_left_out(path, set(members[fold]))
    coco = coco_annotations(records, data_root)
    annotations_path = write_json_atomic(coco, out / "annotations.json")
    engines = load_systems([System(f"{name}/{fold}", path) for (name, fold), path in models.items()],
                           device=device)
    summaries = {name: {} for name in names}
    for seed in seeds:
        detections = oracle_detections(records, coco, seed)
        write_json_atomic(detections, out / f"oracle_boxes_seed{seed}.json")
        results = {name: [None] * len(detections) for name in names}
        for fold in range(folds):
            indices = [i for i, d in enumerate(detections) if fold_of[d["image_id"] - 1] == fold]
            systems = [System(name, models[(name, fold)], superpixels) for name in names]
            segmented = segment_systems(systems, records, coco, [detections[i] for i in indices],
                                        data_root, engines)
            for name in names:
                for index, result in zip(indices, segmented[name]):
                    results[name][index] = result
        for name in names:
            summaries[name][seed] = score_results(results[name], coco, annotations_path, out, name, seed)
    bootstrap = None
    if len(names) >= 2:
        bootstrap = paired_bootstrap_of_summaries(summaries[names[0]], summaries[names[1]],
                                                  replicates=replicates)
    mean_iou = {name: instance_iou_over_seeds(summaries[name]) for name in names}
    report = {"summaries": summaries, "bootstrap": bootstrap, "names": names, "folds": folds,
              "seeds": list(seeds), "iou_by_size": iou_by_size(coco, mean_iou),
              "images": len(records), "instances": len(coco["annotations"]),
              "classes_with_instances": len({a["category_id"] for a in coco["annotations"]})}
    dump(report, out / "cross-val.json")
    return report


SIZE_BINS = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
"""Instance sizes as sqrt(box area / image area): the box's side as a fraction of the image's."""


def iou_by_size(coco: dict, instance_iou: dict) -> list:
    """Mean instance IoU of each system per size bin (:data:`SIZE_BINS`), one dict per bin."""
    images = {image["id"]: image for image in coco["images"]}
    sizes = np.array([np.sqrt(a["bbox"][2] * a["bbox"][3] /
                              (images[a["image_id"]]["width"] * images[a["image_id"]]["height"]))
                      for a in coco["annotations"]])
    bins = np.clip(np.digitize(sizes, SIZE_BINS[1:-1]), 0, len(SIZE_BINS) - 2)
    rows = []
    for b, (low, high) in enumerate(zip(SIZE_BINS[:-1], SIZE_BINS[1:])):
        chosen = bins == b
        row = {"relative size": f"{low:g}-{high:g}", "instances": int(chosen.sum())}
        for name, ious in instance_iou.items():
            row[name] = float(np.mean(np.asarray(ious)[chosen]) * 100) if chosen.any() else float("nan")
        rows.append(row)
    return rows
