"""Shared whole-image features: one CNN forward per image, each box's maps by RoIAlign.

An option, not the paper's default (issue 10).  The paper runs the network on
every box's warped crop; here it runs once on the whole image (resized so its
shorter side is ``scale`` px, the longer at most ``max_size``, as Fast R-CNN
does at 600 / 1000), and each box's maps are read from the image's maps by
bilinear sampling at the points the warped crop's units would have looked at.

The default scale is the crop size, 224: a 500 x 375 image then costs 1.7
crops' FLOPs (its 336 x 256 canvas), 5.8x fewer per box than the crops at 10
boxes an image.  Its features follow the per-box ones about as closely as
at 600 (hypercolumn rows of val images correlate with the per-box ones at
r = 0.62-0.66 at 224 and 0.57-0.67 at 600, by the images taken; see
``hypercolumns bench-shared``): a crop shows an object at 224 / its size,
which for PASCAL's objects is mostly below 1.  They remain different
features (no anisotropic warp, another scale, other sub-unit phases), so
classifiers should be trained on the mode they are used with.

The result has exactly the shapes, dtype, device and memory format of
:meth:`FrozenCNN.forward`, so everything after stage one is unchanged.

Geometry
--------
Coordinates are continuous pixels (pixel ``c`` covers ``[c, c + 1)``, see
``data/records.py``).  For a feed-forward stack of convolutions and pools,
unit ``u`` of a map has its centre at

    centre(u) = offset + u * stride        (px of the network's input)

with ``stride`` and ``offset`` found by walking the layers from the input
(``stride 1, offset 0.5``, pixel centres): a layer with kernel ``k``
(dilated: ``d (k - 1) + 1``), stride ``t`` and padding ``p`` reads input units
``u t - p ... u t - p + k - 1``, whose middle is input unit
``u t - p + (k - 1) / 2``, so

    stride' = stride * t,    offset' = offset + stride * ((k - 1) / 2 - p).

Pointwise layers (ReLU, dropout, ...) change nothing.  For VGG16 (3x3 convs
with padding 1, 2x2 pools with stride 2) this gives ``offset = stride / 2``:
the unit of a map with total stride ``s`` is centred at ``(u + 0.5) * s``,
e.g. pool3 (s = 8) unit 0 at 4 px, conv5_3 (s = 16) unit 0 at 8 px.  The same
formula holds in the warped crop and in the whole image, since both are the
network's input.

A box's crop maps unit ``j`` of a layer (size ``w`` at the crop size ``S``) to
crop point ``c_j = offset + j * stride``, which is the image point
``x0 + c_j / S * (x1 - x0)`` of the expanded box (the warp of
``extract/crop.py``).  In the whole-image input that point is
``X = scale_x * x + margin``; it falls on the whole-image map's fractional
unit ``(X - offset) / stride``, which ``grid_sample(align_corners=False)``
reads bilinearly.  Every output unit of every box is such a read: RoIAlign
with one sample per bin, at the bin's centre.

Outside the image
-----------------
The resized image is placed on a canvas filled with the weights' mean colour
(zero after preprocessing, as the per-box crops are filled), ``margin`` px on
the left and top and at least ``margin`` on the right and bottom, the canvas
rounded up to a multiple of the deepest tap's stride so that the pools drop
no pixel.  The maps over that margin are the network's answer to mean colour
next to the image, as a crop that extends past the image sees.  Reads past
the canvas's maps take the nearest edge unit (``padding_mode="border"``),
which for a margin wider than a few units is the answer to pure mean colour;
``padding_mode="zeros"`` reads zeros there instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hypercolumns.data.errors import InputError
from hypercolumns.data.images import image_key
from hypercolumns.extract.config import SHARED_MARGIN, SHARED_SCALE, FeatureSource
from hypercolumns.extract.crop import preprocess


# ------------------------------------------------------------------ geometry

@dataclass(frozen=True)
class UnitGrid:
    """Where the units of one map sit: unit ``u``'s centre is at ``offset + u * stride`` input px."""

    stride: float
    offset: float

    def centres(self, count: int) -> np.ndarray:
        """Centres of units ``0..count-1``, float64 ``(count,)``."""
        return self.offset + self.stride * np.arange(count, dtype=np.float64)

    def unit_of(self, points: np.ndarray) -> np.ndarray:
        """Fractional unit index under input points (inverse of :meth:`centres`)."""
        return (np.asarray(points, dtype=np.float64) - self.offset) / self.stride


