"""The trained K x K classifier grid, in memory: what stage two writes and inference reads.

Cell ``(i, j)`` is row ``i``, column ``j`` of the box: location ``(y, x)`` of
the 50 x 50 grid lies in cell ``(y * K // 50, x * K // 50)``.

Weights are kept in the standardised feature space the classifiers were
trained in (``z = (feature - mean) / scale``); :meth:`GridModel.folded`
folds the standardisation into raw-feature weights and biases, which is what
the conv trick needs:

    w . (f - mean) / scale + b  =  (w / scale) . f + (b - w . (mean / scale))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hypercolumns.extract.config import FeatureConfig
from hypercolumns.extract.layer_spec import LayerSpec

AGNOSTIC = "__all__"


@dataclass
class GridModel:
    """A K x K grid of linear classifiers per category.

    Attributes
    ----------
    K : int
    spec : LayerSpec
        Resolved (block offsets and sizes set).
    categories : list of str
        ``["__all__"]`` for a class-agnostic grid.
    coef : dict of str to ndarray of shape (K, K, D), float32
        Per category, standardised-space weights of each cell.
    intercept : dict of str to ndarray of shape (K, K), float32
    mean, scale : ndarray of shape (D,), float32
        The standardisation (``scale`` > 0).
    feature_config : FeatureConfig
        The stage-one config the rows were made with, with its shards' ``config_hash``.
    info : dict
        Training facts: solver, C per category, rows and accuracy per cell.
    """

    K: int
    spec: LayerSpec
    categories: list
    coef: dict
    intercept: dict
    mean: np.ndarray
    scale: np.ndarray
    feature_config: FeatureConfig
    info: dict = field(default_factory=dict)

    def category_key(self, category: str) -> str:
        """The grid that serves ``category`` (the agnostic one if the model has it)."""
        if category in self.coef:
            return category
        if AGNOSTIC in self.coef:
            return AGNOSTIC
        raise ValueError(f"the model has no grid for category {category!r}; it has "
                         f"{', '.join(self.categories)}")

    def folded(self, category: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw-feature weights ``(K, K, D)`` and biases ``(K, K)`` (float64)."""
        key = self.category_key(category)
        coef = self.coef[key].astype(np.float64)
        weights = coef / self.scale.astype(np.float64)
        bias = self.intercept[key].astype(np.float64) - weights @ self.mean.astype(np.float64)
        return weights, bias

    def block_weights(self, category: str) -> tuple[list, np.ndarray]:
        """Folded weights split by block: per block ``(K*K, size)``, and biases ``(K*K,)``.

        Cells are ordered row-major (``k = i * K + j``).
        """
        weights, bias = self.folded(category)
        flat = weights.reshape(self.K * self.K, -1)
        return ([flat[:, b.offset:b.offset + b.size] for b in self.spec.blocks],
                bias.reshape(-1))
