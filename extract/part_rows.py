"""Stage one for part labelling: hypercolumn rows with one label column per (class, part).

Boxes are jittered around the instances of the seven Table 4 classes only
(``extract.features.plan_boxes`` on records reduced to those instances), and
every box writes its rows once, with a label for every part target
``part:<class>:<group>`` of :data:`hypercolumns.data.part_groups.PART_GROUPS`:

- ``1`` on the pixels of that part of the box's instance;
- ``0`` on the other pixels of the *same* instance (its other parts and the
  object pixels no part covers);
- ``-1`` (ignored) outside the instance, on VOC void, and on every row of a
  box of another class.

Part classifiers are trained inside the object only because at prediction
time they only label pixels inside the figure-ground mask: what they must
tell apart is one part from the rest of the object, never object from
background (the figure-ground grid does that). Shards are
``extract.shards`` files (schema ``hypercolumns.shard/1``), readable by
``classifiers.train.train_grids`` with ``target="part:<class>:<group>"``.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.part_groups import PART_GROUPS, group_part_masks
from hypercolumns.extract.box_sampling import stratified_locations
from hypercolumns.extract.features import run_features
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE
from hypercolumns.extract.shards import open_shard
from hypercolumns.extract.targets import IGNORE, figure_ground_target, part_targets

PART_CLASSES = ("person", "horse", "cow", "sheep", "cat", "dog", "bird")
"""Table 4's classes, in its column order."""


def target_name(category: str, group: str) -> str:
    """The shard label name of one part grid, ``part:<class>:<group>``."""
    return f"part:{category}:{group}"


PART_TARGETS = tuple(target_name(c, g) for c in PART_CLASSES for g in PART_GROUPS[c])
"""Every part target, class by class in Table 4's order, groups in PART_GROUPS order."""


def part_rows_labels(mask: np.ndarray, group_masks: dict, box: np.ndarray, void=None,
                     size: int = HEATMAP_SIZE) -> dict:
    """One instance's part labels on the box grid: ``{group: int8 (size, size)}``.

    1 on the group's pixels, 0 on the rest of the instance, -1 outside it (and on void).
    """
    inside = figure_ground_target(mask, box, void, size) == 1
    return {group: np.where(inside, target, IGNORE).astype(np.int8)
            for group, target in part_targets(group_masks, box, void, size).items()}


def box_labels(instance, box: np.ndarray, void=None, size: int = HEATMAP_SIZE) -> dict:
    """Every part target's ``(size, size)`` int8 labels for a box labelled by ``instance``."""
    labels = {name: np.full((size, size), IGNORE, np.int8) for name in PART_TARGETS}
    if instance.category in PART_GROUPS:
        groups = group_part_masks(instance)
        for group, target in part_rows_labels(instance.mask, groups, box, void, size).items():
            labels[target_name(instance.category, group)] = target
    return labels


def part_class_records(records: list) -> list:
    """The records reduced to their instances of the Table 4 classes (records without any dropped)."""
    kept = []
    for record in records:
        instances = [inst for inst in record.instances if inst.category in PART_CLASSES]
        if instances:
            kept.append(replace(record, instances=instances))
    return kept


def part_box_rows(record, instance, expanded_box, rng, config) -> tuple[np.ndarray, dict]:
    """Stratified locations of one box and every part target's labels there (stage one's ``box_rows``)."""
    where = stratified_locations(rng, config.rows_per_cell, config.sample_grid)
    return where, {name: target.reshape(-1)[where]
                   for name, target in box_labels(instance, expanded_box, record.void).items()}


def run_part_features(records: list, out: Path, cnn, spec, config, boxes_per_shard: int = 64,
                      batch_size: int = 8) -> dict:
    """Write every part shard not already complete; ``config.targets`` must be PART_TARGETS.

    ``records`` are training records; only their Table 4 instances give boxes.
    Returns stage one's summary plus ``"positives": {target: rows labelled 1}``.
    """
    if list(config.targets) != list(PART_TARGETS):
        raise ValueError("the feature config's targets must be PART_TARGETS")
    records = part_class_records(records)
    if not records:
        raise InputError("no training boxes: no instance of the Table 4 classes")
    summary = run_features(records, out, cnn, spec, config, boxes_per_shard, batch_size,
                           show_progress=False, box_rows=part_box_rows)
    return {**summary, "positives": count_positives([Path(p) for p in summary["paths"]])}


def count_positives(shards: list) -> dict:
    """``{target: number of rows labelled 1}`` over the shards."""
    counts = dict.fromkeys(PART_TARGETS, 0)
    for path in shards:
        with open_shard(path) as f:
            for name in PART_TARGETS:
                counts[name] += int((f[f"labels/{name}"][:] == 1).sum())
    return counts
