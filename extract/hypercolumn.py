"""The hypercolumn of a location: the stacked, upsampled activations above it.

Geometry (the paper's Eq. 1, with the half-pixel rule of the authors' code)
--------------------------------------------------------------------------
Every map covers the whole warped crop, and the crop is the expanded box, so
a map of ``h x w`` units is upsampled to the ``G x G`` (G = 50) grid of the
expanded box.  Output cell ``x`` (0..G-1) has its centre at ``(x + 0.5) / G``
of the crop's width; unit ``u`` of the map has its centre at ``(u + 0.5) / w``.
So cell ``x`` reads the map at the (fractional) unit index

    X = (x + 0.5) * w / G - 0.5,    clamped to [0, w - 1],

bilinearly between ``floor(X)`` and ``floor(X) + 1``; likewise for rows.  This
is ``F.interpolate(mode="bilinear", align_corners=False)``; the dense path
uses it, the sampled path (:func:`sample_hypercolumns`) gathers the same
weights explicitly at chosen locations, and a test checks both against a map
whose values are its own coordinates.

Neighbourhoods are flattened on the native map, before upsampling (see
:mod:`hypercolumns.extract.layer_spec` for the order), so that a linear
classifier over them is an n x n convolution on the native map.

System 1's candidate blocks read no network layer: their inputs come in the
layer outputs under the block names (``"inout"``: ``(B, 1, 50, 50)`` already on
the box grid, ``"candidate"``: ``(B, 100)``), as
:func:`hypercolumns.extract.candidate_features.candidate_inputs` makes them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hypercolumns.extract.layer_spec import (CANDIDATE_BLOCKS, GLOBAL_SOURCE, HEATMAP_SIZE, Block,
                                            LayerSpec)



def source_coordinates(out_size: int, in_size: int) -> np.ndarray:
    """Fractional unit index read by each output cell, float64 ``(out_size,)``."""
    cells = np.arange(out_size, dtype=np.float64)
    return np.clip((cells + 0.5) * in_size / out_size - 0.5, 0.0, in_size - 1.0)


def bilinear_weights(out_size: int, in_size: int) -> np.ndarray:
    """Interpolation matrix ``A`` of shape (out_size, in_size): ``upsampled = A @ values``."""
    coords = source_coordinates(out_size, in_size)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    frac = coords - low
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.arange(out_size), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(out_size), high), frac)
    return matrix


def upsample(maps: torch.Tensor, size: int = HEATMAP_SIZE) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C, size, size)`` by the rule in the module docstring."""
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def neighbourhood(maps: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C*n*n, h, w)``: each unit's n x n window, zero outside."""
    if n == 1:
        return maps
    batch, channels, height, width = maps.shape
    windows = F.unfold(maps, kernel_size=n, padding=n // 2)
    return windows.view(batch, channels * n * n, height, width)


def global_descriptor(top_map: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, 2C)``: spatial mean then max (the fc7 stand-in)."""
    return torch.cat([top_map.mean(dim=(2, 3)), top_map.amax(dim=(2, 3))], dim=1)


def xy_map(size: int = HEATMAP_SIZE, device="cpu") -> torch.Tensor:
    """``(2, size, size)``: channel 0 is ``(x + 0.5) / size``, channel 1 ``(y + 0.5) / size``."""
    centres = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size
    return torch.stack([centres.expand(size, size), centres[:, None].expand(size, size)])


def block_inputs(layer_outputs: dict, spec: LayerSpec, network_name: str) -> list[torch.Tensor]:
    """Per block of ``spec``: its native-resolution input.

    Map blocks give ``(B, C*n*n, h, w)`` (neighbourhood flattened), vector
    blocks ``(B, C)``, the ``xy`` block ``None`` (it is computed on the grid),
    ``inout`` its grid ``(B, 1, 50, 50)`` and ``candidate`` ``(B, 100)``.
    """
    inputs = []
    for block in spec.blocks:
        if block.kind == "map":
            inputs.append(neighbourhood(layer_outputs[block.name], block.n))
        elif block.name == "global":
            inputs.append(global_descriptor(layer_outputs[GLOBAL_SOURCE[network_name]]))
        elif block.kind == "vector":
            inputs.append(layer_outputs[block.name])
        elif block.kind in CANDIDATE_BLOCKS:
            inputs.append(candidate_input(layer_outputs, block))
        else:
            inputs.append(None)
    return inputs


def candidate_input(layer_outputs: dict, block: Block, size: int = HEATMAP_SIZE) -> torch.Tensor:
    """The input of a candidate block, checked: ``inout`` ``(B, 1, size, size)``, ``candidate`` ``(B, 100)``.

    Raises
    ------
    ValueError
        When the layer outputs carry no candidate: the model needs candidate masks.
    """
    if block.name not in layer_outputs:
        raise ValueError(f"the layer spec's {block.name!r} block describes a region candidate: "
                         "the model refines region candidates and needs candidate masks, one per box")
    tensor = layer_outputs[block.name]
    expected = ((1, size, size) if block.kind == "inout" else (CANDIDATE_BLOCKS[block.kind],))
    if tuple(tensor.shape[1:]) != expected:
        raise ValueError(f"the {block.name!r} input must be (B, {', '.join(map(str, expected))}), "
                         f"got {tuple(tensor.shape)}")
    return tensor


def dense_hypercolumns(layer_outputs: dict, spec: LayerSpec, network_name: str,
                       size: int = HEATMAP_SIZE) -> torch.Tensor:
    """Every location's hypercolumn, ``(B, D, size, size)`` float32.

    The explicit (slow, memory-hungry) form: the inference stage never builds
    it; tests and the explicit-inference benchmark do.
    """
    parts = []
    batch = next(iter(layer_outputs.values())).shape[0]
    for block, native in zip(spec.blocks, block_inputs(layer_outputs, spec, network_name)):
        if block.kind == "map":
            parts.append(upsample(native, size))
        elif block.kind in ("vector", "candidate"):
            parts.append(native[:, :, None, None].expand(-1, -1, size, size))
        elif block.kind == "inout":
            parts.append(native)  # already on the box grid
        else:
            device = next(iter(layer_outputs.values())).device
            parts.append(xy_map(size, device).expand(batch, -1, -1, -1))
    return torch.cat(parts, dim=1)


def sample_hypercolumns(layer_outputs: dict, spec: LayerSpec, network_name: str,
                        locations: torch.Tensor, size: int = HEATMAP_SIZE) -> torch.Tensor:
    """Hypercolumns at chosen locations only.

    Parameters
    ----------
    locations : tensor of shape (B, L), int64
        Flat indices ``y * size + x`` into each box's grid.

    Returns
    -------
    tensor of shape (B, L, D), float32
        Equal to ``dense_hypercolumns(...)`` at those locations.  Map blocks
        read only the units the bilinear weights touch (and, for an n x n
        neighbourhood, their windows), never the whole upsampled map.
    """
    rows, cols = locations // size, locations % size
    parts = []
    for block in spec.blocks:
        if block.kind == "map":
            parts.append(_bilinear_gather(layer_outputs[block.name], block.n, rows, cols, size))
        elif block.name == "global":
            vector = global_descriptor(layer_outputs[GLOBAL_SOURCE[network_name]])
            parts.append(vector[:, None, :].expand(-1, locations.shape[1], -1))
        elif block.kind == "vector":
            parts.append(layer_outputs[block.name][:, None, :].expand(-1, locations.shape[1], -1))
        elif block.kind == "candidate":
            vector = candidate_input(layer_outputs, block, size)
            parts.append(vector[:, None, :].expand(-1, locations.shape[1], -1))
        elif block.kind == "inout":
            grid = candidate_input(layer_outputs, block, size).flatten(1)  # (B, size * size)
            parts.append(torch.gather(grid, 1, locations)[..., None])
        else:
            parts.append(torch.stack([(cols + 0.5) / size, (rows + 0.5) / size], dim=-1).float())
    return torch.cat(parts, dim=-1)


def _bilinear_gather(maps: torch.Tensor, n: int, rows: torch.Tensor, cols: torch.Tensor,
                     size: int) -> torch.Tensor:
    """Bilinear read of the n x n neighbourhoods of ``maps (B, C, h, w)`` at grid cells -> ``(B, L, C*n*n)``.

    Each corner's windows are whole rows of ``C`` contiguous values of the
    channels-last map, read by one ``index_select``; the three blends are
    ``lerp`` kernels on the ``(B, L, n*n, C)`` reads, and the one transpose to the
    channel-major feature order comes last (on a CPU this is 3-4x faster than a
    ``gather`` per corner with a transpose each, stage one's largest cost after
    the forward).
    """
    batch, channels, height, width = maps.shape
    device, pad, locations = maps.device, n // 2, rows.shape[1]
    y = torch.as_tensor(source_coordinates(size, height), dtype=torch.float32, device=device)[rows]
    x = torch.as_tensor(source_coordinates(size, width), dtype=torch.float32, device=device)[cols]
    y0, x0 = y.floor().long(), x.floor().long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    fy, fx = (y - y0)[..., None, None], (x - x0)[..., None, None]
    padded = F.pad(maps, (pad, pad, pad, pad)) if pad else maps
    padded_width = width + 2 * pad
    positions = (height + 2 * pad) * padded_width
    flat = padded.permute(0, 2, 3, 1).reshape(batch * positions, channels)  # a row per position
    offsets = torch.arange(n, device=device)
    window = (offsets[:, None] * padded_width + offsets[None, :]).reshape(-1)  # (n*n,) row-major
    first_row = torch.arange(batch, device=device)[:, None, None] * positions

    def read(r, c):
        # unit (r, c)'s window starts at padded (r, c): (B, L, n*n) rows of flat -> (B, L, n*n, C)
        index = (first_row + (r * padded_width + c)[..., None] + window).reshape(-1)
        return flat.index_select(0, index).view(batch, locations, n * n, channels)

    top = torch.lerp(read(y0, x0), read(y0, x1), fx)
    bottom = torch.lerp(read(y1, x0), read(y1, x1), fx)
    return torch.lerp(top, bottom, fy).transpose(2, 3).reshape(batch, locations, channels * n * n)
