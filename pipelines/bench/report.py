"""What every benchmark shares: its flags, GPU-aware timing, the facts of the device, the JSON it writes."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hypercolumns.data.files import write_json_atomic
from hypercolumns.extract.cnn import device_name


def bench_parser(command: str, doc: str, model: bool = False) -> argparse.ArgumentParser:
    """The parser of ``hypercolumns <command>`` with the flags all benchmarks share.

    ``--data-root`` (required) and ``--out`` (``results/bench``); with ``model``
    also ``--model`` (the K = 10 grid that ``make train-grid`` writes).
    """
    parser = argparse.ArgumentParser(prog=f"hypercolumns {command}", description=doc.split("\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    if model:
        parser.add_argument("--model", type=Path, default=Path("work/models/grid-K10.h5"))
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    return parser


def synchronize(device) -> None:
    """Wait for the work queued on ``device`` (a no-op off CUDA), so that a clock read after it counts that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device, repeats: int = 1, warm_up: bool = False):
    """The last result of ``function()`` and its mean seconds over ``repeats`` calls.

    The GPU's queued work is waited for before the clock starts and after each
    call; ``warm_up`` makes one untimed call first (kernels loaded, caches filled).
    """
    if warm_up:
        function()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
        synchronize(device)
    return result, (time.perf_counter() - start) / repeats


def device_facts(device) -> dict:
    """``device``, ``device_name`` and ``threads`` (torch's CPU threads): the keys a result names its device by."""
    return {"device": str(device), "device_name": device_name(device), "threads": torch.get_num_threads()}


def write_bench_json(result: dict, folder: Path, *names: str) -> list[Path]:
    """``result`` as ``folder/<name>.json`` for each name (the folder made if needed); prints and returns the paths."""
    paths = [write_json_atomic(result, Path(folder) / f"{name}.json", indent=2) for name in names]
    print(f"wrote {', '.join(map(str, paths))}")
    return paths
