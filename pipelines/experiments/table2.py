"""``hypercolumns reproduce-table2``: System 2 (segmenting box detections), the paper's Table 2.

Detections (those of the synthetic detector of :mod:`synthetic_detections`,
or a real detector's file given with ``--detections``) go through the
paper's pool expansion (boxes NMS removed, scored above ``--pool-threshold``
and overlapping every kept box by < 0.7, then NMS at 0.7; sizes printed per
class), every pool box is segmented
by a grid (``segment_systems``, detection scores kept), and three rows are
scored on the val images: *Only global* and *Hyp* (their grids' masks, the
detector's scores) and *Hyp + rescoring* (linear SVMs on region descriptors,
trained on the training images' pools, combined with the detection score
into ``P(IoU > 0.7)`` (:meth:`RegionRescorer.fit_combiner`), then region NMS
at mask IoU 0.3).  Columns: AP^r at 0.5 / 0.7 (official rule), mean IU of
the semantic segmentation made by pasting the regions whose score is above a
threshold chosen on the training images' pools (one for detection scores,
one for rescored probabilities), and pool sizes; the paper's Table 2 (O-Net
rows) beside.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hypercolumns.data.errors import InputError
from hypercolumns.data.boxes import xywh_to_xyxy, xyxy_to_xywh
from hypercolumns.data.detections import read_coco_detections, read_mat_detections
from hypercolumns.data.files import read_json, write_json_atomic
from hypercolumns.data.images import read_image
from hypercolumns.data.masks import decode_rle
from hypercolumns.data.records import VOC_CLASSES
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.eval.masks import rle_iou
from hypercolumns.pipelines.system2.pool_expansion import expand_detections
from hypercolumns.pipelines.experiments.runner import System, load_systems, segment_systems
from hypercolumns.pipelines.experiments.tables import difference_columns, dump, print_table, write_table
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.system2.region_descriptor import region_descriptors, region_feature_config
from hypercolumns.pipelines.system2.region_nms import region_nms
from hypercolumns.classifiers.rescoring import RegionRescorer
from hypercolumns.classifiers.selection import choose, reporting_on
from hypercolumns.pipelines.system2.semantic import ground_truth_labels, predicted_labels, semantic_mean_iu
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS
from hypercolumns.pipelines.system2.synthetic_detections import synthetic_detections

PAPER = {"Only global": ("O-Net, only fc7", 52.6, 22.4), "Hyp": ("O-Net, Hyp", 56.5, 37.0),
         "Hyp + rescoring": ("O-Net, Hyp + rescoring", 60.0, 40.4)}
COLUMNS = ["system", "APr@0.5", "APr@0.7", "diff@0.5 vs Hyp", "diff@0.7 vs Hyp", "mean IU", "paste threshold",
           "pool", "paper row", "paper APr@0.5", "paper APr@0.7"]


def voc_records(records: list) -> list:
    """Records keeping only instances of VOC's 20 classes (records left empty dropped)."""
    kept = [replace(r, instances=[i for i in r.instances if i.category in VOC_CLASSES]) for r in records]
    return [r for r in kept if r.instances]


def read_detector_output(path: Path, pre_nms: Path | None = None) -> list:
    """A real detector's :class:`~hypercolumns.data.detections.Detections` from a file.

    A COCO results JSON (``category_id``: VOC's 1-based class index) or an
    R-CNN/SDS ``.mat`` naming its ``classes`` and ``image_ids``, with ``pre_nms``
    the same run's boxes before NMS (:mod:`hypercolumns.data.detections`).
    """
    if Path(path).suffix.lower() == ".mat":
        return read_mat_detections(path, pre_nms)
    if pre_nms is not None:
        raise InputError(f"--pre-nms {pre_nms} goes with a .mat --detections file; {path} is read "
                         "as a COCO results list, whose boxes are the detector's final ones")
    return read_coco_detections(path, dict(enumerate(VOC_CLASSES, start=1)))


