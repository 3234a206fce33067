"""``hypercolumns eval-sds``: segment oracle boxes with each trained grid, score AP^r on val and by cross-validation.

Train on the shared training data (``make features train-grid``); evaluate on
the PASCAL-Part images of the SDS val split and the 3 relabelled VOC2011
images, never trained on.  The boxes are ground-truth boxes jittered to IoU
0.7-0.9 ("oracle boxes": no detector output exists for the shared data),
scored by the mean probability inside the predicted mask; each val figure
is the mean over ``--seeds`` jitter draws.

The projection (none / SLIC / Felzenszwalb and their sizes, standing in for
MCG, or the heatmap-seeded GrabCut, :data:`~.nested_cv.PROJECTIONS`) is our
choice, so it is made on training images only (``--protocol``,
:mod:`~hypercolumns.classifiers.selection`):

- ``nested-cv`` (default on the shared data, whose val split is 39
  instances): the training images' oracle boxes are segmented in
  ``--outer-folds`` folds by grids that never saw them, each outer fold
  with the projection its ``--inner-folds`` inner folds choose; that report
  (137 images, ~955 instances) comes with 95 % bootstrap intervals over
  images and paired intervals of each row's difference to the selected row.
  Val is printed beside it, labelled small.
- ``plain`` (default on SBD): the projection is chosen by ``--outer-folds``
  cross-validation on the training images; val is the report.
- ``fixed``: no choice; every projection of ``--superpixels`` reported on val.

Under ``nested-cv`` and ``plain`` the val images' projection is the one the
training folds choose; val images reach no choice.  One more val column segments the
exact ground-truth boxes (no jitter) and gives the instances' mean IoU: the
figure box-prompted segmenters report (SAM ViT-H: 77.4 on COCO val with
ground-truth boxes).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hypercolumns.classifiers.selection import reporting_on
from hypercolumns.data.errors import InputError, MissingFileError, require_folder
from hypercolumns.data.files import write_json_atomic
from hypercolumns.eval.bootstrap import mean_interval_over_images
from hypercolumns.pipelines.experiments.runner import (System, ground_truth_box_ious, load_systems, mean_over_seeds,
                                                       run_oracle_evaluation)
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.tables import difference_columns, dump, interval_columns, print_table, write_table
from hypercolumns.pipelines.experiments.nested_cv import PROJECTIONS, PROTOCOLS, check_protocol, default_protocol
from hypercolumns.pipelines.inference.superpixels import projection_settings

VAL_COLUMNS = ["system", "APr@0.5", "APr@0.7", "diff@0.5 vs selected", "diff@0.7 vs selected",
               "mean best IoU", "mIoU (GT boxes)", "95% interval", "selected"]
CV_COLUMNS = ["system", "APr@0.5", "95% interval @0.5", "APr@0.7", "95% interval @0.7",
              "diff@0.5 vs selected", "diff@0.7 vs selected", "mean best IoU"]


def grid_models(folder: Path) -> list:
    """``grid-K<K>.h5`` files of a folder, by K."""
    paths = sorted(Path(folder).glob("grid-K*.h5"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if not paths:
        raise MissingFileError(f"no grid-K*.h5 models in {folder} (run `make train-grid`)")
    return paths


def val_rows(systems, summaries, gt_box_ious: dict, image_ids, selected: str | None, selected_by: str,
             replicates: int) -> list:
    """One row per system; ``image_ids``: each instance's image, for the interval of the GT-box mIoU
    (images drawn with replacement, :func:`mean_interval_over_images`)."""
    rows = []
    for s in systems:
        ious = 100 * np.asarray(gt_box_ious[s.name])
        low, high = mean_interval_over_images(ious, image_ids)
        row = {"system": s.name, "APr@0.5": mean_over_seeds(summaries[s.name], "APr@0.5"),
               "APr@0.7": mean_over_seeds(summaries[s.name], "APr@0.7"),
               "mean best IoU": mean_over_seeds(summaries[s.name], "mean_best_iou"),
               "mIoU (GT boxes)": float(ious.mean()), "95% interval": f"[{low:.1f}, {high:.1f}]",
               "selected": selected_by if s.name == selected else None}
        if selected is not None and s.name != selected:
            row.update(difference_columns(summaries[s.name], summaries[selected], "selected", replicates))
        rows.append(row)
    return rows


def cv_rows(cv: dict, replicates: int) -> list:
    """The cross-validated rows: each projection fixed, the nested choice, the whole box; intervals
    over training images, and each row's paired difference to the selected row."""
    reference = cv["selected"] if "selected" in cv else cv["per_projection"][cv["for_report"].chosen]
    entries = [(f"{cv['name']} {p}", per_seed) for p, per_seed in cv["per_projection"].items()]
    if "selected" in cv:
        entries.insert(0, (f"{cv['name']} selected on inner folds", cv["selected"]))
    entries.append(("whole box", cv["whole box"]))
    return [{"system": name, "mean best IoU": mean_over_seeds(per_seed, "mean_best_iou"),
             **interval_columns(per_seed, reference, "selected", replicates)} for name, per_seed in entries]


