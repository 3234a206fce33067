"""The hypercolumn network (the paper's §3): crops in, interpolated 50 x 50 probabilities out.

One ``torch.nn.Module``: the CNN (frozen or trainable), one head per block of
the layer spec with ``K*K`` outputs (an ``n x n`` convolution on a map block's
native layer, a linear layer on a vector block, a 1 x 1 convolution on the
``xy`` map), the score maps upsampled with stage one's rule (blocks of one
native size summed first: upsampling is linear), summed, and combined with
Eq. 3 after the sigmoid.  Loaded from a trained grid, its output equals the
inference stage's (:mod:`conv_trick`); fine-tuning trains CNN and heads
together through :func:`pipelines.loss.interpolated_logistic_loss`.

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
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, upsample, xy_map
from hypercolumns.pipelines.inference.conv_trick import _as_kernel, _native_input
from hypercolumns.pipelines.inference.interpolate import axis_weights


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
            self.heads[block.name] = nn.Parameter(_as_kernel(block, coef[:, columns]).clone())
            self.register_buffer(f"inv_scale_{block.name}",
                                 _as_kernel(block, 1.0 / model.scale[None, columns]))
            self.register_buffer(f"mean_{block.name}", _as_kernel(block, model.mean[None, columns]))
        self.bias = nn.Parameter(torch.as_tensor(model.intercept[key].reshape(-1),
                                                 dtype=torch.float32).clone())
        self._template = model
        rows, cols = axis_weights(self.K, size, size, torch.float32, "cpu")
        self.register_buffer("alpha_rows", rows)
        self.register_buffer("alpha_cols", cols)
        self.register_buffer("xy", xy_map(size))

    def scores(self, crops: torch.Tensor) -> torch.Tensor:
        """Every cell's score at every location, ``(B, K*K, size, size)``."""
        outputs = self.cnn(crops, self.layers)
        batch = crops.shape[0]
        kernels, bias = self.folded()
        scores = bias[:, None, None].expand(-1, self.size, self.size).unsqueeze(0)
        map_scores: dict = {}
        for block in self.spec.blocks:
            kernel = kernels[block.name]
            if block.kind == "xy":
                scores = scores + torch.einsum("kc,cyx->kyx", kernel, self.xy).unsqueeze(0)
            elif block.kind == "map":
                native = _native_input(outputs, block, self.cnn.name)
                score_map = nn.functional.conv2d(native, kernel, padding=block.n // 2)
                key = tuple(score_map.shape[2:])
                map_scores[key] = score_map + map_scores[key] if key in map_scores else score_map
            else:
                vector = _native_input(outputs, block, self.cnn.name)
                scores = scores + (vector @ kernel.T)[:, :, None, None]
        for score_map in map_scores.values():
            scores = scores + upsample(score_map, self.size)
        return scores.expand(batch, -1, -1, -1)

    def folded(self) -> tuple[dict, torch.Tensor]:
        """Raw-feature kernels per block and the bias: ``w / scale`` and ``b - sum(w * mean / scale)``."""
        kernels, bias = {}, self.bias
        for block in self.spec.blocks:
            kernels[block.name] = self.heads[block.name] * getattr(self, f"inv_scale_{block.name}")
            shift = kernels[block.name] * getattr(self, f"mean_{block.name}")
            bias = bias - shift.reshape(shift.shape[0], -1).sum(dim=1)
        return kernels, bias

    def interpolate(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Eq. 3: ``(B, K*K, S, S)`` cell probabilities -> ``(B, S, S)``."""
        grid = probabilities.reshape(-1, self.K, self.K, self.size, self.size)
        return torch.einsum("yr,xc,brcyx->byx", self.alpha_rows, self.alpha_cols, grid)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Interpolated probabilities ``(B, size, size)`` for preprocessed crops ``(B, 3, S, S)``."""
        return self.interpolate(torch.sigmoid(self.scores(crops)))

    def to_grid_model(self, feature_config: dict, info: dict) -> GridModel:
        """The heads as a class-agnostic grid (the template's standardisation kept)."""
        flat = [self.heads[b.name].detach().cpu().reshape(self.K * self.K, -1) for b in self.spec.blocks]
        coef = torch.cat(flat, dim=1).numpy().reshape(self.K, self.K, -1).astype(np.float32)
        intercept = self.bias.detach().cpu().numpy().reshape(self.K, self.K).astype(np.float32)
        template = self._template
        return GridModel(K=self.K, spec=self.spec, categories=[AGNOSTIC], coef={AGNOSTIC: coef},
                         intercept={AGNOSTIC: intercept}, mean=template.mean, scale=template.scale,
                         feature_config=feature_config, info={**template.info, **info})
