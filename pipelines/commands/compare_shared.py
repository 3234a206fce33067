"""``hypercolumns compare-shared``: its flags, for ``experiments.compare_shared.compare_shared``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import compare_shared
from hypercolumns.pipelines.experiments.nested_cv import PROTOCOLS


def main(argv=None) -> int:
    parser = command_parser("compare-shared", compare_shared.__doc__, data_root=True,
                            out="results/shared", seeds=True,
                            images={"help": "val images of the cost measurement"}, device=True)
    parser.add_argument("--per-box", type=Path, default="work/models/grid-K10.h5")
    parser.add_argument("--shared", type=Path, nargs="+", default=[Path("work/shared/margin16/models/grid-K10.h5")],
                        help="the shared-mode grid; several: candidates (e.g. margins), the one the "
                        "cross-validation on the training images scores best is compared on val")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="how the shared candidate is chosen on the training images (default: nested-cv "
                        "on the shared data, plain on SBD; fixed: no cross-validation, val only)")
    parser.add_argument("--outer-folds", type=int, default=3)
    parser.add_argument("--inner-folds", type=int, default=2)
    parser.add_argument("--per-box-shards", type=Path, default="work/features")
    parser.add_argument("--shared-shards", type=Path, nargs="+", default=[Path("work/shared/margin16/features")],
                        help="each --shared grid's shards, in its order")
    parser.add_argument("--per-box-cv-work", type=Path, default="work/sds-cv",
                        help="the per-box folds' grids (eval-sds's, trained where missing)")
    parser.add_argument("--cv-work", type=Path, default="work/shared/cross-val",
                        help="the shared candidates' folds' grids")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap draws of images")
    parser.add_argument("--cv-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="oracle-box seeds of the cross-validation, averaged")
    compare_shared.compare_shared(**vars(parser.parse_args(argv)))
    return 0