@dataclass(frozen=True)
class LayerTrace:
    """One module of a network's ``features``, run on an input of known size."""

    index: int
    grid: UnitGrid
    size: tuple[int, int]
    flops: int


def _square(value, what: str, module) -> int:
    values = value if isinstance(value, tuple) else (value, value)
    if values[0] != values[1]:
        raise ValueError(f"{what} of {module} is not square ({values}); the geometry walk needs "
                         "square kernels, strides and paddings")
    return int(values[0])


def _window(module: nn.Module):
    """``(kernel, stride, padding, ceil_mode)`` of a conv or pool, None for a pointwise module."""
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _square(module.kernel_size, "kernel_size", module)
        stride = _square(module.stride, "stride", module)
        padding = _square(module.padding, "padding", module)
        dilation = _square(getattr(module, "dilation", 1), "dilation", module)
        return dilation * (kernel - 1) + 1, stride, padding, bool(getattr(module, "ceil_mode", False))
    if isinstance(module, (nn.ReLU, nn.Identity, nn.Dropout, nn.BatchNorm2d, nn.LocalResponseNorm)):
        return None
    raise ValueError(f"unknown geometry for module {module!r}: only Conv2d, MaxPool2d, AvgPool2d "
                     "and pointwise modules can be walked")


def _out_length(length: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    span = length + 2 * padding - kernel
    steps = math.ceil(span / stride) if ceil_mode else span // stride
    return steps + 1


def _conv_flops(module: nn.Module, size: tuple[int, int]) -> int:
    """Multiply-adds x 2 of a convolution producing a map of ``size`` (biases not counted)."""
    if not isinstance(module, nn.Conv2d):
        return 0
    kh, kw = module.kernel_size
    per_output = (module.in_channels // module.groups) * kh * kw
    return 2 * size[0] * size[1] * module.out_channels * per_output


def _as_hw(input_hw) -> tuple[int, int]:
    if isinstance(input_hw, (int, np.integer)):
        return int(input_hw), int(input_hw)
    height, width = (int(v) for v in input_hw)
    return height, width


def trace_features(network, input_hw, upto: int | None = None) -> list[LayerTrace]:
    """Walk ``network.features`` on an input of ``input_hw``: each module's grid, map size and FLOPs.

    Parameters
    ----------
    network : TappedNetwork
    input_hw : int or (int, int)
        Input height and width in px (an int is a square).
    upto : int, optional
        Last module index to walk (default: all).

    Raises
    ------
    ValueError
        If a module's geometry is unknown, or the input is too small for a layer.
    """
    size = _as_hw(input_hw)
    grid = UnitGrid(1.0, 0.5)
    traces = []
    for index, module in enumerate(network.features):
        if upto is not None and index > upto:
            break
        window = _window(module)
        if window is not None:
            kernel, stride, padding, ceil_mode = window
            size = tuple(_out_length(n, kernel, stride, padding, ceil_mode) for n in size)
            if min(size) < 1:
                raise ValueError(f"input {input_hw} is too small for module {index} ({module})")
            grid = UnitGrid(grid.stride * stride, grid.offset + grid.stride * ((kernel - 1) / 2 - padding))
        traces.append(LayerTrace(index, grid, size, _conv_flops(module, size)))
    return traces


def _feature_indices(network, layers) -> dict[str, int]:
    """Module index of each requested map layer; vector layers (fc) are refused."""
    indices = {}
    for name in layers:
        part, index, _ = network.taps[network._check_layer(name)]
        if part != "features":
            raise InputError(f"layer {name!r} is a vector layer of the classifier; shared "
                             "whole-image features give map layers only (run it per box)")
        indices[name] = index
    return indices


def layer_grids(network, layers) -> dict[str, UnitGrid]:
    """Unit grid of each requested map layer (independent of the input size)."""
    indices = _feature_indices(network, layers)
    traces = trace_features(network, 1024, upto=max(indices.values()))
    return {name: traces[index].grid for name, index in indices.items()}


def map_sizes(network, input_hw, layers) -> dict[str, tuple[int, int]]:
    """``(h, w)`` of each requested map layer on an input of ``input_hw``."""
    indices = _feature_indices(network, layers)
    traces = trace_features(network, input_hw, upto=max(indices.values()))
    return {name: traces[index].size for name, index in indices.items()}


def cnn_gflops(network, input_hw, layers) -> float:
    """GFLOP (multiply-adds x 2) of the layers run to produce ``layers`` on an input of ``input_hw``.

    Counts every convolution up to the deepest requested tap (and, for fc
    taps, the fully connected layers up to it, 2 x in x out each).  Biases,
    ReLUs and pools are not counted.  VGG16's 13 convolutions at 224 x 224 are
    15.35 G multiply-adds, i.e. 30.69 GFLOP.
    """
    wanted = [network.taps[network._check_layer(name)] for name in layers]
    if not wanted:
        raise ValueError("no layers requested")
    feature_taps = [index for part, index, _ in wanted if part == "features"]
    classifier_taps = [index for part, index, _ in wanted if part == "classifier"]
    upto = len(network.features) - 1 if classifier_taps else max(feature_taps)
    flops = sum(trace.flops for trace in trace_features(network, input_hw, upto=upto))
    if classifier_taps:
        modules = list(network.classifier)[:max(classifier_taps) + 1]
        flops += sum(2 * m.in_features * m.out_features for m in modules if isinstance(m, nn.Linear))
    return flops / 1e9


# ---------------------------------------------------------- whole-image input

def scaled_size(height: int, width: int, scale: float, max_size: float) -> tuple[int, int]:
    """Size of the image with its shorter side at ``scale`` px, its longer at most ``max_size``."""
    if height < 1 or width < 1:
        raise ValueError(f"image size {height}x{width} is empty")
    factor = scale / min(height, width)
    if factor * max(height, width) > max_size:
        factor = max_size / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


@dataclass
class ImageFrame:
    """An image's whole-image forward: its maps and where the image lies in the network's input.

    Attributes
    ----------
    maps : dict of str to tensor
        Layer name -> ``(1, C, H, W)``.
    scale_xy : (float, float)
        Input px per image px along x and y.
    margin : int
        Mean-coloured px left of and above the image in the input.
    input_hw : (int, int)
        Size of the network's input (the canvas).
    """

    maps: dict
    scale_xy: tuple[float, float]
    margin: int
    input_hw: tuple[int, int]

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes ``(N, 4)`` from image px to the network input's px."""
        scale_x, scale_y = self.scale_xy
        factors = np.array([scale_x, scale_y, scale_x, scale_y])
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * factors + self.margin


def canvas_size(resized_hw: tuple[int, int], margin: int, multiple: int) -> tuple[int, int]:
    """The input size: the resized image plus ``margin`` all round, rounded up to ``multiple``."""
    return tuple(int(math.ceil((n + 2 * margin) / multiple) * multiple) for n in resized_hw)


def whole_image_input(image: np.ndarray, resized_hw: tuple[int, int], margin: int, multiple: int,
                      fill_rgb, input_spec: dict) -> tuple[torch.Tensor, tuple[float, float]]:
    """The preprocessed canvas ``(1, 3, H, W)`` holding the resized image, and its x/y scale.

    ``cv2.resize`` (bilinear) keeps pixel centres: resized pixel ``j`` reads
    the image at continuous ``(j + 0.5) * width / new_width``, so image point
    ``x`` lands on ``x * new_width / width``.
    """
    height, width = image.shape[:2]
    new_h, new_w = resized_hw
    pixels = np.asarray(image, dtype=np.float32)
    if (new_h, new_w) != (height, width):
        pixels = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas_h, canvas_w = canvas_size(resized_hw, margin, multiple)
    canvas = np.empty((canvas_h, canvas_w, 3), np.float32)
    canvas[:] = np.asarray(fill_rgb, np.float32)
    canvas[margin:margin + new_h, margin:margin + new_w] = pixels.reshape(new_h, new_w, 3)
    return preprocess(canvas[None], input_spec), (new_w / width, new_h / height)


# ------------------------------------------------------------------- RoIAlign

def _normalised_reads(starts: np.ndarray, ends: np.ndarray, count: int, grid: UnitGrid,
                      crop_size: int, map_length: int) -> np.ndarray:
    """grid_sample coordinates ``(N, count)`` of one axis's ``count`` crop units on a ``map_length`` map."""
    fractions = grid.centres(count) / crop_size                      # where in the crop, 0..1
    points = starts[:, None] + fractions[None, :] * (ends - starts)[:, None]
    units = grid.unit_of(points)
    return (2.0 * units + 1.0) / map_length - 1.0                     # align_corners=False


def roi_maps(image_maps: dict, input_boxes: np.ndarray, out_sizes: dict, grids: dict,
             crop_size: int, padding_mode: str = "border", memory_format=torch.contiguous_format) -> dict:
    """Each box's maps read bilinearly from the whole-image maps (RoIAlign, one sample per unit).

    Parameters
    ----------
    image_maps : dict of str to tensor
        Layer name -> ``(1, C, H, W)`` maps of the whole input.
    input_boxes : ndarray of shape (N, 4)
        Expanded boxes in the network input's px (:meth:`ImageFrame.to_input`).
    out_sizes : dict of str to (int, int)
        The ``(h, w)`` each layer has on a ``crop_size`` crop (:func:`map_sizes`).
    grids : dict of str to UnitGrid
        Each layer's unit grid (:func:`layer_grids`).
    crop_size : int
        Side ``S`` of the warped crop the maps stand in for.
    padding_mode : {"border", "zeros"}
        What reads past the whole-image maps get (see the module docstring).

    Returns
    -------
    dict of str to tensor
        ``(N, C, h, w)`` per layer of ``out_sizes``, dtype and device of the maps.
    """
    boxes = np.asarray(input_boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) and not np.all(boxes[:, 2:] > boxes[:, :2]):
        bad = boxes[~np.all(boxes[:, 2:] > boxes[:, :2], axis=1)][0]
        raise ValueError(f"expanded box {bad.tolist()} has no area")
    out = {}
    for layer, (height, width) in out_sizes.items():
        maps = image_maps[layer]
        if maps.dim() != 4 or maps.shape[0] != 1:
            raise ValueError(f"whole-image map {layer!r} must be (1, C, H, W), got {tuple(maps.shape)}")
        channels, map_h, map_w = maps.shape[1:]
        xs = _normalised_reads(boxes[:, 0], boxes[:, 2], width, grids[layer], crop_size, map_w)
        ys = _normalised_reads(boxes[:, 1], boxes[:, 3], height, grids[layer], crop_size, map_h)
        points = np.stack(np.broadcast_arrays(xs[:, None, :], ys[:, :, None]), axis=-1)  # (N, h, w, 2)
        points = torch.as_tensor(points.reshape(1, -1, width, 2), dtype=maps.dtype, device=maps.device)
        sampled = F.grid_sample(maps, points, mode="bilinear", padding_mode=padding_mode,
                                align_corners=False)                  # (1, C, N*h, w)
        per_box = sampled.view(channels, len(boxes), height, width).permute(1, 0, 2, 3)
        out[layer] = per_box.contiguous(memory_format=memory_format)
    return out


# ---------------------------------------------------------------- the source

class SharedImageCNN:
    """A :class:`FrozenCNN` run once per image; boxes' maps by RoIAlign.

    Drop-in for the per-box path: ``box_outputs(image, expanded_boxes, layers)``
    gives what ``FrozenCNN.box_outputs`` (``forward(crops(...))``) gives, in
    shape, dtype, device and memory format.  The last image's maps are kept,
    keyed by its content, so several batches of boxes of one image run the
    network once.

    Parameters
    ----------
    cnn : FrozenCNN
        The network, its weights, device and crop geometry (``expand`` is its).
    scale : float
        Shorter side of the resized image, px (default the crop size, 224;
        Fast R-CNN: 600).
    max_size : float
        Cap on the longer side, px (Fast R-CNN: 1000).
    margin : int
        Mean-coloured px around the image (see the module docstring).
    padding_mode : {"border", "zeros"}
        What reads past the maps get.
    """

    def __init__(self, cnn, scale: float = SHARED_SCALE, max_size: float = 1000,
                 margin: int = SHARED_MARGIN,
                 padding_mode: str = "border"):
        if scale <= 0 or max_size <= 0:
            raise ValueError(f"scale {scale} and max_size {max_size} must be positive")
        if margin < 0:
            raise ValueError(f"margin {margin} must be >= 0")
        if padding_mode not in ("border", "zeros"):
            raise ValueError(f"padding_mode {padding_mode!r} must be 'border' or 'zeros'")
        self.per_box = cnn
        self.scale, self.max_size, self.margin = scale, max_size, int(margin)
        self.padding_mode = padding_mode
        self.forward_count = 0
        self._cached_key = None
        self._cached_frame: ImageFrame | None = None

    @property
    def feature_source(self) -> FeatureSource:
        """How the maps are made, as shards and models record it (``feature_config``)."""
        return FeatureSource("shared", self.scale, self.max_size, self.margin, self.padding_mode)

    # the per-box CNN's identity and crop geometry, so callers can hold either
    @property
    def name(self) -> str:
        return self.per_box.name

    @property
    def network(self):
        return self.per_box.network

    @property
    def device(self) -> torch.device:
        return self.per_box.device

    @property
    def weights(self):
        return self.per_box.weights

    @property
    def crop_size(self) -> int:
        return self.per_box.crop_size

    @property
    def padding(self) -> int:
        return self.per_box.padding

    @property
    def small_box_context(self):
        return self.per_box.small_box_context

    def expand(self, boxes: np.ndarray) -> np.ndarray:
        return self.per_box.expand(boxes)

    def input_size(self, image_hw, layers) -> tuple[int, int]:
        """``(H, W)`` of the whole-image input for an image of ``image_hw``."""
        resized = scaled_size(*image_hw, self.scale, self.max_size)
        return canvas_size(resized, self.margin, self._multiple(layers))

    def image_gflops(self, image_hw, layers) -> float:
        """GFLOP of the one forward an image of ``image_hw`` costs."""
        return cnn_gflops(self.network, self.input_size(image_hw, layers), layers)

    def _multiple(self, layers) -> int:
        return int(max(grid.stride for grid in layer_grids(self.network, layers).values()))

    @torch.no_grad()
    def image_frame(self, image: np.ndarray, layers) -> ImageFrame:
        """The whole-image maps of ``layers`` (from the cache when this image was the last one)."""
        layers = list(layers)
        key = image_key(image)
        cached = self._cached_frame
        if key == self._cached_key and cached is not None and set(layers) <= set(cached.maps):
            return cached
        if key == self._cached_key and cached is not None:
            layers = sorted(set(layers) | set(cached.maps))
        resized = scaled_size(*image.shape[:2], self.scale, self.max_size)
        batch, scale_xy = whole_image_input(image, resized, self.margin, self._multiple(layers),
                                            self.per_box.fill_rgb, self.weights.input)
        batch = batch.to(self.device).contiguous(memory_format=self.per_box.memory_format)
        maps = self.network(batch, layers)
        self.forward_count += 1
        self._cached_key = key
        self._cached_frame = ImageFrame(maps, scale_xy, self.margin, tuple(batch.shape[2:]))
        return self._cached_frame

    def clear_cache(self) -> None:
        self._cached_key, self._cached_frame = None, None

    def box_outputs(self, image: np.ndarray, expanded_boxes: np.ndarray, layers) -> dict:
        """Layer outputs ``(N, C, h, w)`` of ``expanded_boxes (N, 4)``, as the warped crops would give.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), RGB 0..255
        expanded_boxes : ndarray of shape (N, 4)
            ``x0, y0, x1, y1`` in image px, already expanded (``self.expand``).
        layers : list of str
            Map layers (``pool3``, ``conv4_3``, ...); fc layers are refused.
        """
        layers = list(layers)
        frame = self.image_frame(image, layers)
        return roi_maps({name: frame.maps[name] for name in layers},
                        frame.to_input(expanded_boxes),
                        map_sizes(self.network, self.crop_size, layers),
                        layer_grids(self.network, layers), self.crop_size,
                        self.padding_mode, self.per_box.memory_format)


def feature_cnn(cnn, source: FeatureSource):
    """``cnn`` itself for a ``per-box`` source, else the :class:`SharedImageCNN` ``source`` describes."""
    if source.mode == "per-box":
        return cnn
    return SharedImageCNN(cnn, source.scale, source.max_size, source.margin, source.padding_mode)
