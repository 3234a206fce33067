"""The hypercolumn network loaded from a grid equals the inference stage."""
import numpy as np
import torch

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.networks import build_network
from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor
from hypercolumns.pipelines.finetune.network import HypercolumnNet


def random_grid(spec, K, seed=0):
    rng = np.random.default_rng(seed)
    return GridModel(K=K, spec=spec, categories=[AGNOSTIC],
                     coef={AGNOSTIC: rng.normal(0, 3 / np.sqrt(spec.dim), (K, K, spec.dim)).astype(np.float32)},
                     intercept={AGNOSTIC: rng.normal(0, 0.5, (K, K)).astype(np.float32)},
                     mean=rng.normal(0.1, 0.05, spec.dim).astype(np.float32),
                     scale=rng.uniform(0.05, 0.3, spec.dim).astype(np.float32),
                     feature_config={})


def test_network_output_equals_conv_trick_inference():
    torch.manual_seed(0)
    cnn = build_network("vgg16", with_classifier=False).eval().requires_grad_(False)
    spec = LayerSpec.parse("pool3:3,conv4_3,global").resolve(cnn)
    crops = torch.randn(2, 3, 224, 224) * 50
    with torch.no_grad():
        outputs = cnn(crops, spec.network_layers("vgg16"))
    for K in (1, 5, 10):
        model = random_grid(spec, K, seed=K)
        network = HypercolumnNet(cnn, model)
        with torch.no_grad():
            ours = network(crops)
        expected = ConvTrickPredictor(model, "vgg16")(outputs, AGNOSTIC)
        assert ours.shape == (2, 50, 50)
        assert float(ours.std()) > 0.01   # not a saturated, constant map
        torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)
        # exported back to a grid, the heads give the same heatmaps
        exported = network.to_grid_model({}, {})
        again = ConvTrickPredictor(exported, "vgg16")(outputs, AGNOSTIC)
        torch.testing.assert_close(again, expected, atol=1e-4, rtol=0)
