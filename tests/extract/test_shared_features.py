"""Shared whole-image features against the per-box crops they stand in for.

The independent references: a coordinate image (pixel values are their own
x/y) through averaging networks, whose maps reveal the image point each unit
reads; exact crops of pixel-aligned boxes through a random conv net, where
translation equivariance makes the two paths equal away from the crop's
border; FLOPs counted by hand.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from hypercolumns.data.errors import InputError
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.networks import VGG16_CONV_PLAN, TappedNetwork, build_network
from hypercolumns.extract.shared_features import (SharedImageCNN, UnitGrid, cnn_gflops, layer_grids,
                                                  map_sizes, roi_maps, scaled_size, trace_features)


class TinyNet(TappedNetwork):
    """A feature stack with taps at chosen module indices (and optionally a vector tap)."""

    name = "tiny"

    def __init__(self, modules, taps: dict, input_size: int, vector_tap: bool = False):
        super().__init__()
        self.features = nn.Sequential(*modules)
        self.taps = OrderedDict((name, ("features", index, 0)) for name, index in taps.items())
        self.classifier = None
        if vector_tap:
            self.classifier = nn.Sequential(nn.Linear(4, 4))
            self.taps["vec"] = ("classifier", 0, 4)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.input_size = input_size
        self.eval().requires_grad_(False)


def pooling_net(crop_size: int = 64) -> TinyNet:
    """Identity, then three 2x2 stride-2 average pools: maps are the image, averaged."""
    modules = [nn.Identity()] + [nn.AvgPool2d(2, 2) for _ in range(3)]
    return TinyNet(modules, {"in": 0, "p1": 1, "p2": 2, "p3": 3}, crop_size)


def random_conv_net(seed: int = 0, crop_size: int = 32) -> TinyNet:
    torch.manual_seed(seed)
    modules = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
               nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
               nn.Conv2d(6, 5, 3, padding=1), nn.ReLU()]
    return TinyNet(modules, {"c1": 1, "p1": 2, "c2": 4, "p2": 5, "c3": 7}, crop_size)


@pytest.fixture(scope="module")
def base_cnn(random_vgg16):
    return FrozenCNN(random_vgg16(0), padding=16, device="cpu")


def with_network(base_cnn: FrozenCNN, network: TappedNetwork) -> FrozenCNN:
    """A copy of the frozen CNN (weights' input convention, CPU) running ``network`` on its crops."""
    cnn = copy.copy(base_cnn)
    cnn.network = network
    cnn.crop_size = network.input_size
    return cnn


def coordinate_image(height: int, width: int) -> np.ndarray:
    """Float RGB image: R is the pixel centre's x, G its y, B zero."""
    image = np.zeros((height, width, 3), np.float32)
    image[..., 0] = np.arange(width)[None, :] + 0.5
    image[..., 1] = np.arange(height)[:, None] + 0.5
    return image


def image_xy(maps: torch.Tensor, fill_rgb) -> tuple[np.ndarray, np.ndarray]:
    """The x and y a coordinate image's map holds (BGR-preprocessed: channel 2 is R, 1 is G)."""
    values = maps.detach().float().numpy()
    return values[:, 2] + fill_rgb[0], values[:, 1] + fill_rgb[1]


# ------------------------------------------------------------------ geometry

def test_unit_centres_of_pools_read_their_own_coordinates():
    network = pooling_net()
    image = torch.from_numpy(coordinate_image(40, 56)[..., :2].transpose(2, 0, 1).copy())[None]
    maps = network(image, ["in", "p1", "p2", "p3"])
    for layer, grid in layer_grids(network, maps).items():
        height, width = maps[layer].shape[2:]
        np.testing.assert_allclose(maps[layer][0, 0, 0].numpy(), grid.centres(width), atol=1e-5)
        np.testing.assert_allclose(maps[layer][0, 1, :, 0].numpy(), grid.centres(height), atol=1e-5)
    # (u + 0.5) * stride, the VGG16 rule
    assert layer_grids(network, ["p3"])["p3"] == UnitGrid(8.0, 4.0)


def test_unit_centres_with_padding_and_large_kernels_alexnet_shaped():
    """11x11 stride-4 pad-2 averaging conv then a 3x3 stride-2 pool: centres 4u + 3.5, then 8v + 7.5."""
    conv = nn.Conv2d(1, 1, 11, stride=4, padding=2, bias=False)
    conv.weight.data.fill_(1 / 121)
    network = TinyNet([conv, nn.AvgPool2d(3, 2)], {"conv1": 0, "pool1": 1}, 227)
    image = torch.from_numpy(coordinate_image(99, 99)[..., 0].copy())[None, None]
    maps = network(image, ["conv1", "pool1"])
    grids = layer_grids(network, ["conv1", "pool1"])
    assert grids == {"conv1": UnitGrid(4.0, 3.5), "pool1": UnitGrid(8.0, 7.5)}
    inner = slice(1, -1)   # zero padding spoils the edge units only
    np.testing.assert_allclose(maps["conv1"][0, 0, 5, inner].numpy(),
                               grids["conv1"].centres(maps["conv1"].shape[3])[inner], atol=1e-4)
    np.testing.assert_allclose(maps["pool1"][0, 0, 5, inner].numpy(),
                               grids["pool1"].centres(maps["pool1"].shape[3])[inner], atol=1e-4)


def test_vgg16_grids_and_sizes():
    vgg = build_network("vgg16", with_classifier=False)
    grids = layer_grids(vgg, ["conv1_2", "pool3", "conv4_3", "conv5_3", "pool5"])
    assert grids == {"conv1_2": UnitGrid(1.0, 0.5), "pool3": UnitGrid(8.0, 4.0),
                     "conv4_3": UnitGrid(8.0, 4.0), "conv5_3": UnitGrid(16.0, 8.0),
                     "pool5": UnitGrid(32.0, 16.0)}
    assert map_sizes(vgg, 224, ["pool3", "conv4_3", "conv5_3"]) == {
        "pool3": (28, 28), "conv4_3": (28, 28), "conv5_3": (14, 14)}


def test_box_maps_read_the_image_points_the_warped_crop_reads(base_cnn):
    """Coordinate image, averaging net, a rescaled unaligned box: per-box, shared and by-hand agree."""
    per_box = with_network(base_cnn, pooling_net(64))
    shared = SharedImageCNN(per_box, scale=240, max_size=10_000, margin=8)   # image x2
    image = coordinate_image(120, 160)
    boxes = np.array([[20.3, 15.7, 97.9, 88.1], [61.2, 30.4, 101.6, 101.0]])
    layers = ["in", "p1", "p2", "p3"]
    crop_maps = per_box.box_outputs(image, boxes, layers)
    roi = shared.box_outputs(image, boxes, layers)
    fill = per_box.fill_rgb
    for layer, grid in layer_grids(per_box.network, layers).items():
        width = crop_maps[layer].shape[3]
        by_hand = boxes[:, :1] + grid.centres(width)[None] / 64 * (boxes[:, 2:3] - boxes[:, :1])
        crop_x, crop_y = image_xy(crop_maps[layer], fill)
        roi_x, roi_y = image_xy(roi[layer], fill)
        # warpAffine's bilinear weights are quantised to 1/32 px; half a unit is >= 0.6 px here
        np.testing.assert_allclose(crop_x[:, 3], by_hand, atol=0.04)
        np.testing.assert_allclose(roi_x[:, 3], by_hand, atol=0.04)
        np.testing.assert_allclose(roi_x, crop_x, atol=0.04)
        np.testing.assert_allclose(roi_y, crop_y, atol=0.04)


# -------------------------------------------------- against the per-box path

def interior(maps: dict) -> dict:
    """Units whose receptive field in the 32 px crop stays inside it (hand-derived per tap)."""
    trim = {"c1": 1, "p1": 1, "c2": 2, "p2": 1, "c3": 2}
    return {name: value[:, :, trim[name]:-trim[name], trim[name]:-trim[name]]
            for name, value in maps.items()}


def max_relative_error(got: dict, expected: dict) -> float:
    return max(float((got[k] - expected[k]).abs().max() / expected[k].abs().max()) for k in expected)


@pytest.mark.parametrize("zoom", [1, 2])
def test_aligned_boxes_equal_the_crop_path_on_a_random_image(base_cnn, zoom):
    """Conv nets are translation-equivariant: a box whose crop is the resized image's pixels, on the
    deepest stride's grid, gets exactly the crop's maps; half a stride off it does not."""
    per_box = with_network(base_cnn, random_conv_net(0, 32))
    shared = SharedImageCNN(per_box, scale=96 * zoom, max_size=10_000, margin=8)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3)).astype(np.uint8)
    side = 32 / zoom                           # the box fills the crop at the image's zoom
    starts = np.array([[36.0, 20.0], [4.0, 60.0], [88.0, 44.0]])   # (x0 * zoom + 8) % 4 == 0
    boxes = np.concatenate([starts, starts + side], axis=1)
    layers = ["c1", "p1", "c2", "p2", "c3"]
    expected = interior(per_box.box_outputs(image, boxes, layers))
    assert max_relative_error(interior(shared.box_outputs(image, boxes, layers)), expected) < 1e-4
    half_stride = 2 / zoom
    shifted = boxes + np.array([half_stride, 0, half_stride, 0])
    assert max_relative_error(interior(shared.box_outputs(image, shifted, layers)), expected) > 0.05
    assert shared.forward_count == 1


