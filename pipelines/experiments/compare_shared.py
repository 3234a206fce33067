"""``hypercolumns compare-shared``: per-box crops vs shared whole-image features, cost and AP^r in one run.

Two grids, one trained on per-box shards and one on shards of
``features --shared-features`` (each model records its feature source, and
inference follows it), segment the same oracle boxes of the val images; the
same run times both modes' CNN work on the val images with 1, 10 and 50
boxes per image (:func:`~hypercolumns.pipelines.bench.bench_shared.bench_shared_vs_per_box`).
Goal of issue 10: >= 5x fewer CNN FLOPs per box at >= 10 boxes per image,
AP^r within 2 points of the per-box mode.

The shared mode's margin (mean-coloured px around the resized image) is a
free choice of ours: with several ``--shared`` grids (one per candidate, each
with its shards), the training images choose (``--protocol``, as ``eval-sds``
has it):

- ``nested-cv`` (default on the shared data): per-box and every candidate
  are segmented in ``--outer-folds`` folds by grids that never saw them
  (:func:`~.nested_cv.nested_cv_report`, each candidate a variant of the
  per-box folds); each outer fold is reported with the candidate its
  ``--inner-folds`` inner folds choose (``shared, selected on inner folds``:
  the estimate of the whole procedure, not the best of several scores), and
  the val images get the candidate the outer folds pooled score best;
- ``plain``: the outer folds alone choose; val is the report;
- ``fixed``: no cross-validation, one ``--shared`` grid, val only.

Per-box is the reference row, never chosen; every row has its 95 %
bootstrap interval over images and its paired difference to per-box.  The
per-box fold grids are ``eval-sds``'s (``--per-box-cv-work``, the same K,
options and folds), trained where missing.  The scale is not a
candidate: it is held at 224 px by the cost goal (at 256 px the FLOPs per box
at 10 boxes are 4.4x fewer than per-box, at 224 px 5.6x; images of the cost
measurement).  A 32 px margin fails the goal too (4.6x), so the candidates are
16 px and none (7.1x).
"""
from __future__ import annotations

from pathlib import Path

from hypercolumns.data.errors import InputError, require_file
from hypercolumns.pipelines.experiments.runner import System, mean_over_seeds, run_oracle_evaluation
from hypercolumns.pipelines.experiments.tables import difference_columns, dump, print_table, write_table
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS

PROJECTION = "none"
"""Every row's projection: the per-pixel threshold, the protocol's default (what eval-sds's folds chose)."""

REFERENCE = "per-box"
VAL_COLUMNS = ["mode", "APr@0.5", "APr@0.7", f"diff@0.5 vs {REFERENCE}", f"diff@0.7 vs {REFERENCE}",
               "mean best IoU", "feature source"]
CV_COLUMNS = ["system", "APr@0.5", "95% interval @0.5", "APr@0.7", "95% interval @0.7",
              f"diff@0.5 vs {REFERENCE}", f"diff@0.7 vs {REFERENCE}", "mean best IoU", "chosen"]
SELECTED = "shared, selected on inner folds"


def val_rows(summaries: dict, models: dict, replicates: int = 1000) -> list:
    """Per-box and the shared grid on the val images: AP^r, the paired difference to per-box with its
    bootstrap interval over images (seeds as runs), mean best IoU and each grid's feature source."""
    from hypercolumns.classifiers.model_file import load_grid

    rows = []
    for name, model in models.items():
        per_seed = summaries[name]
        row = {"mode": name, "APr@0.5": mean_over_seeds(per_seed, "APr@0.5"),
               "APr@0.7": mean_over_seeds(per_seed, "APr@0.7"),
               "mean best IoU": mean_over_seeds(per_seed, "mean_best_iou"),
               "feature source": str(load_grid(model).feature_config.feature_source)}
        if name != REFERENCE:
            row.update(difference_columns(per_seed, summaries[REFERENCE], REFERENCE, replicates))
        rows.append(row)
    return rows


def candidate_name(model: Path) -> str:
    """``shared@<scale> margin <px>``: a shared-mode grid's name, from its recorded feature source."""
    from hypercolumns.classifiers.model_file import load_grid

    source = load_grid(model).feature_config.feature_source
    if source.mode != "shared":
        raise InputError(f"--shared {model}: a grid on {source.mode} features; give grids trained on shards of "
                         "`features --shared-features`")
    return f"shared@{source.scale:g} margin {source.margin}"


def check_shards_of(model: Path, shards_dir: Path) -> None:
    """The shards in ``shards_dir`` are of the feature source ``model`` was trained on (InputError otherwise):
    a candidate's cross-validation must train on its own grid's kind of features."""
    from hypercolumns.classifiers.model_file import load_grid
    from hypercolumns.extract.shards import list_shards, shards_config

    grid_source = load_grid(model).feature_config.feature_source
    shard_source = shards_config(list_shards(shards_dir)).feature_source
    if shard_source != grid_source:
        raise InputError(f"--shared-shards {shards_dir}: shards of {shard_source}, but its --shared grid {model} "
                         f"was trained on {grid_source}; give the folders in the grids' order")


