"""``hypercolumns train-bbox-reg``: its flags, for ``classifiers.train_bbox.train_box_regressor``."""
from hypercolumns.classifiers import train_bbox
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("train-bbox-reg", train_bbox.__doc__, data_root=True, shards=True,
                            out="work/models")
    parser.add_argument("--descriptor", choices=["auto", *train_bbox.DESCRIPTORS], default="auto",
                        help="auto: chosen with the penalty on held-out training images")
    parser.add_argument("--alpha", dest="alphas", metavar="ALPHA", type=float, nargs="+",
                        default=list(train_bbox.DEFAULT_ALPHAS),
                        help="ridge penalties to choose from on held-out training images")
    parser.add_argument("--min-iou", type=float, default=0.6)
    train_bbox.train_box_regressor(**vars(parser.parse_args(argv)))
    return 0
