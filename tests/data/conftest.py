"""Fixtures for the data tests: a tiny record (files are written by ``data_test_files``)."""
from __future__ import annotations

import numpy as np
import pytest

from hypercolumns.data.records import ImageRecord, Instance


@pytest.fixture
def tiny_record(tmp_path) -> ImageRecord:
    """A 6 x 8 record: a person (rows 1-3, cols 1-4), a dog (rows 2-4, cols 4-6)
    drawn over it at pixel column 4, and a void border on the last row."""
    height, width = 6, 8
    person = np.zeros((height, width), bool)
    person[1:4, 1:5] = True
    dog = np.zeros((height, width), bool)
    dog[2:5, 4:7] = True
    void = np.zeros((height, width), bool)
    void[5, :] = True
    return ImageRecord(
        "2099_000001", tmp_path / "JPEGImages" / "2099_000001.jpg", height, width,
        [Instance(person, "person"), Instance(dog, "dog", difficult=True)], void,
    )
