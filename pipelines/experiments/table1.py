"""``hypercolumns reproduce-table1``: the paper's Table 1 ablations on the shared data, one table.

Rows (the paper's names in brackets): *Only global* [Only fc7], *global +
pool3* [fc7 + pool2], *global + conv4_3* [fc7 + conv4], *pool3 + conv4_3*
[pool2 + conv4], the *full hypercolumn* [Hyp] with a 10x10 grid, the same
with *1x1, 2x2, 5x5* grids, *Hyp + bbox-reg* and *Hyp + FT + bbox-reg*
(R-CNN box regression applied to the boxes before segmenting; the network
fine-tuned by ``finetune``), and a *whole box* baseline (mask = the box).
Every grid is trained (stage two) on the same stage-one shards, selecting
the blocks of the row; all rows are evaluated on the same oracle boxes of the
val images (3 jitter seeds), the CNN running once per box.

Columns: AP^r at 0.5 and 0.7 (official SDS rule) and the mean IoU of each
oracle box's mask with its instance, each the mean over the seeds; each
row's AP^r difference to the full system with its paired 95 % bootstrap
interval over images (the same images drawn for both rows, the seeds
averaged inside each draw: :mod:`~hypercolumns.eval.bootstrap`), the
quantity the table reports; as a second column the p-value of a two-sided
paired permutation test against the full system over the per-instance IoUs
(averaged over seeds; the unit permuted is the instance, which treats the
instances of one image as independent); the paper's Table 1 numbers beside
(VOC2012 val, T-Net; not comparable in level, see README).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypercolumns.classifiers.provenance import made_from
from hypercolumns.classifiers.selection import reporting_on
from hypercolumns.classifiers.train_bbox import train_box_regressor
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.extract.shards import list_shards, shards_config
from hypercolumns.eval.permutation import paired_permutation_test
from hypercolumns.pipelines.experiments.runner import (System, _slug, instance_iou_over_seeds, load_systems,
                                                      mean_over_seeds, run_oracle_evaluation)
from hypercolumns.pipelines.experiments.tables import difference_columns, dump, interval_columns, print_table, write_table
from hypercolumns.pipelines.finetune.training import run_finetune
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS
from hypercolumns.pipelines.inference.superpixels import projection_settings

# (row name, blocks, K, paper's row, paper AP^r@0.5, paper AP^r@0.7) — tables.md, Table 1
ROWS = [
    ("Only global", ("global",), 10, "Only fc7", 49.7, 25.8),
    ("global + pool3", ("global", "pool3"), 10, "fc7 + pool2", 50.5, 30.6),
    ("global + conv4_3", ("global", "conv4_3"), 10, "fc7 + conv4", 51.0, 31.2),
    ("pool3 + conv4_3", ("pool3", "conv4_3"), 10, "pool2 + conv4", 50.7, 30.8),
    ("full hypercolumn", None, 10, "Hyp", 51.2, 31.6),
    ("1x1 grid", None, 1, "1x1 grid", 50.3, 28.8),
    ("2x2 grid", None, 2, "2x2 grid", 51.2, 30.2),
    ("5x5 grid", None, 5, "5x5 grid", 51.3, 31.8),
]
FULL = "full hypercolumn"
# rows on top of the full K = 10 system: (row name, fine-tuned?, paper's row, @0.5, @0.7)
REFINED_ROWS = [
    ("Hyp + bbox-reg", False, "Hyp + bbox-reg", 51.9, 32.4),
    ("Hyp + FT + bbox-reg", True, "Hyp + FT + bbox-reg", 52.8, 33.7),
]
COLUMNS = ["system", "APr@0.5", "APr@0.7", "diff@0.5 vs full", "diff@0.7 vs full", "mean IoU",
           "p vs full (IoU permutation, unit: instance)", "paper row", "paper APr@0.5", "paper APr@0.7"]


def model_folder(work: Path, models: Path, blocks) -> Path:
    """Full-hypercolumn grids live with ``make train-grid``'s; ablations under ``work``."""
    return models if blocks is None else work / "_".join(blocks)


