"""``hypercolumns reproduce-table2``: its flags, for ``experiments.table2.reproduce_table2``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import table2


def main(argv=None) -> int:
    parser = command_parser("reproduce-table2", table2.__doc__, data_root=True, models=True,
                            work="work/table2", out="results/table2", seed=True,
                            shards={"help": "stage one's shards of the training images, from which the fold "
                                    "grids are trained where missing (default work/features)"})
    parser.add_argument("--only-global", type=Path, default="work/table1/global/grid-K10.h5")
    parser.add_argument("--pool-threshold", type=float, default=0.3)
    parser.add_argument("--train-images", type=int, default=None,
                        help="first N training images whose pools train the rescoring SVM "
                        "(default: all with VOC classes)")
    parser.add_argument("--detections", type=Path, default=None, metavar="FILE",
                        help="a detector's output on the training and val images instead of the "
                        "synthetic detections: a COCO results JSON (category_id: VOC class index, "
                        "image_id: the data set's image id) or an R-CNN/SDS .mat with its classes "
                        "and image_ids")
    parser.add_argument("--pre-nms", type=Path, default=None, metavar="FILE",
                        help="with a .mat --detections: the same detector's boxes before its NMS, "
                        "for the pool expansion")
    parser.add_argument("--cv-work", type=Path, default="work/sds-cv",
                        help="Hyp's fold grids (eval-sds's nested folds)")
    parser.add_argument("--only-global-folds", type=Path, default="work/table1/cross-val/Only_global",
                        help="Only global's outer fold grids (reproduce-table1's)")
    parser.add_argument("--projections", type=Path, default="results/sds/summary.json",
                        help="eval-sds's summary.json: its cross-validation chose the projection of each "
                        "outer fold and of val (`make eval-sds` first)")
    parser.add_argument("--protocol", choices=["nested-cv", "plain"], default=None,
                        help="nested-cv: the cross-validated table on the training pools, rescoring chosen on "
                        "inner folds, then val; plain: val only, rescoring chosen by the outer folds "
                        "(default: nested-cv on the shared data, plain on SBD)")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap draws of images")
    table2.reproduce_table2(**vars(parser.parse_args(argv)))
    return 0