def cross_validate(data_root: Path, model: Path, shards: Path, work: Path, out: Path, engines,
                   protocol: str, outer_folds: int, inner_folds: int, seeds, projections) -> dict:
    """:func:`~.nested_cv.nested_cv_report` of ``model``'s K and training options, from ``shards``,
    plus the whole box on the same oracle boxes."""
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.pipelines.experiments.nested_cv import fold_grids_of, nested_cv_report, whole_box_summaries

    records = load_training_records(data_root)
    grids = fold_grids_of(model, shards, records, work, outer_folds, inner_folds if protocol == "nested-cv" else 0)
    for path in grids.models.values():
        engines.grid(path)
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, out / "annotations.json")
    cv = nested_cv_report(grids, records, coco, annotations, data_root, out, engines, model.stem,
                          tuple(seeds), projections)
    whole = whole_box_summaries(cv, records, coco, annotations, data_root, out, engines)
    cv.update({"whole box": whole, "name": model.stem, "images": len(records),
               "instances": len(coco["annotations"]), "protocol": protocol})
    return cv


def evaluate_sds(data_root: Path, models: Path, out: Path, seeds=(0, 1, 2),
                 superpixels=PROJECTIONS, weights=None, device=None,
                 protocol: str | None = None, shards: Path = Path("work/features"),
                 cv_work: Path = Path("work/sds-cv"), outer_folds: int = 3, inner_folds: int = 2,
                 cv_seeds=(0,), replicates: int = 1000) -> list:
    """Every grid of ``models`` (a folder, or one model file) with each projection of
    ``superpixels``, and the whole box, on oracle boxes of the val images; unless ``protocol``
    is ``fixed``, the largest-K grid cross-validated on the training images and the projection
    chosen there (module doc).  Prints the tables and returns the paths written."""
    from hypercolumns.data.datasets import load_val_records

    protocol = check_protocol(protocol or default_protocol(data_root), outer_folds, inner_folds)
    try:
        projections = {name: projection_settings(name) for name in superpixels}
    except ValueError as error:
        raise InputError(f"--superpixels: {error}") from None
    out = Path(out)
    models = [Path(models)] if Path(models).is_file() else grid_models(models)
    if protocol != "fixed":
        require_folder(shards, "shards folder", "the cross-validation trains its folds' grids from stage "
                       "one's shards (`make features`); --protocol fixed needs none")
    systems = [System(f"{m.stem} {name}", m, settings) for m in models for name, settings in projections.items()]
    systems.append(System("whole box", None))
    records = load_val_records(data_root)
    engines = load_systems(systems, weights, device)   # a bad model is refused before anything is written
    report, written, selected, selected_by = {"protocol": protocol}, [], None, "not chosen (--protocol fixed)"
    with reporting_on(record.image_id for record in records):
        if protocol != "fixed":
            cv = cross_validate(Path(data_root), models[-1], shards, Path(cv_work), out / "cross-val", engines,
                                protocol, outer_folds, inner_folds, cv_seeds, tuple(superpixels))
            choice = cv["for_report"]
            selected, selected_by = f"{models[-1].stem} {choice.chosen}", f"{choice.selected_on}"
            written += _report_cross_validation(cv, out, replicates, report)
        coco = coco_annotations(records, data_root)   # one ground truth for both passes
        pictured = selected or next(s.name for s in systems if s.model_path is not None)
        summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                          viz_system=pictured, engines=engines, coco=coco)
        gt_ious = ground_truth_box_ious(systems, records, coco, data_root, out, engines)
    rows = val_rows(systems, summaries, gt_ious, [a["image_id"] for a in coco["annotations"]], selected,
                    selected_by, replicates)
    n_instances = sum(len(r.instances) for r in records)
    print(f"SDS on {len(records)} val images, {n_instances} instances (a small sample: one instance moves "
          f"a class's AP by up to 100 points), oracle boxes (ground truth jittered to IoU 0.7-0.9), mean "
          f"over seeds {list(seeds)}; AP^r by the official SDS rule; diff: row - selected with its paired "
          "95% bootstrap interval over images; mIoU (GT boxes): mean IoU of each instance's mask from its "
          "exact ground-truth box, with a 95% bootstrap interval over images")
    print_table(rows, VAL_COLUMNS)
    written += write_table(rows, VAL_COLUMNS, out / "sds", "SDS on the shared val images (oracle boxes)")
    report.update({"rows": rows, "per_seed": summaries})
    written.append(dump(report, out / "summary.json"))
    print(f"wrote {', '.join(map(str, written))}, {out}/results/, {out}/pictures/")
    return written


def _report_cross_validation(cv: dict, out: Path, replicates: int, report: dict) -> list:
    from hypercolumns.pipelines.experiments.nested_cv import selection_lines, selection_record

    rows = cv_rows(cv, replicates)
    how = (f"nested cross-validation: {len(cv['choices'])} outer folds reported, each with the projection "
           "chosen on inner folds of its training images" if cv["choices"] else
           "plain protocol: these outer folds choose the projection of the val images")
    print(f"SDS cross-validated on {cv['images']} training images, {cv['instances']} instances, oracle boxes, "
          f"seeds {list(cv['detections'])}; {how}; 95% bootstrap intervals over images; diff: row - selected "
          "with its paired interval")
    print_table(rows, CV_COLUMNS)
    for line in selection_lines(cv):
        print(f"  selected, {line}")
    report["cross_validation"] = {"rows": rows, "selection": selection_record(cv), "images": cv["images"],
                                  "instances": cv["instances"], "per_projection": cv["per_projection"],
                                  "selected": cv.get("selected"), "whole box": cv["whole box"]}
    return list(write_table(rows, CV_COLUMNS, out / "sds-cross-val",
                            "SDS cross-validated on the shared training images (oracle boxes)"))
