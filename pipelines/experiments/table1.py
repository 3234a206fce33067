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

from dataclasses import replace
from pathlib import Path

from hypercolumns.classifiers.provenance import made_from
from hypercolumns.classifiers.train_bbox import train_box_regressor
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.extract.shards import list_shards, shards_config
from hypercolumns.eval.permutation import paired_permutation_test
from hypercolumns.pipelines.experiments.runner import (System, instance_iou_over_seeds, mean_over_seeds,
                                                      run_oracle_evaluation)
from hypercolumns.pipelines.experiments.tables import report_table
from hypercolumns.pipelines.finetune.training import run_finetune
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


def reproduce_table1(data_root: Path, shards: Path, models: Path, work: Path, finetuned: Path,
                     out: Path, seeds=(0, 1, 2), superpixels: str = "felzenszwalb", weights=None,
                     device=None) -> list:
    """Table 1: the grids, box regressor and fine-tuned grid made where missing, every row
    evaluated on the val images' oracle boxes; prints the table and returns the paths written.

    ``models`` holds the full-hypercolumn grids (``train-grid``'s), ``work`` the
    ablations', ``finetuned`` the fine-tuning run (``finetune``'s).
    """
    from hypercolumns.data.datasets import load_val_records

    paths = train_missing(shards, work, models, TrainOptions())
    regressor, tuned = refinement_models(data_root, shards, models, finetuned)
    projection = SuperpixelSettings(method=superpixels)
    systems = [System(name, paths[name], projection) for name, *_ in ROWS]
    systems += [System(name, tuned if is_tuned else paths[FULL], projection, regressor)
                for name, is_tuned, *_ in REFINED_ROWS]
    systems.append(System("whole box", None))
    records = load_val_records(data_root)
    summaries = run_oracle_evaluation(systems, records, data_root, out, tuple(seeds),
                                      weights, device, viz=False)
    rows = table_rows(summaries, systems)
    print(f"Table 1 on the shared val images ({sum(len(r.instances) for r in records)} instances), "
          f"oracle boxes, mean over seeds {list(seeds)}, superpixels: {superpixels}; "
          "paper: VOC2012 val, T-Net, MCG candidates")
    paths = report_table(rows, COLUMNS, out, "table1", "Table 1 ablations on the shared data", summaries)
    print(f"wrote {', '.join(map(str, paths))}, {out}/results/")
    return paths
