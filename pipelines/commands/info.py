"""``hypercolumns info``: its flags, for ``classifiers.model_card``."""
from pathlib import Path

from hypercolumns.classifiers import model_card
from hypercolumns.pipelines.commands.flags import command_parser


def main(argv=None) -> int:
    parser = command_parser("info", model_card.__doc__)
    parser.add_argument("model", type=Path, help="a grid model file (train-grid's grid-K<K>.h5)")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="JSON", help="also write the card here")
    args = parser.parse_args(argv)
    card = model_card.model_card(args.model)
    print(model_card.format_model_card(card))
    if args.json_path:
        from hypercolumns.data.files import nan_to_null, write_json_atomic

        write_json_atomic(nan_to_null(card), args.json_path, indent=2)
        print(f"wrote {args.json_path}")
    return 0
