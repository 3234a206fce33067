"""``hypercolumns eval-parts``: its flags, for ``experiments.parts.evaluate_parts``."""
from pathlib import Path

from hypercolumns.pipelines.commands.flags import command_parser
from hypercolumns.pipelines.experiments import parts


def main(argv=None) -> int:
    parser = command_parser("eval-parts", parts.__doc__, data_root=True, work="work/parts",
                            out="results/parts", seeds=True, weights=True, device=True)
    parser.add_argument("--K", type=int, default=1, help="grid size of the part classifiers (default 1)")
    parser.add_argument("--C", type=float, default=3e-4, help="liblinear C of every part grid")
    parser.add_argument("--sds-model", type=Path, default="work/models/grid-K10.h5")
    parser.add_argument("--viz", action="store_true")
    parts.evaluate_parts(**vars(parser.parse_args(argv)))
    return 0
