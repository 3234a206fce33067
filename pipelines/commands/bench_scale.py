"""``hypercolumns bench-scale``: its flags, for ``bench.bench_scale.bench_scale``."""
from hypercolumns.pipelines.bench import bench_scale
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-scale", bench_scale.__doc__, data_root=True, out="results/bench", weights=True,
                            images={"default": 16, "help": "training images of the 1x size (default 16)"})
    bench_scale.bench_scale(**vars(parser.parse_args(argv)))
    return 0
