"""``hypercolumns compare-quality``: its flags, for ``experiments.compare_quality.compare_quality``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import compare_quality
from hypercolumns.pipelines.experiments.nested_cv import PROJECTIONS


def main(argv=None) -> int:
    parser = command_parser("compare-quality", compare_quality.__doc__, data_root=True, out="results/quality",
                            device=True, seeds={"default": [0], "help": "oracle-box seeds, averaged"},
                            model={"help": "the default grid: its K and training options are every variant's"},
                            shards={"help": "the default grid's shards"})
    parser.add_argument("--cv-work", type=Path, default="work/sds-cv",
                        help="the default's nested fold grids (eval-sds's; trained where missing)")
    parser.add_argument("--variant", nargs="*", default=[], metavar="NAME=SHARDS",
                        help="a training variant: its name and its shards folder (e.g. flips=work/quality/"
                        "flips/features)")
    parser.add_argument("--variants-work", type=Path, default="work/quality",
                        help="the variants' nested fold grids, in <this>/<name>")
    parser.add_argument("--projections", nargs="+", default=list(PROJECTIONS), metavar="PROJECTION",
                        help=f"projections applied to every grid (default: {' '.join(PROJECTIONS)})")
    args = vars(parser.parse_args(argv))
    args["variants"] = compare_quality.parse_variants(args.pop("variant"))
    compare_quality.compare_quality(**args)
    return 0
