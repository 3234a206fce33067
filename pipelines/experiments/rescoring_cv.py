"""Table 2 under the selection protocol: region rescoring's settings chosen on the training pools.

Rescoring (:mod:`hypercolumns.classifiers.rescoring`) has free settings of
ours: the SVM's C, per-class or class-agnostic SVMs, and whether the
combiner adds the detector's score to the margin (:data:`CANDIDATES`).  They
are chosen by cross-validation over the training images' pools, split by
image, never on the val images:

- every training image's pool is segmented by grids that never saw the
  image (the folds of :func:`~.nested_cv.train_nested_grids`, the same grids
  as ``eval-sds``'s), so the regions a rescorer trains on look like those it
  scores on unseen images;
- ``nested-cv``: each outer fold is reported, rescored by SVMs trained on the
  regions of its training images, as segmented by the inner grids (trained
  without the outer fold); the settings of those SVMs are chosen by the 2
  inner folds (fit on one, rescore the other).  Nothing of an outer fold
  reaches its grids, its SVMs or its choice;
- val's rescorer is trained on the outer folds' regions, with the settings
  their 3-fold cross-validation chooses (the ``plain`` protocol does only this).
  In that choice, the regions a candidate is fitted on were segmented by outer
  grids that saw the fold it is scored on; only the training images are
  involved, and val reaches none of it.

The projection is ``eval-sds``'s choice (:func:`chosen_projections`): each
outer fold's regions, and those of the inner grids that train its rescorer,
take the projection its inner folds chose; the val images take the one the
pooled outer folds chose.  ``eval-sds`` chooses on oracle boxes of the same
folds' images, so no image of an outer fold reaches its projection either.
Val's rescorer is trained on the outer folds' regions as each fold's choice
projected them; where a fold's choice differs from val's, its regions differ
from val's in projection (the choices coincide today: none everywhere).

Criterion: :data:`~.nested_cv.CRITERION` of the rescored regions after
region NMS, pooled over the held-out folds.  One CNN pass segments a
training image's pool with all the grids that hold it out; the box crop's
descriptor is computed once for all their masks
(:func:`~hypercolumns.pipelines.system2.region_descriptor.region_descriptor_sets`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hypercolumns.classifiers.rescoring import COMBINERS, RegionRescorer
from hypercolumns.classifiers.selection import Selection, choose
from hypercolumns.data.boxes import xywh_to_xyxy
from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.files import read_json, write_json_atomic
from hypercolumns.data.images import read_image
from hypercolumns.data.masks import decode_rle
from hypercolumns.eval.masks import rle_iou
from hypercolumns.pipelines.experiments.nested_cv import (CRITERION, NestedGrids, criterion_of, score_covered,
                                                         segment_folds, system_name)
from hypercolumns.pipelines.experiments.runner import _slug
from hypercolumns.pipelines.system2.region_descriptor import region_descriptor_sets, region_feature_config
from hypercolumns.pipelines.system2.region_nms import region_nms

SVM_SETTINGS = [(1e-3, True), (1e-4, True), (1e-2, True), (1e-3, False), (1e-4, False), (1e-2, False)]
"""(C, per-class) of the SVMs; R-CNN's C = 1e-3 with per-class SVMs first (a tie goes to it)."""

CANDIDATES = {f"C {C:g}, {'per class' if per_class else 'agnostic'}, {combiner}": (C, per_class, combiner)
              for C, per_class in SVM_SETTINGS for combiner in COMBINERS}
"""The rescoring settings chosen among: name -> (C, class_specific, combiner)."""

COMPANION = "Only global"


@dataclass
class Regions:
    """Scored regions of some images: COCO results (``segmentation``, the detection's ``score``),
    with their region descriptors ``(n, 2D)`` (None for a grid whose regions are not rescored)
    and each mask's best IoU ``(n,)`` with an instance of its class."""

    results: list
    descriptors: np.ndarray | None
    ious: np.ndarray

    @staticmethod
    def joined(parts: list) -> "Regions":
        return Regions([r for p in parts for r in p.results],
                       None if parts[0].descriptors is None else np.concatenate([p.descriptors for p in parts]),
                       np.concatenate([p.ious for p in parts]))

    @property
    def categories(self) -> list:
        return [r["category_id"] for r in self.results]

    @property
    def scores(self) -> np.ndarray:
        return np.array([r["score"] for r in self.results], np.float64)


