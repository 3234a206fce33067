"""Where inference spends its time: seconds per stage, collected only while a :class:`Profile` is active.

``segment --profile`` splits its run into reading images, the CNN, the conv
trick, superpixels, projection (pasting and thresholding or projecting), RLE
encoding and pictures.  The code of each stage wraps itself in
:func:`timed` (``with timed("cnn"): ...``), which costs one context-variable
read when no profile is active.  On a GPU the stage's end waits for the
device (``torch.cuda.synchronize``), so that asynchronous kernels are counted
where they run, not where their results are first read.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

STAGES = ("read", "cnn", "conv trick", "superpixels", "projection", "rle", "pictures")
"""The stages, in pipeline order; ``cnn`` and ``conv trick`` are before the heatmap, the rest after it."""

_ACTIVE: ContextVar = ContextVar("hypercolumns_profile", default=None)
_ADDING = threading.Lock()


@dataclass
class Profile:
    """Seconds per stage and the boxes seen; use as ``with Profile() as profile:``."""

    seconds: dict = field(default_factory=dict)
    boxes: int = 0
    synchronize: bool = False

    def __enter__(self) -> "Profile":
        self._token = _ACTIVE.set(self)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._start
        _ACTIVE.reset(self._token)

    def add(self, stage: str, seconds: float) -> None:
        with _ADDING:   # segment_many's threads add at once
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def after_cnn_share(self) -> float:
        """Everything after the heatmap (superpixels, projection, RLE) as a share of the CNN's time."""
        after = sum(self.seconds.get(s, 0.0) for s in ("superpixels", "projection", "rle"))
        return after / self.seconds["cnn"] if self.seconds.get("cnn") else float("nan")

    def line(self) -> str:
        parts = [f"{stage} {self.seconds[stage]:.2f} s" + (f" ({1000 * self.seconds[stage] / self.boxes:.1f} ms/box)"
                                                           if self.boxes else "")
                 for stage in STAGES if stage in self.seconds]
        return (f"profile ({self.boxes} boxes, {getattr(self, 'wall', 0.0):.2f} s in all): " + ", ".join(parts)
                + f"; after the CNN (superpixels, projection, RLE): {100 * self.after_cnn_share():.1f}% of the CNN")


def count_boxes(count: int) -> None:
    """Add ``count`` boxes to the active profile, if any."""
    profile = _ACTIVE.get()
    if profile is not None:
        profile.boxes += int(count)


@contextmanager
def timed(stage: str):
    """Count the enclosed time under ``stage`` in the active profile; nothing when none is active."""
    profile = _ACTIVE.get()
    if profile is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        if profile.synchronize and stage in ("cnn", "conv trick"):   # the GPU's stages
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
        profile.add(stage, time.perf_counter() - start)
