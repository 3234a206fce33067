"""Stage one on a Dask cluster: the same shards as one process, even when a worker dies mid-task.

A ``LocalCluster`` on loopback with 2 single-threaded worker processes; the
records are the first 6 PASCAL-Part images (10 boxes, 5 shards of 2).
"""
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import h5py
import numpy as np
import pytest
from distributed import Client, LocalCluster

from hypercolumns.data.errors import InputError
from hypercolumns.data.pascal_part import read_pascal_part_record
from hypercolumns.extract.distributed import connect
from hypercolumns.extract.features import feature_config, run_features
from hypercolumns.extract.shards import shard_path
from hypercolumns.pipelines.commands.cli import main as cli_main

BOXES_PER_SHARD = 2
DATASETS = ("features", "location", "box_index", "labels/figure_ground", "boxes/image_id",
            "boxes/dataset", "boxes/category", "boxes/box", "boxes/expanded_box",
            "boxes/instance", "boxes/iou")


@pytest.fixture(scope="module")
def records(data_root):
    root = data_root / "pascal-part"
    image_ids = sorted(path.stem for path in (root / "images").glob("*.jpg"))[:6]
    return [read_pascal_part_record(root, image_id) for image_id in image_ids]


@pytest.fixture(scope="module")
def config(tiny_cnn):
    cnn, spec = tiny_cnn
    return feature_config(cnn, spec, boxes_per_instance=1)


def extract(records, folder, tiny_cnn, config, scheduler=None):
    cnn, spec = tiny_cnn
    return run_features(records, folder, cnn, spec, config, boxes_per_shard=BOXES_PER_SHARD,
                        batch_size=2, show_progress=False, scheduler=scheduler,
                        worker_device="cpu")


@pytest.fixture(scope="module")
def single_process(records, tiny_cnn, config, tmp_path_factory):
    """The shards of the run without a scheduler."""
    folder = tmp_path_factory.mktemp("single")
    summary = extract(records, folder, tiny_cnn, config)
    assert summary["boxes"] == 10 and summary["shards"] == 5
    return folder


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster


def assert_same_shards(folder: Path, expected: Path):
    """Exactly the expected shard files, dataset for dataset, and no leftover ``.tmp``."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in expected.iterdir())
    for path in sorted(expected.glob("shard-*.h5")):
        with h5py.File(folder / path.name, "r") as got, h5py.File(path, "r") as want:
            assert dict(got.attrs) == dict(want.attrs), path.name
            for name in DATASETS:
                np.testing.assert_array_equal(got[name][:], want[name][:], err_msg=name)


def test_the_cluster_writes_the_shards_of_a_single_process(records, tiny_cnn, config,
                                                           single_process, cluster, tmp_path):
    folder = tmp_path / "dask"
    folder.mkdir()
    first = shard_path(single_process, 0)  # a complete shard is kept, the others are written
    (folder / first.name).write_bytes(first.read_bytes())
    summary = extract(records, folder, tiny_cnn, config, cluster.scheduler_address)
    assert summary["shards_written"] == 4 and summary["rows"] == 1000
    assert "hypercolumns-shard" in cluster.scheduler.task_prefixes  # written by the workers
    assert_same_shards(folder, single_process)


def executing_tasks(dask_worker) -> list:
    return [str(task.key) for task in dask_worker.state.executing]


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(records, tiny_cnn, config,
                                                               single_process, cluster, tmp_path):
    folder = tmp_path / "killed"
    with Client(cluster.scheduler_address, set_as_default=False) as client, \
            ThreadPoolExecutor(max_workers=1) as pool:
        pids = client.run(os.getpid)
        run = pool.submit(extract, records, folder, tiny_cnn, config, cluster.scheduler_address)
        victim, task = kill_a_worker_running_a_shard_task(client, folder, pids, run)
        summary = run.result(timeout=120)
        restarted = wait_for_workers(client, 2)
    assert task.startswith("hypercolumns-shard-")
    assert victim not in restarted.values()       # it was dead, and the nanny replaced it
    assert summary["shards_written"] == 5 and summary["rows"] == 1000
    assert_same_shards(folder, single_process)


def kill_a_worker_running_a_shard_task(client, folder, pids, run, timeout=60):
    """SIGKILL a worker process once shards are being written and it is running a shard task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not run.done():
        if list(folder.glob("shard-*.h5")):    # past the workers' start: tasks are extracting
            for worker, tasks in client.run(executing_tasks).items():
                if tasks and worker in pids:
                    os.kill(pids[worker], signal.SIGKILL)
                    return pids[worker], tasks[0]
        time.sleep(0.02)
    raise AssertionError("no worker was seen running a shard task before the run ended")


def wait_for_workers(client, count, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = client.run(os.getpid)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not get back to {count} workers")


def test_an_unreachable_scheduler_is_named(data_root, tmp_path, capsys):
    address = "tcp://127.0.0.1:9"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(InputError, match=f"cannot reach the Dask scheduler at '{address}'"):
            connect(address)
        code = cli_main(["features", "--data-root", str(data_root), "--out", str(tmp_path),
                         "--scheduler", address])
    assert code == 2
    assert f"Dask scheduler at {address!r}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
