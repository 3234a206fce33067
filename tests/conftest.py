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

# Weights and other caches live in the repository's work/ folder during tests,
# where `make weights` (run by `make setup`) puts them.
os.environ.setdefault("HYPERCOLUMNS_CACHE", str(REPO_ROOT / "work" / "cache"))


@pytest.fixture(scope="session")
def imagenet_weights():
    """The converted ImageNet VGG16 conv weights (made by `make weights`)."""
    from hypercolumns.extract.weights import DEFAULT_WEIGHTS_NAME, load_weights, weights_paths

    path, _ = weights_paths(DEFAULT_WEIGHTS_NAME)
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make weights` (part of `make setup`) first")
    return load_weights(path)


@pytest.fixture(scope="session")
def random_vgg16():
    """A factory of randomly initialised VGG16 conv weights (``Weights``), seeded: ``random_vgg16(seed)``."""
    from hypercolumns.pipelines.bench.synthetic import random_weights

    return random_weights


@pytest.fixture(scope="session")
def tiny_cnn(random_vgg16):
    """A random VGG16 on the CPU and the spec ``pool3:3,conv4_3,global`` resolved on it."""
    from hypercolumns.extract.cnn import FrozenCNN
    from hypercolumns.extract.layer_spec import LayerSpec

    cnn = FrozenCNN(random_vgg16(0), padding=16, device="cpu")
    return cnn, LayerSpec.parse("pool3:3,conv4_3,global").resolve(cnn.network)


@pytest.fixture(scope="session")
def random_grid_file(random_vgg16):
    """A factory: a random agnostic K x K grid on ``random_vgg16(0)``'s layers ``spec``, saved with the weights
    in ``folder``; returns ``(weights_path, model_path)``."""
    from hypercolumns.extract.weights import save_weights
    from hypercolumns.pipelines.bench.synthetic import random_grid

    def make(folder, K: int = 2, spec: str = "conv4_3,global", seed: int = 0):
        weights = random_vgg16(0)
        return (save_weights(weights, "random-vgg16", folder),
                random_grid(weights, folder, K, layers=spec, coef_scale=0.05, seed=seed))

    return make
