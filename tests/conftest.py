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
    import torch

    from hypercolumns.extract.networks import build_network
    from hypercolumns.extract.weights import CAFFE_BGR_INPUT, Weights, state_dict_sha256

    def make(seed: int = 0):
        torch.manual_seed(seed)
        state = build_network("vgg16", with_classifier=False).state_dict()
        return Weights("vgg16", state, dict(CAFFE_BGR_INPUT), state_dict_sha256(state), "random")

    return make


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
    import numpy as np

    from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
    from hypercolumns.classifiers.model_file import save_grid
    from hypercolumns.extract.cnn import FrozenCNN
    from hypercolumns.extract.features import feature_config
    from hypercolumns.extract.layer_spec import LayerSpec
    from hypercolumns.extract.weights import save_weights

    def make(folder, K: int = 2, spec: str = "conv4_3,global", seed: int = 0):
        weights = random_vgg16(0)
        cnn = FrozenCNN(weights, device="cpu")
        spec = LayerSpec.parse(spec).resolve(cnn.network)
        rng = np.random.default_rng(seed)
        model = GridModel(K=K, spec=spec, categories=[AGNOSTIC],
                          coef={AGNOSTIC: rng.normal(0, 0.05, (K, K, spec.dim)).astype(np.float32)},
                          intercept={AGNOSTIC: np.zeros((K, K), np.float32)},
                          mean=np.zeros(spec.dim, np.float32), scale=np.ones(spec.dim, np.float32),
                          feature_config=feature_config(cnn, spec))
        return save_weights(weights, "random-vgg16", folder), save_grid(model, Path(folder) / f"grid-K{K}.h5")

    return make
