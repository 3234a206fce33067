"""The hypercolumn network (the paper's §3): crops in, interpolated 50 x 50 probabilities out.

One ``torch.nn.Module``: the CNN (frozen or trainable) and one head per block
of the layer spec with ``K*K`` outputs, run as inference runs them: the conv
trick (:func:`hypercolumns.pipelines.inference.conv_trick.cell_scores`), the
sigmoid, and Eq. 3 (:mod:`hypercolumns.pipelines.inference.interpolate`).
Loaded from a trained grid, its output equals the inference stage's;
fine-tuning trains CNN and heads together through
:func:`hypercolumns.pipelines.finetune.loss.interpolated_logistic_loss`.

The heads' parameters are the grid's weights in its standardised feature
space (well conditioned for SGD, unlike raw-feature weights whose inputs
differ in scale by 10^4); the standardisation is applied by folding it into
the kernels on the fly, so a fine-tuned network exports to an ordinary grid
file with the same mean and scale.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, xy_map
from hypercolumns.pipelines.inference.conv_trick import block_kernel, cell_scores
from hypercolumns.pipelines.inference.interpolate import axis_weights, interpolate_probabilities


class HypercolumnNet(nn.Module):
    """CNN + K x K grid of classifiers as one module.

    Parameters
    ----------
    cnn : TappedNetwork
        The network (its ``requires_grad`` decides what fine-tuning trains).
    model : GridModel
        Grid to initialise the heads from; one category (default the
        class-agnostic grid).
    category : str
    size : int
        Side of the box grid (50).
    """

    def __init__(self, cnn, model: GridModel, category: str = AGNOSTIC, size: int = HEATMAP_SIZE):
        super().__init__()
        self.cnn, self.K, self.size, self.spec = cnn, model.K, size, model.spec
        self.layers = model.spec.network_layers(cnn.name)
        key = model.category_key(category)
        coef = model.coef[key].reshape(self.K * self.K, -1)
        self.heads = nn.ParameterDict()
        for block in model.spec.blocks:
            columns = slice(block.offset, block.offset + block.size)
            self.heads[block.name] = nn.Parameter(block_kernel(block, coef[:, columns]).clone())
            self.register_buffer(f"inv_scale_{block.name}",
                                 block_kernel(block, 1.0 / model.scale[None, columns]))
            self.register_buffer(f"mean_{block.name}", block_kernel(block, model.mean[None, columns]))
        self.bias = nn.Parameter(torch.as_tensor(model.intercept[key].reshape(-1),
                                                 dtype=torch.float32).clone())
        self._template = model
        # buffers: they follow the module to its device (and are in its checkpoints)
        rows, cols = axis_weights(self.K, size, size, torch.float32, "cpu")
        self.register_buffer("alpha_rows", rows)
        self.register_buffer("alpha_cols", cols)
        self.register_buffer("xy", xy_map(size))

    def scores(self, crops: torch.Tensor) -> torch.Tensor:
        """Every cell's score at every location, ``(B, K*K, size, size)``, by the conv trick."""
        kernels, bias = self.folded()
        return cell_scores(self.cnn(crops, self.layers), self.spec.blocks, kernels, bias, self.xy,
                           self.cnn.name)

    def folded(self) -> tuple[list, torch.Tensor]:
        """Raw-feature kernels per block and the bias: ``w / scale`` and ``b - sum(w * mean / scale)``."""
        kernels, bias = [], self.bias
        for block in self.spec.blocks:
            kernels.append(self.heads[block.name] * getattr(self, f"inv_scale_{block.name}"))
            shift = kernels[-1] * getattr(self, f"mean_{block.name}")
            bias = bias - shift.reshape(shift.shape[0], -1).sum(dim=1)
        return kernels, bias

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Interpolated probabilities ``(B, size, size)`` for preprocessed crops ``(B, 3, S, S)``."""
        return interpolate_probabilities(torch.sigmoid(self.scores(crops)),
                                         (self.alpha_rows, self.alpha_cols))

    def to_grid_model(self, feature_config: dict, info: dict) -> GridModel:
        """The heads as a class-agnostic grid (the template's standardisation kept)."""
        flat = [self.heads[b.name].detach().cpu().reshape(self.K * self.K, -1) for b in self.spec.blocks]
        coef = torch.cat(flat, dim=1).numpy().reshape(self.K, self.K, -1).astype(np.float32)
        intercept = self.bias.detach().cpu().numpy().reshape(self.K, self.K).astype(np.float32)
        template = self._template
        return GridModel(K=self.K, spec=self.spec, categories=[AGNOSTIC], coef={AGNOSTIC: coef},
                         intercept={AGNOSTIC: intercept}, mean=template.mean, scale=template.scale,
                         feature_config=feature_config, info={**template.info, **info})