def smooth_image(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] + 0.5
    channels = [128 + 100 * np.sin(x / 23 + 0.3) * np.cos(y / 31),
                128 + 100 * np.cos(x / 19 - y / 41),
                128 + 90 * np.sin((x + y) / 29)]
    return np.stack(channels, axis=-1).astype(np.float32)


def relative_rms(got: dict, expected: dict) -> dict:
    """Per layer: RMS of the difference over the standard deviation of the expected maps."""
    return {k: float((got[k] - expected[k]).pow(2).mean().sqrt() / expected[k].std()) for k in expected}


def test_unaligned_boxes_match_the_crop_path_on_a_smooth_image(base_cnn):
    """Fractional box positions at the image's zoom: bilinear reads of smooth maps are near-exact,
    and clearly closer than reads half a unit off (per layer, in x and in y)."""
    per_box = with_network(base_cnn, random_conv_net(1, 32))
    zoom = 1.5
    shared = SharedImageCNN(per_box, scale=96 * zoom, max_size=10_000, margin=8)
    image = smooth_image(96, 128)
    starts = np.random.default_rng(1).uniform(5, 60, (4, 2))
    boxes = np.concatenate([starts, starts + 32 / zoom], axis=1)
    layers = ["c1", "p1", "c2", "p2", "c3"]
    expected = interior(per_box.box_outputs(image, boxes, layers))
    errors = relative_rms(interior(shared.box_outputs(image, boxes, layers)), expected)
    grids = layer_grids(per_box.network, layers)
    for layer in layers:
        half_unit = grids[layer].stride / 2 / zoom          # image px
        for axis in (0, 1):
            shift = np.zeros(4)
            shift[[axis, axis + 2]] = half_unit
            off = relative_rms(interior(shared.box_outputs(image, boxes + shift, [layer])),
                               {layer: expected[layer]})[layer]
            assert errors[layer] < min(0.03, off / 2), (layer, axis, errors[layer], off)