def compare_shared(data_root: Path, per_box: Path, shared, out: Path, seeds=(0, 1, 2),
                   images: int = 4, device=None, protocol: str | None = None, outer_folds: int = 3,
                   inner_folds: int = 2, per_box_shards: Path = Path("work/features"),
                   shared_shards=(Path("work/shared/margin16/features"),),
                   per_box_cv_work: Path = Path("work/sds-cv"), cv_work: Path = Path("work/shared/cross-val"),
                   cv_seeds=(0, 1, 2), replicates: int = 1000) -> list:
    """Cost of both modes on ``images`` val images and AP^r of the grids ``per_box`` and
    ``shared`` (one path, or several candidates with their ``shared_shards``) on the val oracle
    boxes; unless ``protocol`` is ``fixed``, per-box and every candidate cross-validated on the
    training images from their shards, and the candidate chosen there (module doc).  Prints the
    tables and returns the paths written."""
    from hypercolumns.classifiers.selection import reporting_on
    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.pipelines.experiments.nested_cv import check_protocol, default_protocol

    protocol = check_protocol(protocol or default_protocol(data_root), outer_folds, inner_folds)
    shared, shared_shards = _path_list(shared), _path_list(shared_shards)
    for path in (per_box, *shared):
        require_file(path, "grid model", "see `make compare-shared`")
    if len(shared) > 1 and protocol == "fixed":
        raise InputError(f"{len(shared)} --shared grids are candidates, chosen among on the training images: "
                         "give --protocol nested-cv or plain")
    if protocol != "fixed" and len(shared_shards) != len(shared):
        raise InputError(f"--shared-shards: one folder per --shared grid, in its order ({len(shared)}), got "
                         f"{len(shared_shards)}")
    out = Path(out)
    records = load_val_records(data_root)
    report, written = {"protocol": protocol}, []
    candidates = {candidate_name(path): path for path in shared}
    if len(candidates) != len(shared):
        raise InputError(f"two --shared grids have the same feature source: {', '.join(map(str, shared))}")
    chosen = next(iter(candidates))
    with reporting_on(record.image_id for record in records):   # no choice below may look at them
        if protocol != "fixed":
            for model, shards_dir in zip(shared, shared_shards):
                check_shards_of(model, shards_dir)
            cv = cross_validated_comparison(
                Path(data_root).absolute(), Path(per_box), Path(per_box_shards).absolute(),
                {name: (path, Path(d).absolute()) for (name, path), d in zip(candidates.items(), shared_shards)},
                out / "cross-val", protocol, outer_folds, inner_folds, Path(per_box_cv_work), Path(cv_work),
                tuple(cv_seeds), device, replicates)
            report["cross_val"], written = cv["record"], cv["written"]
            report["selection"], chosen = cv["for_val"].as_dict(), cv["chosen"]
    _compare_on_val(records, data_root, per_box, candidates[chosen], chosen, out, seeds, images, device, report,
                    written, replicates)
    written.append(dump(report, out / "compare-shared.json"))
    print("wrote " + ", ".join(map(str, written)))
    return written


def _path_list(value) -> list:
    """One path or several, as a list of paths."""
    return [Path(value)] if isinstance(value, (str, Path)) else [Path(p) for p in value]


def _compare_on_val(records, data_root, per_box, shared, shared_name, out, seeds, images, device, report,
                    written, replicates=1000) -> None:
    from hypercolumns.pipelines.bench.bench_shared import bench_shared_vs_per_box, print_rows
    from hypercolumns.extract.cnn import frozen_cnn

    from hypercolumns.classifiers.model_file import load_grid

    source = load_grid(shared).feature_config.feature_source   # the cost of the candidate val sees
    cost = bench_shared_vs_per_box(frozen_cnn(device=device), records[:images], scales=(source.scale,),
                                   max_size=source.max_size, margin=source.margin)
    print_rows(cost)
    models = {REFERENCE: per_box, "shared": shared}
    systems = [System(name, path, DEFAULT_SUPERPIXELS) for name, path in models.items()]
    summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                      device=device, viz=False)
    rows = val_rows(summaries, models, replicates)
    print(f"AP^r on {len(records)} val images (a small sample), oracle boxes, mean over seeds {list(seeds)}, "
          f"superpixels {DEFAULT_SUPERPIXELS.method}, shared = {shared_name}; diff: shared - per-box with its "
          "paired 95% bootstrap interval over images")
    print_table(rows, VAL_COLUMNS)
    written += write_table(rows, VAL_COLUMNS, out / "compare-shared", "Per-box vs shared whole-image features")
    report.update({"cost": cost, "apr": rows, "per_seed": summaries, "val_shared": shared_name})


