"""``hypercolumns bench-finetune``: seconds per fine-tuning iteration, with the device named.

Runs a few iterations of :func:`pipelines.finetune.finetune` (forward,
composite loss, backward, SGD step) on the training boxes at a stated batch
size, after one warm-up iteration, on the CPU and, when CUDA is available, on
the GPU, in one run.
"""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.extract.cnn import device_name, load_cnn
from hypercolumns.extract.features import plan_boxes
from hypercolumns.pipelines.bench.report import timed, write_bench_json
from hypercolumns.pipelines.finetune.training import FinetuneOptions, finetune, trainable_network
from hypercolumns.pipelines.finetune.network import HypercolumnNet


def seconds_per_iteration(device: str, model, records, jobs, options: FinetuneOptions) -> float:
    cnn = load_cnn(model.feature_config, device=device).per_box
    network = trainable_network(cnn.network.to(memory_format=torch.contiguous_format), options.train_from)
    net = HypercolumnNet(network, model).to(cnn.device)
    with tempfile.TemporaryDirectory() as folder:
        def run(name: str, iterations: int) -> None:
            finetune(net, cnn, jobs, records, Path(folder) / name,
                     replace(options, iterations=iterations, checkpoint_every=10**9), log=lambda *_: None)

        run("warm", 1)
        _, seconds = timed(lambda: run("run", options.iterations), cnn.device)
    return seconds / options.iterations


def bench_finetune(data_root: Path, model: Path, out: Path, iterations: int = 5, batch_size: int = 8) -> list:
    """Seconds per iteration on the CPU and, when there is one, the GPU; printed and written to ``out``."""
    from hypercolumns.data.datasets import load_training_records

    grid = load_grid(model)
    records = load_training_records(data_root)
    jobs = plan_boxes(records, grid.feature_config)
    options = FinetuneOptions(iterations=iterations, batch_size=batch_size)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result = {"batch_size": batch_size, "train_from": options.train_from, "K": grid.K}
    for device in devices:
        name = device_name(device)
        seconds = seconds_per_iteration(device, grid, records, jobs, options)
        result[device] = {"device_name": name, "seconds_per_iteration": seconds,
                          "threads": torch.get_num_threads()}
        print(f"{device} ({name}, {torch.get_num_threads()} threads): {seconds:.2f} s per iteration "
              f"of {batch_size} boxes (K = {grid.K}, trainable from {options.train_from})")
    if len(devices) == 1:
        print("no CUDA device here: GPU figure not measured")
    return write_bench_json(result, out, "bench-finetune")
