"""The experiments' runner: a list of systems segments a set of images, then is scored.

The pattern of detectron2's ``DatasetEvaluator``: process (``segment_systems``:
every system's results for one set of detections, through the inference
engine), then evaluate (``score_results``: the results file scored by
``eval.evaluate_coco``); ``run_oracle_evaluation`` does both for the oracle
boxes of every seed. Every driver (Table 1, Table 2, eval-sds, compare-shared,
cross-validation) is built on it.

The CNN runs once per box and set of weights; every model's grid made from
those weights reads the same maps (a fine-tuned model brings its own CNN),
and every superpixel setting projects the same heatmaps.  Systems with a box
regressor segment the refined boxes.  Results are written as
COCO results JSON per (system, seed) and scored with ``eval.evaluate_coco``,
exactly what ``hypercolumns segment`` + ``hypercolumns evaluate`` do on files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.boxes import boxes_to_masks, xyxy_to_xywh
from hypercolumns.data.files import write_json_atomic
from hypercolumns.data.masks import decode_rle, encode_rle
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.eval.masks import mask_iou
from hypercolumns.pipelines.experiments.oracle import coco_annotations, ground_truth_detections, oracle_detections
from hypercolumns.pipelines.inference.engine import Engine, images_of_detections
from hypercolumns.pipelines.inference.segment import mask_scores
from hypercolumns.pipelines.inference.superpixels import SuperpixelCache, SuperpixelSettings


@dataclass
class System:
    """One row of a results table.

    ``model_path`` None is the whole-box baseline; ``box_regressor`` (a
    ``train-bbox-reg`` file) refines each box before it is segmented.
    """

    name: str
    model_path: Path | None
    superpixels: SuperpixelSettings = SuperpixelSettings()
    box_regressor: Path | None = None


@dataclass
class Engines:
    """What the systems need, loaded once: the inference engine with its grids, and box regressors."""

    engine: Engine
    regressors: dict      # regressor path -> (BoxRegressor, the CNN of its features)

    def grid(self, model_path):
        return self.engine.grid(model_path)

    def box_regressor(self, path) -> tuple:
        """``(BoxRegressor, the CNN of its features)`` of a ``train-bbox-reg`` file, loaded once."""
        if path not in self.regressors:
            from hypercolumns.classifiers.bbox_regression import BoxRegressor

            regressor = BoxRegressor.load(path)
            self.regressors[path] = (regressor, self.engine.cnn(regressor.feature_config_))
        return self.regressors[path]


def load_systems(systems: list, weights_spec=None, device=None) -> Engines:
    """Grid models and box regressors with the CNN(s) whose features they read.

    Models made from the same weights share one CNN; a fine-tuned model
    brings its own.  ``weights_spec`` gives the weights of models that name
    none (default: the cached ImageNet VGG16).
    """
    engines = Engines(Engine(weights_spec, device), {})
    for system in systems:
        if system.model_path:
            engines.grid(system.model_path)
        if system.box_regressor:
            engines.box_regressor(system.box_regressor)
    return engines


def refine_boxes(engines: Engines, regressor_path, image, boxes, categories, batch_size: int = 16):
    """Boxes after box regression (clipped to the image), or the boxes themselves."""
    if regressor_path is None:
        return boxes
    from hypercolumns.extract.box_descriptor import box_descriptors

    regressor, cnn = engines.box_regressor(regressor_path)
    descriptors = box_descriptors(cnn, image, boxes, regressor.feature_block_, batch_size)
    refined = regressor.transform(descriptors, boxes, categories)
    height, width = image.shape[:2]
    refined[:, [0, 2]] = np.clip(refined[:, [0, 2]], 0, width)
    refined[:, [1, 3]] = np.clip(refined[:, [1, 3]], 0, height)
    degenerate = (refined[:, 2] - refined[:, 0] < 1) | (refined[:, 3] - refined[:, 1] < 1)
    refined[degenerate] = boxes[degenerate]   # pushed off the image: keep the detection
    return refined


def segment_systems(systems: list, records: list, coco: dict, detections: list, data_root,
                    engines: Engines, batch_size: int = 16, viz_dir=None,
                    viz_system: str | None = None, score: str = "mask") -> dict:
    """``{system name: results list}`` for one set of detections (input order kept).

    ``score="mask"`` scores each region by the mean probability inside its mask
    (oracle boxes carry no score); ``"detection"`` keeps the detection's score.

    Each distinct (box regressor, CNN) pair runs the CNN once per box, and
    every grid reading that CNN scores the same maps.  With ``viz_dir``, a
    picture per image of ``viz_system`` (default: the first system with a model).
    """
    if score not in ("mask", "detection"):
        raise ValueError(f"score must be 'mask' or 'detection', got {score!r}")
    score_by_mask = score == "mask"
    if viz_system is None:
        viz_system = next((s.name for s in systems if s.model_path is not None), None)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    # one cache per setting: systems projecting with the same superpixels cut each image once
    caches = {s.superpixels: SuperpixelCache(s.superpixels) for s in systems}
    results = {s.name: [dict(d) for d in detections] for s in systems}

    def image_file(image_id):
        return Path(data_root) / coco["images"][image_id - 1]["file_name"], None

    for image_id, image, indices, detected in images_of_detections(detections, image_file):
        file_name = coco["images"][image_id - 1]["file_name"]
        categories = [names[detections[i]["category_id"]] for i in indices]
        boxes = {key: refine_boxes(engines, key, image, detected, categories, batch_size)
                 for key in {s.box_regressor for s in systems}}
        heatmaps = _heatmaps(image, boxes, categories, systems, engines)
        for system in systems:
            system_boxes = boxes[system.box_regressor]
            if system.model_path is None:
                rles = [encode_rle(mask) for mask in boxes_to_masks(system_boxes, *image.shape[:2])]
                scores = np.ones(len(system_boxes))
            else:
                maps = heatmaps[(system.box_regressor, system.model_path)]
                expanded = engines.grid(system.model_path).cnn.expand(system_boxes)
                masks = caches[system.superpixels].masks(str(image_id), image, maps, expanded)
                scores = mask_scores(maps, expanded, masks)
                rles = [mask.rle() for mask in masks]
                if viz_dir is not None and system.name == viz_system:
                    _save_picture(image, system_boxes, maps, expanded, masks, categories, scores,
                                  Path(viz_dir) / f"{Path(file_name).stem}.png")
            for index, box, rle, region_score in zip(indices, system_boxes, rles, scores):
                result = results[system.name][index]
                result["segmentation"] = rle
                if score_by_mask:
                    result["score"] = float(region_score)
                result["bbox"] = xyxy_to_xywh(box).tolist()
    return results


def _heatmaps(image, boxes: dict, categories, systems, engines: Engines) -> dict:
    """``{(box regressor, model path): (N, 50, 50)}``: one CNN pass per (box set, CNN)."""
    paths_by_boxes: dict = {}
    for system in systems:
        if system.model_path is not None:
            paths_by_boxes.setdefault(system.box_regressor, []).append(system.model_path)
    heatmaps = {}
    for box_key, paths in paths_by_boxes.items():
        paths = list(dict.fromkeys(paths))
        grids = [engines.grid(path) for path in paths]
        maps = engines.engine.heatmaps(image, boxes[box_key], categories, grids)
        heatmaps.update({(box_key, path): m for path, m in zip(paths, maps)})
    return heatmaps


def _save_picture(image, boxes, heatmaps, expanded, masks, categories, scores, path):
    from hypercolumns.pipelines.inference.paste import paste_heatmaps
    from hypercolumns.pipelines.inference.viz import save_visualization

    pasted = paste_heatmaps(heatmaps, expanded, image.shape)
    labels = [f"{c} {s:.2f}" for c, s in zip(categories, scores)]
    save_visualization(image, boxes, pasted, np.stack([m.full() for m in masks]), labels, path)


def run_oracle_evaluation(systems: list, records: list, data_root, out, seeds=(0, 1, 2),
                          weights=None, device=None, viz: bool = True,
                          viz_system: str | None = None, engines: Engines | None = None,
                          coco: dict | None = None) -> dict:
    """Segment oracle boxes for every seed with every system; returns per-system, per-seed summaries.

    Writes ``out/val_annotations.json``, ``out/oracle_boxes_seed<s>.json`` and
    ``out/results/<system>_seed<s>.json``.  ``engines``: the systems' loaded models
    (:func:`load_systems`), ``coco``: the records' :func:`~.oracle.coco_annotations`,
    if the caller has them.
    """
    out = Path(out)
    if engines is None:   # loaded first: a bad model is refused before anything is written
        engines = load_systems(systems, weights, device)
    if coco is None:
        coco = coco_annotations(records, data_root)
    annotations_path = write_json_atomic(coco, out / "val_annotations.json")
    summaries = {s.name: {} for s in systems}
    for seed in seeds:
        detections = oracle_detections(coco, seed)
        write_json_atomic(detections, out / f"oracle_boxes_seed{seed}.json")
        viz_dir = out / "pictures" if viz and seed == seeds[0] else None
        results = segment_systems(systems, records, coco, detections, data_root, engines,
                                  viz_dir=viz_dir, viz_system=viz_system)
        for system in systems:
            summaries[system.name][seed] = score_results(results[system.name], coco, annotations_path,
                                                         out, system.name, seed)
    return summaries


def ground_truth_box_ious(systems: list, records: list, coco: dict, data_root, out, engines: Engines) -> dict:
    """``{system name: (n_annotations,) IoU}`` of each instance's mask segmented from its exact
    ground-truth box (no jitter; :func:`~.oracle.ground_truth_detections`); ``coco``: the
    records' :func:`~.oracle.coco_annotations`.

    Writes ``out/results/<system>_gt_boxes.json``.
    """
    detections = ground_truth_detections(coco)
    results = segment_systems(systems, records, coco, detections, data_root, engines)
    ious = {}
    for system in systems:
        write_json_atomic(results[system.name], Path(out) / "results" / f"{_slug(system.name)}_gt_boxes.json")
        ious[system.name] = instance_ious(coco, results[system.name])
    return ious


def score_results(results: list, coco: dict, annotations_path, out: Path, name: str, seed: int) -> dict:
    """Write ``out/results/<name>_seed<seed>.json``; its ``evaluate_coco`` summary with ``instance_iou``."""
    path = write_json_atomic(results, Path(out) / "results" / f"{_slug(name)}_seed{seed}.json")
    summary = evaluate_coco(annotations_path, path)
    summary["instance_iou"] = instance_ious(coco, results).tolist()
    return summary


def instance_ious(coco: dict, results: list) -> np.ndarray:
    """IoU of each oracle box's mask with the instance it was drawn from, ``(n_annotations,)``;
    an image's ``void`` pixels (:func:`~.oracle.coco_annotations`) are left out, as in AP^r.

    ``results`` must be in the order of ``oracle_detections`` (one per annotation).
    """
    void = {image["id"]: decode_rle(image["void"]).astype(bool) for image in coco["images"] if "void" in image}
    return np.array([mask_iou([result["segmentation"]], [annotation["segmentation"]],
                              void.get(annotation["image_id"]))[0, 0]
                     for result, annotation in zip(results, coco["annotations"], strict=True)])


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def mean_over_seeds(per_seed: dict, key: str) -> float:
    return float(np.mean([summary[key] for summary in per_seed.values()]))


def instance_iou_over_seeds(per_seed: dict) -> np.ndarray:
    """Each instance's IoU, mean over the seeds' summaries, ``(n_annotations,)``."""
    return np.mean([summary["instance_iou"] for summary in per_seed.values()], axis=0)
