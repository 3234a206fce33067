"""``hypercolumns eval-keypoints``: the paper's Table 3 (keypoint APK) on the shared data.

Pipeline
--------
1. **Stage one** (:mod:`hypercolumns.extract.keypoint_rows`): jittered person
   boxes of the *training* images only -- PASCAL-Part ``train`` (SDS split,
   poselets keypoints) and the 4 COCO person-keypoint images (training only)
   -- rows labelled ``kp:<paper name>``, shards in ``<work>/features``.
2. **Stage two** (:func:`hypercolumns.classifiers.train.train_grids`): one
   K x K grid per keypoint and system: *Hyp* (all blocks: pool3:3, conv4_3,
   global, xy) and *Only global* (``global`` + xy; the paper's "Only fc7").
   Default K = 1: there are ~15 training persons, so a 2 x 2 grid would give
   each cell's classifier a handful of positives (one per box per keypoint).
   One C for every grid (``--C``, default 1e-4), no C search: the 7 training
   images leave train-grid's image-level held-out split (nearly) empty.
3. **Inference**: val persons' ground-truth boxes jittered to box IoU in
   [0.7, 0.9] (:func:`hypercolumns.pipelines.experiments.oracle.jitter_to_iou`, one box per
   person per seed), heatmaps over the expanded box by the conv trick.  No
   detector exists here, so every box has detection score 1.
4. **Prediction** (:func:`predict_keypoint`): per box and keypoint the
   heatmap's argmax, mapped to the image point at that cell's centre in the
   expanded box; score = heatmap value there x sigmoid(detection score).
5. **APK** (:func:`hypercolumns.eval.apk.evaluate_apk`, alpha 0.2, "nearest"
   rule) over the val persons that carry keypoints (persons PASCAL-Part left
   unannotated are neither ground truth nor boxes: a correct prediction on
   them could only count as a false positive); mean over seeds.  The p-value
   of Hyp against Only global is the paired permutation test over the
   per-keypoint APK differences (the unit permuted is the keypoint type, 13
   items, exact enumeration).

The paper's rows (VOC2009 val person subset, with detections; tables.md,
Table 3) are printed beside ours for reference; the levels are not comparable
(6 val persons here, oracle boxes, no fine-tuning).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from hypercolumns.data.keypoint_names import PAPER_KEYPOINT_LABELS, PAPER_KEYPOINTS
from hypercolumns.extract.targets import cell_centres

SYSTEMS = (("Hyp", None), ("Only global", ("global",)))
REFERENCE = "Only global"
# tables.md, Table 3: (our row it stands beside, the paper's row, LS..N, mean)
PAPER_ROWS = (
    ("Only global", "paper: Only fc7",
     (22.7, 9.9, 2.8, 25.5, 10.0, 2.6, 6.6, 3.5, 5.2, 7.7, 3.4, 4.2, 34.0), 10.6),
    ("Hyp", "paper: Hyp",
     (32.2, 16.5, 11.5, 31.2, 16.6, 9.3, 9.6, 7.1, 9.1, 8.0, 4.2, 8.2, 57.5), 17.0),
)
# One C, no search: the ~7 training images leave the image-level held-out split
# (train_grids' C search) empty or a single image.  1e-4 is the middle of
# train-grid's default C grid.
DEFAULT_C = 1e-4
COLUMNS = ["system", *PAPER_KEYPOINT_LABELS, "mean", f"p vs {REFERENCE}"]


def heatmap_argmax_to_image(heatmap: np.ndarray, expanded_box) -> tuple[float, float, float]:
    """``(x, y, value)``: the image point at the centre of the heatmap's argmax cell.

    ``heatmap (S, S)`` covers ``expanded_box`` (x0, y0, x1, y1) row by row; cell
    ``(r, c)`` stands for ``(x0 + (c + 0.5) w / S, y0 + (r + 0.5) h / S)``
    (:func:`hypercolumns.extract.targets.cell_centres`).  Ties: the first cell
    in row-major order.
    """
    heatmap = np.asarray(heatmap)
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    xs, ys = cell_centres(np.asarray(expanded_box, np.float64), heatmap.shape[0])
    return float(xs[col]), float(ys[row]), float(heatmap[row, col])


def keypoint_score(heatmap_value: float, detection_score: float) -> float:
    """The paper's score: heatmap value at the argmax x sigmoid(detection score)."""
    return float(heatmap_value) / (1.0 + math.exp(-float(detection_score)))


def predict_keypoint(heatmap, expanded_box, detection_score: float = 1.0) -> tuple[float, float, float]:
    """``(x, y, score)`` of one keypoint of one box."""
    x, y, value = heatmap_argmax_to_image(heatmap, expanded_box)
    return x, y, keypoint_score(value, detection_score)


