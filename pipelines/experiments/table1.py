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
oracle box's mask with its instance, each the mean over the seeds; the
p-value of a two-sided paired permutation test against the full system over
the per-instance IoUs (averaged over seeds; the unit permuted is the
instance); the paper's Table 1 numbers beside (VOC2012 val, T-Net; not
comparable in level, see README).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from hypercolumns.classifiers.provenance import made_from
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.extract.shards import list_shards, shards_config
from hypercolumns.eval.permutation import paired_permutation_test
from hypercolumns.pipelines.experiments.runner import (System, instance_iou_over_seeds, mean_over_seeds,
                                                      run_oracle_evaluation)
from hypercolumns.pipelines.experiments.tables import report_table
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings

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
COLUMNS = ["system", "APr@0.5", "APr@0.7", "mean IoU", "p vs full", "paper row",
           "paper APr@0.5", "paper APr@0.7"]


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


def refinement_models(args) -> tuple[Path, Path]:
    """The box regressor and the fine-tuned K = 10 grid, made first if missing."""
    shards_hash = shards_config(list_shards(args.shards)).config_hash
    regressor = args.models / "bbox-reg.h5"
    if not made_from(regressor, shards_hash):
        from hypercolumns.classifiers import train_bbox
        train_bbox.main(["--data-root", str(args.data_root), "--shards", str(args.shards),
                         "--out", str(args.models)])
    finetuned = args.finetuned / "grid-K10-ft.h5"
    if not made_from(finetuned, shards_hash):
        from hypercolumns.pipelines.finetune import training as finetune
        finetune.main(["--data-root", str(args.data_root), "--model", str(args.models / "grid-K10.h5"),
                       "--out", str(args.finetuned)])
    return regressor, finetuned


def table_rows(summaries: dict, systems: list) -> list:
    full_iou = instance_iou_over_seeds(summaries[FULL])
    rows = []
    paper = {name: (row, a, b) for name, _, _, row, a, b in ROWS}
    paper.update({name: (row, a, b) for name, _, row, a, b in REFINED_ROWS})
    for system in systems:
        per_seed = summaries[system.name]
        iou = instance_iou_over_seeds(per_seed)
        p_value = None if system.name == FULL else paired_permutation_test(iou, full_iou)[1]
        paper_row, paper_05, paper_07 = paper.get(system.name, (None, None, None))
        rows.append({"system": system.name, "APr@0.5": mean_over_seeds(per_seed, "APr@0.5"),
                     "APr@0.7": mean_over_seeds(per_seed, "APr@0.7"),
                     "mean IoU": 100 * float(iou.mean()), "p vs full": p_value,
                     "paper row": paper_row, "paper APr@0.5": paper_05, "paper APr@0.7": paper_07})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hypercolumns reproduce-table1", description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--shards", type=Path, default=Path("work/features"))
    parser.add_argument("--models", type=Path, default=Path("work/models"),
                        help="full-hypercolumn grids (from train-grid; trained here if missing)")
    parser.add_argument("--work", type=Path, default=Path("work/table1"), help="folder for the ablations' grids")
    parser.add_argument("--finetuned", type=Path, default=Path("work/finetune"),
                        help="fine-tuning folder (from `make finetune`; run here if missing)")
    parser.add_argument("--out", type=Path, default=Path("results/table1"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--superpixels", default="felzenszwalb",
                        choices=["none", "slic", "felzenszwalb"])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from hypercolumns.data.datasets import load_val_records

    paths = train_missing(args.shards, args.work, args.models, TrainOptions())
    regressor, finetuned = refinement_models(args)
    projection = SuperpixelSettings(method=args.superpixels)
    systems = [System(name, paths[name], projection) for name, *_ in ROWS]
    systems += [System(name, finetuned if tuned else paths[FULL], projection, regressor)
                for name, tuned, *_ in REFINED_ROWS]
    systems.append(System("whole box", None))
    records = load_val_records(args.data_root)
    summaries = run_oracle_evaluation(systems, records, args.data_root, args.out, tuple(args.seeds),
                                      args.weights, args.device, viz=False)
    rows = table_rows(summaries, systems)
    print(f"Table 1 on the shared val images ({sum(len(r.instances) for r in records)} instances), "
          f"oracle boxes, mean over seeds {args.seeds}, superpixels: {args.superpixels}; "
          "paper: VOC2012 val, T-Net, MCG candidates")
    paths = report_table(rows, COLUMNS, args.out, "table1", "Table 1 ablations on the shared data", summaries)
    print(f"wrote {', '.join(map(str, paths))}, {args.out}/results/")
    return 0
