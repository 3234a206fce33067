"""``hypercolumns train-bbox-reg``: R-CNN box regression for the stage-one training boxes.

Each training box (the boxes stage one sampled, by its config) is described
by the frozen CNN and regressed onto the offsets to the ground-truth box of
the instance that labels it.  Descriptors (``--descriptor``; ``auto``, the
default, chooses between them on held-out training images, below):

- ``spatial`` (default): conv5_3 average-pooled on a 3 x 3 grid (4,608 values),
  our stand-in for R-CNN's pool5 input: it keeps where in the box the object
  lies.
- ``global``: the shards' ``global`` block (conv5_3 mean and max over the
  box), read from the shards without running the CNN.  Spatially pooled, it
  cannot tell where the object is.

The descriptor, the ridge penalty and whether to fit one regressor per class
are chosen together by the mean IoU of the refined boxes on held-out
training images (20 %, by image id; :mod:`~hypercolumns.classifiers.selection`).
Writes ``<out>/bbox-reg.h5`` (and caches the descriptors beside it).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hypercolumns.classifiers.bbox_regression import BoxRegressor
from hypercolumns.data.errors import InputError
from hypercolumns.extract.box_descriptor import SPATIAL_BLOCK, box_descriptors
from hypercolumns.extract.config import FeatureConfig
from hypercolumns.extract.shards import list_shards, shards_config

DEFAULT_ALPHAS = (1e3, 1e4, 1e5, 1e6)


def ground_truth_boxes(records) -> dict:
    """``{(image_id, instance index): box}`` of every instance."""
    return {(record.image_id, index): instance.box
            for record in records for index, instance in enumerate(record.instances)}


def spatial_training_set(records, config: FeatureConfig, cache: Path) -> dict:
    """Spatial descriptors of stage one's training boxes with their targets (cached in ``cache``)."""
    from hypercolumns.extract.cnn import load_cnn
    from hypercolumns.extract.features import plan_boxes

    # a mirrored crop is the same box seen mirrored: its box, like the shards' global descriptors, is
    # described once (from the unmirrored crop), so both descriptors' training sets hold the same boxes
    jobs = [job for job in plan_boxes(records, config) if not job.flipped]
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            # the box count too: a cache made before mirrored crops were left out holds them twice
            if str(stored["config_hash"]) == config.config_hash and len(stored["proposals"]) == len(jobs):
                return {key: stored[key] for key in stored.files}
    cnn = load_cnn(config)
    by_image: dict = {}
    for job in jobs:
        by_image.setdefault(job.record, []).append(job)
    features, proposals, truth, categories, ious = [], [], [], [], []
    with torch.no_grad():
        for record_index, image_jobs in tqdm(by_image.items(), desc="descriptors", unit="image"):
            record = records[record_index]
            boxes = np.stack([job.box for job in image_jobs])
            features.append(box_descriptors(cnn, record.load_image(), boxes, SPATIAL_BLOCK))
            proposals.append(boxes)
            truth += [record.instances[job.instance].box for job in image_jobs]
            categories += [record.instances[job.instance].category for job in image_jobs]
            ious += [job.iou for job in image_jobs]
    data = {"features": np.concatenate(features), "proposals": np.concatenate(proposals),
            "truth": np.stack(truth), "categories": np.array(categories), "ious": np.array(ious),
            "image_ids": np.array([records[job.record].image_id for jobs_ in by_image.values()
                                   for job in jobs_]),
            "config_hash": np.array(config.config_hash)}
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(cache)
    return data


def global_training_set(records, shard_paths) -> dict:
    """Stage one's training boxes with the shards' ``global`` block as their descriptor (no CNN run),
    in :func:`spatial_training_set`'s format: the same boxes, in the shards' order."""
    from hypercolumns.extract.box_descriptor import read_box_descriptors

    shards = read_box_descriptors(shard_paths, "global")
    truth = ground_truth_boxes(records)
    keys = [(i, int(k)) for i, k in zip(shards["image_id"], shards["instance"])]
    missing = [key for key in keys if key not in truth]
    if missing:
        raise InputError(f"{shard_paths[0]} and its siblings hold {len(missing)} boxes of instances the "
                         f"annotations do not have (e.g. image {missing[0][0]}, instance {missing[0][1]}): "
                         "shards of another data set or --data-root")
    return {"features": shards["features"].astype(np.float64), "proposals": shards["box"],
            "truth": np.stack([truth[key] for key in keys]).astype(np.float64),
            "categories": np.asarray(shards["category"]).astype(str), "ious": shards["iou"],
            "image_ids": np.asarray(shards["image_id"]).astype(str)}


def without_images(data: dict, image_ids) -> dict:
    """A training set (:func:`spatial_training_set`'s format) without the boxes of ``image_ids``."""
    excluded = {str(i) for i in image_ids}
    if not excluded:
        return data
    keep = ~np.isin(np.asarray(data["image_ids"]).astype(str), sorted(excluded))
    return {key: value[keep] if key != "config_hash" else value for key, value in data.items()}


def mean_box_iou(regressor: BoxRegressor, data: dict, rows: np.ndarray) -> float:
    """Mean IoU with the ground truth of the refined boxes ``rows`` of a training set."""
    from hypercolumns.data.boxes import box_iou

    refined = regressor.transform(data["features"][rows], data["proposals"][rows],
                                  data["categories"][rows])
    return float(np.mean([box_iou(r[None], t[None])[0, 0]
                          for r, t in zip(refined, data["truth"][rows])]))


