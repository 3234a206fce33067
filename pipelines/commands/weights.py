"""``hypercolumns weights``: its flags, for ``extract.weights.fetch_weights``."""
from pathlib import Path

from hypercolumns.extract import weights
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("weights", weights.__doc__)
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache directory (default $HYPERCOLUMNS_CACHE or ~/.cache/hypercolumns)")
    weights.fetch_weights(**vars(parser.parse_args(argv)))
    return 0
