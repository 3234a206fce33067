"""``hypercolumns eval-sds``: its flags, for ``experiments.eval_sds.evaluate_sds``."""
from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import eval_sds


def main(argv=None) -> int:
    parser = command_parser("eval-sds", eval_sds.__doc__, data_root=True,
                            models={"help": "folder of grid-K*.h5 files, or one model file"},
                            out="results/sds", seeds=True, weights=True, device=True)
    parser.add_argument("--superpixels", nargs="+", default=["none", "felzenszwalb", "slic"],
                        choices=["none", "slic", "felzenszwalb"],
                        help="projections to compare (none = per-pixel threshold)")
    eval_sds.evaluate_sds(**vars(parser.parse_args(argv)))
    return 0