def _check_same_boxes(datasets: dict) -> None:
    """The descriptors' training sets describe the same boxes (in any order), so that their held-out
    IoUs compare; InputError otherwise."""
    def boxes(data):   # sorted by image, then corners; the shards store boxes as float32
        ids, corners = np.asarray(data["image_ids"]).astype(str), np.asarray(data["proposals"], np.float64)
        order = np.lexsort([*corners.T[::-1], ids])
        return ids[order], corners[order]

    names = list(datasets)
    first_ids, first_corners = boxes(datasets[names[0]])
    for name in names[1:]:
        ids, corners = boxes(datasets[name])
        if ids.shape != first_ids.shape or (ids != first_ids).any() or not np.allclose(corners, first_corners,
                                                                                      atol=0.05):
            raise InputError(f"the {name} and {names[0]} descriptors' training boxes differ: the shards and "
                             "the spatial descriptor cache (bbox-descriptors.npz) come from different stage-one "
                             "runs; delete the cache")


DESCRIPTORS = ("spatial", "global")
BLOCKS = {"spatial": SPATIAL_BLOCK, "global": "global"}


def choose_settings(datasets: dict, alphas, min_iou: float, holdout: float = 0.2, seed: int = 0) -> tuple:
    """(descriptor, alpha, class_specific) with the best mean refined-box IoU on held-out images.

    ``datasets``: ``{descriptor: training set}`` of the same boxes (:func:`spatial_training_set`,
    :func:`global_training_set`); the held-out images are the same for every descriptor.
    """
    from hypercolumns.classifiers.selection import choose, heldout_images

    _check_same_boxes(datasets)
    scores = {}
    for descriptor, data in datasets.items():
        held = heldout_images(data["image_ids"], holdout, seed)     # by image id: the same images
        train, test = np.flatnonzero(~held), np.flatnonzero(held)
        baseline = float(np.mean(data["ious"][test]))
        for alpha in alphas:
            for class_specific in (False, True):
                regressor = BoxRegressor(alpha=alpha, min_iou=min_iou, class_specific=class_specific)
                regressor.fit(data["features"][train], data["proposals"][train], data["truth"][train],
                              data["categories"][train], data["ious"][train])
                key = (descriptor, alpha, class_specific)
                scores[key] = mean_box_iou(regressor, data, test)
                print(f"  {descriptor}, alpha {alpha:g}, {'per class' if class_specific else 'agnostic'}: "
                      f"held-out box IoU {baseline:.3f} -> {scores[key]:.3f}")
    selection = choose("box regression descriptor, penalty and class-specificity", scores, data["image_ids"][test],
                       criterion="mean refined-box IoU", selected_on=f"training images, {holdout:.0%} held out by image")
    print(f"  {selection.line()}")
    return selection.chosen


def train_box_regressor(data_root: Path, shards: Path, out: Path, descriptor: str = "auto",
                        alphas=DEFAULT_ALPHAS, min_iou: float = 0.6, exclude_images=(),
                        descriptor_cache: Path | None = None) -> Path:
    """Fit the box regressor on stage one's training boxes and write ``out/bbox-reg.h5``.

    ``descriptor``: ``auto`` (chosen with the penalty on held-out training images), ``spatial``
    or ``global``; ``alphas``: the ridge penalties chosen from; prints what it fitted.
    ``exclude_images``: image ids whose boxes neither train nor choose (a cross-validation fold's);
    ``descriptor_cache``: the spatial descriptors' cache (default ``out/bbox-descriptors.npz``),
    which holds every training box whatever is excluded.
    """
    from hypercolumns.data.datasets import load_training_records

    if not alphas or any(not alpha > 0 for alpha in alphas):
        raise InputError(f"--alpha values must be > 0, got {list(alphas)}")
    if not 0 <= min_iou <= 1:
        raise InputError(f"--min-iou must be in [0, 1], got {min_iou}")
    start = time.perf_counter()
    out = Path(out)
    records = load_training_records(data_root)
    if descriptor not in ("auto",) + DESCRIPTORS:
        raise InputError(f"--descriptor must be auto, spatial or global, got {descriptor!r}")
    shard_paths = list_shards(shards)
    config = shards_config(shard_paths)
    out.mkdir(parents=True, exist_ok=True)
    wanted = DESCRIPTORS if descriptor == "auto" else (descriptor,)
    datasets = {}     # the same boxes, the same held-out images, for each descriptor
    if "spatial" in wanted:
        datasets["spatial"] = spatial_training_set(records, config, Path(descriptor_cache or
                                                                         out / "bbox-descriptors.npz"))
    if "global" in wanted:
        datasets["global"] = global_training_set(records, shard_paths)
    datasets = {name: without_images(data, exclude_images) for name, data in datasets.items()}
    descriptor, alpha, class_specific = choose_settings(datasets, alphas, min_iou)
    print(f"chosen: {descriptor} descriptor, alpha {alpha:g}, {'per class' if class_specific else 'agnostic'}")
    data = datasets[descriptor]
    regressor = BoxRegressor(alpha=alpha, min_iou=min_iou, class_specific=class_specific).fit(
        data["features"], data["proposals"], data["truth"], data["categories"], data["ious"],
        feature_config=config, feature_block=BLOCKS[descriptor])
    path = regressor.save(out / "bbox-reg.h5")
    sizes = ", ".join(f"{c} {n}" for c, n in sorted(regressor.n_boxes_.items(), key=lambda x: -x[1])[:6])
    print(f"box regression ({descriptor} descriptor, {regressor.n_features_in_} values): "
          f"{len(regressor.categories_)} regressors ({sizes}, ...), {time.perf_counter() - start:.1f} s")
    print(f"wrote {path}")
    return path
