"""The command line's edge: the flags several commands share."""
from pathlib import Path

import pytest

from hypercolumns.pipelines.commands.flags import command_parser


def test_shared_flags_take_their_declaration_a_default_or_overrides():
    parser = command_parser("x", "first line\nmore", data_root=True, out=Path("results/x"),
                            model={"required": True, "help": "the grid"}, seeds=True)
    assert parser.prog == "hypercolumns x" and parser.description == "first line"
    assert vars(parser.parse_args(["--data-root", "d", "--model", "m.h5", "--seeds", "4", "5"])) == {
        "data_root": Path("d"), "out": Path("results/x"), "model": Path("m.h5"), "seeds": [4, 5]}
    assert parser.parse_args(["--data-root", "d", "--model", "m.h5"]).seeds == [0, 1, 2]
    for incomplete in (["--model", "m.h5"], ["--data-root", "d"]):   # both are required
        with pytest.raises(SystemExit):
            parser.parse_args(incomplete)
    assert vars(command_parser("y", "doc", model=True).parse_args([])) == {
        "model": Path("work/models/grid-K10.h5")}
