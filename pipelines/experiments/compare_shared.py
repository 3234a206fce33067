"""``hypercolumns compare-shared``: per-box crops vs shared whole-image features, cost and AP^r in one run.

Two grids, one trained on per-box shards and one on shards of
``features --shared-features`` (each model records its feature source, and
inference follows it), segment the same oracle boxes of the val images; the
same run times both modes' CNN work on the val images with 1, 10 and 50
boxes per image (:func:`~hypercolumns.pipelines.bench.bench_shared.bench_shared_vs_per_box`).
Goal of issue 10: >= 5x fewer CNN FLOPs per box at >= 10 boxes per image,
AP^r within 2 points of the per-box mode.
"""
from __future__ import annotations

from pathlib import Path

from hypercolumns.data.errors import require_file
from hypercolumns.pipelines.experiments.runner import System, mean_over_seeds, run_oracle_evaluation
from hypercolumns.pipelines.experiments.tables import dump, print_table, write_table
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS

COLUMNS = ["mode", "APr@0.5", "APr@0.7", "mean best IoU", "feature source"]


def apr_rows(summaries: dict, models: dict) -> list:
    from hypercolumns.classifiers.model_file import load_grid

    rows = []
    for name, model in models.items():
        source = str(load_grid(model).feature_config.feature_source)
        per_seed = summaries[name]
        rows.append({"mode": name, "APr@0.5": mean_over_seeds(per_seed, "APr@0.5"),
                     "APr@0.7": mean_over_seeds(per_seed, "APr@0.7"),
                     "mean best IoU": mean_over_seeds(per_seed, "mean_best_iou"),
                     "feature source": source})
    return rows


def difference_row(summaries: dict) -> dict:
    """per-box - shared on the val images, with the bootstrap interval over images (seeds as runs)."""
    from hypercolumns.eval.bootstrap import paired_bootstrap_of_summaries

    bootstrap = paired_bootstrap_of_summaries(summaries["per-box"], summaries["shared"])
    row = {"mode": "per-box - shared", "mean best IoU":
           mean_over_seeds(summaries["per-box"], "mean_best_iou")
           - mean_over_seeds(summaries["shared"], "mean_best_iou")}
    for key in ("APr@0.5", "APr@0.7"):
        low, high = bootstrap[key]["interval"]
        row[key] = f"{bootstrap[key]['difference']:.1f} [{low:.1f}, {high:.1f}]"
    return row


def compare_shared(data_root: Path, per_box: Path, shared: Path, out: Path, seeds=(0, 1, 2),
                   images: int = 4, device=None, cross_val_folds: int = 0,
                   per_box_shards: Path = Path("work/features"),
                   shared_shards: Path = Path("work/shared/features"),
                   cv_work: Path = Path("work/shared/cross-val"), cv_seeds=(0, 1, 2)) -> list:
    """Cost of both modes on ``images`` val images and AP^r of the grids ``per_box`` and
    ``shared`` on the val oracle boxes; with ``cross_val_folds``, also both modes
    cross-validated on the training images from their shards.  Prints the tables and
    returns the paths written."""
    for path in (per_box, shared):
        require_file(path, "grid model", "see `make compare-shared`")

    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.pipelines.bench.bench_shared import bench_shared_vs_per_box, print_rows
    from hypercolumns.extract.cnn import frozen_cnn

    out = Path(out)
    records = load_val_records(data_root)
    cost = bench_shared_vs_per_box(frozen_cnn(device=device), records[:images])
    print_rows(cost)
    models = {"per-box": per_box, "shared": shared}
    systems = [System(name, path, DEFAULT_SUPERPIXELS) for name, path in models.items()]
    summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                      device=device, viz=False)
    rows = apr_rows(summaries, models)
    rows.append(difference_row(summaries))
    print(f"AP^r on {len(records)} val images, oracle boxes, mean over seeds {list(seeds)}, "
          f"superpixels {DEFAULT_SUPERPIXELS.method}; the difference with its 95% bootstrap "
          "interval over images")
    print_table(rows, COLUMNS)
    md, csv = write_table(rows, COLUMNS, out / "compare-shared",
                          "Per-box vs shared whole-image features")
    report = {"cost": cost, "apr": rows, "per_seed": summaries}
    written = [md, csv]
    if cross_val_folds:
        shards = {"per-box": Path(per_box_shards).absolute(), "shared": Path(shared_shards).absolute()}
        report["cross_val"], cv_written = cross_validated_comparison(
            Path(data_root).absolute(), shards, out / "cross-val", cross_val_folds, cv_work,
            list(cv_seeds), device)
        written += cv_written
    written.append(dump(report, out / "compare-shared.json"))
    print("wrote " + ", ".join(map(str, written)))
    return written


def cross_validated_comparison(data_root: Path, shards: dict, out: Path, folds: int, work: Path,
                               seeds: list, device=None) -> tuple[dict, list]:
    """Both modes' AP^r on the training images, ``folds``-fold cross-validated from ``shards``
    (mode -> shard folder), the folds' grids in ``work``; the rows and the files written."""
    from hypercolumns.data.datasets import load_training_records
    from hypercolumns.pipelines.experiments.cross_val import cross_validated_apr, train_fold_grids

    records = load_training_records(data_root)
    models = train_fold_grids(shards, records, folds, work)
    report = cross_validated_apr(models, records, data_root, out, folds, tuple(seeds), device=device)
    rows = cross_val_rows(report)
    print(f"AP^r on {report['images']} training images ({report['instances']} instances, "
          f"{report['classes_with_instances']} classes), {folds}-fold cross-validated, "
          f"oracle boxes, seeds {seeds}; per-box - shared with its 95% bootstrap interval "
          f"over images")
    print_table(rows, CV_COLUMNS)
    md, csv = write_table(rows, CV_COLUMNS, out / "cross-val",
                          "Per-box vs shared features, cross-validated on the training images")
    print("mean instance IoU by size (sqrt(box area / image area)), mean over seeds:")
    size_columns = ["relative size", "instances", "per-box", "shared"]
    print_table(report["iou_by_size"], size_columns)
    by_size = write_table(report["iou_by_size"], size_columns, out / "iou-by-size",
                          "Mean instance IoU by relative size, cross-validated")
    return rows, [md, csv, *by_size, out / "cross-val.json"]


CV_COLUMNS = ["seeds", "threshold", "per-box", "shared", "per-box - shared", "95% interval",
              "replicates with shared > per-box", "mean best IoU per-box", "mean best IoU shared"]


def cross_val_rows(report: dict) -> list:
    seeds = report["seeds"]
    rows = []
    for key in ("APr@0.5", "APr@0.7"):
        entry = report["bootstrap"][key]
        low, high = entry["interval"]
        rows.append({"seeds": " ".join(map(str, seeds)), "threshold": key, "per-box": entry["a"],
                     "shared": entry["b"], "per-box - shared": entry["difference"],
                     "95% interval": f"[{low:.1f}, {high:.1f}]",
                     "replicates with shared > per-box": f"{entry['share_a_lower']:.0%}",
                     **{f"mean best IoU {name}": mean_over_seeds(report["summaries"][name], "mean_best_iou")
                        for name in ("per-box", "shared")}})
    return rows