def detections_on(records: list, seed: int, detections: list | None = None) -> list:
    """The detections on ``records``' images: the synthetic detector's (``seed``), or those of
    ``detections`` (a detector's file) whose image id is one of the records'."""
    if detections is None:
        return synthetic_detections(records, seed)
    ids = {str(record.image_id): record.image_id for record in records}
    mine = [replace(d, image_id=ids[str(d.image_id)]) for d in detections if str(d.image_id) in ids]
    if not mine:
        raise InputError(f"the detections file has none on these {len(records)} images (ids such as "
                         f"{', '.join(list(ids)[:3])}); it must cover the val images and the training "
                         "images, whose pools train the rescoring")
    return mine


def pool_detections(records: list, coco: dict, seed: int, pool_threshold: float, detections=None):
    """The expanded pool of :func:`detections_on` the records as a COCO results list, and pool sizes."""
    detections = [d for d in detections_on(records, seed, detections) if d.category in VOC_CLASSES]
    pools, sizes = expand_detections(detections, pool_threshold)
    image_ids = {record.image_id: index for index, record in enumerate(records, start=1)}
    category_ids = {c["name"]: c["id"] for c in coco["categories"]}
    results = []
    for pool in pools:
        for box, score in zip(pool.boxes, pool.scores):
            results.append({"image_id": image_ids[pool.image_id], "category_id": category_ids[pool.category],
                            "bbox": xyxy_to_xywh(box).tolist(), "score": float(score)})
    return results, sizes


def best_ious(coco: dict, results: list) -> np.ndarray:
    """Each region's mask IoU with the best ground-truth instance of its class in its image."""
    by_key: dict = {}
    for annotation in coco["annotations"]:
        by_key.setdefault((annotation["image_id"], annotation["category_id"]), []).append(
            annotation["segmentation"])
    return np.array([rle_iou([r["segmentation"]], by_key[(r["image_id"], r["category_id"])]).max()
                     if (r["image_id"], r["category_id"]) in by_key else 0.0 for r in results])


def describe_regions(cnn, coco: dict, data_root, results: list) -> np.ndarray:
    """Region descriptors ``(N, 2D)`` of the results (grouped by image)."""
    descriptors = np.zeros((len(results), 0), np.float32)
    by_image: dict = {}
    for index, result in enumerate(results):
        by_image.setdefault(result["image_id"], []).append(index)
    rows = {}
    for image_id, indices in tqdm(sorted(by_image.items()), desc="regions", unit="image", leave=False):
        image = read_image(Path(data_root) / coco["images"][image_id - 1]["file_name"])
        boxes = xywh_to_xyxy([results[i]["bbox"] for i in indices])
        masks = np.stack([decode_rle(results[i]["segmentation"]) for i in indices])
        for index, row in zip(indices, region_descriptors(cnn, image, boxes, masks)):
            rows[index] = row
    if rows:
        descriptors = np.stack([rows[i] for i in range(len(results))])
    return descriptors


def rescore(results: list, scores: np.ndarray, threshold: float = 0.3) -> list:
    """Results with SVM scores, after region NMS per image and class."""
    groups: dict = {}
    for index, result in enumerate(results):
        groups.setdefault((result["image_id"], result["category_id"]), []).append(index)
    kept = []
    for indices in groups.values():
        rles = [results[i]["segmentation"] for i in indices]
        for j in region_nms(rles, scores[indices], threshold):
            kept.append({**results[indices[j]], "score": float(scores[indices[j]])})
    return kept


def mean_iu_of(records: list, coco: dict, results: list, threshold: float) -> float:
    names = {c["id"]: c["name"] for c in coco["categories"]}
    pairs = []
    for image_id, record in enumerate(records, start=1):
        mine = [r for r in results if r["image_id"] == image_id]
        masks = [decode_rle(r["segmentation"]) for r in mine]
        predicted = predicted_labels(record.height, record.width, masks,
                                     [names[r["category_id"]] for r in mine],
                                     [r["score"] for r in mine], threshold)
        pairs.append((ground_truth_labels(record), predicted))
    return semantic_mean_iu(pairs)["mean_iu"]


