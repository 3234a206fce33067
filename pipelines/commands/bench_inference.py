"""``hypercolumns bench-inference``: its flags, for ``bench.bench_inference.bench_inference``."""
from hypercolumns.pipelines.bench import bench_inference
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-inference", bench_inference.__doc__, data_root=True, model=True,
                            out="results/bench", device=True)
    parser.add_argument("--boxes", type=int, default=8)
    bench_inference.bench_inference(**vars(parser.parse_args(argv)))
    return 0
