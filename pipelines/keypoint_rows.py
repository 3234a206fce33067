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
import torch

from hypercolumns.data.keypoint_names import PAPER_KEYPOINTS
from hypercolumns.extract.box_sampling import image_rng, stratified_locations
from hypercolumns.extract.features import ImageCache, plan_boxes
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, sample_hypercolumns
from hypercolumns.extract.shards import (boxes_hash, check_shard, check_shard_boxes, shard_path,
                                         write_shard)
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


def box_rows(instance, expanded_box: np.ndarray, rng: np.random.Generator, config: dict,
             keypoints=PAPER_KEYPOINTS) -> tuple[np.ndarray, dict]:
    """Locations and labels of one box.

    Returns
    -------
    locations : ndarray of shape (L,), int64
        The stratified locations, then the positive cells not already among them.
    labels : dict of target name to ndarray (L,) int8
        1 / 0 / -1 of each keypoint's target at those locations.
    """
    locations = stratified_locations(rng, config["rows_per_cell"], config["sample_grid"], HEATMAP_SIZE)
    maps = {target_name(name): keypoint_target(instance.keypoints.get(name), expanded_box)
            for name in keypoints}
    positives = [int(i) for m in maps.values() for i in np.flatnonzero(m.reshape(-1) == 1)]
    extra = [p for p in dict.fromkeys(positives) if p not in set(locations.tolist())]
    locations = np.concatenate([locations, np.asarray(extra, np.int64)])
    return locations, {target: m.reshape(-1)[locations].astype(np.int8) for target, m in maps.items()}


def extract_keypoint_shard(jobs, records, cnn, spec, config: dict, images: ImageCache,
                           batch_size: int = 8) -> tuple[dict, dict]:
    """Rows and box table of one shard of keypoint boxes."""
    layers = spec.network_layers(cnn.name)
    features, locations, box_index, expanded = [], [], [], []
    labels = {target: [] for target in config["targets"]}
    for start in range(0, len(jobs), batch_size):
        batch = jobs[start:start + batch_size]
        boxes_expanded = cnn.expand(np.stack([job.box for job in batch]))
        crops = torch.cat([cnn.crops(images.get(job.record), box[None])
                           for job, box in zip(batch, boxes_expanded)])
        outputs = cnn.forward(crops, layers)
        for offset, (job, box) in enumerate(zip(batch, boxes_expanded)):
            record = records[job.record]
            rng = image_rng(config["seed"], f"{record.image_id}:{job.box.tobytes().hex()}")
            where, box_labels = box_rows(record.instances[job.instance], box, rng, config)
            one = {name: tensor[offset:offset + 1] for name, tensor in outputs.items()}
            rows = sample_hypercolumns(one, spec, cnn.name, torch.from_numpy(where)[None].to(cnn.device))
            features.append(rows[0].to(torch.float16).cpu().numpy())
            locations.append(where)
            box_index.append(np.full(len(where), start + offset, np.int32))
            for target in labels:
                labels[target].append(box_labels[target])
        expanded.append(boxes_expanded)
    rows = {"features": np.concatenate(features), "location": np.concatenate(locations),
            "box_index": np.concatenate(box_index),
            "labels": {target: np.concatenate(values) for target, values in labels.items()}}
    boxes = {
        "image_id": [records[j.record].image_id for j in jobs],
        "dataset": [getattr(records[j.record], "dataset", "") or "" for j in jobs],
        "category": [records[j.record].instances[j.instance].category for j in jobs],
        "box": np.stack([j.box for j in jobs]), "expanded_box": np.concatenate(expanded),
        "instance": [j.instance for j in jobs], "iou": [j.iou for j in jobs],
    }
    return rows, boxes


def run_keypoint_features(records: list, out: Path, cnn, spec, config: dict,
                          boxes_per_shard: int = 128, log=print) -> list:
    """Write the keypoint shards not already complete (checked like ``run_features``); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = keypoint_person_records(records)
    jobs = plan_boxes(records, config)
    if not jobs:
        raise ValueError("no person boxes with keypoints to train on")
    chunks = [jobs[i:i + boxes_per_shard] for i in range(0, len(jobs), boxes_per_shard)]
    images = ImageCache(records)
    paths = []
    for index, chunk in enumerate(chunks):
        path = shard_path(out, index)
        digest = boxes_hash([records[j.record].image_id for j in chunk], np.stack([j.box for j in chunk]))
        if path.is_file():
            check_shard(path, config)
            check_shard_boxes(path, digest)
        else:
            rows, boxes = extract_keypoint_shard(chunk, records, cnn, spec, config, images)
            write_shard(path, config, rows, boxes, digest)
            log(f"keypoint features: {len(chunk)} boxes, {len(rows['location'])} rows -> {path}")
        paths.append(path)
    return paths