def load_keypoint_data(data_root: Path):
    """``(train records, val records)`` with paper keypoint names; no val image is in train."""
    from hypercolumns.data.coco import load_coco
    from hypercolumns.data.keypoint_names import apply_to_records
    from hypercolumns.data.pascal_part import load_pascal_part

    data_root = Path(data_root)
    train = apply_to_records(load_pascal_part(data_root / "pascal-part", split="train"), "poselets")
    val = apply_to_records(load_pascal_part(data_root / "pascal-part", split="val"), "poselets")
    coco_dir = data_root / "coco-person-keypoints"
    train += apply_to_records(load_coco(coco_dir / "test_coco.json", coco_dir), "coco")
    overlap = {r.image_id for r in train} & {r.image_id for r in val}
    if overlap:
        raise ValueError(f"val images among the training images: {sorted(overlap)}")
    return train, val


def train_keypoint_grids(shards: Path, models: Path, K: int, C: float = DEFAULT_C, log=print) -> dict:
    """``{(system, keypoint): model path}``; grids already made from these shards are kept."""
    from hypercolumns.classifiers.train import TrainOptions, train_grids
    from hypercolumns.extract.shards import list_shards, shards_config
    from hypercolumns.extract.keypoint_rows import target_name
    from hypercolumns.classifiers.provenance import made_from

    shards_hash = shards_config(list_shards(shards)).config_hash
    base = TrainOptions(Ks=(K,), C_grid=(C,), show_progress=False)
    paths = {}
    for system, blocks in SYSTEMS:
        for name in PAPER_KEYPOINTS:
            folder = Path(models) / system.replace(" ", "_") / name
            paths[system, name] = folder / f"grid-K{K}.h5"
            if not made_from(paths[system, name], shards_hash):
                log(f"training {system} grid for {name} (K = {K})")
                train_grids(shards, folder, replace(base, target=target_name(name), blocks=blocks),
                            log=lambda *_: None)
    return paths


def val_boxes(records: list, seed: int) -> list:
    """``[(record index, instance index, jittered box)]`` for the val persons with keypoints."""
    from hypercolumns.extract.box_sampling import image_rng
    from hypercolumns.pipelines.experiments.oracle import jitter_to_iou

    boxes = []
    for r, record in enumerate(records):
        for i, inst in enumerate(record.instances):
            if inst.category == "person" and inst.keypoints:
                rng = image_rng(seed, f"keypoints:{record.image_id}:{i}")
                boxes.append((r, i, jitter_to_iou(inst.box, rng, image_size=(record.height, record.width))))
    return boxes


def ground_truth(records: list) -> dict:
    """``{image_id: [PersonKeypoints]}`` of the val persons with keypoints (every val image a key)."""
    from hypercolumns.eval.apk import person_keypoints

    return {record.image_id: [person_keypoints(inst.keypoints, inst.box) for inst in record.instances
                              if inst.category == "person" and inst.keypoints] for record in records}


def predict_all(cnn, predictors: dict, records: list, boxes: list) -> tuple[dict, list]:
    """``({(system, keypoint): [KeypointPrediction]}, [(record, expanded box, {key: heatmap})])``.

    Every keypoint grid scores the same maps of each box, through the inference engine.
    """
    from hypercolumns.eval.apk import KeypointPrediction
    from hypercolumns.pipelines.inference.engine import LoadedGrid, grid_heatmaps

    grids = [LoadedGrid(None, predictor.model, predictor, cnn) for predictor in predictors.values()]
    predictions = {key: [] for key in predictors}
    kept = []
    for r, _, box in boxes:
        record = records[r]
        expanded = cnn.expand(box[None])
        heatmaps = grid_heatmaps(record.load_image(), box[None], ["person"], grids)
        maps = {}
        for key, heatmap in zip(predictors, heatmaps):
            x, y, score = predict_keypoint(heatmap[0], expanded[0], detection_score=1.0)
            predictions[key].append(KeypointPrediction(record.image_id, key[1], x, y, score))
            maps[key] = heatmap[0]
        kept.append((r, expanded[0], maps))
    return predictions, kept


def save_keypoint_picture(image, expanded_box, heatmap, prediction, truth, title: str, path: Path) -> Path:
    """The heatmap (scaled to its own range) over its expanded box on the image; prediction (x), ground truth (o)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x0, y0, x1, y1 = expanded_box
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(image)
    ax.imshow(heatmap, extent=(x0, x1, y1, y0), alpha=0.55, cmap="jet",
              vmin=float(heatmap.min()), vmax=float(heatmap.max()))  # contrast: values are small
    ax.plot(*prediction, "wx", markersize=14, markeredgewidth=3, label="prediction")
    if truth is not None:
        ax.plot(*truth, "o", markerfacecolor="none", markeredgecolor="lime", markersize=14,
                markeredgewidth=2, label="ground truth")
    ax.set_xlim(min(x0, 0), max(x1, image.shape[1]))
    ax.set_ylim(max(y1, image.shape[0]), min(y0, 0))
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def table_rows(per_seed: dict) -> list:
    """Our rows (mean over seeds), each followed by the paper's row it stands for."""
    from hypercolumns.eval.permutation import paired_permutation_test

    means = {system: {name: float(np.mean([s["APK"][name] for s in seeds.values()]))
                      for name in PAPER_KEYPOINTS} for system, seeds in per_seed.items()}
    valid = [n for n in PAPER_KEYPOINTS if all(np.isfinite(m[n]) for m in means.values())]
    rows = []
    for system, _ in SYSTEMS:
        row = {"system": f"ours: {system}"}
        row.update({label: means[system][name] for name, label in zip(PAPER_KEYPOINTS, PAPER_KEYPOINT_LABELS)})
        row["mean"] = float(np.mean([means[system][n] for n in valid]))
        if system != REFERENCE:
            row[COLUMNS[-1]] = paired_permutation_test([means[system][n] for n in valid],
                                                       [means[REFERENCE][n] for n in valid])[1]
        rows.append(row)
    for _, paper_row, values, mean in PAPER_ROWS:
        rows.append({"system": paper_row, **dict(zip(PAPER_KEYPOINT_LABELS, values)), "mean": mean})
    return rows


