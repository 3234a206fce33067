"""``hypercolumns bench-large-image``: its flags, for ``bench.bench_large_image.bench_large_image``."""
from hypercolumns.pipelines.bench import bench_large_image
from hypercolumns.pipelines.bench.bench_engines import measured_engine
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench-large-image", bench_large_image.__doc__, model=True, out="results/bench",
                            weights=True, engine=True)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--boxes", type=int, default=100, help="detections on the photo (default 100)")
    parser.add_argument("--superpixels", default=None, help="the projection (default: segment's)")
    flags = vars(parser.parse_args(argv))
    flags["engine"] = measured_engine(flags["engine"], None, flags["weights"], flags["model"])
    bench_large_image.bench_large_image(**flags)
    return 0
