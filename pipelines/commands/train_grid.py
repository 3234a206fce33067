"""``hypercolumns train-grid``: its flags, for ``classifiers.train.train_grids``."""
from hypercolumns.classifiers import train
from hypercolumns.classifiers.liblinear_fit import DEFAULT_SOLVER, SOLVERS
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser(
        "train-grid", train.__doc__,
        shards={"required": True, "help": "folder of shard-*.h5"},
        out={"required": True, "help": "folder for grid-K<K>.h5"},
        seed={"help": "of the held-out split and the row samples"},
        scheduler={"help": "a Dask scheduler (tcp://host:8786) to fit the cells on; its workers "
                   "must read --shards at the same path (default: local processes)"})
    parser.add_argument("--K", dest="Ks", metavar="K", type=int, nargs="+", default=list(train.DEFAULT_KS),
                        help="grid sides, one model file each (default 1 2 5 10)")
    parser.add_argument("--category-mode", choices=("agnostic", "per-category"), default="agnostic",
                        help="per-category: also one grid per category with enough rows")
    parser.add_argument("--C-grid", type=float, nargs="+", default=list(train.DEFAULT_C_GRID),
                        help="liblinear C values to choose from on the held-out images")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="fraction of training images held out to choose C")
    parser.add_argument("--max-rows-per-cell", type=int, default=20000,
                        help="deterministic sample of at most this many rows per cell")
    parser.add_argument("--target", default="figure_ground", help="labels/<target> of the shards")
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="worker processes (-1: all cores; ignored with --scheduler)")
    parser.add_argument("--search-cells", type=int, default=9,
                        help="cells the C search fits on, per K")
    parser.add_argument("--min-rows-per-cell", type=int, default=100,
                        help="per-category grids: rows per cell a category needs")
    parser.add_argument("--solver", choices=sorted(SOLVERS), default=DEFAULT_SOLVER)
    parser.add_argument("--blocks", nargs="+", default=None,
                        help="train on these blocks of the shards' layer spec (xy is kept); "
                        "default: all")
    flags = vars(parser.parse_args(argv))
    shards, out = flags.pop("shards"), flags.pop("out")
    # tuples, as the defaults of TrainOptions are (argparse gives lists)
    options = train.TrainOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in flags.items()})
    for path in train.train_grids(shards, out, options)["files"]:
        print(f"wrote {path}")
    return 0
