"""The one check of every bad-input test: a command refuses it the way the CLI contract says.

Exit status 2, exactly one line on stderr, naming the file (and the entry where
there is one), no traceback, and no output file left behind.
"""
from pathlib import Path

from hypercolumns.pipelines.commands.cli import main as cli


def assert_refused(capsys, argv: list, names: list, outputs: list = ()) -> str:
    """Run ``hypercolumns <argv>``; assert it is refused naming every string of ``names``
    and that none of ``outputs`` exists afterwards.  Returns the error line."""
    capsys.readouterr()  # drop what earlier calls printed
    code = cli([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"exit status {code}, stderr: {err}"
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
    for output in outputs:
        assert not Path(output).exists(), f"{output} was written"
    return lines[0]
