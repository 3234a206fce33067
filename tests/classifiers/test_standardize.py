"""The streaming standardisation equals numpy's mean and std over all rows."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from synthetic_shards import write_synthetic_shards

from hypercolumns.classifiers.standardize import (SCALE_FLOOR, RunningMoments, floored_scale,
                                                  standardization_from_shards, standardization_of,
                                                  standardize)


def test_streaming_moments_equal_numpy_over_concatenated_shards(tmp_path):
    shards = write_synthetic_shards(tmp_path / "shards", n_shards=3, boxes_per_shard=5, seed=3)
    rows = []
    for path in shards:
        with h5py.File(path, "r") as f:
            rows.append(f["features"][:].astype(np.float64))
    everything = np.concatenate(rows)
    counted = []
    # 7-row chunks: many merges, chunks straddling nothing in particular
    result = standardization_from_shards(shards, chunk_rows=7, progress=counted.append)
    assert result.n_rows == len(everything) == sum(counted)
    np.testing.assert_allclose(result.mean, everything.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.std, everything.std(axis=0), rtol=1e-10, atol=1e-12)


def test_large_offsets_do_not_lose_precision():
    # sum(x^2) - n mean^2 would cancel catastrophically here; pairwise merging does not
    rng = np.random.default_rng(0)
    features = 1e6 + rng.normal(size=(5000, 3))
    moments = RunningMoments(3)
    for start in range(0, 5000, 333):
        moments.update(features[start:start + 333])
    np.testing.assert_allclose(moments.result().std, features.std(axis=0), rtol=1e-9)


def test_constant_dimensions_get_the_floored_scale():
    features = np.column_stack([np.arange(10.0), 2 * np.arange(10.0), np.full(10, 5.0)])
    result = standardization_of(features)
    median_std = np.median(result.std[:2])
    assert result.scale[2] == pytest.approx(SCALE_FLOOR * median_std)
    np.testing.assert_array_equal(result.scale[:2], result.std[:2])
    z = standardize(features, result.mean, result.scale)
    assert z.dtype == np.float32 and np.all(z[:, 2] == 0)
    np.testing.assert_allclose(z[:, 0], (features[:, 0] - 4.5) / np.std(np.arange(10.0)), rtol=1e-6)


def test_all_constant_features_scale_to_one():
    np.testing.assert_array_equal(floored_scale(np.zeros(4)), np.ones(4))


def test_standardize_checks_the_width():
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        standardize(np.zeros((2, 4)), np.zeros(3), np.ones(3))


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match="no rows"):
        RunningMoments(2).result()
