"""Eq. 3 of the paper: blending the K x K grid of classifiers into one heatmap.

Location ``i`` of the ``size x size`` box grid (row ``y``, column ``x``) takes

    h_i = sum_k alpha_ik * p_ik,

where ``p_ik`` is grid cell ``k``'s **probability** (after the sigmoid) at
``i`` and ``alpha_ik`` is the bilinear weight of cell ``k``'s centre, with the
half-pixel rule of the authors' code (protocol.md, "Grid interpolation"):
cell ``(r, c)`` has its centre at ``((c + 0.5) / K, (r + 0.5) / K)`` of the
box, so location ``(y, x)`` reads the cell grid at

    Y = (y + 0.5) * K / size - 0.5,    X = (x + 0.5) * K / size - 0.5,

clamped to ``[0, K - 1]``, bilinearly.  The clamp makes the weights sum to 1
everywhere (locations nearer the border than the outermost cell centres take
that cell alone).  This is exactly upsampling one-hot K x K maps with
``F.interpolate(mode="bilinear", align_corners=False)``; the weights are
separable, ``alpha[y, x, r, c] = A[y, r] * A[x, c]`` with ``A`` the 1-D
matrix of :func:`hypercolumns.extract.hypercolumn.bilinear_weights`.

Cells are ordered row-major, ``k = r * K + c`` (as in ``GridModel``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, bilinear_weights


def interpolation_coefficients(K: int, size: int = HEATMAP_SIZE) -> np.ndarray:
    """The Eq. 3 coefficients of every cell at every location.

    Parameters
    ----------
    K : int
        Cells per side of the grid (>= 1).
    size : int
        Locations per side of the box grid (50 in the paper).

    Returns
    -------
    ndarray of shape (size, size, K, K), float64
        ``alpha[y, x, r, c]``: the weight of cell ``(r, c)`` at location
        ``(y, x)``; non-negative, summing to 1 over ``(r, c)``.
        ``.reshape(size * size, K * K)`` gives locations row-major against
        cells ``k = r * K + c``.
    """
    _check_grid(K, size)
    weights = bilinear_weights(size, K)  # (size, K)
    return np.einsum("yr,xc->yxrc", weights, weights)


def interpolate_probabilities(probabilities):
    """Blend per-cell probabilities into heatmaps: ``h_i = sum_k alpha_ik p_ik``.

    Parameters
    ----------
    probabilities : tensor or ndarray of shape (B, K*K, H, W)
        Cell ``k = r * K + c``'s probability (after the sigmoid, in [0, 1]) at
        every location of each box's ``H x W`` grid.  Interpolating scores
        instead of probabilities is not Eq. 3.

    Returns
    -------
    tensor or ndarray of shape (B, H, W)
        Same type, dtype and device as the input; values in [0, 1] when the
        inputs are.
    """
    if isinstance(probabilities, np.ndarray):
        return interpolate_probabilities(torch.from_numpy(probabilities)).numpy()
    if probabilities.ndim != 4:
        raise ValueError(f"probabilities must be (B, K*K, H, W), got shape "
                         f"{tuple(probabilities.shape)}")
    batch, cells, height, width = probabilities.shape
    K = math.isqrt(cells)
    if K * K != cells or K == 0:
        raise ValueError(f"probabilities have {cells} channels, not a square number K*K of "
                         f"grid cells")
    rows, cols = axis_weights(K, height, width, probabilities.dtype, probabilities.device)
    grid = probabilities.reshape(batch, K, K, height, width)
    return torch.einsum("yr,xc,brcyx->byx", rows, cols, grid)


def axis_weights(K: int, height: int, width: int, dtype=torch.float32,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The separable factors of the coefficients, ``(height, K)`` and ``(width, K)``.

    ``alpha[y, x, r, c] = rows[y, r] * cols[x, c]``; for callers that blend
    many batches on one device and want the factors once.
    """
    _check_grid(K, min(height, width))
    rows = torch.as_tensor(bilinear_weights(height, K), dtype=dtype, device=device)
    cols = torch.as_tensor(bilinear_weights(width, K), dtype=dtype, device=device)
    return rows, cols


def _check_grid(K: int, size: int) -> None:
    if int(K) != K or K < 1:
        raise ValueError(f"K (cells per side) must be a positive integer, got {K!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"grid size must be a positive integer, got {size!r}")
