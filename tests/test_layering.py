"""No stage imports a higher one: data <- extract <- classifiers <- pipelines; eval sits on data alone.

Read from the source with ``ast``: every ``import x`` and ``from x import y``
at any depth (inside functions too), relative ones resolved against the
file's package. A module name in a string (``importlib``, the CLI's table of
subcommands) is not an import.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "hypercolumns"

# what each code folder may import, of the five
ALLOWED = {
    "data": {"data"},
    "eval": {"data", "eval"},
    "extract": {"data", "eval", "extract"},
    "classifiers": {"data", "eval", "extract", "classifiers"},
    "pipelines": {"data", "eval", "extract", "classifiers", "pipelines"},
}


def imported_modules(path: Path, package: list[str]) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every module the file imports; ``package`` is its own package's parts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # `from hypercolumns import data` imports the stage named after `import`
            names = [f"{module}.{alias.name}" for alias in node.names] if module == PACKAGE else [module]
            found += [(node.lineno, name) for name in names]
    return found


def layering_violations(root: Path) -> list[str]:
    """``file:line: <stage> imports <module>`` for every import of a stage its folder may not use."""
    violations = []
    for stage, allowed in ALLOWED.items():
        for path in sorted((root / stage).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            # a module's package, and an __init__'s own: the folder it stands in
            for line, module in imported_modules(path, [PACKAGE, *parts[:-1]]):
                target = module.split(".")
                if target[0] == PACKAGE and len(target) > 1 and target[1] not in allowed:
                    violations.append(f"{path.relative_to(root)}:{line}: {stage} imports {module}")
    return violations


def test_no_stage_imports_a_higher_one():
    violations = layering_violations(REPO_ROOT)
    assert not violations, "imports against the layering (data <- extract <- classifiers <- " \
                           "pipelines; eval on data alone):\n" + "\n".join(violations)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_checker_names_every_upward_import_and_nothing_else(tmp_path):
    write(tmp_path, "data/records.py", "import numpy\nfrom hypercolumns.data import files\n")
    write(tmp_path, "data/formats/voc.py",
          "def read():\n    from hypercolumns.extract.cnn import FrozenCNN\n")   # inside a function
    write(tmp_path, "eval/apr.py", "from hypercolumns.data.records import Instance\n"
                                   "import hypercolumns.classifiers.grid as grid\n"
                                   'RUNNER = ("hypercolumns.pipelines.experiments", "a string")\n')
    write(tmp_path, "extract/cnn.py", "from ..pipelines import segment\nfrom . import hypercolumn\n"
                                      "from hypercolumns import eval, classifiers\n")
    write(tmp_path, "classifiers/__init__.py", "from .grid import fit\n")
    write(tmp_path, "pipelines/commands/cli.py",
          'import importlib\nfrom hypercolumns.classifiers import train\n'
          'SUBCOMMANDS = {"segment": ("hypercolumns.pipelines.inference.segment", "help")}\n')
    assert layering_violations(tmp_path) == [
        "data/formats/voc.py:2: data imports hypercolumns.extract.cnn",
        "eval/apr.py:2: eval imports hypercolumns.classifiers.grid",
        "extract/cnn.py:1: extract imports hypercolumns.pipelines",
        "extract/cnn.py:3: extract imports hypercolumns.classifiers",
    ]


def test_relative_imports_resolve_against_the_files_package(tmp_path):
    write(tmp_path, "pipelines/inference/segment.py",
          "from ...classifiers import grid\nfrom .paste import p\n")
    write(tmp_path, "pipelines/inference/__init__.py", "from .segment import Segmenter\n")
    assert imported_modules(tmp_path / "pipelines/inference/segment.py",
                            ["hypercolumns", "pipelines", "inference"]) == [
        (1, "hypercolumns.classifiers"), (2, "hypercolumns.pipelines.inference.paste")]
    assert imported_modules(tmp_path / "pipelines/inference/__init__.py",
                            ["hypercolumns", "pipelines", "inference"]) == [
        (1, "hypercolumns.pipelines.inference.segment")]
