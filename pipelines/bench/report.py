"""What every benchmark shares: GPU-aware timing and the JSON it writes (its flags: ``commands.flags``)."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from hypercolumns.data.files import nan_to_null, write_json_atomic


def synchronize(device) -> None:
    """Wait for the work queued on ``device`` (a no-op off CUDA): a clock read after it counts that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device, repeats: int = 1, warm_up: bool = False):
    """The last result of ``function()`` and its mean seconds over ``repeats`` calls, after one
    untimed call if ``warm_up``; the GPU's queued work is waited for before the clock and after each call."""
    if warm_up:
        function()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
        synchronize(device)
    return result, (time.perf_counter() - start) / repeats


def write_bench_json(result: dict, folder: Path, *names: str) -> list[Path]:
    """``result`` as ``folder/<name>.json`` per name (folder made if needed); prints, returns the paths."""
    paths = [write_json_atomic(nan_to_null(result), Path(folder) / f"{name}.json", indent=2) for name in names]
    print(f"wrote {', '.join(map(str, paths))}")
    return paths