def rescore(results: list, scores: np.ndarray, threshold: float = 0.3) -> list:
    """Results with new scores, after region NMS per image and class."""
    groups: dict = {}
    for index, result in enumerate(results):
        groups.setdefault((result["image_id"], result["category_id"]), []).append(index)
    kept = []
    for indices in groups.values():
        rles = [results[i]["segmentation"] for i in indices]
        for j in region_nms(rles, scores[indices], threshold):
            kept.append({**results[indices[j]], "score": float(scores[indices[j]])})
    return kept


def best_ious(coco: dict, results: list) -> np.ndarray:
    """Each region's mask IoU with the best ground-truth instance of its class in its image."""
    by_key: dict = {}
    for annotation in coco["annotations"]:
        by_key.setdefault((annotation["image_id"], annotation["category_id"]), []).append(
            annotation["segmentation"])
    return np.array([rle_iou([r["segmentation"]], by_key[(r["image_id"], r["category_id"])]).max()
                     if (r["image_id"], r["category_id"]) in by_key else 0.0 for r in results])


def fit_rescorer(regions: Regions, C: float, class_specific: bool, combiner: str,
                 feature_config: dict | None = None) -> RegionRescorer:
    """SVMs on ``regions`` and the combiner on their cross-fitted margins (2 folds by image)."""
    rescorer = RegionRescorer(C=C, class_specific=class_specific, combiner=combiner)
    rescorer.fit(regions.descriptors, regions.categories, regions.ious, feature_config=feature_config)
    return rescorer.fit_combiner(regions.descriptors, regions.categories, regions.ious, regions.scores,
                                 groups=[r["image_id"] for r in regions.results])


def rescored_by_candidates(train: Regions, test: Regions) -> dict:
    """``{candidate: test's results rescored and region-NMSed}`` for every :data:`CANDIDATES`, each
    rescorer fitted on ``train`` (the two combiners share their SVMs)."""
    rescored = {}
    for C, per_class in SVM_SETTINGS:
        fitted = fit_rescorer(train, C, per_class, COMBINERS[0])
        margins = fitted.decision_function(test.descriptors, test.categories)
        for name, (c, p, combiner) in CANDIDATES.items():
            if (c, p) == (C, per_class):
                probabilities = fitted.with_combiner(combiner).combine(test.scores, margins)
                rescored[name] = rescore(test.results, probabilities)
    return rescored


def choose_rescoring(folds: list, coco: dict, annotations_path, work: Path, selected_on: str,
                     dataset_ids) -> tuple:
    """The candidate with the best pooled :data:`CRITERION` when each of ``folds`` (:class:`Regions`
    of disjoint images) is rescored by SVMs fitted on the others, scored on the images
    ``dataset_ids`` (the folds' images: an image without regions still counts its instances);
    returns the :class:`~hypercolumns.classifiers.selection.Selection` and every candidate's
    pooled results."""
    pooled: dict = {name: [] for name in CANDIDATES}
    for index, test in enumerate(folds):
        train = Regions.joined([f for j, f in enumerate(folds) if j != index])
        for name, results in rescored_by_candidates(train, test).items():
            pooled[name] += results
    wanted = {str(i) for i in dataset_ids}
    images = [image["id"] for image in coco["images"] if str(image["dataset_image_id"]) in wanted]
    scores = {name: criterion_of([score_covered(results, annotations_path, Path(work) / f"{_slug(name)}.json",
                                                images=images)]) for name, results in pooled.items()}
    dataset_ids = [coco["images"][i - 1]["dataset_image_id"] for i in images]
    selection = choose("rescoring", scores, dataset_ids, criterion=CRITERION, selected_on=selected_on)
    return selection, pooled


