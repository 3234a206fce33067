"""Fine-tuning: a killed run resumes from its checkpoint and ends where an uninterrupted one does."""
import cv2
import numpy as np
import pytest
import torch

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.features import feature_config, plan_boxes
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.pipelines.finetune.training import (FinetuneOptions, checkpoint_path, export, finetune,
                                             trainable_network)
from hypercolumns.pipelines.finetune.network import HypercolumnNet

OPTIONS = FinetuneOptions(iterations=4, batch_size=2, checkpoint_every=2, train_from="conv5_1",
                          lr_cnn=1e-4, lr_heads=1e-2)


def records(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for index in range(2):
        image = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
        mask = np.zeros((72, 96), bool)
        mask[15:60, 20:70] = True
        image[mask] = (220, 40, 40)
        path = tmp_path / f"im{index}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        out.append(ImageRecord(f"im{index}", path, 72, 96, [Instance(mask, "thing")]))
    return out


def fresh_net(random_vgg16, seed=0):
    cnn = FrozenCNN(random_vgg16(seed), device="cpu")
    spec = LayerSpec.parse("conv5_3,global").resolve(cnn.network)
    K = 2
    rng = np.random.default_rng(1)
    model = GridModel(K, spec, [AGNOSTIC], {AGNOSTIC: rng.normal(0, 0.01, (K, K, spec.dim)).astype(np.float32)},
                      {AGNOSTIC: np.zeros((K, K), np.float32)}, np.zeros(spec.dim, np.float32),
                      np.ones(spec.dim, np.float32), feature_config(cnn, spec))
    network = trainable_network(cnn.network.to(memory_format=torch.contiguous_format), OPTIONS.train_from)
    return cnn, model, HypercolumnNet(network, model)


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, random_vgg16):
    data = records(tmp_path)
    cnn, model, net = fresh_net(random_vgg16)
    jobs = plan_boxes(data, model.feature_config)
    uninterrupted = finetune(net, cnn, jobs, data, tmp_path / "a", OPTIONS, log=lambda *_: None)
    assert len(uninterrupted) == 4 and np.isfinite(uninterrupted).all()
    expected = {k: v.clone() for k, v in net.state_dict().items()}

    cnn, model, net = fresh_net(random_vgg16)
    finetune(net, cnn, jobs, data, tmp_path / "b", OPTIONS, stop_after=3, log=lambda *_: None)  # "killed" at 3
    assert torch.load(checkpoint_path(tmp_path / "b"), weights_only=False)["iteration"] == 2
    cnn, model, net = fresh_net(random_vgg16)   # a new process: everything rebuilt from scratch
    resumed = finetune(net, cnn, jobs, data, tmp_path / "b", OPTIONS, log=lambda *_: None)
    assert resumed == pytest.approx(uninterrupted, rel=1e-5)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6)
    # the heads and the trained conv layers moved; the frozen ones did not
    _, _, start = fresh_net(random_vgg16)
    assert not torch.equal(start.bias, net.bias)
    assert not torch.equal(start.cnn.features[28].weight, net.cnn.features[28].weight)
    assert torch.equal(start.cnn.features[0].weight, net.cnn.features[0].weight)

    weights_path, grid_path = export(net, cnn, model, tmp_path / "b", OPTIONS, resumed)
    exported = load_grid(grid_path)
    assert exported.feature_config.weights_sha256 != model.feature_config.weights_sha256
    assert grid_path.parent / exported.info["weights_file"] == weights_path
