"""Shared test fixtures: where the real data lives."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("DATA_ROOT", REPO_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real data (``../shared/datasets`` or ``$DATA_ROOT``)."""
    if not DATA_ROOT.is_dir():
        pytest.fail(f"shared data not found at {DATA_ROOT}; set DATA_ROOT")
    return DATA_ROOT