# ------------------------------------------------------------------- outside

def test_reads_past_the_maps_take_the_border_or_zeros(base_cnn):
    per_box = with_network(base_cnn, pooling_net(64))
    image = coordinate_image(40, 40)
    far = np.array([[500.0, 500.0, 600.0, 600.0]])
    border = SharedImageCNN(per_box, scale=40, margin=0).box_outputs(image, far, ["p3"])["p3"]
    zeros = SharedImageCNN(per_box, scale=40, margin=0, padding_mode="zeros").box_outputs(
        image, far, ["p3"])["p3"]
    corner_x, corner_y = image_xy(border, per_box.fill_rgb)
    np.testing.assert_allclose(corner_x, 36.0, atol=1e-4)   # the last p3 unit: (4 + 0.5) * 8
    np.testing.assert_allclose(corner_y, 36.0, atol=1e-4)
    assert float(zeros.abs().max()) == 0.0


# ------------------------------------------------------------------- FLOPs

def test_flops_of_a_tiny_net_by_hand():
    network = random_conv_net(0, 32)
    # conv 3->4 on 10x12, pool to 5x6, conv 4->6 on 5x6, pool to 2x3, conv 6->5 on 2x3
    first, second, third = 2 * 10 * 12 * 4 * 3 * 9, 2 * 5 * 6 * 6 * 4 * 9, 2 * 2 * 3 * 5 * 6 * 9
    assert cnn_gflops(network, (10, 12), ["c1"]) * 1e9 == pytest.approx(first)
    assert cnn_gflops(network, (10, 12), ["p1"]) * 1e9 == pytest.approx(first)
    assert cnn_gflops(network, (10, 12), ["c2", "c1"]) * 1e9 == pytest.approx(first + second)
    assert cnn_gflops(network, (10, 12), ["c3"]) * 1e9 == pytest.approx(first + second + third)
    assert [t.size for t in trace_features(network, (10, 12))][-1] == (2, 3)


