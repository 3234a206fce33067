"""``hypercolumns reproduce-table1``: its flags, for ``experiments.table1.reproduce_table1``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import table1
from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS


def main(argv=None) -> int:
    parser = command_parser(
        "reproduce-table1", table1.__doc__, data_root=True, shards=True,
        models={"help": "full-hypercolumn grids (from train-grid; trained here if missing)"},
        work={"default": "work/table1", "help": "folder for the ablations' grids"},
        out="results/table1", seeds=True, weights=True, device=True)
    parser.add_argument("--finetuned", type=Path, default="work/finetune",
                        help="fine-tuning folder (from `make finetune`; run here if missing)")
    parser.add_argument("--superpixels", default=DEFAULT_SUPERPIXELS.method, metavar="PROJECTION",
                        help="the projection of every val row: none, slic, felzenszwalb, grabcut, slic-n<segments>, "
                        "felzenszwalb-scale<scale> or grabcut-iter<iterations> (default: the one `eval-sds` chose "
                        "on training images)")
    parser.add_argument("--cross-val-folds", type=int, default=3, metavar="N",
                        help="also the grid rows cross-validated on the training images, N outer folds (each "
                        "projected as 2 inner folds chose), their fold grids trained from --shards into "
                        "--work/cross-val and --cv-work (0: val only)")
    parser.add_argument("--cv-work", type=Path, default="work/sds-cv",
                        help="the full K = 10 grid's nested fold grids (eval-sds's)")
    parser.add_argument("--cv-seeds", type=int, nargs="+", default=[0],
                        help="oracle-box seeds of the cross-validation, averaged")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap draws of images")
    parser.add_argument("--projections", type=Path, default=None, metavar="SUMMARY",
                        help="eval-sds's results/sds/summary.json: cross-validate with only the projections its "
                        "inner folds chose for these folds (default: choose again among every projection)")
    table1.reproduce_table1(**vars(parser.parse_args(argv)))
    return 0
