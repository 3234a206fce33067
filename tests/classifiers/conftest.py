"""Fixtures of the stage-two tests."""
from __future__ import annotations

import pytest
from synthetic_shards import write_synthetic_shards


@pytest.fixture(scope="session")
def shard_folder(tmp_path_factory):
    """Two synthetic shards of 24 boxes each (16 images, 3 categories), 50-dim rows."""
    folder = tmp_path_factory.mktemp("shards")
    write_synthetic_shards(folder, n_shards=2, boxes_per_shard=24)
    return folder