def train_missing(shards: Path, work: Path, models: Path, options: TrainOptions) -> dict:
    """Train the grids the rows need unless made from these shards; ``{row name: model path}``."""
    shards_hash = shards_config(list_shards(shards)).config_hash
    paths = {}
    by_blocks: dict = {}
    for name, blocks, K, *_ in ROWS:
        paths[name] = model_folder(work, models, blocks) / f"grid-K{K}.h5"
        by_blocks.setdefault(blocks, []).append(K)
    for blocks, Ks in by_blocks.items():
        folder = model_folder(work, models, blocks)
        missing = [K for K in Ks if not made_from(folder / f"grid-K{K}.h5", shards_hash)]
        if missing:
            print(f"training {'full hypercolumn' if blocks is None else ' + '.join(blocks)}, K = {missing}")
            train_grids(shards, folder, replace(options, Ks=tuple(missing), blocks=blocks))
    return paths


def refinement_models(data_root: Path, shards: Path, models: Path, finetuned: Path) -> tuple[Path, Path]:
    """The box regressor and the fine-tuned K = 10 grid, made first (with their defaults) if missing."""
    shards_hash = shards_config(list_shards(shards)).config_hash
    regressor = Path(models) / "bbox-reg.h5"
    if not made_from(regressor, shards_hash):
        train_box_regressor(data_root, shards, models)
    tuned = Path(finetuned) / "grid-K10-ft.h5"
    if not made_from(tuned, shards_hash):
        run_finetune(data_root, Path(models) / "grid-K10.h5", finetuned)
    return regressor, tuned


def table_rows(summaries: dict, systems: list, replicates: int = 1000) -> list:
    full_iou = instance_iou_over_seeds(summaries[FULL])
    rows = []
    paper = {name: (row, a, b) for name, _, _, row, a, b in ROWS}
    paper.update({name: (row, a, b) for name, _, row, a, b in REFINED_ROWS})
    for system in systems:
        per_seed = summaries[system.name]
        iou = instance_iou_over_seeds(per_seed)
        paper_row, paper_05, paper_07 = paper.get(system.name, (None, None, None))
        row = {"system": system.name, "APr@0.5": mean_over_seeds(per_seed, "APr@0.5"),
               "APr@0.7": mean_over_seeds(per_seed, "APr@0.7"), "mean IoU": 100 * float(iou.mean()),
               "paper row": paper_row, "paper APr@0.5": paper_05, "paper APr@0.7": paper_07}
        if system.name != FULL:
            row["p vs full (IoU permutation, unit: instance)"] = paired_permutation_test(iou, full_iou)[1]
            row.update(difference_columns(per_seed, summaries[FULL], "full", replicates))
        rows.append(row)
    return rows


CV_COLUMNS = ["system", "APr@0.5", "95% interval @0.5", "APr@0.7", "95% interval @0.7", "diff@0.5 vs full",
              "diff@0.7 vs full", "mean IoU"]


def fold_models(records: list, shards: Path, work: Path, folds, options: TrainOptions) -> dict:
    """``{row name: {outer fold: model path}}`` of every grid row of :data:`ROWS` but the full K = 10 one
    (whose fold grids are ``eval-sds``'s), each trained from ``shards`` without the fold's images."""
    from hypercolumns.pipelines.experiments.cross_val import train_grids_without

    ids = {record.image_id for record in records}
    left_out = {f"fold {f.outer}": f.reported for f in folds}
    models = {}
    for name, blocks, K, *_ in ROWS:
        if name == FULL:
            continue
        folder = Path(work) / "cross-val" / _slug(name)   # one per row: a folder's summary names its K
        paths = train_grids_without(Path(shards).absolute(), ids, left_out, folder, K,
                                    replace(options, blocks=blocks))
        models[name] = {f.outer: paths[f"fold {f.outer}"] for f in folds}
    return models


