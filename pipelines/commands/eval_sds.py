"""``hypercolumns eval-sds``: its flags, for ``experiments.eval_sds.evaluate_sds``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import add_dataset_files, command_parser, data_root_of
from hypercolumns.pipelines.experiments import eval_sds


def main(argv=None) -> int:
    parser = command_parser("eval-sds", eval_sds.__doc__,
                            data_root={"required": False, "default": None,
                                       "help": "the shared data, SBD, or a dataset.json of your own files"},
                            models={"help": "folder of grid-K*.h5 files, or one model file"},
                            out="results/sds", seeds=True, weights=True, device=True,
                            shards={"help": "stage one's shards of the training images, from which the "
                                    "cross-validation trains its folds' grids (default work/features)"})
    parser.add_argument("--superpixels", nargs="+", default=list(eval_sds.PROJECTIONS), metavar="PROJECTION",
                        help="projections to compare and choose from: none (per-pixel threshold), slic, "
                        "felzenszwalb, grabcut (seeded by the heatmap), or with a size: slic-n<segments>, "
                        "felzenszwalb-scale<scale>, grabcut-iter<iterations> (default: "
                        f"{' '.join(eval_sds.PROJECTIONS)}; a tie goes to the first)")
    parser.add_argument("--protocol", choices=eval_sds.PROTOCOLS, default=None,
                        help="how the projection is chosen on training images (default: nested-cv on the "
                        "shared data, plain on SBD; fixed: no choice, val only)")
    parser.add_argument("--cv-work", type=Path, default="work/sds-cv", help="the folds' grids")
    parser.add_argument("--outer-folds", type=int, default=3)
    parser.add_argument("--inner-folds", type=int, default=2)
    parser.add_argument("--cv-seeds", type=int, nargs="+", default=[0],
                        help="oracle-box seeds of the cross-validation, averaged")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap draws of images")
    add_dataset_files(parser)
    eval_sds.evaluate_sds(**data_root_of(parser, vars(parser.parse_args(argv))))
    return 0
