"""``hypercolumns eval-sds``: segment oracle boxes of the val images with each trained grid, score AP^r.

Train on the shared training data (``make features train-grid``); evaluate on
the PASCAL-Part images of the SDS val split and the 3 relabelled VOC2011
images, never trained on.  The boxes are ground-truth boxes jittered to IoU
0.7-0.9 ("oracle boxes": no detector output exists for the shared data),
scored by the mean probability inside the predicted mask; each figure is the
mean over ``--seeds`` jitter draws.  One more column segments the exact
ground-truth boxes (no jitter) and gives the instances' mean IoU: the figure
box-prompted segmenters report (SAM ViT-H: 77.4 on COCO val with ground-truth
boxes), so that a reader can place these masks beside theirs.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import MissingFileError
from hypercolumns.eval.bootstrap import mean_interval_over_images
from hypercolumns.pipelines.experiments.runner import (System, ground_truth_box_ious, load_systems, mean_over_seeds,
                                                       run_oracle_evaluation)
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.tables import report_table
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings

COLUMNS = ["system", "APr@0.5", "APr@0.7", "mean best IoU", "mIoU (GT boxes)", "95% interval"]


def grid_models(folder: Path) -> list:
    """``grid-K<K>.h5`` files of a folder, by K."""
    paths = sorted(Path(folder).glob("grid-K*.h5"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if not paths:
        raise MissingFileError(f"no grid-K*.h5 models in {folder} (run `make train-grid`)")
    return paths


def summary_rows(systems, summaries, gt_box_ious: dict, image_ids) -> list:
    """One row per system; ``image_ids``: each instance's image, for the interval of
    the GT-box mIoU (images drawn with replacement, :func:`mean_interval_over_images`)."""
    rows = []
    for s in systems:
        ious = 100 * np.asarray(gt_box_ious[s.name])
        low, high = mean_interval_over_images(ious, image_ids)
        rows.append({"system": s.name,
                     "APr@0.5": mean_over_seeds(summaries[s.name], "APr@0.5"),
                     "APr@0.7": mean_over_seeds(summaries[s.name], "APr@0.7"),
                     "mean best IoU": mean_over_seeds(summaries[s.name], "mean_best_iou"),
                     "mIoU (GT boxes)": float(ious.mean()), "95% interval": f"[{low:.1f}, {high:.1f}]"})
    return rows


def evaluate_sds(data_root: Path, models: Path, out: Path, seeds=(0, 1, 2),
                 superpixels=("none", "felzenszwalb", "slic"), weights=None, device=None) -> list:
    """Every grid of ``models`` (a folder, or one model file) with each projection of
    ``superpixels``, and the whole box, on oracle boxes of the val images; prints the
    table and returns the paths written."""
    from hypercolumns.data.datasets import load_val_records

    models = [Path(models)] if Path(models).is_file() else grid_models(models)
    systems = [System(f"{m.stem} {method}", m, SuperpixelSettings(method=method))
               for m in models for method in superpixels]
    systems.append(System("whole box", None))
    records = load_val_records(data_root)
    pictured = next((s.name for s in reversed(systems)
                     if s.model_path is not None and s.superpixels == DEFAULT_SUPERPIXELS), None)
    engines = load_systems(systems, weights, device)
    coco = coco_annotations(records, data_root)   # one ground truth for both passes
    summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                      viz_system=pictured, engines=engines, coco=coco)
    rows = summary_rows(systems, summaries, ground_truth_box_ious(systems, records, coco, data_root, out, engines),
                        [annotation["image_id"] for annotation in coco["annotations"]])
    n_instances = sum(len(r.instances) for r in records)
    print(f"SDS on {len(records)} val images, {n_instances} instances, oracle boxes "
          f"(ground truth jittered to IoU 0.7-0.9), mean over seeds {list(seeds)}; "
          "AP^r by the official SDS rule; mIoU (GT boxes): mean IoU of each instance's mask from its "
          "exact ground-truth box, with a 95% bootstrap interval over images")
    paths = report_table(rows, COLUMNS, out, "sds", "SDS on the shared val images (oracle boxes)",
                         summaries)
    print(f"wrote {', '.join(map(str, paths))}, {out}/results/, {out}/pictures/")
    return paths
