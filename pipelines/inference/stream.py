"""Segmenting many images with the CNN kept busy (``Segmenter.segment_many``, what ``hypercolumns segment`` runs).

One image at a time leaves a GPU idle twice per image: while the image is
read, and while its heatmaps become masks (superpixels, projection, RLE), all
CPU work; and an image with two boxes sends a batch of two.  Here

- images are read ahead on a thread (:func:`read_ahead`), which for a GPU also warps their crops
  into pinned memory (an asynchronous copy);
- the boxes of consecutive images share CNN batches of ``batch_size``, each
  batch's heatmaps split back to their images;
- an image whose heatmaps are all in is handed to a pool of CPU threads for
  its superpixels, masks, scores and RLE, while the main thread sends the next
  batch through the CNN.

Results come back in input order and equal one-image-at-a-time
:meth:`~.segment.Segmenter.segment` (the CNN's output for a crop does not depend
on the other crops of its batch beyond float rounding).  A grid on shared
whole-image features, or one that refines region candidates, runs one image
at a time (its CNN work is per image).  At most ``ahead`` images are read ahead,
at most ``images_per_batch`` wait for their batch and about ``2 × threads`` more
for or in the pool, so memory stays flat in the number of images.
"""
from __future__ import annotations

import contextvars
import os
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from hypercolumns.pipelines.inference.profile import count_boxes, timed

_DONE = object()