def chosen_projections(summary: Path, folds: list) -> tuple[dict, str]:
    """``({outer fold: projection}, projection for val)``: what ``eval-sds``'s cross-validation
    chose, read from its ``summary.json``.  Each outer fold with inner folds (nested-cv) takes its
    inner folds' choice; without inner folds (plain) every fold takes val's, as its grids then
    segment the regions val's rescorer is trained on."""
    require_file(summary, "eval-sds summary", "run `make eval-sds` first: it chooses the projection per fold")
    selection = read_json(summary).get("cross_validation", {}).get("selection")
    if not isinstance(selection, dict) or "chosen" not in selection.get("for_val", {}):
        raise InputError(f"{summary}: no cross_validation.selection.for_val (eval-sds was run with --protocol "
                         "fixed?); rerun `make eval-sds`")
    for_val = selection["for_val"]["chosen"]
    if not any(f.inner for f in folds):
        return {f.outer: for_val for f in folds}, for_val
    per_fold = selection.get("per_outer_fold", {})
    if sorted(per_fold) != sorted(str(f.outer) for f in folds):
        raise InputError(f"{summary}: cross_validation.selection.per_outer_fold has choices for outer folds "
                         f"{sorted(per_fold)}, these folds are {[f.outer for f in folds]}; rerun `make eval-sds` "
                         "with the same folds")
    for f in folds:   # the folds eval-sds chose on must be these: the same images outside each outer fold
        chosen_on = per_fold[str(f.outer)].get("images")
        if chosen_on != len(f.training):
            raise InputError(f"{summary}: outer fold {f.outer}'s projection was chosen on {chosen_on} images, "
                             f"but this fold has {len(f.training)} training images; rerun `make eval-sds`")
    return {f.outer: per_fold[str(f.outer)]["chosen"] for f in folds}, for_val


def fold_regions(grids: NestedGrids, companions: dict, records: list, coco: dict, pool: list, data_root,
                 engines, projection, cache: Path) -> dict:
    """``{grid label: Regions}``: each training image's pool segmented (detection scores kept) by
    every grid that holds it out, with region descriptors of the Hyp grids' masks; cached in
    ``cache`` (JSON + NPZ) for the same grids, projections, images and pool.

    ``projection``: one name for every grid, or ``{outer fold: name}`` (:func:`chosen_projections`),
    which the outer grid, its inner grids and its companions take."""
    cnn = engines.grid(next(iter(grids.models.values()))).cnn
    labels = list(grids.models) + [(name, o) for name, paths in companions.items() for o in paths]
    paths = {**grids.models, **{(name, o): p for name, ps in companions.items() for o, p in ps.items()}}
    taken = {label: projection if isinstance(projection, str) else projection[label[1]] for label in labels}
    distinct = tuple(dict.fromkeys(taken.values()))
    key = {"grids": {system_name(label, ""): [str(paths[label]), Path(paths[label]).stat().st_mtime]
                     for label in labels},
           # one name when all grids share it: the key of a cache written before per-fold projections
           "projection": distinct[0] if len(distinct) == 1 else {system_name(label, ""): p for label, p in taken.items()},
           "descriptor_config_hash": region_feature_config(cnn)["config_hash"],
           "images": [image["dataset_image_id"] for image in coco["images"]],
           "pool": hashlib.sha256(json.dumps(pool, sort_keys=True).encode()).hexdigest()}
    stored = _read_cache(cache, key, labels)
    if stored is not None:
        return stored
    segmented = segment_folds(grids, records, coco, pool, data_root, engines, distinct, score="detection",
                              companions=companions)
    results = {label: segmented[(label, taken[label])] for label in labels}
    described = describe_regions(cnn, coco, data_root, {label: results[label] for label in grids.models})
    regions = {}
    for label in labels:
        covered = [i for i, r in enumerate(results[label]) if r is not None]
        mine = [results[label][i] for i in covered]
        descriptors = None   # the companions' regions are not rescored
        if label in grids.models:
            descriptors = described[label][covered]
        regions[label] = Regions(mine, descriptors, best_ious(coco, mine))
    _write_cache(cache, key, regions)
    return regions


