"""The K x K grid of classifiers as convolutions on the native maps (the paper's Eq. 4-5).

A cell's classifier is linear in the hypercolumn, and upsampling is linear, so
classifying every upsampled location equals classifying the native map and
upsampling the scores.  Per block of the layer spec, for all ``K*K`` cells at
once:

- **map block** ``<layer>:<n>``: the cells' weight sub-vectors ``(K*K, C*n*n)``,
  flattened channel-major (``c*n*n + i*n + j``, see ``extract.layer_spec``),
  are one ``n x n`` convolution ``weight (K*K, C, n, n)`` with zero padding
  ``n // 2`` on the layer's native ``(h, w)`` map; its ``K*K`` score maps are
  upsampled to the box grid with :func:`hypercolumns.extract.hypercolumn.upsample`
  (blocks of one native size are summed first: upsampling is linear).
- **vector block** (``global``, ``fc6``, ``fc7``): one score per cell and box,
  a matmul, the same at every location.
- **xy block**: ``w_x * X + w_y * Y`` on the grid, the same for every box; it is
  folded with the biases into one ``(K*K, size, size)`` constant.
- **inout block** (System 1): each cell's one weight times the box's in/out
  grid, added at grid resolution.
- **candidate block** (System 1): the box's 10 x 10 candidate ``(B, 100)``
  times the cells' weights, a matmul like a vector block.

The candidate blocks' inputs come in the layer outputs under the block names
(:func:`hypercolumns.extract.candidate_features.candidate_inputs`).

Scores are summed over blocks, passed through the sigmoid, and blended with
Eq. 3 (:mod:`hypercolumns.pipelines.inference.interpolate`).  :func:`explicit_heatmaps`
does the same the slow way (every location's upsampled hypercolumn times each
cell's classifier) and is the reference the tests hold the conv trick to.

Weights are the model's folded raw-feature weights (``GridModel.block_weights``),
so the standardisation costs nothing at inference.  Everything runs on the
device of the layer outputs, in float32.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hypercolumns.extract.hypercolumn import (HEATMAP_SIZE, candidate_input, dense_hypercolumns,
                                              global_descriptor, upsample, xy_map)
from hypercolumns.extract.layer_spec import CANDIDATE_BLOCKS, GLOBAL_SOURCE, Block, LayerSpec
from hypercolumns.pipelines.inference.interpolate import axis_weights, interpolate_probabilities


class ConvTrickHead:
    """One category's grid of classifiers as convolutions, built once.

    Parameters
    ----------
    model : GridModel
        The trained grid; its ``spec`` must be resolved.
    category : str
        The category whose grid to use (the agnostic grid serves any category
        the model lacks, as in ``GridModel.category_key``).
    network_name : str
        ``"vgg16"`` or ``"alexnet"``: which layer the ``global`` block reads.
    size : int
        Side of the box grid (50).

    Notes
    -----
    The weights live on the CPU as float32 and are copied to a device the
    first time layer outputs arrive from it, then kept.
    """

    def __init__(self, model, category: str, network_name: str, size: int = HEATMAP_SIZE):
        _check_model(model, model.spec, network_name)
        self.K = model.K
        self.size = size
        self.network_name = network_name
        self.category = model.category_key(category)
        block_weights, bias = model.block_weights(category)
        self._blocks = model.spec.blocks
        self._kernels = [block_kernel(block, weights)
                         for block, weights in zip(self._blocks, block_weights)]
        self._bias = torch.as_tensor(bias, dtype=torch.float32)
        self._device_cache: dict = {}

    def __call__(self, layer_outputs: dict, return_cell_probabilities: bool = False):
        """Heatmaps of a batch of boxes.

        Parameters
        ----------
        layer_outputs : dict of str to tensor
            The network's outputs for the boxes' crops: map layers ``(B, C, h, w)``
            at their native size, ``fc6``/``fc7`` ``(B, C)``; all on one device.
            A model with candidate blocks also needs ``"inout"`` and
            ``"candidate"`` (``candidate_features.candidate_inputs``).
        return_cell_probabilities : bool
            Also return every cell's probability map.

        Returns
        -------
        heatmaps : tensor of shape (B, size, size), float32
            Eq. 3's blend, in [0, 1], on the grid of the boxes (their expanded
            boxes: the grid the crop covers), rows then columns.
        cell_probabilities : tensor of shape (B, K*K, size, size), float32
            Only if asked: ``sigmoid`` of each cell's score, cells row-major.
        """
        probabilities = torch.sigmoid(self.scores(layer_outputs))
        heatmaps = interpolate_probabilities(probabilities, self._on(probabilities.device)["alpha"])
        return (heatmaps, probabilities) if return_cell_probabilities else heatmaps

    def scores(self, layer_outputs: dict) -> torch.Tensor:
        """Every cell's score (logit) at every location, ``(B, K*K, size, size)`` float32."""
        weights = self._on(_device_of(layer_outputs))
        return cell_scores(layer_outputs, self._blocks, weights["kernels"], weights["bias"],
                           weights["xy"], self.network_name)

    def _on(self, device) -> dict:
        """The weights on ``device``: kernels, bias, the xy map and Eq. 3's weights."""
        if device not in self._device_cache:
            rows, cols = axis_weights(self.K, self.size, self.size, torch.float32, device)
            self._device_cache[device] = {
                "kernels": [kernel.to(device) for kernel in self._kernels],
                "bias": self._bias.to(device), "xy": xy_map(self.size, device),
                "alpha": (rows, cols)}
        return self._device_cache[device]


