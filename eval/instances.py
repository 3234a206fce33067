"""What AP^r evaluates: one image's ground truth, and a detection.

Masks are ``bool`` arrays ``(H, W)`` of the image's size, or COCO RLE dicts
(decoded at most once, when the image is matched); see :mod:`hypercolumns.eval.masks`.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class Detection(NamedTuple):
    """One detected instance.

    Attributes
    ----------
    image_id : hashable
        Key of the image in the ground-truth mapping.
    category : hashable
        Class, as in the ground truth (e.g. ``"person"``).
    score : float
        Higher is more confident.
    mask : ndarray of shape (H, W), bool, or COCO RLE dict
    """

    image_id: Hashable
    category: Hashable
    score: float
    mask: Any


@dataclass
class ImageGroundTruth:
    """The ground truth of one image.

    Attributes
    ----------
    height, width : int
        The image's size.
    instances : list of (category, mask)
        ``mask`` is an ndarray (H, W) bool or a COCO RLE dict; empty for an
        image without objects (its detections are all false positives).
    void : ndarray of shape (H, W), bool, or None
        Pixels excluded from every IoU of this image.
    ignore : sequence of bool, one per instance, or None
        Instances that make a detection neither a true nor a false positive;
        stored as an ndarray of shape (n_instances,), bool (all False for None).
    """

    height: int
    width: int
    instances: list = field(default_factory=list)
    void: np.ndarray | None = None
    ignore: Sequence[bool] | None = None

    def __post_init__(self):
        n_instances = len(self.instances)
        self.ignore = np.zeros(n_instances, bool) if self.ignore is None else np.asarray(self.ignore, bool)
        if self.ignore.shape != (n_instances,):
            raise ValueError(f"ignore has {self.ignore.size} flags for {n_instances} instances")
        if self.void is not None:
            self.void = np.asarray(self.void, dtype=bool)
            if self.void.shape != (self.height, self.width):
                raise ValueError(f"void is {self.void.shape} but the image is {(self.height, self.width)}")
