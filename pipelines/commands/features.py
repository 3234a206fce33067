"""``hypercolumns features``: its flags, for ``extract.features.extract_features``."""
import argparse

from hypercolumns.extract import features
from hypercolumns.extract.cnn import DEFAULT_PADDING
from hypercolumns.extract.config import SHARED_MARGIN
from hypercolumns.pipelines.bench.bench_engines import measured_engine
from hypercolumns.pipelines.commands.flags import add_dataset_files, command_parser, data_root_of


def main(argv=None) -> int:
    parser = command_parser(
        "features", features.__doc__,
        data_root={"required": False, "default": None,
                   "help": "folder with the shared data sets (coco128-seg, pascal-part, ...), SBD, or a "
                   "dataset.json of your own files"},
        out="work/features", weights={"help": "weight file (default: converted ImageNet VGG16)"},
        seed=True, batch_size=True, engine={"help": "what runs the CNN's forward (recorded in the shard config): "
                                             "torch (fp32, default), torch-nchw, torch-bf16 (native bfloat16 "
                                             "CPUs, GPUs), onnxruntime (CPU), or auto (the fastest that agreed "
                                             "with fp32 torch in this machine's last `make bench`, measured "
                                             "once where none is stored)"},
        device={"help": "default: CUDA when available (with --scheduler: on each worker)"},
        scheduler={"help": "a Dask scheduler (tcp://host:8786) whose workers write the shards; "
                   "they must see --data-root and --out at the same paths"})
    layers = features.DEFAULT_LAYERS
    parser.add_argument("--layers", default=layers, help=f"layer spec (default {layers!r})")
    parser.add_argument("--padding", type=int, default=DEFAULT_PADDING)
    parser.add_argument("--boxes-per-instance", type=int, default=4)
    parser.add_argument("--min-iou", type=float, default=0.7)
    parser.add_argument("--rows-per-cell", type=int, default=1,
                        help="locations sampled per cell of the 10x10 sampling grid, per box")
    parser.add_argument("--boxes-per-shard", type=int, default=128)
    parser.add_argument("--limit-images", type=int, default=None, help="first N training images only")
    parser.add_argument("--shared-features", type=float, default=None, metavar="SCALE",
                        help="one CNN forward per image resized to SCALE px (shorter side) and "
                        "each box's maps by RoIAlign, instead of one forward per box "
                        "(not the paper's default; see extract/shared_features.py)")
    parser.add_argument("--shared-margin", type=int, default=SHARED_MARGIN, metavar="PX",
                        help="with --shared-features: mean-coloured px around the resized image "
                        f"(default {SHARED_MARGIN})")
    parser.add_argument("--flips", action=argparse.BooleanOptionalAction, default=None,
                        help="also write every training box mirrored left to right: twice the rows (ours, "
                        "chosen by compare-quality's inner folds; recorded in the shard config). Default: on "
                        "where crops can be mirrored (not with --shared-features or candidate blocks); "
                        "--no-flips: the paper's protocol")
    parser.add_argument("--small-box-context", type=int, nargs=2, default=None, metavar=("BELOW_PX", "PADDING_PX"),
                        help="boxes whose sqrt(w*h) is under BELOW_PX image px get PADDING_PX of context at "
                        "the input size instead of --padding (ours, not the paper's protocol; recorded in the "
                        "shard config and used at test time by the grids trained on them)")
    add_dataset_files(parser)
    flags = data_root_of(parser, vars(parser.parse_args(argv)))
    if flags["scheduler"] is None:   # with one, each worker resolves auto on its own machine
        flags["engine"] = measured_engine(flags["engine"], flags["device"], flags["weights"])
    features.extract_features(**flags)
    return 0
