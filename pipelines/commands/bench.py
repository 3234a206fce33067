"""``hypercolumns bench``: its flags, for ``bench.bench.bench``."""
from pathlib import Path

from hypercolumns.pipelines.bench import bench
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("bench", bench.__doc__,
                            data_root={"required": False, "default": None,
                                       "help": "the data sets (required unless --synthetic)"}, model=True, out="results/bench",
                            shards={"help": "stage-one shards for the training section"}, weights=True,
                            batch_size=True, images={"help": "val images of the shared section"},
                            device=True, engine={"help": "what runs the CNN of the extraction, inference and shared sections: "
                                           "torch (fp32, default), torch-nchw, torch-bf16, onnxruntime, or auto "
                                           "(the engines sections run every engine)"})
    parser.add_argument("--sections", default=",".join(bench.SECTIONS))
    parser.add_argument("--boxes", type=int, default=96, help="crops of the extraction section")
    parser.add_argument("--cv-work", type=Path, default=Path("work/sds-cv"),
                        help="eval-sds's fold grids, for the engines-cv section")
    parser.add_argument("--engines", default=None, metavar="E1,E2",
                        help="engines of the engines-cv section, each against fp32 torch (default: the "
                             "reduced-precision ones that run here; `hypercolumns features --help` lists them)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="time on N synthetic images with a random network and grid (no shared data, "
                             "weights or shards needed: a bare GPU machine); sections extraction, inference, "
                             "shared, engines")
    parser.add_argument("--compare", dest="compare_with", metavar="COMPARE", type=Path, default=None,
                        help="an earlier bench JSON")
    args = parser.parse_args(argv)
    if args.data_root is None and not args.synthetic:
        parser.error("--data-root is required unless --synthetic N is given")
    bench.bench(**vars(args))
    return 0
