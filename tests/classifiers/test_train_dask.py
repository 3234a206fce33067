"""Stage two's cells on a Dask cluster (joblib's Dask backend): the weights of the local run."""
from __future__ import annotations

import dask
import numpy as np
import pytest
from distributed import LocalCluster

from hypercolumns.classifiers.grid_model import AGNOSTIC
from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.data.errors import InputError
from hypercolumns.pipelines.commands.train_grid import main

KS = (1, 2, 5)


def train(shard_folder, out, scheduler=None):
    options = TrainOptions(Ks=KS, C_grid=(1e-3, 1e-2), holdout=0.25, max_rows_per_cell=1500,
                           n_jobs=2, category_mode="per-category", min_rows_per_cell=70,
                           show_progress=False, scheduler=scheduler)
    return train_grids(shard_folder, out, options, log=lambda line: None)


def test_grids_trained_on_the_cluster_agree_with_local_processes(shard_folder, tmp_path):
    train(shard_folder, tmp_path / "local")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        summary = train(shard_folder, tmp_path / "dask", cluster.scheduler_address)
        ran = " ".join(cluster.scheduler.task_prefixes)  # joblib's batches, named by function
    assert "search_cell" in ran and "fit_cell" in ran
    assert summary["options"]["scheduler"] == cluster.scheduler_address
    for K in KS:
        local = load_grid(tmp_path / "local" / f"grid-K{K}.h5")
        on_dask = load_grid(tmp_path / "dask" / f"grid-K{K}.h5")
        assert on_dask.categories == local.categories
        assert len(local.categories) > 1 or K == 5  # per-category grids at K = 1, 2
        for name in local.categories:
            np.testing.assert_allclose(on_dask.coef[name], local.coef[name], rtol=0, atol=1e-6)
            np.testing.assert_allclose(on_dask.intercept[name], local.intercept[name], rtol=0,
                                       atol=1e-6)
        assert on_dask.info["grids"][AGNOSTIC]["C"] == local.info["grids"][AGNOSTIC]["C"]


def test_workers_with_several_threads_are_refused(shard_folder, tmp_path):
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        with pytest.raises(InputError, match="one thread each"):
            train(shard_folder, tmp_path, cluster.scheduler_address)


def test_an_unreachable_scheduler_is_named(shard_folder, tmp_path):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(InputError, match="Dask scheduler at 'tcp://127.0.0.1:9'"):
        main(["--shards", str(shard_folder), "--out", str(tmp_path), "--K", "1",
              "--scheduler", "tcp://127.0.0.1:9"])