def evaluate_keypoints(data_root: Path, work: Path, out: Path, K: int = 1, C: float = DEFAULT_C,
                       seeds=(0, 1, 2), viz: bool = False, weights=None, device=None) -> list:
    """Table 3: keypoint shards and grids in ``work`` (made where missing), APK on the val
    persons' oracle boxes per seed; prints the table and returns the paths written."""
    from hypercolumns.classifiers.model_file import load_grid
    from hypercolumns.eval.apk import evaluate_apk
    from hypercolumns.extract.cnn import frozen_cnn
    from hypercolumns.extract.features import feature_config
    from hypercolumns.extract.layer_spec import LayerSpec
    from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor
    from hypercolumns.pipelines.experiments.tables import dump, print_table, write_table
    from hypercolumns.extract.keypoint_rows import TARGETS, run_keypoint_features
    from hypercolumns.extract.features import DEFAULT_LAYERS

    work, out, seeds = Path(work), Path(out), list(seeds)
    train, val = load_keypoint_data(data_root)
    cnn = frozen_cnn(weights, device=device)
    spec = LayerSpec.parse(DEFAULT_LAYERS).resolve(cnn.network)
    config = feature_config(cnn, spec, targets=TARGETS)
    run_keypoint_features(train, work / "features", cnn, spec, config)
    paths = train_keypoint_grids(work / "features", work / "models", K, C)
    predictors = {key: ConvTrickPredictor(load_grid(path), cnn.name) for key, path in paths.items()}

    truth = ground_truth(val)
    per_seed = {system: {} for system, _ in SYSTEMS}
    viz_paths = []
    for seed in seeds:
        boxes = val_boxes(val, seed)
        predictions, heatmaps = predict_all(cnn, predictors, val, boxes)
        for system, _ in SYSTEMS:
            flat = [p for name in PAPER_KEYPOINTS for p in predictions[system, name]]
            per_seed[system][seed] = evaluate_apk(truth, flat)
        if viz and seed == seeds[0]:
            viz_paths += write_pictures(val, boxes, heatmaps, predictions, out / "viz")
    rows = table_rows(per_seed)
    n_persons = sum(len(p) for p in truth.values())
    print(f"Table 3 (APK, alpha 0.2) on {n_persons} PASCAL-Part val persons with keypoints, "
          f"oracle boxes (IoU 0.7-0.9, detection score 1), K = {K}, C = {C}, mean over seeds {seeds}; "
          "p: paired permutation test over the per-keypoint APK differences; "
          "paper rows: VOC2009 val persons, detections")
    print_table(rows, COLUMNS)
    md, csv = write_table(rows, COLUMNS, out / "table3", "Table 3 keypoints (APK) on the shared data")
    summary = dump({"rows": rows, "per_seed": per_seed, "K": K, "seeds": seeds,
                    "n_val_persons": n_persons}, out / "summary.json")
    print(f"wrote {md}, {csv}, {summary}" + (f", {len(viz_paths)} pictures in {out / 'viz'}"
                                             if viz_paths else ""))
    return [md, csv, summary, *viz_paths]


def write_pictures(records, boxes, heatmaps, predictions, folder: Path, keypoints=("nose", "left_shoulder")) -> list:
    """One picture per val box and system for a few keypoints (first seed)."""
    written = []
    for index, ((r, i, _), (_, expanded, maps)) in enumerate(zip(boxes, heatmaps)):
        record = records[r]
        image = record.load_image()
        for (system, name), heatmap in maps.items():
            if name not in keypoints:
                continue
            p = predictions[system, name][index]
            gt = record.instances[i].keypoints.get(name)
            path = folder / f"{record.image_id}-{i}-{system.replace(' ', '_')}-{name}.png"
            written.append(save_keypoint_picture(image, expanded, heatmap, (p.x, p.y),
                                                 gt[:2] if gt else None,
                                                 f"{system}: {name} (score {p.score:.2f})", path))
    return written