def default_threads() -> int:
    """CPU threads for the work after the heatmaps: a quarter of the cores, 1 to 4 (the rest feed the CNN)."""
    return max(1, min(4, (os.cpu_count() or 2) // 4))


def read_ahead(items, ahead: int = 2):
    """``items`` (an iterator) consumed on a thread, at most ``ahead`` in front of the caller; an exception
    it raises is raised here, at its place in the order."""
    if ahead <= 0:
        yield from items
        return
    slots: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    context = contextvars.copy_context()   # the caller's profile, if one is active

    def offer(entry) -> bool:
        """Put ``entry`` in a slot as soon as one is free; False once the consumer has stopped."""
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not offer((item, None)):
                    getattr(items, "close", lambda: None)()   # its own clean-up (a progress bar), here
                    return
            offer((_DONE, None))
        except BaseException as error:   # handed to the consumer, raised there
            offer((_DONE, error))

    reader = threading.Thread(target=context.run, args=(produce,), daemon=True, name="read-ahead")
    reader.start()
    try:
        while True:
            item, error = slots.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


@dataclass
class _Image:
    """One image on its way through the stream: its boxes and the heatmaps computed so far."""

    tag: object
    image: np.ndarray
    key: str
    boxes: np.ndarray
    categories: list
    expanded: np.ndarray
    crops: object = None   # (n, 3, S, S) preprocessed (a GPU's, pinned), until its boxes went through the CNN
    parts: list = field(default_factory=list)
    filled: int = 0

    @property
    def complete(self) -> bool:
        return self.filled == len(self.boxes)

    def heatmaps(self, size: int) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros((0, size, size), np.float32)


def segment_stream(segmenter, items, batch_size: int | None = None, threads: int | None = None,
                   ahead: int = 2, images_per_batch: int = 8):
    """``(tag, image, Segmentation)`` for each ``(tag, image, boxes, categories[, image_key[, candidates]])``
    of ``items``, in order (see the module); each Segmentation's RLE is already encoded, on the pool's threads.
    An item's own error (raised by ``items``, or its image or boxes refused) is raised after the images
    before it are given back; an error of the CNN or of the masks is raised at once. A batch spans at most
    ``images_per_batch`` images (few boxes per large image: few images held)."""
    if hasattr(segmenter.cnn, "image_frame") or segmenter.needs_candidates:
        for tag, image, boxes, categories, *rest in read_ahead(iter(items), ahead):   # per-image CNN work
            key, candidates = (list(rest) + [None, None])[:2]
            result = segmenter.segment(image, boxes, categories, key, candidates)
            with timed("rle"):
                result.encode()
            yield tag, image, result
        return
    batches = _CrossImageBatches(segmenter.grid, batch_size or segmenter.engine.batch_size, images_per_batch)
    threads = threads or default_threads()
    waiting: deque = deque()   # [_Image, future or None until its heatmaps are all in], input order

    def finish(entry: _Image):
        result = segmenter.masks_of(entry.image, entry.key, entry.heatmaps(batches.heatmap_size), entry.expanded)
        with timed("rle"):
            result.encode()
        return result

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="segment-post")
    try:
        def hand_over_complete():
            for pair in waiting:
                if pair[1] is None and pair[0].complete:
                    # a copy per task (one context cannot be entered by two threads): the caller's profile, if any
                    pair[1] = pool.submit(contextvars.copy_context().run, finish, pair[0])

        def done(wait: bool):
            # the oldest images whose masks are made; ``wait``: for the oldest one at least, so that no
            # more than about 2 x threads images sit in the pool
            while waiting and waiting[0][1] is not None and (wait or waiting[0][1].done()):
                entry, future = waiting.popleft()
                yield entry.tag, entry.image, future.result()
                wait = False

        entries = read_ahead(_prepared(items, segmenter.cnn), ahead)
        failure = None   # an item's own error (unreadable image, bad boxes): raised after the images before it
        while failure is None:
            try:
                entry = next(entries)
            except StopIteration:
                break
            except Exception as error:
                failure = error
                break
            # the CNN's and the pool's errors are not the item's: they propagate from here at once
            waiting.append([entry, None])
            batches.add(entry)
            hand_over_complete()
            yield from done(wait=len(waiting) > 2 * threads + 1)
        batches.flush()
        hand_over_complete()
        while waiting:
            if waiting[0][1] is None:   # every box went through the CNN: each image has its future
                raise RuntimeError(f"segment_many: image {waiting[0][0].tag!r} has boxes that never ran")
            yield from done(wait=True)
        if failure is not None:
            raise failure
    finally:   # a consumer that stops early (or an error) leaves no queued masks to be made
        pool.shutdown(wait=True, cancel_futures=True)


def _prepared(items, cnn):
    """Each item as an :class:`_Image` with its boxes checked and expanded, on the read-ahead thread; for a
    CNN on a GPU also its crops warped and pinned (an asynchronous copy), off the thread that feeds the GPU.
    On a CPU the crops are warped when their batch runs: there the CNN's own threads take every core."""
    from hypercolumns.data.images import image_key as content_key
    from hypercolumns.pipelines.inference.segment import _check_boxes, _check_image, _per_box

    for tag, image, boxes, categories, *rest in items:
        image, boxes = _check_image(image), _check_boxes(boxes)
        expanded = cnn.expand(boxes)
        crops = None
        if cnn.device.type == "cuda":
            with timed("cnn"):
                crops = cnn.crops(image, expanded).pin_memory()
        yield _Image(tag, image, rest[0] if rest and rest[0] is not None else content_key(image), boxes,
                     _per_box(categories, len(boxes)), expanded, crops)


class _CrossImageBatches:
    """CNN batches of ``batch_size`` boxes taken from consecutive images, each batch's heatmaps handed back
    to its images; a batch runs as soon as it is full or spans ``images_per_batch`` images."""

    def __init__(self, grid, batch_size: int, images_per_batch: int):
        self.grid, self.batch_size, self.images_per_batch = grid, batch_size, images_per_batch
        self.heatmap_size = grid.model.feature_config.heatmap_size
        self.pieces: list = []   # (_Image, start, stop)
        self.boxes = 0
        self._pinned = None

    def add(self, entry: _Image) -> None:
        start = 0
        while start < len(entry.boxes):
            stop = min(len(entry.boxes), start + self.batch_size - self.boxes)
            self.pieces.append((entry, start, stop))
            self.boxes += stop - start
            start = stop
            if self.boxes == self.batch_size or len(self.pieces) >= self.images_per_batch:
                self.flush()

    def flush(self) -> None:
        if not self.pieces:
            return
        cnn = self.grid.cnn
        with timed("cnn"):
            crops = [entry.crops[a:b] if entry.crops is not None else cnn.crops(entry.image, entry.expanded[a:b])
                     for entry, a, b in self.pieces]
            outputs = cnn.forward(self._batch(crops), self.grid.layers)
        with timed("conv trick"):
            categories = [c for entry, a, b in self.pieces for c in entry.categories[a:b]]
            heatmaps = self.grid.predictor(outputs, categories).cpu().numpy()
        offset = 0
        for entry, a, b in self.pieces:
            entry.parts.append(heatmaps[offset:offset + b - a])
            entry.filled += b - a
            offset += b - a
            if entry.complete:
                entry.crops = None
        count_boxes(offset)
        self.pieces, self.boxes = [], 0

    def _batch(self, parts: list) -> torch.Tensor:
        """The pieces' crops as one batch; for a GPU in a pinned buffer (reused: the batch before it has
        been read back, so its copy is done)."""
        if len(parts) == 1 or parts[0].device.type != "cpu" or not parts[0].is_pinned():
            return parts[0] if len(parts) == 1 else torch.cat(parts)
        count = sum(len(part) for part in parts)
        if self._pinned is None or len(self._pinned) < count or self._pinned.shape[1:] != parts[0].shape[1:]:
            self._pinned = torch.empty((self.batch_size, *parts[0].shape[1:]), dtype=parts[0].dtype,
                                       pin_memory=True)
        return torch.cat(parts, out=self._pinned[:count])
