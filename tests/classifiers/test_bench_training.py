"""The grid-training benchmark fits the cells train-grid would, and reports consistent rates."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hypercolumns.classifiers.train import TrainOptions, load_training_set
from hypercolumns.pipelines.bench.bench_training import measure_grid_training

sys.path.insert(0, str(Path(__file__).parents[1] / "classifiers"))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_grid_training_bench_counts_the_rows_of_the_chosen_cells(tmp_path):
    shard_folder = tmp_path / "shards"
    write_synthetic_shards(shard_folder, n_shards=2, boxes_per_shard=24)
    result = measure_grid_training(shard_folder, K=2, cells=3, C=1e-2, processes=(1, 2),
                                   max_rows_per_cell=500)
    options = TrainOptions(Ks=(2,), show_progress=False)
    index = load_training_set(shard_folder, options).index
    expected = sum(len(index.cell_rows(2, k, 500, options.seed)) for k in result["cells"])
    assert result["cells"] == [0, 2, 3]  # spread over the 4 cells
    assert result["rows"] == expected
    for n_jobs in ("1", "2"):
        facts = result["by_processes"][n_jobs]
        assert np.isclose(facts["rows_per_s"], expected / facts["seconds"])
    rates = result["by_processes"]
    assert np.isclose(result["scaling"], rates["2"]["rows_per_s"] / rates["1"]["rows_per_s"])
