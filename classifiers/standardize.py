"""Per-dimension standardisation of hypercolumn features, computed in one streaming pass.

Activation scales differ by orders of magnitude between layers (pool3 up to
~1e4, conv5_3 ~250), so every dimension is standardised before the logistic
regressions: ``z = (feature - mean) / scale``.

- **Streaming.** The statistics come from one pass over every row of every
  shard (all rows, whatever their label: standardisation does not look at
  labels), ``chunk_rows`` rows at a time, with float64 accumulators merged by
  Chan et al.'s pairwise rule (mean and sum of squared deviations per chunk),
  which does not lose precision the way ``sum(x^2) - n * mean^2`` does.
- **Floor.** ``scale = max(std, 1e-3 * median of the non-zero stds)``
  (:data:`SCALE_FLOOR`; 1 if every std is 0).  A dimension that is constant
  in training (a dead ReLU channel) then has ``z = 0`` on every training row,
  its weight stays 0 under the L2 penalty, and an unusual value at inference
  cannot be blown up by a division by ~0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError
from hypercolumns.extract.shards import image_rows, open_shard

SCALE_FLOOR = 1e-3
CHUNK_ROWS = 1024  # the shards' HDF5 chunk height


@dataclass
class Standardization:
    """Per-dimension mean and floored scale.

    Attributes
    ----------
    mean : ndarray of shape (n_features,), float64
    std : ndarray of shape (n_features,), float64
        Population standard deviation (ddof = 0).
    scale : ndarray of shape (n_features,), float64
        ``std`` floored (see module docstring); always > 0.
    n_rows : int
        Rows the statistics were computed over.
    """

    mean: np.ndarray
    std: np.ndarray
    scale: np.ndarray
    n_rows: int


def standardize(features: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(features - mean) / scale``.

    Parameters
    ----------
    features : ndarray of shape (n_rows, n_features), any float dtype (float16 from shards)
    mean, scale : ndarray of shape (n_features,)

    Returns
    -------
    ndarray of shape (n_rows, n_features), float32
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != np.shape(mean)[0]:
        raise ValueError(f"expected features of shape (n, {np.shape(mean)[0]}), "
                         f"got {features.shape}")
    z = features.astype(np.float32)  # a copy: the in-place steps below touch no input
    z -= np.asarray(mean, np.float32)
    z *= (1.0 / np.asarray(scale, np.float64)).astype(np.float32)
    return z


class RunningMoments:
    """Mean and sum of squared deviations per dimension, merged chunk by chunk (float64)."""

    def __init__(self, n_features: int):
        self.n_rows = 0
        self.mean = np.zeros(n_features, np.float64)
        self.squared_deviations = np.zeros(n_features, np.float64)

    def update(self, chunk: np.ndarray) -> None:
        """Merge a chunk of shape (n, n_features), any float dtype."""
        chunk = np.asarray(chunk, np.float64)
        n_chunk = chunk.shape[0]
        if n_chunk == 0:
            return
        chunk_mean = chunk.mean(axis=0)
        chunk_deviations = ((chunk - chunk_mean) ** 2).sum(axis=0)
        n_total = self.n_rows + n_chunk
        delta = chunk_mean - self.mean
        self.mean += delta * (n_chunk / n_total)
        self.squared_deviations += chunk_deviations + delta ** 2 * (self.n_rows * n_chunk / n_total)
        self.n_rows = n_total

    def result(self) -> Standardization:
        if self.n_rows == 0:
            raise ValueError("no rows to compute the standardisation from")
        std = np.sqrt(self.squared_deviations / self.n_rows)
        return Standardization(self.mean.copy(), std, floored_scale(std), self.n_rows)


def floored_scale(std: np.ndarray) -> np.ndarray:
    """``max(std, SCALE_FLOOR * median(std[std > 0]))``; shape (n_features,), float64."""
    std = np.asarray(std, np.float64)
    positive = std[std > 0]
    floor = SCALE_FLOOR * np.median(positive) if positive.size else 1.0
    return np.maximum(std, floor)


def standardization_of(features: np.ndarray) -> Standardization:
    """The standardisation of in-memory rows, shape (n_rows, n_features)."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_rows, n_features), got shape {features.shape}")
    moments = RunningMoments(features.shape[1])
    for start in range(0, features.shape[0], CHUNK_ROWS):
        moments.update(features[start:start + CHUNK_ROWS])
    return moments.result()


def standardization_from_shards(shards: list, chunk_rows: int = CHUNK_ROWS,
                                progress=None, exclude_images=()) -> Standardization:
    """One streaming pass over the ``features`` of every shard.

    Parameters
    ----------
    shards : list of path
        Shard files (``extract.shards`` schema); all must have the same width.
    chunk_rows : int
        Rows read and merged at a time (memory: ``chunk_rows * D * 8`` bytes).
    progress : callable, optional
        Called with the number of rows of each merged chunk (e.g. ``tqdm.update``).
    exclude_images : collection of str
        Image ids whose rows are left out (a cross-validation fold's test images).
    """
    exclude_images = set(exclude_images)
    moments = None
    for path in shards:
        with open_shard(Path(path)) as f:
            features = f["features"]
            if moments is None:
                moments = RunningMoments(features.shape[1])
            elif features.shape[1] != moments.mean.shape[0]:
                raise InputError(f"{path} has {features.shape[1]} feature dims, the shards before "
                                 f"it {moments.mean.shape[0]}")
            kept = ~image_rows(f, exclude_images) if exclude_images else None
            for start in range(0, features.shape[0], chunk_rows):
                chunk = features[start:start + chunk_rows]
                if kept is not None:
                    chunk = chunk[kept[start:start + chunk_rows]]
                moments.update(chunk)
                if progress is not None:
                    progress(len(chunk))
    if moments is None:
        raise ValueError("no shards to compute the standardisation from")
    return moments.result()