def fold_refinements(data_root: Path, shards: Path, models: Path, work: Path, grids, device=None) -> dict:
    """``{refined row: {outer fold: (model path, box regressor)}}`` of :data:`REFINED_ROWS`: per outer
    fold, a box regressor and a fine-tuning run (from the fold's K = 10 grid) made without the fold's
    images, with ``train-bbox-reg``'s and ``finetune``'s defaults, where not already made so from the same
    shards, grid and defaults (``work/cross-val/refined/fold-<o>/left-out.json``)."""
    import inspect
    import json
    import shutil
    from dataclasses import asdict

    from hypercolumns.pipelines.finetune.training import FinetuneOptions

    shards_hash = shards_config(list_shards(shards)).config_hash
    defaults = {name: repr(p.default) for name, p in inspect.signature(train_box_regressor).parameters.items()
                if p.default is not inspect.Parameter.empty and name not in ("exclude_images", "descriptor_cache")}
    made = {}
    for fold in grids.folds:
        base = grids.models[("outer", fold.outer)]
        folder = Path(work) / "cross-val" / "refined" / f"fold-{fold.outer}"
        record = {"shards": shards_hash, "left_out": sorted(map(str, fold.reported)),
                  "base_grid": [str(base), Path(base).stat().st_mtime], "box_regression": defaults,
                  "finetune": asdict(FinetuneOptions())}
        regressor, tuned = folder / "bbox-reg.h5", folder / "finetune" / "grid-K10-ft.h5"
        stamp = folder / "left-out.json"
        if not (stamp.is_file() and json.loads(stamp.read_text()) == record and regressor.is_file()
                and tuned.is_file()):
            print(f"outer fold {fold.outer}: box regressor and fine-tuning without its {len(fold.reported)} images")
            stamp.unlink(missing_ok=True)
            shutil.rmtree(folder / "finetune", ignore_errors=True)   # a checkpoint of another run would resume
            train_box_regressor(data_root, shards, folder, exclude_images=fold.reported,
                                descriptor_cache=Path(models) / "bbox-descriptors.npz")
            run_finetune(data_root, base, folder / "finetune", device=device, exclude_images=fold.reported)
            stamp.write_text(json.dumps(record))
        made[fold.outer] = (base, regressor), (tuned, regressor)
    return {name: {o: pair[1 if is_tuned else 0] for o, pair in made.items()}
            for name, is_tuned, *_ in REFINED_ROWS}


def cross_validated_rows(summaries: dict, replicates: int) -> list:
    """One row per system: AP^r pooled over the outer folds with its interval over images, and its
    paired difference to the full system's."""
    return [{"system": name, "mean IoU": 100 * float(instance_iou_over_seeds(per_seed).mean()),
             **interval_columns(per_seed, summaries[FULL], "full", replicates)} for name, per_seed in summaries.items()]


def cross_validate_table1(data_root: Path, shards: Path, models: Path, work: Path, cv_work: Path, out: Path,
                          folds: int, seeds, replicates: int, device=None,
                          projections: Path | None = None) -> tuple[list, dict]:
    """Every row cross-validated on the training images (``folds`` outer folds by image; the refined
    rows with a box regressor and a fine-tuning run per fold, :func:`fold_refinements`), each outer
    fold projected as the full system's 2 inner folds chose
    (:func:`~.nested_cv.nested_cv_report`); prints the table and returns the paths written and the report.

    ``projections``: ``eval-sds``'s ``summary.json``, whose inner folds already chose among every
    projection for these grids and folds (:func:`~.rescoring_cv.chosen_projections`): only the
    projections chosen there are segmented and chosen among again (the same inner scores, so the
    same choice), instead of every projection for every row's grid."""
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.data.files import write_json_atomic
    from hypercolumns.pipelines.experiments.nested_cv import (PROJECTIONS, fold_grids_of, nested_cv_report,
                                                             selection_lines, selection_record, whole_box_summaries)
    from hypercolumns.pipelines.experiments.oracle import coco_annotations

    out = Path(out)
    records = load_training_records(data_root)
    grids = fold_grids_of(Path(models) / "grid-K10.h5", shards, records, cv_work, folds, 2)
    candidates = PROJECTIONS
    if projections is not None:
        from hypercolumns.pipelines.experiments.rescoring_cv import chosen_projections

        per_fold, _ = chosen_projections(Path(projections), grids.folds)
        chosen = set(per_fold.values())   # in eval-sds's order, so that a tie goes where it went there
        candidates = tuple(p for p in PROJECTIONS if p in chosen) + tuple(sorted(chosen - set(PROJECTIONS)))
        print(f"projections: eval-sds's inner choices ({projections}): " +
              ", ".join(f"outer fold {o} {p}" for o, p in per_fold.items()))
    companions = fold_models(records, shards, work, grids.folds, TrainOptions())
    companions.update(fold_refinements(data_root, shards, models, work, grids, device))
    engines = load_systems([], device=device)
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, out / "annotations.json")
    cv = nested_cv_report(grids, records, coco, annotations, data_root, out, engines, FULL, tuple(seeds),
                          candidates, companions=companions)
    summaries = {FULL: cv["selected"], **cv["companions"],
                 "whole box": whole_box_summaries(cv, records, coco, annotations, data_root, out, engines)}
    summaries = ({name: summaries[name] for name, *_ in ROWS} | {name: summaries[name] for name, *_ in REFINED_ROWS}
                 | {"whole box": summaries["whole box"]})
    rows = cross_validated_rows(summaries, replicates)
    for line in selection_lines(cv):
        print(line)
    print(f"Table 1 cross-validated on {len(records)} training images ({len(coco['annotations'])} instances), "
          f"{folds} outer folds by image, oracle boxes, seeds {list(seeds)}; each outer fold projected as the full "
          "system's 2 inner folds chose; 95% bootstrap intervals over images; diff: row - full with its paired "
          "interval")
    print_table(rows, CV_COLUMNS)
    written = list(write_table(rows, CV_COLUMNS, out / "table1-cross-val",
                               "Table 1 ablations cross-validated on the shared training images"))
    report = {"rows": rows, "folds": folds, "images": len(records), "instances": len(coco["annotations"]),
              "selection": selection_record(cv)}
    written.append(dump({**report, "summaries": summaries}, out / "cross-val.json"))
    return written, report


