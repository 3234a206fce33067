"""Every ```python block of README.md runs as written, from the repository root.

The blocks are found afresh at each run, so whatever examples the README holds
are the ones tested. What an example may rely on:

- **Earlier blocks.** The blocks run in the README's order in one namespace:
  a block may use the names an earlier block defined.
- **An image and its boxes.** Before the first block the namespace holds
  ``image`` (a photo of the shared data, HWC uint8 RGB) and ``boxes`` (an
  ``(N, 4)`` float array of x0, y0, x1, y1 in it), so a block that shows one
  step can take the README's "an image and its boxes" as given.
- **Trained grids.** ``work/models/grid-K<K>.h5`` (what ``make features`` and
  ``make train-grid`` write, hours of work) is replaced by a grid made here by
  the same two commands on two training images (about 20 s).
- **The cache and the data.** ``HYPERCOLUMNS_CACHE`` is the one conftest
  sets; ``../shared/datasets`` is conftest's data root.

A block naming any other ``work/...`` file that does not exist is skipped,
with the file in the reason.
"""
from __future__ import annotations

import ast

import re
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from hypercolumns.data.masks import decode_rle

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
GRID = re.compile(r"work/models/grid-K(\d+)\.h5")
WORK_FILE = re.compile(r"""["'](work/[^"'\s]+\.\w+)["']""")


def python_blocks(markdown: str) -> list[tuple[int, str]]:
    """``(line of the opening fence, source)`` of each ```python block, in order."""
    blocks, start = [], None
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = line.strip()
        if start is None and fence in ("```python", "```py"):
            start, source = number, []
        elif start is not None and fence == "```":
            # a block inside a list item is indented
            blocks.append((start, textwrap.dedent("\n".join(source) + "\n")))
            start = None
        elif start is not None:
            source.append(line)
    return blocks


BLOCKS = python_blocks(README.read_text())


class ReadmeSession:
    """The README's namespace, its blocks run in order up to the one asked for, each once."""

    def __init__(self, namespace: dict, grids_for):
        self.namespace, self.grids_for, self.done = namespace, grids_for, 0

    def run_through(self, index: int, data_root: Path) -> None:
        while self.done <= index:
            line, source = BLOCKS[self.done]
            self.done += 1
            source = "\n" * line + self.substitute(source, data_root)   # tracebacks give README lines
            exec(compile(source, str(README), "exec"), self.namespace)

    def substitute(self, source: str, data_root: Path) -> str:
        Ks = sorted({int(K) for K in GRID.findall(source)})
        if Ks:
            folder = self.grids_for(Ks)
            source = GRID.sub(lambda match: str(folder / f"grid-K{match[1]}.h5"), source)
        missing = [name for name in WORK_FILE.findall(source) if not (REPO_ROOT / name).exists()]
        if missing:
            pytest.skip(f"README block needs {', '.join(missing)}, which this test cannot make in "
                        "reasonable time")
        return source.replace("../shared/datasets", str(data_root))


@pytest.fixture(scope="module")
def readme_session(tmp_path_factory, data_root):
    """The namespace with ``image`` and ``boxes``, and grids trained on demand (once per set of K)."""
    from hypercolumns.pipelines.commands.cli import main as cli

    made = {}

    def grids_for(Ks: list[int]) -> Path:
        if tuple(Ks) not in made:
            folder = tmp_path_factory.mktemp("readme-grids")
            assert cli(["features", "--data-root", str(data_root), "--out", str(folder / "features"),
                        "--limit-images", "2", "--boxes-per-instance", "1"]) == 0
            assert cli(["train-grid", "--shards", str(folder / "features"), "--out", str(folder),
                        "--K", *map(str, Ks), "--C-grid", "1e-3", "--n-jobs", "1"]) == 0
            made[tuple(Ks)] = folder
        return made[tuple(Ks)]

    image = cv2.imread(str(data_root / "pascal-part" / "images" / "2008_000652.jpg"))[..., ::-1].copy()
    boxes = np.array([[20.0, 10.0, 300.0, 210.0], [60.0, 40.0, 180.0, 200.0]])
    return ReadmeSession({"__name__": "readme", "image": image, "boxes": boxes}, grids_for)


def test_the_readme_has_python_examples():
    assert BLOCKS, f"no ```python block in {README}"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_written(index, readme_session, data_root, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    readme_session.run_through(index, data_root)
    checked = check_what_the_block_made(BLOCKS[index][1], readme_session.namespace)
    assert checked, f"README.md:{BLOCKS[index][0]} assigns none of the names whose values are checked"


def check_what_the_block_made(source: str, namespace: dict) -> set:
    """What a block assigns must be what the README says it is (names the examples use); returns the
    checked names it assigns (a new example block needs its check here, or the test fails)."""
    made = {target.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assign)
            for target in ast.walk(node) if isinstance(target, ast.Name)}
    boxes = namespace["boxes"]
    if "maps" in made:   # the shared-features block: one map per layer asked for, one row per box
        assert all(value.shape[0] == len(boxes) and value.ndim == 4
                   for value in namespace["maps"].values())
    if "result" in made:  # the From Python block: heatmaps, windowed masks, full masks, RLE
        result, image = namespace["result"], namespace["image"]
        assert result.heatmaps.shape == (len(boxes), 50, 50) and result.scores.shape == (len(boxes),)
        full = namespace["full"]
        assert full.shape == (len(boxes), *image.shape[:2]) and len(namespace["rles"]) == len(boxes)
        for mask, whole, rle in zip(result.masks, full, namespace["rles"]):
            np.testing.assert_array_equal(mask.full(), whole)
            np.testing.assert_array_equal(decode_rle(rle), whole)   # the RLE encoded from the window
        np.testing.assert_array_equal(namespace["same"].full_masks(), full)
        if "streamed" in made:
            [streamed] = namespace["streamed"]
            np.testing.assert_array_equal(streamed.full_masks(), full)
            assert streamed.rles() == namespace["rles"]
    return made & {"maps", "result"}


def test_blocks_are_found_in_order_and_other_languages_left_out():
    markdown = "text\n```sh\nmake demo\n```\n```python\nx = 1\n\ny = x\n```\n  ```python\n  z = 2\n  ```\n"
    assert python_blocks(markdown) == [(5, "x = 1\n\ny = x\n"), (10, "z = 2\n")]