PASTE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def training_regions(path: Path, engines, hyp: System, records, data_root, seed: int,
                     pool_threshold: float, detections=None) -> dict:
    """Hyp's regions on the training pools with their descriptors and IoUs, cached in ``path``.

    The cache (JSON) is reused only when made from the same model, descriptor
    config, images, seed and pool threshold (and detections, when a file gives them).
    """
    cnn = engines.grid(hyp.model_path).cnn
    key = {"model": str(hyp.model_path), "model_mtime": Path(hyp.model_path).stat().st_mtime,
           "descriptor_config_hash": region_feature_config(cnn)["config_hash"], "seed": seed,
           "pool_threshold": pool_threshold, "images": [str(r.image_id) for r in records]}
    if detections is not None:  # a detector's file: what it gives these images is part of the key
        given = [(d.image_id, d.category, d.boxes.tolist(), d.scores.tolist(), d.kept.tolist())
                 for d in detections_on(records, seed, detections)]
        key["detections"] = hashlib.sha256(repr(given).encode()).hexdigest()
    if path.is_file():
        cached = read_json(path)
        if cached["key"] == key:
            return {**cached, "descriptors": np.asarray(cached["descriptors"], np.float32),
                    "ious": np.asarray(cached["ious"])}
    coco = coco_annotations(records, data_root)
    pool, _ = pool_detections(records, coco, seed, pool_threshold, detections)
    results = segment_systems([hyp], records, coco, pool, data_root, engines,
                              score="detection")[hyp.name]
    regions = {"key": key, "coco": coco, "results": results,
               "descriptors": describe_regions(cnn, coco, data_root, results),
               "ious": best_ious(coco, results)}
    write_json_atomic({**regions, "descriptors": regions["descriptors"].tolist(),
                       "ious": regions["ious"].tolist()}, path)
    return regions


def train_rescorer(regions: dict, path: Path, config: dict) -> RegionRescorer:
    """The SVMs on every training region, then the combiner with the detector's score."""
    results = regions["results"]
    categories = [r["category_id"] for r in results]
    scores = np.array([r["score"] for r in results])
    rescorer = RegionRescorer().fit(regions["descriptors"], categories, regions["ious"],
                                    feature_config=config)
    rescorer.fit_combiner(regions["descriptors"], categories, regions["ious"], scores,
                          groups=[r["image_id"] for r in results])
    rescorer.save(path)
    a, b, c = rescorer.combiner_
    print(f"rescoring SVMs trained on {len(results)} training regions; combiner "
          f"sigmoid({a:.2f} * logit(detection) + {b:.2f} * margin + {c:.2f}) -> {path}")
    return rescorer


def choose_paste_threshold(records: list, coco: dict, results: list) -> tuple[float, float]:
    """The threshold of :data:`PASTE_THRESHOLDS` with the best mean IU on training regions
    (:func:`~hypercolumns.classifiers.selection.choose`: ``records`` must be training images)."""
    ious = {t: mean_iu_of(records, coco, results, t) for t in PASTE_THRESHOLDS}
    selection = choose("paste threshold", ious, [record.image_id for record in records],
                       criterion="mean IU of the pasted regions", selected_on="training images' pools")
    print(f"  {selection.line()}")
    return selection.chosen, ious[selection.chosen]


def paste_thresholds(regions: dict, records: list, rescorer: RegionRescorer) -> dict:
    """Per score kind, the paste threshold chosen on the training images (cross-fitted scores)."""
    results = regions["results"]
    rescored = rescore(results, rescorer.combine([r["score"] for r in results],
                                                 rescorer.cross_fitted_margins_))
    chosen = {"detection": choose_paste_threshold(records, regions["coco"], results),
              "rescored": choose_paste_threshold(records, regions["coco"], rescored)}
    print("paste thresholds chosen on the training images (mean IU there): " +
          ", ".join(f"{kind} {t:g} ({iu:.1f})" for kind, (t, iu) in chosen.items()))
    return {kind: t for kind, (t, _) in chosen.items()}


