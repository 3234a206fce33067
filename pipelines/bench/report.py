"""What every benchmark shares: GPU-aware timing and the JSON it writes (its flags: ``commands.flags``)."""
from __future__ import annotations

import resource
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


def peak_resident_mb() -> float:
    """The largest resident memory of this process and of its finished children, MB (Linux: kB units)."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def _put_result(queue, function, args) -> None:
    queue.put(function(*args))


def in_fresh_process(name: str, function, *args):
    """``function(*args)`` (a module-level function: it is pickled) in a spawned process, so that its
    peak memory (:func:`peak_resident_mb`, read there) is its own; its death raises, naming ``name``."""
    import multiprocessing
    import queue as queues

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_put_result, args=(results, function, args))
    process.start()
    while True:   # the child's result, or its death (its traceback is on stderr)
        try:
            result = results.get(timeout=1)
            break
        except queues.Empty:
            if not process.is_alive():
                raise RuntimeError(f"{name} died (exit code {process.exitcode})") from None
    process.join()
    return result