def cross_validated_comparison(data_root: Path, per_box: Path, per_box_shards: Path, candidates: dict,
                               out: Path, protocol: str, outer_folds: int, inner_folds: int,
                               per_box_work: Path, work: Path, seeds: tuple, device=None,
                               replicates: int = 1000) -> dict:
    """Per-box and each shared candidate (``{name: (grid, shards folder)}``) on the training images'
    oracle boxes, by the folds of ``protocol``; the shared candidates chosen among, per-box the
    reference.  Prints the tables; returns ``record`` (for the results file), ``for_val`` (the
    :class:`~hypercolumns.classifiers.selection.Selection` the val images get) and ``written``."""
    from hypercolumns.classifiers.selection import check_training_only
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.data.files import write_json_atomic
    from hypercolumns.pipelines.experiments.cross_val import iou_by_size
    from hypercolumns.pipelines.experiments.nested_cv import (fold_grids_of, nested_cv_report, selection_lines,
                                                             selection_record)
    from hypercolumns.pipelines.experiments.oracle import coco_annotations
    from hypercolumns.pipelines.experiments.runner import _slug, instance_iou_over_seeds, load_systems

    records = load_training_records(data_root)
    check_training_only([record.image_id for record in records], "shared features")   # before any grid
    inner = inner_folds if protocol == "nested-cv" else 0
    grids = fold_grids_of(per_box, per_box_shards, records, per_box_work, outer_folds, inner)
    variants = {name: fold_grids_of(model, shards_dir, records, work / _slug(name), outer_folds, inner)
                for name, (model, shards_dir) in candidates.items()}
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, out / "annotations.json")
    keys = {f"{name}+{PROJECTION}": name for name in candidates}
    cv = nested_cv_report(grids, records, coco, annotations, data_root, out, load_systems([], device=device),
                          "shared", seeds, (PROJECTION,), variants=variants, choose_among=list(keys),
                          setting="shared features")
    rows = cv_rows(cv, keys, replicates)
    how = (f"nested cross-validation: {len(cv['choices'])} outer folds reported, each with the candidate chosen "
           "on inner folds of its training images" if cv["choices"] else
           "plain protocol: these outer folds choose the val images' candidate (its row is the best of "
           f"{len(keys)} scores, not an unbiased estimate)")
    print(f"AP^r cross-validated on {len(records)} training images ({len(coco['annotations'])} instances), "
          f"oracle boxes, seeds {list(seeds)}, projection {PROJECTION}; {how}; 95% bootstrap intervals over "
          "images; diff: row - per-box with its paired interval")
    print_table(rows, CV_COLUMNS)
    for line in selection_lines(cv):
        print(f"  selected, {line}")
    written = list(write_table(rows, CV_COLUMNS, out / "cross-val",
                               "Per-box vs shared features, cross-validated on the training images"))
    per_system = {name: per_seed for name, per_seed, _ in row_entries(cv, keys)}
    sizes = iou_by_size(coco, {name: instance_iou_over_seeds(per_seed) for name, per_seed in per_system.items()})
    size_columns = ["relative size", "instances", *per_system]
    print("mean instance IoU by size (sqrt(box area / image area)), mean over seeds:")
    print_table(sizes, size_columns)
    written += write_table(sizes, size_columns, out / "iou-by-size", "Mean instance IoU by relative size, "
                           "cross-validated")
    record = {"rows": rows, "iou_by_size": sizes, "selection": selection_record(cv), "protocol": protocol,
              "images": len(records), "instances": len(coco["annotations"]), "seeds": list(seeds),
              "per_system": per_system}
    written.append(dump(record, out / "cross-val.json"))
    return {"record": record, "for_val": cv["for_report"], "chosen": keys[cv["for_report"].chosen],
            "written": written}


def row_entries(cv: dict, keys: dict) -> list:
    """``(row name, {seed: summary}, candidate key or None)``: per-box, each candidate held fixed, then
    (nested-cv) each outer fold as its inner folds chose; ``keys``: candidate key -> name."""
    entries = [(REFERENCE, cv["per_projection"][PROJECTION], None)]
    entries += [(name, cv["per_projection"][key], key) for key, name in keys.items()]
    if "selected" in cv:
        entries.append((SELECTED, cv["selected"], None))
    return entries


def cv_rows(cv: dict, keys: dict, replicates: int = 1000) -> list:
    """One row per :func:`row_entries` entry: AP^r with its interval over images, the paired difference
    to per-box, mean best IoU, and which candidate the val images get."""
    from hypercolumns.pipelines.experiments.tables import interval_columns

    reference = cv["per_projection"][PROJECTION]
    for_val = cv["for_report"].chosen
    return [{"system": name, **interval_columns(per_seed, reference, REFERENCE, replicates),
             "mean best IoU": mean_over_seeds(per_seed, "mean_best_iou"),
             "chosen": "for val" if key == for_val else None}
            for name, per_seed, key in row_entries(cv, keys)]