def cell_scores(layer_outputs: dict, blocks: Sequence[Block], kernels: Sequence[torch.Tensor],
                bias: torch.Tensor, xy: torch.Tensor, network_name: str) -> torch.Tensor:
    """The conv trick: every cell's score at every location, ``(B, K*K, size, size)``.

    Parameters
    ----------
    layer_outputs : dict of str to tensor
        As for :meth:`ConvTrickHead.__call__`.
    blocks : sequence of Block
        The resolved spec's blocks.
    kernels : sequence of tensor
        Each block's raw-feature weights for all cells, shaped by :func:`block_kernel`.
    bias : tensor of shape (K*K,)
    xy : tensor of shape (2, size, size)
        ``xy_map(size)`` on the device of the layer outputs.
    network_name : str

    Autograd flows through ``kernels`` and ``bias`` (the fine-tuning network's heads).
    """
    size = xy.shape[-1]
    scores = bias[:, None, None].expand(-1, size, size)
    map_scores: dict = {}  # native (h, w) -> summed score maps (B, K*K, h, w)
    # the xy block first: with the bias, the term that is the same for every box
    for block, kernel in sorted(zip(blocks, kernels), key=lambda pair: pair[0].kind != "xy"):
        if block.kind == "xy":
            scores = scores + torch.einsum("kc,cyx->kyx", kernel, xy)
            continue
        native = _native_input(layer_outputs, block, network_name).to(torch.float32)
        if block.kind == "map":
            score_map = F.conv2d(native, kernel, padding=block.n // 2)
            key = tuple(score_map.shape[2:])
            map_scores[key] = score_map + map_scores[key] if key in map_scores else score_map
        elif block.kind == "inout":
            scores = scores + kernel[None, :, :, None] * native  # (1, K*K, 1, 1) * (B, 1, S, S)
        else:
            scores = scores + (native @ kernel.T)[:, :, None, None]
    for score_map in map_scores.values():
        scores = scores + upsample(score_map, size)
    batch = next(iter(layer_outputs.values())).shape[0]
    return scores.expand(batch, -1, -1, -1)


class ConvTrickPredictor:
    """Heads for every category of a model, for batches that mix categories.

    Parameters
    ----------
    model : GridModel
    network_name : str
    size : int

    Each category's :class:`ConvTrickHead` is built the first time a box of
    that category comes, then kept; an agnostic model has one head for all.
    """

    def __init__(self, model, network_name: str, size: int = HEATMAP_SIZE):
        _check_model(model, model.spec, network_name)
        self.model = model
        self.network_name = network_name
        self.size = size
        self._heads: dict = {}

    def head(self, category: str) -> ConvTrickHead:
        key = self.model.category_key(category)
        if key not in self._heads:
            self._heads[key] = ConvTrickHead(self.model, key, self.network_name, self.size)
        return self._heads[key]

    def __call__(self, layer_outputs: dict, categories, return_cell_probabilities: bool = False):
        """Heatmaps of a batch whose boxes may differ in category.

        Parameters
        ----------
        layer_outputs : dict of str to tensor
            As for :meth:`ConvTrickHead.__call__`, batch ``B``.
        categories : str or sequence of str
            One category for the whole batch, or one per box (length ``B``).
        return_cell_probabilities : bool

        Returns
        -------
        heatmaps : tensor of shape (B, size, size), float32, in [0, 1]
        cell_probabilities : tensor of shape (B, K*K, size, size), float32
            Only if asked.
        """
        return _per_category(layer_outputs, categories, self.model,
                             lambda key, outputs: self.head(key)(outputs, True),
                             return_cell_probabilities)


def conv_trick_heatmaps(layer_outputs: dict, spec: LayerSpec, network_name: str, model,
                        categories, return_cell_probabilities: bool = False):
    """Heatmaps by the conv trick, in one call.

    Parameters
    ----------
    layer_outputs : dict of str to tensor
        Map layers ``(B, C, h, w)`` at native size, vector layers ``(B, C)``.
    spec : LayerSpec
        Resolved; must be the model's.
    network_name : str
    model : GridModel
    categories : str or sequence of str
        One for the batch or one per box.
    return_cell_probabilities : bool

    Returns
    -------
    heatmaps : tensor of shape (B, 50, 50), float32, in [0, 1]
    cell_probabilities : tensor of shape (B, K*K, 50, 50), float32
        Only if asked.

    Builds the heads on every call; a loop over batches should keep a
    :class:`ConvTrickPredictor`.
    """
    _check_model(model, spec, network_name)
    return ConvTrickPredictor(model, network_name)(layer_outputs, categories,
                                                   return_cell_probabilities)


def explicit_heatmaps(layer_outputs: dict, spec: LayerSpec, network_name: str, model,
                      categories, return_cell_probabilities: bool = False,
                      dtype: torch.dtype = torch.float64):
    """The slow reference: every location's hypercolumn through every cell's classifier.

    Builds ``dense_hypercolumns`` (``(B, D, 50, 50)``: ``D * 2500`` values per
    box), applies each cell's folded classifier at every location, the sigmoid,
    and Eq. 3.  Parameters and returns as :func:`conv_trick_heatmaps`, except
    that the arithmetic and the results are in ``dtype`` (float64 by default,
    so that it can serve as the reference to a float32 path).
    """
    _check_model(model, spec, network_name)
    layers = spec.network_layers(network_name)
    missing = [name for name in layers if name not in layer_outputs]
    if missing:
        raise ValueError(f"layer outputs lack {missing}; the spec {spec} needs {layers}")
    promoted = {name: tensor.to(dtype) for name, tensor in layer_outputs.items()
                if name in layers or name in CANDIDATE_BLOCKS}

    def run(key: str, outputs: dict):
        hypercolumns = dense_hypercolumns(outputs, spec, network_name).to(dtype)
        weights, bias = model.folded(key)
        weights = torch.as_tensor(weights.reshape(model.K ** 2, -1), dtype=dtype,
                                  device=hypercolumns.device)
        bias = torch.as_tensor(bias.reshape(-1), dtype=dtype, device=hypercolumns.device)
        scores = torch.einsum("kd,bdyx->bkyx", weights, hypercolumns) + bias[:, None, None]
        probabilities = torch.sigmoid(scores)
        return interpolate_probabilities(probabilities), probabilities

    return _per_category(promoted, categories, model, run, return_cell_probabilities)


def _per_category(layer_outputs: dict, categories, model, run, return_cell_probabilities: bool):
    """Split a batch by the grid serving each box, run each part, put results back in order."""
    batch = next(iter(layer_outputs.values())).shape[0]
    if isinstance(categories, str):
        categories = [categories] * batch
    if not isinstance(categories, Sequence) or len(categories) != batch:
        raise ValueError(f"categories must be one string or one per box ({batch}), got "
                         f"{categories!r}")
    keys = [model.category_key(category) for category in categories]
    if len(set(keys)) == 1:
        heatmaps, probabilities = run(keys[0], layer_outputs)
    else:
        device = _device_of(layer_outputs)
        heatmaps = probabilities = None
        for key in dict.fromkeys(keys):
            index = torch.tensor([i for i, k in enumerate(keys) if k == key], device=device)
            part = {name: tensor.index_select(0, index) for name, tensor in layer_outputs.items()}
            part_heatmaps, part_probabilities = run(key, part)
            if heatmaps is None:
                heatmaps = part_heatmaps.new_empty((batch, *part_heatmaps.shape[1:]))
                probabilities = part_probabilities.new_empty(
                    (batch, *part_probabilities.shape[1:]))
            heatmaps[index] = part_heatmaps
            probabilities[index] = part_probabilities
    return (heatmaps, probabilities) if return_cell_probabilities else heatmaps


def block_kernel(block: Block, weights) -> torch.Tensor:
    """A block's ``(K*K, size)`` weights as a conv kernel ``(K*K, C, n, n)`` or a matrix."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if block.kind == "map":
        return weights.reshape(weights.shape[0], block.channels, block.n, block.n).contiguous()
    return weights.contiguous()


def _native_input(layer_outputs: dict, block: Block, network_name: str) -> torch.Tensor:
    """The tensor a block reads: a native map ``(B, C, h, w)``, a vector ``(B, C)``, or an in/out grid."""
    if block.kind in CANDIDATE_BLOCKS:
        return candidate_input(layer_outputs, block)
    source = GLOBAL_SOURCE[network_name] if block.name == "global" else block.name
    if source not in layer_outputs:
        raise ValueError(f"block {block.name!r} needs layer {source!r}, but the layer outputs "
                         f"hold only {sorted(layer_outputs)}")
    tensor = layer_outputs[source]
    if block.kind == "map" or block.name == "global":
        if tensor.ndim != 4:
            raise ValueError(f"layer {source!r} must be a (B, C, h, w) map, got shape "
                             f"{tuple(tensor.shape)}")
        if block.name == "global":
            tensor = global_descriptor(tensor)
    else:
        tensor = tensor.flatten(1)
    expected = block.channels if block.kind == "map" else block.size
    if tensor.shape[1] != expected:
        raise ValueError(f"block {block.name!r} expects {expected} channels from layer "
                         f"{source!r}, got {tensor.shape[1]}")
    return tensor


def _check_model(model, spec: LayerSpec, network_name: str) -> None:
    if network_name not in GLOBAL_SOURCE:
        raise ValueError(f"unknown network {network_name!r}; expected one of "
                         f"{sorted(GLOBAL_SOURCE)}")
    if spec != model.spec:
        raise ValueError(f"the layer spec {spec} (offsets {[b.offset for b in spec.blocks]}) is "
                         f"not the model's resolved spec {model.spec}; pass model.spec")
    dim = model.spec.dim
    for key, coef in model.coef.items():
        if coef.shape != (model.K, model.K, dim):
            raise ValueError(f"grid {key!r} has weights of shape {coef.shape}, expected "
                             f"({model.K}, {model.K}, {dim}) for K={model.K} and spec {spec}")


def _device_of(layer_outputs: dict) -> torch.device:
    if not layer_outputs:
        raise ValueError("no layer outputs given")
    devices = {tensor.device for tensor in layer_outputs.values()}
    if len(devices) != 1:
        raise ValueError(f"layer outputs are on several devices: {sorted(map(str, devices))}")
    return devices.pop()
