"""``hypercolumns eval-parts``: part labelling, the paper's Table 4 (AP^r_part at 0.5).

1. **Stage one** (:mod:`~hypercolumns.extract.part_rows`): jittered boxes
   around the train split's PASCAL-Part instances of the seven Table 4
   classes; rows labelled per part target ``part:<class>:<group>``, 1 on the
   part, 0 on the rest of the object, -1 outside it (part classifiers are
   trained inside the object: prediction only labels pixels inside the
   figure-ground mask). Shards in ``<work>/features-parts``.
2. **Stage two**: one K x K grid per (class, part) with positive rows, for
   two systems: *Hyp* (every block of the hypercolumn) and *Only global*
   (the ``global`` block, plus ``xy``; the paper's "Only fc7" row).
   ``--K`` defaults to 1 and C is fixed (``--C``, default 3e-4, the C the
   figure-ground grid chose on the shared data) with no held-out split: the
   shared train split has 11 part-class objects in 6 images, too few for a
   spatial grid or a held-out C search. Models in ``<work>/models-parts``.
3. **Inference** on the val split: every Table 4 instance's box jittered to
   IoU 0.7-0.9 (``oracle.jitter_to_iou``; one draw per ``--seeds`` seed), its
   figure-ground mask from the SDS grid (``--sds-model``, superpixels as
   ``Segmenter``), each part grid's heatmap on the same crop (conv trick),
   pasted into the image; every pixel inside the mask takes the part with
   the highest probability (:func:`label_parts`). A part without a grid
   never wins; a class with no grid at all (no training object, e.g. horse
   here) gets no part labels, so its detections never overlap (AP 0). The
   detection score is the SDS mask score (mean figure-ground probability
   inside the mask), the same for both systems.
4. **Metric**: ``eval.apr_part.evaluate_apr_part`` per seed over the val
   images, per class for the Table 4 classes with val instances, then the
   mean over seeds. The p-value is ``eval.permutation.paired_permutation_test``
   on per-class AP differences (unit: one class, its AP averaged over seeds;
   exact over all sign flips, so with n classes p >= 2 / 2**n).

Writes ``<out>/table4.{md,csv}``, ``<out>/summary.json`` and with ``--viz``
``<out>/pictures/<system>_<image>.png`` (part-coloured masks over the image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.data.part_groups import PART_GROUPS, part_label_map
from hypercolumns.extract.part_rows import PART_CLASSES, PART_TARGETS, target_name

PAPER_TABLE4 = {  # /work/shared/paper/tables.md, Table 4 (AP^r_part at 0.5, percent)
    "Only fc7": dict(zip(PART_CLASSES, (21.9, 16.6, 14.5, 38.9, 19.2, 8.5, 15.4))),
    "Hyp": dict(zip(PART_CLASSES, (28.5, 27.8, 21.5, 44.9, 30.3, 14.2, 14.2))),
}
SYSTEMS = {"Only global": ("global",), "Hyp": None}  # system -> TrainOptions.blocks
PART_COLOURS = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (145, 30, 180)],
                        np.uint8)
"""RGB colour of part label 1, 2, ... in the pictures."""


def label_parts(pasted_scores: np.ndarray, mask: np.ndarray, available=None) -> np.ndarray:
    """Every pixel inside ``mask`` takes the part with the highest score.

    Parameters
    ----------
    pasted_scores : ndarray of shape (P, H, W)
        Part p's score (``P`` = the class's groups, in PART_GROUPS order).
    mask : ndarray of shape (H, W), bool
    available : sequence of bool of length P, optional
        Parts that have a classifier; the others never win.

    Returns
    -------
    ndarray of shape (H, W), int16
        ``1 + argmax_p`` inside the mask (ties: the first part), 0 outside,
        and 0 everywhere when no part is available.
    """
    scores = np.asarray(pasted_scores, np.float64)
    labels = np.zeros(mask.shape, np.int16)
    available = np.ones(len(scores), bool) if available is None else np.asarray(available, bool)
    if not available.any():
        return labels
    scores = np.where(available[:, None, None], scores, -np.inf)
    labels[mask] = scores.argmax(axis=0)[mask] + 1
    return labels


# ------------------------------------------------------------------ stages one and two

def extract(data_root: Path, work: Path, weights=None, device=None) -> dict:
    from hypercolumns.data.pascal_part import load_pascal_part
    from hypercolumns.extract.cnn import frozen_cnn
    from hypercolumns.extract.features import DEFAULT_LAYERS, feature_config
    from hypercolumns.extract.layer_spec import LayerSpec
    from hypercolumns.extract.part_rows import run_part_features

    records = load_pascal_part(Path(data_root) / "pascal-part", split="train")
    cnn = frozen_cnn(weights, device=device)
    spec = LayerSpec.parse(DEFAULT_LAYERS).resolve(cnn.network)
    config = feature_config(cnn, spec, targets=PART_TARGETS)
    return run_part_features(records, work / "features-parts", cnn, spec, config)


def train(work: Path, positives: dict, K: int, C: float) -> dict:
    """``{system: {target: grid path}}`` for every target with positive rows (existing grids kept)."""
    from hypercolumns.classifiers.provenance import trained_here
    from hypercolumns.classifiers.train import TrainOptions, train_grids

    shards_dir = work / "features-parts"
    models = {}
    for system, blocks in SYSTEMS.items():
        models[system] = {}
        for target in PART_TARGETS:
            if positives[target] == 0:
                continue
            out_dir = work / "models-parts" / system.replace(" ", "-") / target.replace(":", "-")
            options = TrainOptions(Ks=(K,), C_grid=(C,), holdout=0.0, target=target, blocks=blocks,
                                   show_progress=False)
            if not trained_here(out_dir, shards_dir, options):
                train_grids(shards_dir, out_dir, options, log=lambda line: None)
            models[system][target] = out_dir / f"grid-K{K}.h5"
    return models


# ------------------------------------------------------------------ inference

class PartLabeller:
    """The SDS segmenter and every system's part grids, sharing one CNN forward per box."""

    def __init__(self, sds_model: Path, models: dict, device=None):
        from hypercolumns.classifiers.model_file import load_grid
        from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor
        from hypercolumns.extract.cnn import check_weights_match
        from hypercolumns.pipelines.inference.segment import Segmenter

        self.segmenter = Segmenter(sds_model, device=device)
        cnn = self.segmenter.cnn
        self.predictors, layers = {}, list(self.segmenter.grid.layers)
        for system, paths in models.items():
            self.predictors[system] = {}
            for target, path in paths.items():
                model = load_grid(path)
                check_weights_match(model.feature_config, cnn.weights)
                config = model.feature_config
                if (config.padding, config.small_box_context) != (cnn.padding, cnn.small_box_context):
                    raise InputError(f"{path}: padding {config.padding}, small-box context "
                                     f"{config.small_box_context}, the SDS model's CNN uses {cnn.padding}, "
                                     f"{cnn.small_box_context}")
                self.predictors[system][target] = ConvTrickPredictor(model, cnn.name)
                layers += model.spec.network_layers(cnn.name)
        self.layers = list(dict.fromkeys(layers))

    def __call__(self, image: np.ndarray, boxes: np.ndarray, categories: list, image_key: str) -> dict:
        """Masks (N, H, W), scores (N,) and ``{system: part labels (N, H, W)}`` for boxes of one image."""
        from hypercolumns.pipelines.inference.paste import paste_heatmaps
        from hypercolumns.pipelines.inference.segment import mask_scores

        cnn, segmenter = self.segmenter.cnn, self.segmenter
        expanded = cnn.expand(boxes)
        outputs = cnn.box_outputs(image, expanded, self.layers)
        heatmaps = segmenter.grid.predictor(outputs, categories).cpu().numpy()
        box_masks = segmenter.superpixels.masks(image_key, image, heatmaps, expanded, segmenter.threshold)
        masks = np.stack([mask.full() for mask in box_masks])
        result = {"masks": masks, "scores": mask_scores(heatmaps, expanded, box_masks), "labels": {}}
        for system, predictors in self.predictors.items():
            labels = np.zeros(masks.shape, np.int16)
            for index, category in enumerate(categories):
                groups = PART_GROUPS[category]
                scores = np.zeros((len(groups), *image.shape[:2]), np.float32)
                available = [target_name(category, g) in predictors for g in groups]
                one = {name: value[index:index + 1] for name, value in outputs.items()}
                for p, group in enumerate(groups):
                    if available[p]:
                        heat = predictors[target_name(category, group)](one, category).cpu().numpy()
                        scores[p] = paste_heatmaps(heat, expanded[index:index + 1], image.shape)[0]
                labels[index] = label_parts(scores, masks[index], available)
            result["labels"][system] = labels
        return result