def test_vgg16_conv_flops_at_224():
    """13 convs: sum of 2 * side^2 * C_in * C_out * 9 with side 224 / 2**block: 30.69 GFLOP (15.35 G MACs)."""
    by_hand, side, in_channels = 0, 224, 3
    for name, channels in VGG16_CONV_PLAN:
        if channels is None:
            side //= 2
        else:
            by_hand += 2 * side * side * in_channels * channels * 9
            in_channels = channels
    assert by_hand == 30_693_261_312
    vgg = build_network("vgg16", with_classifier=False)
    assert cnn_gflops(vgg, 224, ["pool3", "conv4_3", "conv5_3"]) * 1e9 == by_hand
    assert cnn_gflops(vgg, 224, ["conv5_3"]) / 2 == pytest.approx(15.35, abs=0.01)


# -------------------------------------------------- drop-in for FrozenCNN

def test_outputs_have_the_per_box_shapes_dtypes_device_and_layout(base_cnn):
    shared = SharedImageCNN(base_cnn, scale=96, max_size=200)
    image = np.random.default_rng(2).integers(0, 256, (90, 120, 3)).astype(np.uint8)
    boxes = base_cnn.expand(np.array([[10, 10, 60, 70], [50, 5, 118, 88], [0, 0, 120, 90]]))
    layers = ["pool3", "conv4_3", "conv5_3"]
    expected = base_cnn.forward(base_cnn.crops(image, boxes), layers)
    got = shared.box_outputs(image, boxes, layers)
    assert list(got) == layers
    for layer in layers:
        assert got[layer].shape == expected[layer].shape
        assert got[layer].dtype == expected[layer].dtype
        assert got[layer].device == expected[layer].device
        assert got[layer].is_contiguous(memory_format=base_cnn.memory_format)
    assert shared.name == base_cnn.name and shared.crop_size == base_cnn.crop_size
    np.testing.assert_array_equal(shared.expand(boxes), base_cnn.expand(boxes))
    empty = shared.box_outputs(image, np.zeros((0, 4)), ["pool3"])["pool3"]
    assert empty.shape == (0, 256, 28, 28)


def test_image_maps_are_cached_by_content(base_cnn):
    per_box = with_network(base_cnn, pooling_net(64))
    shared = SharedImageCNN(per_box, scale=40)
    image = coordinate_image(40, 48)
    box = np.array([[2.0, 3.0, 30.0, 31.0]])
    shared.box_outputs(image, box, ["p1"])
    shared.box_outputs(image.copy(), box, ["p1"])
    assert shared.forward_count == 1
    shared.box_outputs(image, box, ["p2"])              # a layer not computed yet
    assert shared.forward_count == 2
    shared.box_outputs(image[::-1].copy(), box, ["p1"])
    assert shared.forward_count == 3


def test_bad_inputs_name_what_is_wrong(base_cnn):
    per_box = with_network(base_cnn, TinyNet([nn.Identity()], {"in": 0}, 16, vector_tap=True))
    per_box.network.classifier_loaded = True
    shared = SharedImageCNN(per_box, scale=16)
    image = coordinate_image(16, 16)
    with pytest.raises(InputError, match="'vec' is a vector layer"):
        shared.box_outputs(image, np.array([[0.0, 0, 8, 8]]), ["vec"])
    with pytest.raises(ValueError, match="no area"):
        shared.box_outputs(image, np.array([[4.0, 0, 4, 8]]), ["in"])
    with pytest.raises(ValueError, match="padding_mode"):
        SharedImageCNN(per_box, padding_mode="reflect")
    with pytest.raises(ValueError, match="scale"):
        SharedImageCNN(per_box, scale=0)


def test_scaled_size_caps_the_longer_side():
    assert scaled_size(375, 500, 600, 1000) == (600, 800)
    assert scaled_size(300, 1000, 600, 1000) == (300, 1000)
    with pytest.raises(ValueError, match="empty"):
        scaled_size(0, 10, 600, 1000)


def test_roi_maps_refuses_a_batched_whole_image_map():
    maps = {"in": torch.zeros(2, 1, 8, 8)}
    with pytest.raises(ValueError, match="'in' must be \\(1, C, H, W\\)"):
        roi_maps(maps, np.array([[0.0, 0, 4, 4]]), {"in": (4, 4)}, {"in": UnitGrid(1.0, 0.5)}, 4)


# ------------------------------------------------------------------- bench

class FakeRecord:
    def __init__(self, image: np.ndarray, boxes: np.ndarray):
        self.image_id, self.image, self._boxes = "fake", image, boxes
        self.height, self.width = image.shape[:2]

    def boxes(self) -> np.ndarray:
        return self._boxes

    def load_image(self) -> np.ndarray:
        return self.image


