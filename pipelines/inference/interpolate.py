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
separable, ``alpha[y, x, r, c] = rows[y, r] * cols[x, c]`` with the 1-D
matrices of :func:`axis_weights`.

Cells are ordered row-major, ``k = r * K + c`` (as in ``GridModel``).  The
conv trick and the fine-tuning network blend with :func:`interpolate_probabilities`;
the fine-tuning loss blends in log space over :func:`neighbours`, the same
weights in sparse form (each location has at most 2 x 2 cells of nonzero weight).
"""
from __future__ import annotations

import functools
import math

import torch

from hypercolumns.extract.hypercolumn import bilinear_weights


def axis_weights(K: int, height: int, width: int, dtype=torch.float32,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 3's weights as their separable factors, ``rows (height, K)`` and ``cols (width, K)``.

    ``alpha[y, x, r, c] = rows[y, r] * cols[x, c]``: non-negative, summing to 1
    over ``(r, c)`` at every location.
    """
    if int(K) != K or K < 1:
        raise ValueError(f"K (cells per side) must be a positive integer, got {K!r}")
    for size in (height, width):
        if int(size) != size or size < 1:
            raise ValueError(f"grid size must be a positive integer, got {size!r}")
    rows = torch.as_tensor(bilinear_weights(height, K), dtype=dtype, device=device)
    cols = torch.as_tensor(bilinear_weights(width, K), dtype=dtype, device=device)
    return rows, cols


def interpolate_probabilities(probabilities: torch.Tensor,
                              weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Blend per-cell probabilities into heatmaps: ``h_i = sum_k alpha_ik p_ik``.

    Parameters
    ----------
    probabilities : tensor of shape (B, K*K, H, W)
        Cell ``k = r * K + c``'s probability (after the sigmoid, in [0, 1]) at
        every location of each box's ``H x W`` grid.  Interpolating scores
        instead of probabilities is not Eq. 3.
    weights : (rows, cols), optional
        :func:`axis_weights` of this grid, for a caller that keeps them on its
        device; computed here by default.

    Returns
    -------
    tensor of shape (B, H, W)
        Dtype and device of the input; values in [0, 1] when the inputs are.
    """
    K = _cells_per_side(probabilities, "probabilities")
    batch, _, height, width = probabilities.shape
    rows, cols = weights if weights is not None else axis_weights(
        K, height, width, probabilities.dtype, probabilities.device)
    grid = probabilities.reshape(batch, K, K, height, width)
    return torch.einsum("yr,xc,brcyx->byx", rows, cols, grid)


def neighbours(cell_maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each location's cells of nonzero weight: their values and ``log alpha``.

    Parameters
    ----------
    cell_maps : tensor of shape (B, K*K, H, W)
        A value per cell and location (the loss passes scores), cells row-major.

    Returns
    -------
    values : tensor of shape (B, n*n, H, W), ``n = min(K, 2)``
        ``cell_maps`` at each location's (at most) 2 x 2 neighbouring cells,
        distinct at every location.
    log_alpha : tensor of shape (1, n*n, H, W), dtype of ``cell_maps``
        Their ``log alpha``, ``-inf`` where the weight is 0 (at the borders,
        where the clamp leaves one cell per axis); each location has at least
        one finite entry and ``exp`` sums to 1.
    """
    K = _cells_per_side(cell_maps, "cell maps")
    batch, _, height, width = cell_maps.shape
    cells, log_alpha = _neighbour_cells(K, height, width, cell_maps.device, cell_maps.dtype)
    return cell_maps.gather(1, cells.expand(batch, -1, -1, -1)), log_alpha


@functools.lru_cache(maxsize=32)
def _neighbour_cells(K: int, height: int, width: int, device: torch.device,
                     dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel index ``r * K + c`` of each location's neighbours and their ``log alpha``."""
    rows, cols = axis_weights(K, height, width, torch.float64, "cpu")  # (H, K), (W, K)
    n = min(K, 2)
    row_w, row_k = _top_cells(rows, n)  # (H, n)
    col_w, col_k = _top_cells(cols, n)  # (W, n)
    cells = row_k[:, None, :, None] * K + col_k[None, :, None, :]  # (H, W, n, n)
    alpha = row_w[:, None, :, None] * col_w[None, :, None, :]
    assert torch.allclose(alpha.sum(dim=(2, 3)), torch.ones(height, width, dtype=torch.float64))
    cells = cells.reshape(height, width, n * n).permute(2, 0, 1)[None]
    log_alpha = alpha.log().reshape(height, width, n * n).permute(2, 0, 1)[None]
    return (cells.contiguous().to(device),
            log_alpha.contiguous().to(device=device, dtype=dtype))


def _top_cells(weights: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of a (size, K) 1-D bilinear matrix: its ``n`` largest weights and their cells."""
    top, index = weights.topk(n, dim=1)
    assert torch.allclose(top.sum(dim=1), weights.sum(dim=1))  # at most n nonzero per row
    return top, index


def _cells_per_side(cell_maps: torch.Tensor, what: str) -> int:
    if cell_maps.ndim != 4:
        raise ValueError(f"{what} must be (B, K*K, H, W), got shape {tuple(cell_maps.shape)}")
    cells = cell_maps.shape[1]
    K = math.isqrt(cells)
    if K * K != cells or K == 0:
        raise ValueError(f"{what} have {cells} channels, not a square number K*K of grid cells")
    return K