def reproduce_table2(data_root: Path, models: Path, only_global: Path, work: Path, out: Path,
                     seed: int = 0, pool_threshold: float = 0.3, train_images: int | None = None,
                     detections: Path | None = None, pre_nms: Path | None = None) -> list:
    """Table 2: System 2 on the val images; prints the table and returns the paths written.

    Hyp is ``models/grid-K10.h5``; its regions on the pools of the first
    ``train_images`` training images (all: None) train the rescoring, cached in
    ``work``.  ``detections`` (with ``pre_nms``, see :func:`read_detector_output`)
    is a detector's output on the training and val images; None: the synthetic
    detector's.
    """
    from hypercolumns.data.datasets import load_val_records

    val = voc_records(load_val_records(data_root))
    with reporting_on(record.image_id for record in val):   # no choice below may look at them
        return _reproduce_table2(val, data_root, models, only_global, work, out, seed, pool_threshold,
                                 train_images, detections, pre_nms)


def _reproduce_table2(val, data_root, models, only_global, work, out, seed, pool_threshold, train_images,
                      detections, pre_nms) -> list:
    from hypercolumns.data.datasets import load_training_records

    work, out = Path(work), Path(out)
    detector = None if detections is None else read_detector_output(detections, pre_nms)
    projection = DEFAULT_SUPERPIXELS
    hyp = System("Hyp", Path(models) / "grid-K10.h5", projection)
    systems = [System("Only global", only_global, projection), hyp]
    engines = load_systems(systems)
    work.mkdir(parents=True, exist_ok=True)
    train = voc_records(load_training_records(data_root))[:train_images]
    regions = training_regions(work / "train-regions.json", engines, hyp, train, data_root,
                               seed, pool_threshold, detector)
    cnn = engines.grid(hyp.model_path).cnn
    rescorer = train_rescorer(regions, work / "rescorer.h5", region_feature_config(cnn))
    thresholds = paste_thresholds(regions, train, rescorer)
    coco = coco_annotations(val, data_root)
    annotations = write_json_atomic(coco, out / "val_annotations.json")
    pool, sizes = pool_detections(val, coco, seed, pool_threshold, detector)
    results = segment_systems(systems, val, coco, pool, data_root, engines, score="detection")
    probabilities = rescorer.score(describe_regions(cnn, coco, data_root, results["Hyp"]),
                                   [r["category_id"] for r in results["Hyp"]],
                                   np.array([r["score"] for r in results["Hyp"]]))
    results["Hyp + rescoring"] = rescore(results["Hyp"], probabilities)
    pool_size = sum(s["after"] for s in sizes.values())
    summaries = {name: evaluate_coco(annotations, write_json_atomic(
        entries, out / "results" / f"{name.replace(' ', '_')}.json")) for name, entries in results.items()}
    rows = []
    for name, entries in results.items():
        summary = summaries[name]
        kind = "rescored" if name.endswith("rescoring") else "detection"
        paper_row, paper_05, paper_07 = PAPER[name]
        row = {"system": name, "APr@0.5": summary["APr@0.5"], "APr@0.7": summary["APr@0.7"],
               "mean IU": mean_iu_of(val, coco, entries, thresholds[kind]), "paste threshold": thresholds[kind],
               "pool": len(entries) if kind == "rescored" else pool_size, "paper row": paper_row,
               "paper APr@0.5": paper_05, "paper APr@0.7": paper_07}
        if name != "Hyp":   # the paired bootstrap over the val images, against Hyp
            row.update(difference_columns({seed: summary}, {seed: summaries["Hyp"]}, "Hyp"))
        rows.append(row)
    print("pool sizes per class (detections after the detector's NMS -> expanded pool): " +
          ", ".join(f"{c} {s['before']}->{s['after']}" for c, s in sorted(sizes.items())))
    source = (f"detections of {detections}" if detections is not None
              else "synthetic detections (README, Deviations)")
    print(f"Table 2 on {len(val)} val images ({sum(len(r.instances) for r in val)} instances), "
          f"{source}; diff: row - Hyp with its paired 95% bootstrap interval over images; paper: VOC2012 val, "
          "R-CNN detections")
    print_table(rows, COLUMNS)
    md, csv = write_table(rows, COLUMNS, out / "table2", "Table 2 (System 2) on the shared data")
    summary_path = dump({"rows": rows, "pool_sizes": sizes}, out / "summary.json")
    print(f"wrote {md}, {csv}, {summary_path}, {out}/results/")
    return [md, csv, summary_path]