def ground_truth(records: list) -> dict:
    """``{image_id: ImagePartGroundTruth}`` of the Table 4 instances of ``records``."""
    from hypercolumns.eval.apr_part import ImagePartGroundTruth, PartInstance

    truth = {}
    for record in records:
        instances = [inst for inst in record.instances if inst.category in PART_CLASSES]
        truth[record.image_id] = ImagePartGroundTruth(
            record.height, record.width,
            [PartInstance(inst.category, part_label_map(inst), inst.mask) for inst in instances],
            void=record.void, ignore=[inst.difficult for inst in instances])
    return truth


def oracle_boxes(record, seed: int) -> tuple[np.ndarray, list]:
    """One box per Table 4 instance of the record, jittered to IoU 0.7-0.9 with its ground truth."""
    from hypercolumns.extract.box_sampling import image_rng
    from hypercolumns.pipelines.experiments.oracle import jitter_to_iou

    boxes, categories = [], []
    for number, inst in enumerate(record.instances):
        if inst.category in PART_CLASSES:
            rng = image_rng(seed, f"oracle-parts:{record.image_id}:{number}")
            boxes.append(jitter_to_iou(inst.box, rng, image_size=(record.height, record.width)))
            categories.append(inst.category)
    return np.array(boxes).reshape(-1, 4), categories


