"""Hypercolumn geometry: upsampling rule, neighbourhood order, dense vs sampled paths."""
import numpy as np
import pytest
import torch

from hypercolumns.extract.hypercolumn import (
    bilinear_weights, dense_hypercolumns, neighbourhood, sample_hypercolumns,
    source_coordinates, upsample,
)
from hypercolumns.extract.layer_spec import LayerSpec


class FakeNetwork:
    name = "vgg16"
    sizes = {"pool3": 4, "conv4_3": 3, "conv5_3": 2}

    def channels(self, layer):
        return self.sizes[layer]


def test_source_coordinates_half_pixel_rule_by_hand():
    # 50 cells over a 28-unit map: cell 0 reads (0.5 * 28 / 50) - 0.5 = -0.22 -> clamped 0;
    # cell 25 reads 25.5 * 0.56 - 0.5 = 13.78; cell 49 reads 27.22 -> clamped 27.
    coords = source_coordinates(50, 28)
    assert coords[0] == 0.0
    assert coords[25] == pytest.approx(13.78)
    assert coords[49] == 27.0


def test_upsampling_a_coordinate_map_returns_the_coordinates():
    height, width = 7, 28
    rows = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
    up = upsample(torch.stack([cols, rows])[None], 50)[0].numpy()
    np.testing.assert_allclose(up[0], np.broadcast_to(source_coordinates(50, width), (50, 50)), atol=1e-12)
    np.testing.assert_allclose(up[1], np.broadcast_to(source_coordinates(50, height)[:, None], (50, 50)),
                               atol=1e-12)


def test_interpolation_matrix_equals_torch_upsampling():
    values = np.random.default_rng(0).normal(size=(9, 13))
    up = upsample(torch.from_numpy(values)[None, None], 50)[0, 0].numpy()
    expected = bilinear_weights(50, 9) @ values @ bilinear_weights(50, 13).T
    np.testing.assert_allclose(up, expected, atol=1e-12)


def test_neighbourhood_flattening_on_a_hand_made_map():
    # channel 0 holds 1..9 on a 3x3 map, channel 1 holds 10 * that
    base = torch.arange(1, 10, dtype=torch.float32).view(3, 3)
    maps = torch.stack([base, 10 * base])[None]
    flat = neighbourhood(maps, 3)
    assert flat.shape == (1, 18, 3, 3)
    # centre unit (1, 1): channel 0's window is the whole map in row-major order,
    # then channel 1's (channel-major, as an n x n conv kernel weight[k, c, i, j])
    np.testing.assert_array_equal(flat[0, :, 1, 1].numpy(), np.r_[np.arange(1, 10), 10 * np.arange(1, 10)])
    # corner unit (0, 0): offsets (-1, *) and (*, -1) fall outside -> 0
    np.testing.assert_array_equal(flat[0, :9, 0, 0].numpy(), [0, 0, 0, 0, 1, 2, 0, 4, 5])


@pytest.mark.parametrize("memory_format, width", [(torch.contiguous_format, 28),
                                                  (torch.channels_last, 28),   # as the CPU forward gives
                                                  (torch.channels_last, 21)])  # a map wider than tall
def test_sampled_hypercolumns_equal_the_dense_ones(memory_format, width):
    spec = LayerSpec.parse("pool3:3,conv4_3,global").resolve(FakeNetwork())
    assert [b.size for b in spec.blocks] == [36, 3, 4, 2]
    generator = torch.Generator().manual_seed(0)
    outputs = {"pool3": torch.randn(2, 4, 28, width, generator=generator),
               "conv4_3": torch.randn(2, 3, width, 28, generator=generator),
               "conv5_3": torch.randn(2, 2, 14, 14, generator=generator)}
    outputs = {name: maps.contiguous(memory_format=memory_format) for name, maps in outputs.items()}
    dense = dense_hypercolumns(outputs, spec, "vgg16")
    assert dense.shape == (2, spec.dim, 50, 50)
    locations = torch.tensor([[0, 49, 1275, 2499], [7, 50, 1000, 2450]])
    sampled = sample_hypercolumns(outputs, spec, "vgg16", locations)
    expected = dense.flatten(2).transpose(1, 2)[torch.arange(2)[:, None], locations]
    torch.testing.assert_close(sampled, expected, atol=1e-5, rtol=1e-5)
    # the global block is the mean then the max of conv5_3, the same at every location
    np.testing.assert_allclose(sampled[0, 0, 39:41].numpy(), outputs["conv5_3"][0].mean(dim=(1, 2)), rtol=1e-6)
    # the xy block holds the location's centre
    np.testing.assert_allclose(sampled[1, 2, -2:].numpy(), [(0 + 0.5) / 50, (20 + 0.5) / 50])


