"""Segment the oracle boxes of the val images with several models at once, and score them.

The CNN runs once per box; every model's grid then reads the same maps (all
models must share the stage-one config's network, weights and crop), and
every superpixel setting projects the same heatmaps.  Results are written as
COCO results JSON per (system, seed) and scored with ``eval.evaluate_coco``,
exactly what ``hypercolumns segment`` + ``hypercolumns evaluate`` do on files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.data.images import read_image
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.eval.masks import box_to_mask, encode_rle, rle_iou
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.weights import resolve_weights
from hypercolumns.pipelines.conv_trick import ConvTrickPredictor
from hypercolumns.pipelines.oracle import coco_annotations, oracle_detections
from hypercolumns.pipelines.segment import (check_weights_match, mask_scores, model_weights_file,
                                            write_json_atomic)
from hypercolumns.pipelines.superpixels import SuperpixelCache, SuperpixelSettings, heatmaps_to_masks


@dataclass
class System:
    """One row of a results table: a model (or None for the whole-box baseline) and a projection."""

    name: str
    model_path: Path | None
    superpixels: SuperpixelSettings = SuperpixelSettings()


def load_systems(systems: list, weights_spec=None, device=None):
    """Grid models, their predictors and one shared CNN."""
    models = {s.model_path: load_grid(s.model_path) for s in systems if s.model_path}
    if not models:
        return {}, None
    configs = [m.feature_config for m in models.values()]
    for key in ("network", "padding", "crop_size"):
        if len({c[key] for c in configs}) > 1:
            raise ValueError(f"models differ in {key}; evaluate them in separate runs")
    first_path, first_model = next(iter(models.items()))
    weights = resolve_weights(weights_spec or model_weights_file(first_model, first_path))
    for model in models.values():
        check_weights_match(model.feature_config, weights)
    cnn = FrozenCNN(weights, padding=configs[0]["padding"], device=device)
    predictors = {path: ConvTrickPredictor(model, cnn.name) for path, model in models.items()}
    return predictors, cnn


def segment_systems(systems: list, records: list, coco: dict, detections: list, data_root,
                    predictors: dict, cnn, batch_size: int = 16, viz_dir=None,
                    viz_system: str | None = None) -> dict:
    """``{system name: results list}`` for one set of detections (input order kept).

    With ``viz_dir``, a picture per image of ``viz_system`` (default: the first system with a model).
    """
    if viz_system is None:
        viz_system = next((s.name for s in systems if s.model_path is not None), None)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    layers = sorted({layer for p in predictors.values()
                     for layer in p.model.spec.network_layers(cnn.name)}) if cnn else []
    caches = {s.name: SuperpixelCache(s.superpixels) for s in systems}
    results = {s.name: [dict(d) for d in detections] for s in systems}
    by_image: dict = {}
    for index, entry in enumerate(detections):
        by_image.setdefault(entry["image_id"], []).append(index)
    for image_id, indices in tqdm(sorted(by_image.items()), desc="segment", unit="image", leave=False):
        info = coco["images"][image_id - 1]
        image = read_image(Path(data_root) / info["file_name"])
        xywh = np.array([detections[i]["bbox"] for i in indices], dtype=np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        categories = [names[detections[i]["category_id"]] for i in indices]
        heatmaps = _heatmaps(image, boxes, categories, predictors, cnn, layers, batch_size)
        for system in systems:
            if system.model_path is None:
                masks = np.stack([box_to_mask(b, *image.shape[:2]) for b in boxes])
                scores = np.ones(len(boxes))
            else:
                expanded = cnn.expand(boxes)
                labels = caches[system.name].labels(str(image_id), image)
                masks = heatmaps_to_masks(heatmaps[system.model_path], expanded, image.shape, labels)
                scores = mask_scores(heatmaps[system.model_path], expanded, masks)
            for index, mask, score in zip(indices, masks, scores):
                results[system.name][index]["segmentation"] = encode_rle(mask)
                results[system.name][index]["score"] = float(score)
            if viz_dir is not None and system.name == viz_system and system.model_path is not None:
                _save_picture(image, boxes, heatmaps[system.model_path], cnn.expand(boxes), masks,
                              categories, scores, Path(viz_dir) / f"{Path(info['file_name']).stem}.png")
    return results


def _heatmaps(image, boxes, categories, predictors, cnn, layers, batch_size) -> dict:
    if cnn is None:
        return {}
    expanded = cnn.expand(boxes)
    heatmaps = {path: [] for path in predictors}
    for start in range(0, len(boxes), batch_size):
        batch = slice(start, start + batch_size)
        outputs = cnn.forward(cnn.crops(image, expanded[batch]), layers)
        for path, predictor in predictors.items():
            heatmaps[path].append(predictor(outputs, categories[batch]).cpu().numpy())
    return {path: np.concatenate(maps) for path, maps in heatmaps.items()}


def _save_picture(image, boxes, heatmaps, expanded, masks, categories, scores, path):
    from hypercolumns.pipelines.paste import paste_heatmaps
    from hypercolumns.pipelines.viz import save_visualization

    pasted = paste_heatmaps(heatmaps, expanded, image.shape)
    labels = [f"{c} {s:.2f}" for c, s in zip(categories, scores)]
    save_visualization(image, boxes, pasted, masks, labels, path)


def run_oracle_evaluation(systems: list, records: list, data_root, out, seeds=(0, 1, 2),
                          weights=None, device=None, viz: bool = True,
                          viz_system: str | None = None) -> dict:
    """Segment oracle boxes for every seed with every system; returns per-system, per-seed summaries.

    Writes ``out/val_annotations.json``, ``out/oracle_boxes_seed<s>.json`` and
    ``out/results/<system>_seed<s>.json``.
    """
    out = Path(out)
    coco = coco_annotations(records, data_root)
    annotations_path = write_json_atomic(coco, out / "val_annotations.json")
    predictors, cnn = load_systems(systems, weights, device)
    summaries = {s.name: {} for s in systems}
    for seed in seeds:
        detections = oracle_detections(records, coco, seed)
        write_json_atomic(detections, out / f"oracle_boxes_seed{seed}.json")
        viz_dir = out / "pictures" if viz and seed == seeds[0] else None
        results = segment_systems(systems, records, coco, detections, data_root, predictors, cnn,
                                  viz_dir=viz_dir, viz_system=viz_system)
        for system in systems:
            path = write_json_atomic(results[system.name],
                                     out / "results" / f"{_slug(system.name)}_seed{seed}.json")
            summary = evaluate_coco(annotations_path, path)
            summary["instance_iou"] = instance_ious(coco, results[system.name]).tolist()
            summaries[system.name][seed] = summary
    return summaries


def instance_ious(coco: dict, results: list) -> np.ndarray:
    """IoU of each oracle box's mask with the instance it was drawn from, ``(n_annotations,)``.

    ``results`` must be in the order of ``oracle_detections`` (one per annotation).
    """
    return np.array([rle_iou([result["segmentation"]], [annotation["segmentation"]])[0, 0]
                     for result, annotation in zip(results, coco["annotations"], strict=True)])


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def mean_over_seeds(per_seed: dict, key: str) -> float:
    return float(np.mean([summary[key] for summary in per_seed.values()]))


def per_class_over_seeds(per_seed: dict, key: str = "APr@0.5") -> dict:
    """``{class: mean over seeds of that class's AP}`` (percent)."""
    classes = next(iter(per_seed.values()))["per_class"]
    return {c: float(np.mean([s["per_class"][c][key] for s in per_seed.values()])) for c in classes}


def write_table(rows: list, columns: list, path_stem: Path, title: str) -> tuple[Path, Path]:
    """Write rows (dicts) as Markdown and CSV; returns both paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    md = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    md_path, csv_path = path_stem.with_suffix(".md"), path_stem.with_suffix(".csv")
    md_path.write_text("\n".join(md) + "\n")
    csv_path.write_text("\n".join([",".join(columns)] +
                                  [",".join(_fmt(row.get(c)) for c in columns) for row in rows]) + "\n")
    return md_path, csv_path


def report_table(rows: list, columns: list, out: Path, stem: str, title: str, per_seed: dict) -> list:
    """Print the table and write it as Markdown, CSV and JSON (with every seed's summary); returns the paths."""
    print_table(rows, columns)
    md, csv = write_table(rows, columns, Path(out) / stem, title)
    return [md, csv, dump({"rows": rows, "per_seed": per_seed}, Path(out) / "summary.json")]


def print_table(rows: list, columns: list) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.1f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3g}"
    return str(value)


def dump(data, path) -> Path:
    return write_json_atomic(json.loads(json.dumps(data, default=float)), path)
