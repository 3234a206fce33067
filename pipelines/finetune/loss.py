"""The fine-tuning loss of the hypercolumn network (Section 3, "Representation
as a neural network"), as one composite, numerically stable function.

At location ``i`` of a box's ``S x S`` grid, grid cell ``k`` (row-major,
``k = r * K + c``) has score (logit) ``z_ik``; Eq. 3 blends the cells'
**probabilities** into ``h_i = sum_k alpha_ik * sigmoid(z_ik)`` with the
bilinear, half-pixel coefficients of :mod:`hypercolumns.pipelines.inference.interpolate`.
The loss is ``-log h_i`` on positive locations, ``-log(1 - h_i)`` on negative
ones, nothing on ignored ones (protocol.md, "Fine-tuning loss").

The paper treats "the sigmoids, the linear combination and the log likelihood
as a single composite function" for stability.  Here, in log space,

    log h_i       = logsumexp_k(log alpha_ik + logsigmoid( z_ik)),
    log (1 - h_i) = logsumexp_k(log alpha_ik + logsigmoid(-z_ik)),

the second because ``sum_k alpha_ik = 1``.  Neither ever forms ``sigmoid(z)``
nor ``1 - h``, so scores of +-100 give finite losses and gradients in float32
where the naive formula gives ``inf``.  Autograd through this gives the
responsibilities form of the gradient: for a positive location
``d(-log h)/dz_k = -(alpha_k sigmoid_k / h) (1 - sigmoid_k)``, for a negative
one ``d(-log(1 - h))/dz_k = (alpha_k (1 - sigmoid_k) / (1 - h)) sigmoid_k``.

Sparsity: each location has at most 2 x 2 cells with ``alpha > 0``, so the
logsumexp runs over those neighbours' scores only, ``(B, 4, S, S)``
(:func:`hypercolumns.pipelines.inference.interpolate.neighbours`); the cost is
then independent of ``K``.  A neighbour whose weight is 0 (at the borders) has
``log alpha = -inf``: it adds ``exp(-inf) = 0`` to the logsumexp and receives a
gradient of exactly 0 (the softmax weight ``exp(-inf - lse)`` is 0, never
``-inf * 0``), and every location keeps at least one finite term, so no NaN
appears.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from hypercolumns.pipelines.inference.interpolate import neighbours

REDUCTIONS = ("mean_over_boxes", "sum", "none")
REFERENCE_SIDE = 224.0  # box weight min(area / 224**2, 1), the authors' choice


def interpolated_logistic_loss(scores: torch.Tensor, targets: torch.Tensor, K: int,
                               box_weights: torch.Tensor | None = None,
                               reduction: str = "mean_over_boxes") -> torch.Tensor:
    """Negative log likelihood of the Eq. 3 heatmap, summed per box, weighted per box.

    Parameters
    ----------
    scores : tensor of shape (B, K*K, S, S), float32 or float64
        Per-cell classifier scores (logits) ``z_ik``; channel ``k = r * K + c``.
        Any real values; +-100 is fine.  ``(B, K*K, H, W)`` also works.
    targets : tensor of shape (B, S, S), integer or float
        1 positive, 0 negative, -1 ignore (no loss, gradient exactly 0).
    K : int
        Cells per side of the classifier grid.
    box_weights : tensor of shape (B,), optional
        Per-box factor on the summed loss (the authors used
        ``min(area / 224**2, 1)``, see :func:`area_weights`); default 1.
    reduction : {"mean_over_boxes", "sum", "none"}
        ``"mean_over_boxes"``: sum over boxes divided by ``B`` (the paper's);
        ``"sum"``: sum over boxes; ``"none"``: per box.

    Returns
    -------
    tensor, scalar or of shape (B,), dtype of ``scores``
        Non-negative; ``-sum_i log h_i`` over positives plus ``-sum_i log(1 - h_i)``
        over negatives, times the box weight, reduced as asked.  With ``B = 0``
        the mean and sum are 0.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    _check_scores(scores, K)
    _check_targets(scores, targets)
    log_h, log_1mh = interpolated_log_probabilities(scores, K)
    zero = torch.zeros((), dtype=scores.dtype, device=scores.device)
    per_location = torch.where(targets == 1, -log_h, torch.where(targets == 0, -log_1mh, zero))
    per_box = per_location.sum(dim=(1, 2))
    if box_weights is not None:
        per_box = per_box * _check_box_weights(box_weights, scores)
    if reduction == "none":
        return per_box
    total = per_box.sum()
    if reduction == "sum":
        return total
    return total / max(per_box.shape[0], 1)


def interpolated_log_probabilities(scores: torch.Tensor,
                                   K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``log h`` and ``log(1 - h)`` of the Eq. 3 heatmap, computed stably.

    Parameters
    ----------
    scores : tensor of shape (B, K*K, H, W), float32 or float64
        Per-cell scores (logits), channel ``k = r * K + c``.
    K : int
        Cells per side of the grid.

    Returns
    -------
    log_h, log_one_minus_h : tensors of shape (B, H, W), dtype of ``scores``
        Both <= 0 and finite for finite scores.
    """
    _check_scores(scores, K)
    z, log_alpha = neighbours(scores)  # (B, 4, H, W), (1, 4, H, W)
    log_h = torch.logsumexp(log_alpha + F.logsigmoid(z), dim=1)
    log_1mh = torch.logsumexp(log_alpha + F.logsigmoid(-z), dim=1)
    return log_h, log_1mh


def area_weights(boxes: torch.Tensor, side: float = REFERENCE_SIDE) -> torch.Tensor:
    """The authors' per-box weight ``min(area / side**2, 1)``.

    Parameters
    ----------
    boxes : tensor of shape (B, 4), float
        ``x0, y0, x1, y1`` in continuous image pixel coordinates.
    side : float
        Boxes of at least ``side x side`` pixels get weight 1.

    Returns
    -------
    tensor of shape (B,), dtype of ``boxes``, values in [0, 1]
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (B, 4) x0, y0, x1, y1, got shape {tuple(boxes.shape)}")
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=0)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    return (widths * heights / side ** 2).clamp(max=1.0)


def _check_scores(scores: torch.Tensor, K: int) -> None:
    if int(K) != K or K < 1:
        raise ValueError(f"K (cells per side) must be a positive integer, got {K!r}")
    if not torch.is_tensor(scores) or not scores.is_floating_point():
        raise TypeError(f"scores must be a float tensor, got "
                        f"{getattr(scores, 'dtype', type(scores).__name__)}")
    if scores.ndim != 4 or scores.shape[1] != K * K:
        raise ValueError(f"scores must be (B, K*K, S, S) = (B, {K * K}, S, S) for K = {K}, got "
                         f"shape {tuple(scores.shape)}; pass the K the network was built with")


def _check_targets(scores: torch.Tensor, targets: torch.Tensor) -> None:
    expected = (scores.shape[0], *scores.shape[2:])
    if not torch.is_tensor(targets) or tuple(targets.shape) != expected:
        raise ValueError(f"targets must be (B, S, S) = {expected} to match scores "
                         f"{tuple(scores.shape)}, got {tuple(getattr(targets, 'shape', ()))}")
    if not bool(((targets == 1) | (targets == 0) | (targets == -1)).all()):
        raise ValueError("targets must hold 1 (positive), 0 (negative) or -1 (ignore) only; "
                         f"got values {torch.unique(targets).tolist()[:10]}")


def _check_box_weights(box_weights: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    box_weights = torch.as_tensor(box_weights, dtype=scores.dtype, device=scores.device)
    if box_weights.shape != (scores.shape[0],):
        raise ValueError(f"box_weights must be (B,) = ({scores.shape[0]},), one per box, got "
                         f"shape {tuple(box_weights.shape)}")
    return box_weights
