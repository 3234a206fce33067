"""``hypercolumns bench-shared``: its flags, for ``bench.bench_shared.bench_shared``."""
from hypercolumns.extract.features import DEFAULT_LAYERS
from hypercolumns.extract.shared_features import SHARED_MARGIN
from hypercolumns.pipelines.bench import bench_shared
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-shared", bench_shared.__doc__, data_root=True, out="results/bench",
                            images={"help": "first N images of the split"}, batch_size=True, seed=True,
                            weights=True, device=True)
    parser.add_argument("--split", choices=("val", "train"), default="val")
    parser.add_argument("--boxes-per-image", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--scales", type=float, nargs="+", default=[224, 600],
                        help="shorter side of the whole image, one shared mode each (default 224 600)")
    parser.add_argument("--max-size", type=float, default=1000)
    parser.add_argument("--margin", type=int, default=SHARED_MARGIN)
    parser.add_argument("--layers", default=DEFAULT_LAYERS)
    bench_shared.bench_shared(**vars(parser.parse_args(argv)))
    return 0
