"""``hypercolumns eval-sds``: segment oracle boxes of the val images with each trained grid, score AP^r.

Train on the shared training data (``make features train-grid``); evaluate on
the PASCAL-Part images of the SDS val split and the 3 relabelled VOC2011
images, never trained on.  The boxes are ground-truth boxes jittered to IoU
0.7-0.9 ("oracle boxes": no detector output exists for the shared data),
scored by the mean probability inside the predicted mask; each figure is the
mean over ``--seeds`` jitter draws.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from hypercolumns.pipelines.experiments.runner import System, mean_over_seeds, run_oracle_evaluation
from hypercolumns.pipelines.experiments.tables import report_table
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings

COLUMNS = ["system", "APr@0.5", "APr@0.7", "mean best IoU"]


def grid_models(folder: Path) -> list:
    """``grid-K<K>.h5`` files of a folder, by K."""
    paths = sorted(Path(folder).glob("grid-K*.h5"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if not paths:
        raise FileNotFoundError(f"no grid-K*.h5 models in {folder} (run `make train-grid`)")
    return paths


def summary_rows(systems, summaries) -> list:
    return [{"system": s.name,
             "APr@0.5": mean_over_seeds(summaries[s.name], "APr@0.5"),
             "APr@0.7": mean_over_seeds(summaries[s.name], "APr@0.7"),
             "mean best IoU": mean_over_seeds(summaries[s.name], "mean_best_iou")}
            for s in systems]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hypercolumns eval-sds", description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=Path("work/models"),
                        help="folder of grid-K*.h5 files, or one model file")
    parser.add_argument("--out", type=Path, default=Path("results/sds"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--superpixels", nargs="+", default=["none", "felzenszwalb", "slic"],
                        choices=["none", "slic", "felzenszwalb"],
                        help="projections to compare (none = per-pixel threshold)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from hypercolumns.data.datasets import load_val_records

    models = [args.models] if args.models.is_file() else grid_models(args.models)
    systems = [System(f"{m.stem} {method}", m, SuperpixelSettings(method=method))
               for m in models for method in args.superpixels]
    systems.append(System("whole box", None))
    records = load_val_records(args.data_root)
    pictured = next((s.name for s in reversed(systems)
                     if s.model_path is not None and s.superpixels == DEFAULT_SUPERPIXELS), None)
    summaries = run_oracle_evaluation(systems, records, args.data_root, args.out, tuple(args.seeds),
                                      args.weights, args.device, viz_system=pictured)
    rows = summary_rows(systems, summaries)
    n_instances = sum(len(r.instances) for r in records)
    print(f"SDS on {len(records)} val images, {n_instances} instances, oracle boxes "
          f"(ground truth jittered to IoU 0.7-0.9), mean over seeds {args.seeds}; "
          "AP^r by the official SDS rule")
    paths = report_table(rows, COLUMNS, args.out, "sds",
                         "SDS on the shared val images (oracle boxes)", summaries)
    print(f"wrote {', '.join(map(str, paths))}, {args.out}/results/, {args.out}/pictures/")
    return 0