def reproduce_table1(data_root: Path, shards: Path, models: Path, work: Path, finetuned: Path,
                     out: Path, seeds=(0, 1, 2), superpixels: str = DEFAULT_SUPERPIXELS.method, weights=None,
                     device=None, cross_val_folds: int = 3, cv_seeds=(0,), replicates: int = 1000,
                     cv_work: Path = Path("work/sds-cv"), projections: Path | None = None) -> list:
    """Table 1: the grids, box regressor and fine-tuned grid made where missing, every row
    evaluated on the val images' oracle boxes, and (``cross_val_folds`` > 0) the grid rows
    cross-validated on the training images; prints the tables and returns the paths written.

    ``models`` holds the full-hypercolumn grids (``train-grid``'s), ``work`` the
    ablations' and their folds', ``cv_work`` the full K = 10 grid's nested folds
    (``eval-sds``'s), ``finetuned`` the fine-tuning run (``finetune``'s).  Val is
    projected with ``superpixels`` (the default: what ``eval-sds``'s folds chose); ``projections``
    (``eval-sds``'s ``summary.json``) limits the cross-validation to the projections chosen there
    (:func:`cross_validate_table1`).
    """
    from hypercolumns.data.datasets import load_val_records

    records = load_val_records(data_root)
    with reporting_on(record.image_id for record in records):
        return _reproduce_table1(records, data_root, shards, models, work, finetuned, out, seeds, superpixels,
                                 weights, device, cross_val_folds, cv_seeds, replicates, cv_work, projections)


def _reproduce_table1(records, data_root, shards, models, work, finetuned, out, seeds, superpixels, weights,
                      device, cross_val_folds, cv_seeds, replicates, cv_work, projections) -> list:
    written = []
    projection = projection_settings(superpixels)
    if cross_val_folds:
        written, cv_report = cross_validate_table1(Path(data_root), shards, Path(models), Path(work), Path(cv_work),
                                                   Path(out) / "cross-val", cross_val_folds, cv_seeds, replicates,
                                                   device, projections)
    paths = train_missing(shards, work, models, TrainOptions())
    regressor, tuned = refinement_models(data_root, shards, models, finetuned)
    systems = [System(name, paths[name], projection) for name, *_ in ROWS]
    systems += [System(name, tuned if is_tuned else paths[FULL], projection, regressor)
                for name, is_tuned, *_ in REFINED_ROWS]
    systems.append(System("whole box", None))
    summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                      weights, device, viz=False)
    rows = table_rows(summaries, systems, replicates)
    print(f"Table 1 on the shared val images ({sum(len(r.instances) for r in records)} instances: a small "
          f"sample), oracle boxes, mean over seeds {list(seeds)}, superpixels: {superpixels}; diff: row - full "
          "with its paired 95% bootstrap interval over images; paper: VOC2012 val, T-Net, MCG candidates")
    print_table(rows, COLUMNS)
    written += write_table(rows, COLUMNS, Path(out) / "table1", "Table 1 ablations on the shared val images")
    report = {"rows": rows, "per_seed": summaries}
    if cross_val_folds:
        report["cross_validation"] = cv_report
    written.append(dump(report, Path(out) / "summary.json"))
    print(f"wrote {', '.join(map(str, written))}, {out}/results/")
    return written
