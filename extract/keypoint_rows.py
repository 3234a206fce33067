"""Stage one for keypoints: hypercolumn rows of person boxes labelled ``kp:<paper name>``.

Reuses the SDS stage one (:mod:`hypercolumns.extract.features`): the same
jittered boxes around the instances (``plan_boxes``), the same crops, CNN and
sampled hypercolumns, written as the same shards.  Differences:

- Only person instances that carry at least one keypoint (already renamed to
  the paper's 13, :mod:`hypercolumns.data.keypoint_names`) get boxes; other
  instances are dropped from the records first, so every box is a person box
  whose keypoints are known.
- One target per paper keypoint, ``kp:<name>`` (e.g. ``kp:left_shoulder``),
  from :func:`hypercolumns.extract.targets.keypoint_target` on the expanded box
  (the grid the crop covers): 1 at the cell nearest the keypoint, -1 within
  0.1 x the expanded box's diagonal, 0 beyond; an unlabelled keypoint gives all
  0, an invisible one no positive.
- Rows of a box: its stratified locations (``stratified_locations``, 100 with
  one row per 5 x 5 cell) plus the positive cell of each visible keypoint
  inside the box, so that no positive is missed (a stratified draw hits a
  given cell with probability 1/25).  Each row carries all 13 labels; a row
  inside a keypoint's ignore ring is -1 for that target (``read_rows`` skips it).
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.keypoint_names import PAPER_KEYPOINTS
from hypercolumns.extract.box_sampling import stratified_locations
from hypercolumns.extract.features import run_features
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE
from hypercolumns.extract.targets import keypoint_target

TARGETS = tuple(f"kp:{name}" for name in PAPER_KEYPOINTS)


def target_name(keypoint: str) -> str:
    """``"left_shoulder"`` -> ``"kp:left_shoulder"`` (the shard label name)."""
    return f"kp:{keypoint}"


def keypoint_person_records(records: list, category: str = "person") -> list:
    """Copies of the records keeping only ``category`` instances with keypoints; records left empty are dropped."""
    kept = []
    for record in records:
        instances = [inst for inst in record.instances if inst.category == category and inst.keypoints]
        if instances:
            copied = copy.copy(record)
            copied.instances = instances
            kept.append(copied)
    return kept


def box_rows(instance, expanded_box: np.ndarray, rng: np.random.Generator, config,
             keypoints=PAPER_KEYPOINTS) -> tuple[np.ndarray, dict]:
    """Locations and labels of one box.

    Returns
    -------
    locations : ndarray of shape (L,), int64
        The stratified locations, then the positive cells not already among them.
    labels : dict of target name to ndarray (L,) int8
        1 / 0 / -1 of each keypoint's target at those locations.
    """
    locations = stratified_locations(rng, config.rows_per_cell, config.sample_grid, HEATMAP_SIZE)
    maps = {target_name(name): keypoint_target(instance.keypoints.get(name), expanded_box)
            for name in keypoints}
    positives = [int(i) for m in maps.values() for i in np.flatnonzero(m.reshape(-1) == 1)]
    extra = [p for p in dict.fromkeys(positives) if p not in set(locations.tolist())]
    locations = np.concatenate([locations, np.asarray(extra, np.int64)])
    return locations, {target: m.reshape(-1)[locations].astype(np.int8) for target, m in maps.items()}


def keypoint_box_rows(record, instance, expanded_box, rng, config) -> tuple[np.ndarray, dict]:
    """:func:`box_rows` in stage one's ``box_rows`` signature."""
    return box_rows(instance, expanded_box, rng, config)


def run_keypoint_features(records: list, out: Path, cnn, spec, config,
                          boxes_per_shard: int = 128, log=print) -> list:
    """Write the keypoint shards not already complete (stage one's ``run_features``); returns their paths."""
    records = keypoint_person_records(records)
    if not records:
        raise InputError("no person boxes with keypoints to train on")
    summary = run_features(records, out, cnn, spec, config, boxes_per_shard, batch_size=8,
                           show_progress=False, box_rows=keypoint_box_rows)
    log(f"keypoint features: {summary['boxes']} boxes, {summary['rows']} rows, "
        f"{summary['shards_written']} of {summary['shards']} shards written")
    return [Path(p) for p in summary["paths"]]
