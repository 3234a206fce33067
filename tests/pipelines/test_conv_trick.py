"""The conv trick (Eq. 4-5) against the explicit hypercolumn classifier, on random maps."""
import numpy as np
import pytest
import torch

from hypercolumns.classifiers.grid_model import GridModel
from hypercolumns.extract.hypercolumn import dense_hypercolumns
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.pipelines.inference.conv_trick import (ConvTrickHead, ConvTrickPredictor,
                                               conv_trick_heatmaps, explicit_heatmaps)

# a pool3-like map with a 3x3 neighbourhood, a conv4-like one, a conv5-like 14x14 map
# with a 5x5 neighbourhood that also feeds the global block, and xy (appended)
SPEC_TEXT = "pool3:3,conv4_3,conv5_3:5,global"
CHANNELS = {"pool3": 16, "conv4_3": 32, "conv5_3": 24}
SIZES = {"pool3": 28, "conv4_3": 28, "conv5_3": 14}
NETWORK = "vgg16"
BATCH = 3


class FakeVGG:
    name = NETWORK

    def channels(self, layer):
        return CHANNELS[layer]


def random_layer_outputs(seed, batch=BATCH, device="cpu"):
    """Maps with channel offsets and spreads of different sizes (as real activations have)."""
    generator = torch.Generator().manual_seed(seed)
    outputs = {}
    for name, channels in CHANNELS.items():
        offset = 4 * torch.rand(1, channels, 1, 1, generator=generator)
        spread = 0.5 + 1.5 * torch.rand(1, channels, 1, 1, generator=generator)
        side = SIZES[name]
        outputs[name] = offset + spread * torch.randn(batch, channels, side, side,
                                                      generator=generator)
    return {name: tensor.to(device) for name, tensor in outputs.items()}


def random_model(K, layer_outputs, categories=("cat", "dog"), seed=0, spec_text=SPEC_TEXT):
    """A grid whose standardisation roughly whitens these features, so logits are O(1-5)."""
    spec = LayerSpec.parse(spec_text).resolve(FakeVGG())
    rng = np.random.default_rng(seed)
    features = dense_hypercolumns(layer_outputs, spec, NETWORK).double()
    mean = features.mean(dim=(0, 2, 3)).numpy() + 0.1 * rng.standard_normal(spec.dim)
    scale = features.std(dim=(0, 2, 3)).numpy() * rng.uniform(0.8, 1.25, spec.dim)
    coef = {c: (2.5 / np.sqrt(spec.dim) * rng.standard_normal((K, K, spec.dim))).astype(np.float32)
            for c in categories}
    intercept = {c: rng.standard_normal((K, K)).astype(np.float32) for c in categories}
    return GridModel(K=K, spec=spec, categories=list(categories), coef=coef,
                     intercept=intercept, mean=mean.astype(np.float32),
                     scale=np.maximum(scale, 1e-3).astype(np.float32), feature_config={})


@pytest.mark.parametrize("K", [1, 2, 5, 10])
def test_conv_trick_equals_explicit(K):
    outputs = random_layer_outputs(seed=K)
    model = random_model(K, outputs)
    categories = ["dog", "cat", "dog"]
    fast, fast_cells = conv_trick_heatmaps(outputs, model.spec, NETWORK, model, categories,
                                           return_cell_probabilities=True)
    slow, slow_cells = explicit_heatmaps(outputs, model.spec, NETWORK, model, categories,
                                         return_cell_probabilities=True)
    assert fast.dtype == torch.float32 and fast.shape == (BATCH, 50, 50)
    assert fast_cells.shape == (BATCH, K * K, 50, 50)
    # not vacuous: cells are mostly unsaturated and the heatmaps vary over the box
    unsaturated = ((slow_cells > 0.02) & (slow_cells < 0.98)).double().mean()
    assert unsaturated > 0.5
    assert slow.std(dim=(1, 2)).min() > 0.05
    cell_difference = (fast_cells.double() - slow_cells).abs().max().item()
    heatmap_difference = (fast.double() - slow).abs().max().item()
    print(f"K={K}: max |conv trick - explicit| heatmaps {heatmap_difference:.2e}, "
          f"cells {cell_difference:.2e}")
    assert heatmap_difference < 1e-4
    assert cell_difference < 1e-4


def test_mixed_batch_equals_each_box_alone():
    outputs = random_layer_outputs(seed=7)
    model = random_model(2, outputs)
    predictor = ConvTrickPredictor(model, NETWORK)
    mixed = predictor(outputs, ["dog", "cat", "dog"])
    for index, category in enumerate(["dog", "cat", "dog"]):
        alone = ConvTrickHead(model, category, NETWORK)(
            {name: tensor[index:index + 1] for name, tensor in outputs.items()})
        torch.testing.assert_close(mixed[index], alone[0], rtol=0, atol=1e-5)
    assert (mixed[1] - predictor(outputs, "dog")[1]).abs().max() > 1e-3  # categories differ


def test_agnostic_grid_serves_any_category():
    outputs = random_layer_outputs(seed=3)
    model = random_model(2, outputs, categories=("__all__",))
    predictor = ConvTrickPredictor(model, NETWORK)
    torch.testing.assert_close(predictor(outputs, ["bird", "car", "bird"]),
                               predictor(outputs, "__all__"))
    assert len(predictor._heads) == 1