def describe_regions(cnn, coco: dict, data_root, results: dict) -> dict:
    """``{label: (n_pool, 2D)}`` region descriptors of each label's masks (zeros where not covered, so
    a label that covers no box has rows of the right width); ``results``: ``{label: results list}``,
    every label's list over the same boxes (None: not covered)."""
    count = len(next(iter(results.values())))
    described = {label: np.zeros((count, region_feature_config(cnn)["feature_dim"]), np.float32)
                 for label in results}
    by_image: dict = {}
    for label, entries in results.items():
        for index, entry in enumerate(entries):
            if entry is not None:
                by_image.setdefault(entry["image_id"], {}).setdefault(label, []).append(index)
    for image_id, by_label in tqdm(sorted(by_image.items()), desc="region descriptors", unit="image",
                                   leave=False):
        image = read_image(Path(data_root) / coco["images"][image_id - 1]["file_name"])
        indices = next(iter(by_label.values()))
        if any(other != indices for other in by_label.values()):
            raise RuntimeError(f"image {image_id}: its grids segmented different pool boxes")
        boxes = xywh_to_xyxy([results[next(iter(by_label))][i]["bbox"] for i in indices])
        mask_sets = [np.stack([decode_rle(results[label][i]["segmentation"]).astype(bool) for i in indices])
                     for label in by_label]
        for label, rows in zip(by_label, region_descriptor_sets(cnn, image, boxes, mask_sets)):
            described[label][indices] = rows
    return described


def _read_cache(cache: Path, key: dict, labels: list) -> dict | None:
    meta, arrays = cache.with_suffix(".json"), cache.with_suffix(".npz")
    if not (meta.is_file() and arrays.is_file()):
        return None
    stored = read_json(meta)
    if stored["key"] != json.loads(json.dumps(key)):
        return None
    with np.load(arrays) as data:
        if "key" not in data or str(data["key"]) != _key_hash(key):   # the two files of one write, not of two
            return None
        return {label: Regions(stored["results"][system_name(label, "")],
                               data[f"descriptors {system_name(label, '')}"]
                               if f"descriptors {system_name(label, '')}" in data else None,
                               data[f"ious {system_name(label, '')}"]) for label in labels}


def _write_cache(cache: Path, key: dict, regions: dict) -> None:
    arrays = {}
    for label, r in regions.items():
        arrays[f"ious {system_name(label, '')}"] = r.ious
        if r.descriptors is not None:
            arrays[f"descriptors {system_name(label, '')}"] = r.descriptors
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, key=np.array(_key_hash(key)), **arrays)
    tmp.replace(cache.with_suffix(".npz"))
    write_json_atomic({"key": key, "results": {system_name(label, ""): r.results for label, r in regions.items()}},
                      cache.with_suffix(".json"))


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass
class RescoringReport:
    """What :func:`nested_rescoring` gives: ``outer``: ``{row: pooled results of the outer folds}``
    (nested-cv only); ``choices``: the inner Selection per outer fold; ``for_val``: the Selection of
    the outer folds pooled, ``for_val_results``: its candidate's rescored outer-fold results, and
    ``training``: the outer folds' Hyp regions, which val's rescorer is trained on."""

    outer: dict
    choices: dict
    for_val: Selection
    for_val_results: list
    training: Regions


def nested_rescoring(grids: NestedGrids, regions: dict, coco: dict, annotations_path, work: Path) -> RescoringReport:
    """The rows of the outer folds (with inner folds) and the choice for val, from :func:`fold_regions`."""
    work = Path(work)
    outer = {("outer", f.outer): regions[("outer", f.outer)] for f in grids.folds}
    rows, choices = {}, {}
    if grids.inner:
        rescored = []
        for f in grids.folds:
            inner = [regions[("inner", f.outer, j)] for j in range(grids.inner)]
            choices[f.outer], _ = choose_rescoring(
                inner, coco, annotations_path, work / "inner" / f"fold-{f.outer}",
                f"training images outside outer fold {f.outer}, {grids.inner}-fold by image", f.training)
            C, per_class, combiner = CANDIDATES[choices[f.outer].chosen]
            fitted = fit_rescorer(Regions.joined(inner), C, per_class, combiner)
            test = outer[("outer", f.outer)]
            rescored += rescore(test.results, fitted.score(test.descriptors, test.categories, test.scores))
        rows = {COMPANION: [r for f in grids.folds for r in regions[(COMPANION, f.outer)].results],
                "Hyp": [r for part in outer.values() for r in part.results], "Hyp + rescoring": rescored}
    for_val, pooled = choose_rescoring(list(outer.values()), coco, annotations_path, work / "outer",
                                       f"training images' pools, {len(grids.folds)}-fold by image",
                                       [i for f in grids.folds for i in f.reported])
    return RescoringReport(rows, choices, for_val, pooled[for_val.chosen], Regions.joined(list(outer.values())))