def test_bench_boxes_are_seeded_inside_and_half_jittered_truth():
    from hypercolumns.pipelines.bench.bench_shared import bench_boxes

    record = FakeRecord(np.zeros((100, 200, 3), np.uint8), np.array([[20.0, 10, 80, 90]]))
    boxes = bench_boxes(record, 10, np.random.default_rng(3))
    np.testing.assert_array_equal(boxes, bench_boxes(record, 10, np.random.default_rng(3)))
    assert boxes.shape == (10, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 204).all() and (boxes[:, 3] <= 104).all()
    assert (boxes[:, 2:] - boxes[:, :2] >= 4).all()
    centres = (boxes[:5, :2] + boxes[:5, 2:]) / 2
    np.testing.assert_allclose(centres, [[50, 50]] * 5, atol=0.1 * 80 + 1e-9)


def test_bench_reports_both_modes_per_setting(base_cnn):
    from hypercolumns.pipelines.bench.bench_shared import bench_shared_vs_per_box

    image = np.random.default_rng(4).integers(0, 256, (60, 80, 3)).astype(np.uint8)
    record = FakeRecord(image, np.array([[10.0, 10, 50, 40]]))
    result = bench_shared_vs_per_box(base_cnn, [record], boxes_per_image=(1, 2), scales=(48,), margin=16,
                                     batch_size=2, locations_per_box=8)
    rows = result["rows"]
    assert [(r["boxes_per_image"], r["mode"]) for r in rows] == [
        (1, "per-box"), (1, "shared"), (2, "per-box"), (2, "shared")]
    whole = cnn_gflops(base_cnn.network, (80, 96), result["layers"])   # 48x64 + 16 px all round
    assert rows[0]["gflop_per_box"] == pytest.approx(30.69, abs=0.01)
    assert rows[3]["gflop_per_box"] == pytest.approx(whole / 2)
    assert rows[3]["flop_ratio"] == pytest.approx(rows[2]["gflop_per_box"] / rows[3]["gflop_per_box"])
    assert set(rows[1]["correlation"]) == {"pool3", "conv4_3", "global", "all"}
    assert all(-1 <= value <= 1 for value in rows[1]["correlation"].values())


@pytest.mark.slow
def test_real_vgg16_aligned_box_matches_its_crop_inside(imagenet_weights, data_root):
    """ImageNet VGG16 on a val image: a square box on the stride grid at the image's zoom gets its
    crop's maps, away from the crop border (where the crop sees zero padding, the image context)."""
    from hypercolumns.data.datasets import load_val_records

    record = next(r for r in load_val_records(data_root) if (r.height, r.width) == (375, 500))
    image = record.load_image()
    cnn = FrozenCNN(imagenet_weights, device="cpu")
    shared = SharedImageCNN(cnn, scale=224, margin=16)     # 375 -> 224: the box's own zoom
    box = np.array([[0.0, 0.0, 375.0, 375.0]])
    layers = ["pool3", "conv4_3", "conv5_3"]
    crop_maps, roi = cnn.box_outputs(image, box, layers), shared.box_outputs(image, box, layers)
    for layer, trim, floor in (("pool3", 4, 0.99), ("conv4_3", 4, 0.99), ("conv5_3", 2, 0.95)):
        inside = (slice(None), slice(None), slice(trim, -trim), slice(trim, -trim))
        pair = torch.stack([crop_maps[layer][inside].flatten(), roi[layer][inside].flatten()])
        assert float(torch.corrcoef(pair.double())[0, 1]) > floor, layer


def test_feature_source_round_trips_and_bad_ones_are_named(tiny_cnn):
    from hypercolumns.extract.config import FeatureSource
    from hypercolumns.extract.shared_features import feature_cnn

    tiny_cnn, _ = tiny_cnn
    assert feature_cnn(tiny_cnn, FeatureSource.parse("per-box")) is tiny_cnn
    shared = SharedImageCNN(tiny_cnn, scale=300, max_size=800, margin=8, padding_mode="zeros")
    recorded = str(shared.feature_source)
    assert recorded == "shared:scale=300,max_size=800,margin=8,padding_mode=zeros"
    again = feature_cnn(tiny_cnn, FeatureSource.parse(recorded))
    assert (again.scale, again.max_size, again.margin, again.padding_mode) == (300, 800, 8, "zeros")
    assert again.feature_source == shared.feature_source
    with pytest.raises(InputError, match="'tiled:scale=3'"):
        FeatureSource.parse("tiled:scale=3")
