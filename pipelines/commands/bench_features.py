"""``hypercolumns bench-features``: its flags, for ``bench.bench_features.bench_features``."""
from hypercolumns.pipelines.bench import bench_features
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-features", bench_features.__doc__, data_root=True,
                            out="results/bench", batch_size=True, device=True)
    parser.add_argument("--boxes", type=int, default=96)
    bench_features.bench_features(**vars(parser.parse_args(argv)))
    return 0
