"""``hypercolumns train-bbox-reg``: R-CNN box regression for the stage-one training boxes.

Each training box (the boxes stage one sampled, by its config) is described
by the frozen CNN and regressed onto the offsets to the ground-truth box of
the instance that labels it.  Descriptors (``--descriptor``):

- ``spatial`` (default): conv5_3 average-pooled on a 3 x 3 grid (4,608 values),
  our stand-in for R-CNN's pool5 input: it keeps where in the box the object
  lies.
- ``global``: the shards' ``global`` block (conv5_3 mean and max over the
  box), read from the shards without running the CNN.  Spatially pooled, it
  cannot tell where the object is: on the shared val images it moved the
  oracle boxes away from the ground truth (mean box IoU 0.78 -> 0.755).

The ridge penalty and whether to fit one regressor per class are chosen by
the mean IoU of the refined boxes on held-out training images (by image id).
Writes ``<out>/bbox-reg.h5`` (and caches the descriptors beside it).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hypercolumns.classifiers.bbox_regression import BoxRegressor, fit_from_shards
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
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["config_hash"]) == config.config_hash:
                return {key: stored[key] for key in stored.files}
    from hypercolumns.extract.cnn import load_cnn
    from hypercolumns.extract.features import plan_boxes

    cnn = load_cnn(config)
    jobs = plan_boxes(records, config)
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


def mean_box_iou(regressor: BoxRegressor, data: dict, rows: np.ndarray) -> float:
    """Mean IoU with the ground truth of the refined boxes ``rows`` of a training set."""
    from hypercolumns.data.boxes import box_iou

    refined = regressor.transform(data["features"][rows], data["proposals"][rows],
                                  data["categories"][rows])
    return float(np.mean([box_iou(r[None], t[None])[0, 0]
                          for r, t in zip(refined, data["truth"][rows])]))


def choose_settings(data: dict, alphas, min_iou: float, holdout: float = 0.2, seed: int = 0) -> tuple:
    """(alpha, class_specific) with the best mean refined-box IoU on held-out images."""
    from hypercolumns.classifiers.selection import choose, heldout_images

    held = heldout_images(data["image_ids"], holdout, seed)
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    baseline = float(np.mean(data["ious"][test]))
    scores = {}
    for alpha in alphas:
        for class_specific in (False, True):
            regressor = BoxRegressor(alpha=alpha, min_iou=min_iou, class_specific=class_specific)
            regressor.fit(data["features"][train], data["proposals"][train], data["truth"][train],
                          data["categories"][train], data["ious"][train])
            scores[(alpha, class_specific)] = mean_box_iou(regressor, data, test)
            print(f"  alpha {alpha:g}, {'per class' if class_specific else 'agnostic'}: held-out "
                  f"box IoU {baseline:.3f} -> {scores[(alpha, class_specific)]:.3f}")
    selection = choose("box regression penalty and class-specificity", scores, data["image_ids"][test],
                       criterion="mean refined-box IoU", selected_on=f"training images, {holdout:.0%} held out by image")
    print(f"  {selection.line()}")
    return selection.chosen


def fit_spatial(records, config: FeatureConfig, alphas, min_iou: float, cache: Path) -> BoxRegressor:
    """Fit on spatial descriptors, alpha and class-specificity chosen on held-out images."""
    data = spatial_training_set(records, config, cache)
    alpha, class_specific = choose_settings(data, alphas, min_iou)
    print(f"chosen: alpha {alpha:g}, {'per class' if class_specific else 'agnostic'}")
    return BoxRegressor(alpha=alpha, min_iou=min_iou, class_specific=class_specific).fit(
        data["features"], data["proposals"], data["truth"], data["categories"], data["ious"],
        feature_config=config, feature_block=SPATIAL_BLOCK)


def train_box_regressor(data_root: Path, shards: Path, out: Path, descriptor: str = "spatial",
                        alphas=DEFAULT_ALPHAS, min_iou: float = 0.6) -> Path:
    """Fit the box regressor on stage one's training boxes and write ``out/bbox-reg.h5``.

    ``alphas``: the ridge penalties the spatial descriptor chooses from on
    held-out images (the global descriptor takes the first); prints what it fitted.
    """
    from hypercolumns.data.datasets import load_training_records

    if not alphas or any(not alpha > 0 for alpha in alphas):
        raise InputError(f"--alpha values must be > 0, got {list(alphas)}")
    if not 0 <= min_iou <= 1:
        raise InputError(f"--min-iou must be in [0, 1], got {min_iou}")
    start = time.perf_counter()
    out = Path(out)
    records = load_training_records(data_root)
    shard_paths = list_shards(shards)
    if descriptor == "global":
        regressor = fit_from_shards(shard_paths, ground_truth_boxes(records), alpha=alphas[0],
                                    min_iou=min_iou)
    else:
        out.mkdir(parents=True, exist_ok=True)
        regressor = fit_spatial(records, shards_config(shard_paths), alphas, min_iou,
                                out / "bbox-descriptors.npz")
    out.mkdir(parents=True, exist_ok=True)
    path = regressor.save(out / "bbox-reg.h5")
    sizes = ", ".join(f"{c} {n}" for c, n in sorted(regressor.n_boxes_.items(), key=lambda x: -x[1])[:6])
    print(f"box regression ({descriptor} descriptor, {regressor.n_features_in_} values): "
          f"{len(regressor.categories_)} regressors ({sizes}, ...), {time.perf_counter() - start:.1f} s")
    print(f"wrote {path}")
    return path