def evaluate(records: list, labeller: PartLabeller, seeds, out: Path, viz: bool) -> dict:
    """``{system: {seed: evaluate_apr_part summary}}`` and the pictures (first seed) when ``viz``."""
    from hypercolumns.eval.apr_part import PartDetection, evaluate_apr_part

    truth = ground_truth(records)
    classes = [c for c in PART_CLASSES if any(i.category == c for t in truth.values() for i in t.instances)]
    summaries = {system: {} for system in labeller.predictors}
    for seed in seeds:
        detections = {system: [] for system in labeller.predictors}
        for record in records:
            boxes, categories = oracle_boxes(record, seed)
            if not len(boxes):
                continue
            image = record.load_image()
            result = labeller(image, boxes, categories, record.image_id)
            for system, labels in result["labels"].items():
                detections[system] += [PartDetection(record.image_id, category, float(score), label, mask)
                                       for category, score, label, mask in
                                       zip(categories, result["scores"], labels, result["masks"])]
                if viz and seed == seeds[0]:
                    save_picture(image, labels, result["masks"],
                                 out / "pictures" / f"{system.replace(' ', '-')}_{record.image_id}.png")
        for system, found in detections.items():
            summaries[system][seed] = evaluate_apr_part(truth, found, categories=classes)
    return summaries


def save_picture(image: np.ndarray, labels: np.ndarray, masks: np.ndarray, path: Path) -> Path:
    """The image with each mask's pixels tinted by part colour (grey where a pixel has no part)."""
    import cv2

    canvas = image.astype(np.float32)
    for label, mask in zip(labels, masks):
        colour = np.where(label[..., None] > 0, PART_COLOURS[(np.maximum(label, 1) - 1) % len(PART_COLOURS)],
                          128).astype(np.float32)
        canvas[mask] = 0.4 * canvas[mask] + 0.6 * colour[mask]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas.round().astype(np.uint8)[..., ::-1])
    return path


# ------------------------------------------------------------------ table

def table_rows(summaries: dict, key: str = "APr_part@0.5") -> tuple[list, list, dict]:
    """Rows (paper's and ours), columns, and ``{system: {class: AP mean over seeds}}``."""
    ours = {}
    for system, per_seed in summaries.items():
        classes = next(iter(per_seed.values()))["per_class"]
        ours[system] = {c: float(np.mean([s["per_class"][c][key] for s in per_seed.values()]))
                        for c in classes}
    evaluated = list(next(iter(ours.values())))
    rows = [{"method": f"paper {name}", **values} for name, values in PAPER_TABLE4.items()]
    rows += [{"method": f"ours {name}", **values} for name, values in ours.items()]
    for row in rows:
        row["mean (evaluated classes)"] = float(np.mean([row[c] for c in evaluated]))
    return rows, ["method", *PART_CLASSES, "mean (evaluated classes)"], ours


def evaluate_parts(data_root: Path, work: Path, out: Path, K: int = 1, C: float = 3e-4, seeds=(0, 1, 2),
                   sds_model: Path = Path("work/models/grid-K10.h5"), weights=None, device=None,
                   viz: bool = False) -> list:
    """Table 4: part shards and grids in ``work`` (made where missing), AP^r_part on the val
    split's oracle boxes per seed; prints the table and returns the paths written."""
    from hypercolumns.data.pascal_part import load_pascal_part
    from hypercolumns.eval.permutation import paired_permutation_test
    from hypercolumns.pipelines.experiments.tables import dump, print_table, write_table

    data_root, work, out, seeds = Path(data_root), Path(work), Path(out), list(seeds)
    stage_one = extract(data_root, work, weights, device)
    print(f"part features: {stage_one['boxes']} boxes, {stage_one['shards_written']} of "
          f"{stage_one['shards']} shards written")
    models = train(work, stage_one["positives"], K, C)
    without = [t for t in PART_TARGETS if t not in models["Hyp"]]
    print(f"part grids: {len(models['Hyp'])} per system; no training positives for: {', '.join(without)}")
    labeller = PartLabeller(sds_model, models, device)
    val = load_pascal_part(data_root / "pascal-part", split="val")
    summaries = evaluate(val, labeller, seeds, out, viz)
    rows, columns, ours = table_rows(summaries)
    difference, p_value = paired_permutation_test(list(ours["Hyp"].values()), list(ours["Only global"].values()))
    print(f"AP^r_part at 0.5 (%), K={K}, mean over seeds {seeds}; classes without val "
          "instances are '-'")
    print_table(rows, columns)
    print(f"Hyp - Only global: {difference:+.2f} AP points per class, paired permutation p = {p_value:.4f} "
          f"(unit: a class, n = {len(ours['Hyp'])})")
    paths = list(write_table(rows, columns, out / "table4", "Table 4: part labelling, AP^r_part at 0.5"))
    paths.append(dump({"rows": rows, "per_seed": summaries, "permutation": {
        "unit": "class", "mean_difference": difference, "p_value": p_value},
        "positives": stage_one["positives"], "K": K, "C": C,
        "sds_model": str(sds_model)}, out / "summary.json"))
    if viz:
        paths += sorted((out / "pictures").glob("*.png"))
    for path in paths:
        print(f"wrote {path}")
    return paths
