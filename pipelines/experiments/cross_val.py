"""Grids that never see the images they are scored on, and instance IoU by size: the folds' parts.

The val split holds 12 images (39 instances in 12 classes): one instance
crossing an IoU threshold moves a single-instance class's AP by 100 points
and the mean over classes by 8.  The training images hold twenty times the
instances, split into folds by image (:mod:`~hypercolumns.classifiers.selection`);
each fold is segmented by grids trained only on the other folds' rows of the
same shards (:func:`train_grids_without`: ``TrainOptions.exclude_images``, so
the fold's images leave the row index and the standardisation).  The folds
themselves, the choices on inner folds and the report are
:mod:`~.nested_cv`'s.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.classifiers.provenance import trained_here
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.extract.shards import list_shards, open_shard


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
