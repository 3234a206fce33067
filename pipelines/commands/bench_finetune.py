"""``hypercolumns bench-finetune``: its flags, for ``bench.bench_finetune.bench_finetune``."""
from hypercolumns.pipelines.bench import bench_finetune
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-finetune", bench_finetune.__doc__, data_root=True, model=True,
                            out="results/bench", batch_size=8)
    parser.add_argument("--iterations", type=int, default=5)
    bench_finetune.bench_finetune(**vars(parser.parse_args(argv)))
    return 0