def test_layer_spec_parsing_and_errors():
    assert str(LayerSpec.parse("pool3:3, conv4_3:1 ,global")) == "pool3:3,conv4_3:1,global,xy"
    for bad in ("pool3:2", "pool3:x", "global:3", "pool3,pool3", ""):
        with pytest.raises(ValueError):
            LayerSpec.parse(bad)


def test_spatial_descriptor_averages_each_third_of_the_map():
    from hypercolumns.extract.box_descriptor import spatial_descriptor

    maps = torch.arange(2 * 6 * 6, dtype=torch.float32).view(1, 2, 6, 6)
    descriptor = spatial_descriptor(maps, 3)
    assert descriptor.shape == (1, 18)
    # channel 0, grid cell (1, 2) covers rows 2..3, columns 4..5
    expected = maps[0, 0, 2:4, 4:6].mean()
    assert descriptor[0, 1 * 3 + 2].item() == pytest.approx(expected.item())
    assert descriptor[0, 9].item() == pytest.approx(maps[0, 1, 0:2, 0:2].mean().item())


def test_candidate_blocks_parse_resolve_and_are_never_appended():
    spec = LayerSpec.parse("conv4_3,inout,candidate").resolve(FakeNetwork())
    assert str(spec) == "conv4_3:1,inout,candidate,xy"
    assert [(b.kind, b.offset, b.size) for b in spec.blocks] == [
        ("map", 0, 3), ("inout", 3, 1), ("candidate", 4, 100), ("xy", 104, 2)]
    assert spec.needs_candidates and spec.network_layers("vgg16") == ["conv4_3"]
    assert not LayerSpec.parse("conv4_3,global").needs_candidates
    assert LayerSpec.from_json(spec.to_json()) == spec
    for bad in ("inout:3", "candidate:5", "inout,inout"):
        with pytest.raises(ValueError):
            LayerSpec.parse(bad)


def candidate_outputs(batch=2, seed=0):
    """Random maps and random candidate inputs (an in/out grid of 0/1 and a 100-vector)."""
    generator = torch.Generator().manual_seed(seed)
    return {"pool3": torch.randn(batch, 4, 28, 28, generator=generator),
            "conv4_3": torch.randn(batch, 3, 28, 28, generator=generator),
            "inout": (torch.rand(batch, 1, 50, 50, generator=generator) > 0.5).float(),
            "candidate": torch.rand(batch, 100, generator=generator)}


def test_sampled_candidate_rows_equal_the_dense_ones_and_hold_the_inputs():
    spec = LayerSpec.parse("pool3:3,inout,conv4_3,candidate").resolve(FakeNetwork())
    outputs = candidate_outputs()
    dense = dense_hypercolumns(outputs, spec, "vgg16")
    assert dense.shape == (2, 36 + 1 + 3 + 100 + 2, 50, 50)
    locations = torch.tensor([[0, 49, 1275, 2499], [7, 50, 1000, 2450]])
    sampled = sample_hypercolumns(outputs, spec, "vgg16", locations)
    expected = dense.flatten(2).transpose(1, 2)[torch.arange(2)[:, None], locations]
    torch.testing.assert_close(sampled, expected, atol=1e-5, rtol=1e-5)
    # column 36 is the in/out bit of the location's own cell: box 1, location 1000 = (20, 0)
    assert sampled[1, 2, 36].item() == outputs["inout"][1, 0, 20, 0].item()
    # columns 40..139 are the box's 10 x 10 candidate, at every location
    torch.testing.assert_close(sampled[1, :, 40:140], outputs["candidate"][1].expand(4, -1))


def test_a_candidate_spec_without_candidates_says_it_needs_candidate_masks():
    spec = LayerSpec.parse("conv4_3,inout,candidate").resolve(FakeNetwork())
    outputs = candidate_outputs()
    without = {"conv4_3": outputs["conv4_3"]}
    with pytest.raises(ValueError, match="needs candidate masks"):
        dense_hypercolumns(without, spec, "vgg16")
    with pytest.raises(ValueError, match="needs candidate masks"):
        sample_hypercolumns(without, spec, "vgg16", torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"'inout' input must be \(B, 1, 50, 50\)"):
        dense_hypercolumns(dict(outputs, inout=outputs["inout"][:, :, :10]), spec, "vgg16")
