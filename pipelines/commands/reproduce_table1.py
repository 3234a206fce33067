"""``hypercolumns reproduce-table1``: its flags, for ``experiments.table1.reproduce_table1``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import table1


def main(argv=None) -> int:
    parser = command_parser(
        "reproduce-table1", table1.__doc__, data_root=True, shards=True,
        models={"help": "full-hypercolumn grids (from train-grid; trained here if missing)"},
        work={"default": "work/table1", "help": "folder for the ablations' grids"},
        out="results/table1", seeds=True, weights=True, device=True)
    parser.add_argument("--finetuned", type=Path, default="work/finetune",
                        help="fine-tuning folder (from `make finetune`; run here if missing)")
    parser.add_argument("--superpixels", default="felzenszwalb", choices=["none", "slic", "felzenszwalb"])
    table1.reproduce_table1(**vars(parser.parse_args(argv)))
    return 0
