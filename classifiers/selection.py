"""The selection protocol: every choice of ours is made on training images, never on those reported.

Two kinds of setting:

- **The paper's own** (:data:`PAPER_SETTINGS`: the layers, K, the 50x50
  grid, the 0.4 mask threshold of the authors' code, boxes and rows per
  instance) are fixed.  Changing one is a Deviation (README), not tuning.
- **Our stand-ins and free choices** (:data:`FREE_CHOICES`: the grid's C, box
  regression's descriptor, penalty and class-specificity, the projection
  standing in for MCG, Table 2's rescoring, ...) are chosen by scores on held-out *training* images, split by
  image: a fraction held out (:func:`heldout_images`), k folds
  (:func:`image_folds`), or folds inside folds (:func:`nested_folds`, the
  ``--protocol nested-cv`` of the experiments).

Every choice goes through :func:`choose`, which receives the ids of the
images its scores were computed on and refuses any of the images being
reported (:func:`reporting_on`, set by each experiment driver before it
trains or chooses anything): no val image reaches a selection step.  A
choice is returned as a :class:`Selection` (the candidates, their scores, the
chosen one and ``selected_on``: which images, split how), which the caller
writes into its model or results file and prints.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hypercolumns.data.errors import InputError

PAPER_SETTINGS = {
    "layers": "pool3 (3x3 neighbourhood), conv4_3, a global descriptor",
    "grid": "K x K, K in 1, 2, 5, 10",
    "heatmap": "50 x 50 over the expanded box",
    "mask threshold": "0.4 (the authors' code)",
    "training boxes": "per instance and rows per box as protocol.md gives them",
}
"""The paper's settings: fixed here; a change is a Deviation in the README."""

FREE_CHOICES = (
    "grid C",
    "box regression descriptor, penalty and class-specificity",
    "projection",
    "paste threshold",
    "rescoring",
    "shared features",
)
"""The settings :func:`choose` decides today, each on training images only."""


class ReportedImageError(InputError):
    """An image that is reported on reached a selection step."""


_reported: frozenset = frozenset()


@contextmanager
def reporting_on(image_ids):
    """While active, :func:`choose` refuses these image ids (the images a driver reports on)."""
    global _reported
    before = _reported
    _reported = before | frozenset(str(i) for i in image_ids)
    try:
        yield
    finally:
        _reported = before


def unit_hash(text: str) -> float:
    """A number in [0, 1) from sha256 (stable across runs and machines, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0 ** 64


def heldout_images(image_ids, fraction: float, seed: int) -> np.ndarray:
    """Whether each row's image is held out, shape (n,), bool: sha256 of ``"<seed>:<id>"`` below
    ``fraction``, so an image's rows are never split between the two sides."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction!r}")
    unique, inverse = np.unique(np.asarray(image_ids, dtype=str), return_inverse=True)
    flags = np.array([unit_hash(f"{seed}:{image_id}") < fraction for image_id in unique], bool)
    return flags[inverse].reshape(-1)


def image_folds(image_ids, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0..folds-1) of each image id, from sha256 of ``"cv<seed>:<id>"``; shape (n,), int."""
    if folds < 2:
        raise InputError(f"cross-validation needs at least 2 folds, got {folds}")
    return np.array([min(int(unit_hash(f"cv{seed}:{image_id}") * folds), folds - 1)
                     for image_id in image_ids], dtype=np.int64)


def fold_members(image_ids, fold_of: np.ndarray, folds: int) -> list:
    """Each fold's image ids, sorted: a tuple per fold, from :func:`image_folds`'s ``fold_of``."""
    return [tuple(sorted(i for i, f in zip(image_ids, fold_of) if f == fold)) for fold in range(folds)]


@dataclass(frozen=True)
class NestedFold:
    """One outer fold of nested cross-validation.

    ``reported``: the outer fold's images (scored once, by models that never
    saw them); ``inner``: the folds of the other images, on which the outer
    fold's choices are made (each inner fold scored by models trained on the
    outer training images outside it).
    """

    outer: int
    reported: tuple
    inner: tuple      # of tuples of image ids

    @property
    def training(self) -> tuple:
        return tuple(sorted(i for fold in self.inner for i in fold))


def nested_folds(image_ids, outer: int = 3, inner: int = 2, seed: int = 0) -> list:
    """:class:`NestedFold` per outer fold; outer folds from :func:`image_folds` (``seed``), inner
    folds from an independent hash (``seed + 1``) restricted to each outer fold's training images."""
    ids = list(image_ids)
    outer_members = fold_members(ids, image_folds(ids, outer, seed), outer)
    inner_of = dict(zip(ids, image_folds(ids, inner, seed + 1)))
    nested = []
    for o, reported in enumerate(outer_members):
        training = [i for i in ids if i not in set(reported)]
        nested.append(NestedFold(o, reported, tuple(
            tuple(sorted(i for i in training if inner_of[i] == j)) for j in range(inner))))
    return nested


@dataclass(frozen=True)
class Selection:
    """A choice: the candidates' scores on held-out training images and the one chosen."""

    setting: str
    chosen: Any
    scores: dict           # candidate (as text) -> score
    criterion: str
    selected_on: str
    images: int
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"setting": self.setting, "chosen": self.chosen, "criterion": self.criterion,
                "selected_on": self.selected_on, "images": self.images, "scores": dict(self.scores),
                **self.extra}

    def line(self) -> str:
        """One printed line: what was chosen, from what, on which images."""
        scores = ", ".join(f"{name} {score:.4g}" for name, score in self.scores.items())
        return (f"{self.setting}: {self.chosen} ({self.criterion} on {self.selected_on}, "
                f"{self.images} images: {scores})")


def check_training_only(image_ids, setting: str) -> int:
    """The number of distinct images; :class:`ReportedImageError` if one is being reported on."""
    ids = {str(i) for i in np.asarray(list(image_ids), dtype=object).ravel()}
    leaked = sorted(ids & _reported)
    if leaked:
        raise ReportedImageError(
            f"choosing the {setting} would look at {len(leaked)} reported image(s) (e.g. {leaked[0]!r}): "
            "choices are made on training images only; the training data holds images of the "
            "evaluation split")
    return len(ids)


def choose(setting: str, scores: Mapping, image_ids: Sequence, *, criterion: str, selected_on: str,
           higher_is_better: bool = True, **extra) -> Selection:
    """The candidate with the best score, as a :class:`Selection`.

    Parameters
    ----------
    setting : str
        What is chosen (one of :data:`FREE_CHOICES`).
    scores : mapping of candidate to float
        Each candidate's score on the held-out training images; ties go to
        the first candidate in the order given (put a default, where there is
        one, first).
    image_ids : sequence
        The images the scores were computed on (checked by
        :func:`check_training_only`).
    criterion, selected_on : str
        What the score is, and which images, split how (e.g. ``"training
        images, 3-fold by image"``); both recorded.
    """
    if not scores:
        raise ValueError(f"no candidates to choose the {setting} from")
    images = check_training_only(image_ids, setting)
    sign = 1.0 if higher_is_better else -1.0
    finite = {c: s for c, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise ValueError(f"no candidate for the {setting} has a finite score: {dict(scores)}")
    chosen = max(finite, key=lambda c: sign * finite[c])
    return Selection(setting, chosen, {str(c): float(s) for c, s in scores.items()}, criterion,
                     selected_on, images, extra)
