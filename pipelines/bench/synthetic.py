"""What ``hypercolumns bench --synthetic N`` times on where neither the shared data nor the converted
weights are (a lent GPU machine, a new user's laptop): ``N`` synthetic PASCAL-sized photos with
instances, a randomly initialised VGG16 and a random K = 10 grid on stage one's default layers.

A forward's cost depends on the sizes it is given, not on the values of the weights or pixels, so
the speed figures (ms per crop, rates against the bare forward) hold for the real network; no
mask-quality figure is made from these.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hypercolumns.data.records import ImageRecord, Instance


def synthetic_records(folder: Path, count: int, height: int = 375, width: int = 500, instances: int = 3,
                      seed: int = 0) -> list:
    """``count`` images of ``height`` x ``width`` (PASCAL's common size) under ``folder/images``, each with
    ``instances`` filled ellipses of random size and colour as its instances (category ``thing``)."""
    rng = np.random.default_rng(seed)
    images = Path(folder) / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(count):
        y, x = np.mgrid[0:height, 0:width]
        image = np.stack([100 + 60 * np.sin(x / (40 + 9 * c) + y / 70) for c in range(3)], -1)
        image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        objects = []
        for _ in range(instances):
            mask = np.zeros((height, width), np.uint8)
            centre = (int(rng.integers(60, width - 60)), int(rng.integers(60, height - 60)))
            axes = (int(rng.integers(25, width // 4)), int(rng.integers(25, height // 4)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            image[mask > 0] = rng.integers(0, 256, 3)
            objects.append(Instance(mask > 0, "thing"))
        path = images / f"synthetic{index:04d}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        records.append(ImageRecord(f"synthetic{index:04d}", path, height, width, objects))
    return records


def random_weights(seed: int = 0):
    """VGG16's conv layers, randomly initialised (seeded), as ``Weights`` with Caffe's BGR input."""
    import torch

    from hypercolumns.extract.networks import build_network
    from hypercolumns.extract.weights import CAFFE_BGR_INPUT, Weights, state_dict_sha256

    torch.manual_seed(seed)
    state = build_network("vgg16", with_classifier=False).state_dict()
    return Weights("vgg16", state, dict(CAFFE_BGR_INPUT), state_dict_sha256(state), "random (bench --synthetic)")


def random_grid(weights, folder: Path, K: int = 10, layers: str | None = None, coef_scale: float | None = None,
                seed: int = 0, standardized_on: list | None = None) -> Path:
    """A random category-agnostic K x K grid on ``layers`` (default: stage one's) of ``weights``, its
    weights drawn with sd ``coef_scale`` (default 1 / sqrt(dims)), saved in ``folder``.

    ``standardized_on``: records whose stage-one rows give the grid its standardisation, as train-grid's
    would, so that its logits on real features are of order 1 and its heatmaps are not saturated (a
    saturated heatmap flips at the smallest change of a feature: no test of an engine's agreement).
    """
    from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
    from hypercolumns.classifiers.model_file import save_grid
    from hypercolumns.extract.cnn import FrozenCNN
    from hypercolumns.extract.features import DEFAULT_LAYERS, feature_config
    from hypercolumns.extract.layer_spec import LayerSpec

    cnn = FrozenCNN(weights, device="cpu")
    spec = LayerSpec.parse(layers or DEFAULT_LAYERS).resolve(cnn.network)
    config = feature_config(cnn, spec)
    mean, scale = np.zeros(spec.dim, np.float32), np.ones(spec.dim, np.float32)
    if standardized_on:
        from hypercolumns.classifiers.standardize import standardization_from_shards
        from hypercolumns.extract.features import run_features
        from hypercolumns.extract.shards import list_shards

        shards = Path(folder) / "standardization-shards"
        run_features(standardized_on, shards, cnn, spec, config, show_progress=False)
        standardization = standardization_from_shards(list_shards(shards))
        mean, scale = standardization.mean.astype(np.float32), standardization.scale.astype(np.float32)
    rng = np.random.default_rng(seed)
    sd = coef_scale if coef_scale is not None else 1 / np.sqrt(spec.dim)
    model = GridModel(K=K, spec=spec, categories=[AGNOSTIC],
                      coef={AGNOSTIC: rng.normal(0, sd, (K, K, spec.dim)).astype(np.float32)},
                      intercept={AGNOSTIC: np.zeros((K, K), np.float32)},
                      mean=mean, scale=scale, feature_config=config)
    return save_grid(model, Path(folder) / f"grid-K{K}.h5")