def test_head_is_reusable_and_returns_probabilities():
    outputs = random_layer_outputs(seed=4)
    model = random_model(5, outputs)
    head = ConvTrickHead(model, "cat", NETWORK)
    first, cells = head(outputs, return_cell_probabilities=True)
    torch.testing.assert_close(head(outputs), first, rtol=0, atol=0)
    assert 0 <= first.min() and first.max() <= 1
    assert cells.shape == (BATCH, 25, 50, 50)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_device_of_the_tensors():
    cpu_outputs = random_layer_outputs(seed=5)
    model = random_model(5, cpu_outputs)
    head = ConvTrickHead(model, "cat", NETWORK)
    on_gpu = head({name: t.cuda() for name, t in cpu_outputs.items()})
    assert on_gpu.is_cuda
    # cuDNN convolutions run in TF32 on Ampere and later (torch's default): measured 7e-4 on an H100
    torch.testing.assert_close(on_gpu.cpu(), head(cpu_outputs), rtol=0, atol=2e-3)


def test_errors_name_the_problem():
    outputs = random_layer_outputs(seed=6)
    model = random_model(2, outputs)
    with pytest.raises(ValueError, match="pool3"):
        conv_trick_heatmaps({k: v for k, v in outputs.items() if k != "pool3"}, model.spec,
                            NETWORK, model, "cat")
    with pytest.raises(ValueError, match="spec"):
        conv_trick_heatmaps(outputs, LayerSpec.parse(SPEC_TEXT), NETWORK, model, "cat")
    with pytest.raises(ValueError, match="one per box"):
        conv_trick_heatmaps(outputs, model.spec, NETWORK, model, ["cat"])
    with pytest.raises(ValueError, match="bird"):
        conv_trick_heatmaps(outputs, model.spec, NETWORK, model, "bird")
    with pytest.raises(ValueError, match="channels"):
        wrong = dict(outputs, conv4_3=outputs["conv4_3"][:, :8])
        conv_trick_heatmaps(wrong, model.spec, NETWORK, model, "cat")


CANDIDATE_SPEC = "pool3:3,inout,conv5_3:5,global,candidate"


def random_candidates(seed, batch=BATCH):
    """In/out grids of random blobs (0/1) and 10 x 10 candidates of cell fractions."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 1, 6, 6, generator=generator)
    inout = (torch.nn.functional.interpolate(coarse, size=(50, 50), mode="bilinear") > 0.5).float()
    return {"inout": inout, "candidate": torch.rand(batch, 100, generator=generator)}


@pytest.mark.parametrize("K", [1, 5])
def test_conv_trick_equals_explicit_with_candidate_blocks(K):
    outputs = {**random_layer_outputs(seed=10 + K), **random_candidates(seed=K)}
    model = random_model(K, outputs, spec_text=CANDIDATE_SPEC)
    inout, candidate = model.spec.blocks[1], model.spec.blocks[4]
    assert (inout.kind, candidate.kind, candidate.size) == ("inout", "candidate", 100)
    rng = np.random.default_rng(K)
    for coef in model.coef.values():  # weights the candidate blocks enough to matter
        coef[..., inout.offset] = rng.normal(0, 2, (K, K))
        coef[..., candidate.offset:candidate.offset + 100] = rng.normal(0, 0.3, (K, K, 100))
    categories = ["dog", "cat", "dog"]
    fast, fast_cells = conv_trick_heatmaps(outputs, model.spec, NETWORK, model, categories,
                                           return_cell_probabilities=True)
    slow, slow_cells = explicit_heatmaps(outputs, model.spec, NETWORK, model, categories,
                                         return_cell_probabilities=True)
    assert (fast.double() - slow).abs().max().item() < 1e-4
    assert (fast_cells.double() - slow_cells).abs().max().item() < 1e-4
    # not vacuous: both candidate inputs move the heatmaps, in both paths
    for name, changed in (("inout", 1 - outputs["inout"]), ("candidate", outputs["candidate"].flip(1))):
        other = dict(outputs, **{name: changed})
        moved = conv_trick_heatmaps(other, model.spec, NETWORK, model, categories)
        assert (moved - fast).abs().max() > 0.05
        reference = explicit_heatmaps(other, model.spec, NETWORK, model, categories)
        assert (moved.double() - reference).abs().max().item() < 1e-4


def test_candidate_blocks_without_candidates_need_candidate_masks():
    outputs = {**random_layer_outputs(seed=8), **random_candidates(seed=8)}
    model = random_model(2, outputs, spec_text=CANDIDATE_SPEC)
    for missing in ("inout", "candidate"):
        partial = {k: v for k, v in outputs.items() if k != missing}
        with pytest.raises(ValueError, match="needs candidate masks"):
            conv_trick_heatmaps(partial, model.spec, NETWORK, model, "cat")
        with pytest.raises(ValueError, match="needs candidate masks"):
            explicit_heatmaps(partial, model.spec, NETWORK, model, "cat")
