"""From pasted heatmaps to binary masks: per pixel, or projected onto superpixels.

Projection (protocol.md, "Superpixel projection"): a superpixel's value is the
sum of the pasted heatmap over its pixels divided by its **whole** area, so a
superpixel that the box cuts is diluted by its part outside the box (where the
pasted heatmap is 0); superpixels with value ``>= threshold`` (0.4) are the
mask.  The authors used MCG's finest superpixels; SLIC and Felzenszwalb
(scikit-image) are our stand-ins.

Without superpixels (``method="none"``) the mask is the pasted heatmap
thresholded per pixel at the same ``>= threshold``.

``method="grabcut"`` (ours, not the paper's) seeds OpenCV's GrabCut with the
pasted heatmap inside the box's window (:func:`grabcut_masks`): sure
foreground where the heatmap is confident, probable labels elsewhere, sure
background outside the box; a few iterations on a window downscaled when
large, so that its cost per box stays bounded.

Which is better is an open measurement: a prototype with SLIC 500 and plain
averaging (no dilution) was worse than per pixel (MEASURED.md), so the default
is ``"none"`` until the dilution rule has been measured; every setting is a
field of :class:`SuperpixelSettings`, to be saved with the results.

Label maps are ``int32 (H, W)`` with labels ``0 .. n-1``, every label present.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

from hypercolumns.pipelines.inference.paste import heatmaps_and_boxes, paste_heatmap, paste_window

THRESHOLD = 0.4
METHODS = ("none", "slic", "felzenszwalb", "grabcut")


@dataclass(frozen=True)
class SuperpixelSettings:
    """How to cut an image into superpixels.

    Attributes
    ----------
    method : str
        ``"none"`` (per-pixel threshold; this class's default), ``"slic"`` or
        ``"felzenszwalb"``.  ``segment``, :class:`Segmenter` and the Make
        targets default to ``"none"`` too, as ``eval-sds``'s nested
        cross-validation chose on the shared training images (see README).
    n_segments, compactness : int, float
        SLIC's target number of superpixels (1000: about MCG's finest
        partition on a VOC-sized image) and its colour/space trade-off (10,
        scikit-image's default for Lab images).
    scale, sigma, min_size : float, float, int
        Felzenszwalb's observation scale (100: larger means larger segments),
        pre-smoothing (0.8, the original paper's) and smallest segment in
        pixels (20).
    iterations, sure_foreground, sure_background, context, max_side : int, float, float, float, int
        GrabCut's iterations (3), the heatmap values at and above which a
        pixel is sure foreground (0.9) and at and below which it is sure
        background (0.05), the context around the box GrabCut sees (0.1 of
        the box's side, each way) and the longest side of that window before
        it is downscaled (160 px).
    """

    method: str = "none"
    n_segments: int = 1000
    compactness: float = 10.0
    scale: float = 100.0
    sigma: float = 0.8
    min_size: int = 20
    iterations: int = 3
    sure_foreground: float = 0.9
    sure_background: float = 0.05
    context: float = 0.1
    max_side: int = 160

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"superpixel method {self.method!r} is unknown; expected one of "
                             f"{METHODS}")

    def to_dict(self) -> dict:
        return asdict(self)


SIZE_PARAMETERS = {"slic": ("n", "n_segments", int), "felzenszwalb": ("scale", "scale", float),
                   "grabcut": ("iter", "iterations", int)}
"""Per method, the size parameter a projection name may carry: ``slic-n<segments>``,
``felzenszwalb-scale<scale>``, ``grabcut-iter<iterations>``."""


def projection_settings(name: str) -> SuperpixelSettings:
    """A projection by name: ``none``, ``slic``, ``felzenszwalb``, ``grabcut`` (:class:`SuperpixelSettings`'s
    defaults), or one of the last three with its size parameter, e.g. ``slic-n300``, ``felzenszwalb-scale30``,
    ``grabcut-iter5``.

    Raises
    ------
    ValueError
        If the name is none of these.
    """
    method, _, parameter = str(name).partition("-")
    if method not in METHODS or (parameter and method not in SIZE_PARAMETERS):
        raise ValueError(f"projection {name!r} is unknown; expected none, slic, felzenszwalb, grabcut, "
                         "slic-n<segments>, felzenszwalb-scale<scale> or grabcut-iter<iterations>")
    if not parameter:
        return SuperpixelSettings(method=method)
    prefix, field, kind = SIZE_PARAMETERS[method]
    try:
        value = kind(parameter.removeprefix(prefix)) if parameter.startswith(prefix) else None
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise ValueError(f"projection {name!r}: expected {method}-{prefix}<a number > 0>")
    return SuperpixelSettings(method=method, **{field: value})


def compute_superpixels(image: np.ndarray, settings: SuperpixelSettings) -> np.ndarray:
    """Cut an image into superpixels.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    settings : SuperpixelSettings
        ``method`` must be ``"slic"`` or ``"felzenszwalb"``.

    Returns
    -------
    ndarray of shape (H, W), int32
        Labels ``0 .. n-1``, each present.
    """
    from skimage.segmentation import felzenszwalb, slic  # slow to import; only here

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HWC RGB image, got shape {image.shape}")
    if settings.method == "slic":
        labels = slic(image, n_segments=settings.n_segments, compactness=settings.compactness,
                      start_label=0, channel_axis=-1)
    elif settings.method == "felzenszwalb":
        labels = felzenszwalb(image, scale=settings.scale, sigma=settings.sigma,
                              min_size=settings.min_size, channel_axis=-1)
    else:
        raise ValueError(f"superpixel method {settings.method!r} makes no superpixels; use "
                         f"threshold_pixels for per-pixel masks")
    # relabel to 0..n-1 so that bincount lengths are the number of superpixels
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(image.shape[:2]).astype(np.int32)


class SuperpixelCache:
    """Superpixels per image, kept for the many boxes of one image.

    Parameters
    ----------
    settings : SuperpixelSettings
    capacity : int
        Images kept (least recently used dropped first).
    """

    def __init__(self, settings: SuperpixelSettings, capacity: int = 8):
        self.settings = settings
        self.capacity = capacity
        self._labels: OrderedDict = OrderedDict()
        self._lock = threading.Lock()   # segment_many's CPU threads share the cache

    def labels(self, image_key: str, image: np.ndarray) -> np.ndarray | None:
        """The image's label map (computed once per key), or None for ``none`` and ``grabcut``."""
        if self.settings.method in ("none", "grabcut"):
            return None
        with self._lock:
            if image_key in self._labels:
                self._labels.move_to_end(image_key)
                return self._labels[image_key]
        labels = compute_superpixels(image, self.settings)   # outside the lock: other images' go on
        with self._lock:
            self._labels[image_key] = labels
            while len(self._labels) > self.capacity:
                self._labels.popitem(last=False)
        return labels


    def masks(self, image_key: str, image: np.ndarray, heatmaps: np.ndarray, boxes: np.ndarray,
              threshold: float = THRESHOLD) -> list:
        """The :class:`BoxMask` of each box of one image under these settings: thresholded per pixel,
        projected onto the image's superpixels (:func:`heatmaps_to_masks`), or by GrabCut
        (:func:`grabcut_masks`)."""
        if self.settings.method == "grabcut":
            return grabcut_masks(image, heatmaps, boxes, self.settings, threshold)
        return heatmaps_to_masks(heatmaps, boxes, image.shape, self.labels(image_key, image), threshold)


def superpixel_values(labels: np.ndarray, pasted: np.ndarray) -> np.ndarray:
    """Each superpixel's sum of ``pasted`` over its whole area.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int, labels 0 .. n-1
    pasted : ndarray of shape (H, W), float
        A pasted heatmap (0 outside its box).

    Returns
    -------
    ndarray of shape (n,), float64
    """
    _check_same_shape(labels, pasted)
    sums = np.bincount(labels.ravel(), weights=pasted.ravel().astype(np.float64))
    return sums / np.bincount(labels.ravel(), minlength=len(sums))


def project_to_superpixels(labels: np.ndarray, pasted: np.ndarray,
                           threshold: float = THRESHOLD) -> np.ndarray:
    """The mask of superpixels whose diluted value is ``>= threshold``, bool ``(H, W)``."""
    return (superpixel_values(labels, pasted) >= threshold)[labels]


def threshold_pixels(pasted: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """The per-pixel mask ``pasted >= threshold``, bool ``(H, W)`` (no superpixels)."""
    return np.asarray(pasted) >= threshold


@dataclass(frozen=True)
class BoxMask:
    """One instance mask inside its window of the image, so that no image-sized array is held.

    ``mask`` covers image rows ``top .. top + h`` and columns ``left .. left + w``
    of an ``image_shape`` image; every pixel outside it is False.
    """

    mask: np.ndarray          # (h, w) bool
    top: int
    left: int
    image_shape: tuple        # (H, W)

    @property
    def window(self) -> tuple[slice, slice]:
        """The image rows and columns ``mask`` covers."""
        return (slice(self.top, self.top + self.mask.shape[0]),
                slice(self.left, self.left + self.mask.shape[1]))

    def full(self) -> np.ndarray:
        """The mask at the image's size, ``(H, W)`` bool."""
        full = np.zeros(self.image_shape, dtype=bool)
        full[self.window] = self.mask
        return full

    def rle(self) -> dict:
        """The mask as COCO RLE, encoded from its window (no image-sized array)."""
        from hypercolumns.data.masks import encode_window_rle

        return encode_window_rle(self.mask, self.top, self.left, self.image_shape)


def heatmaps_to_masks(heatmaps: np.ndarray, boxes: np.ndarray, image_shape,
                      labels: np.ndarray | None = None,
                      threshold: float = THRESHOLD) -> list[BoxMask]:
    """Masks of many boxes of one image, each in its window, without pasting a heatmap whole.

    Parameters
    ----------
    heatmaps : ndarray of shape (N, S, S), values in [0, 1]
    boxes : ndarray of shape (N, 4)
        The boxes the grids cover (expanded boxes), continuous pixel frame.
    image_shape : tuple
        ``(H, W)`` or ``(H, W, channels)``.
    labels : ndarray of shape (H, W), int, or None
        Superpixels to project onto; None thresholds per pixel.
    threshold : float

    Returns
    -------
    list of N BoxMask
        ``BoxMask.full()`` equals ``project_to_superpixels(labels, paste_heatmap(...))``
        (or ``threshold_pixels``) box by box. Per pixel, the window is the box's
        paste window; with superpixels, the bounding box of the chosen
        superpixels (which may reach past the box).
    """
    heatmaps, boxes = heatmaps_and_boxes(heatmaps, boxes)
    shape = (int(image_shape[0]), int(image_shape[1]))
    if labels is not None:
        _check_same_shape(labels, np.empty(shape))
        areas = np.bincount(labels.ravel())
        extents = _label_extents(labels, len(areas))
    masks = []
    for heatmap, box in zip(heatmaps, boxes):
        rows, cols, row_cells, col_cells = paste_window(box, shape, heatmap.shape[0])
        window = heatmap[np.ix_(row_cells, col_cells)].astype(np.float32)
        if labels is None:
            masks.append(BoxMask(window >= threshold, rows.start, cols.start, shape))
            continue
        sums = np.bincount(labels[rows, cols].ravel(), weights=window.ravel().astype(np.float64),
                           minlength=len(areas))
        chosen = sums / areas >= threshold
        masks.append(_superpixel_mask(labels, chosen, extents, shape))
    return masks


def grabcut_masks(image: np.ndarray, heatmaps: np.ndarray, boxes: np.ndarray, settings: SuperpixelSettings,
                  threshold: float = THRESHOLD) -> list[BoxMask]:
    """Masks of many boxes of one image by GrabCut seeded with each box's pasted heatmap.

    For each box, GrabCut (``cv2.GC_INIT_WITH_MASK``) runs on the box's paste
    window grown by ``settings.context`` of its side each way (clipped to the
    image), downscaled so that its longer side is at most ``settings.max_side``.
    Its initial labels: sure background outside the box and where the pasted
    heatmap is ``<= sure_background``; sure foreground where it is
    ``>= sure_foreground``; probable foreground where ``>= threshold``,
    probable background elsewhere.  Its foreground, upscaled by nearest
    neighbour, is the mask.  Where GrabCut cannot run (no foreground or no
    background seed), the mask is the per-pixel threshold's.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    heatmaps : ndarray of shape (N, S, S), values in [0, 1]
    boxes : ndarray of shape (N, 4)
        The boxes the grids cover (expanded boxes), continuous pixel frame.

    Returns
    -------
    list of N BoxMask
    """
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"grabcut needs the image as (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    heatmaps, boxes = heatmaps_and_boxes(heatmaps, boxes)
    shape = image.shape[:2]
    bgr = np.ascontiguousarray(image[..., ::-1])
    masks = []
    for heatmap, box in zip(heatmaps, boxes):
        rows, cols, _, _ = paste_window(box, shape, heatmap.shape[0])
        if rows.stop <= rows.start or cols.stop <= cols.start:
            masks.append(BoxMask(np.zeros((0, 0), bool), 0, 0, shape))
            continue
        pad_y = int(round(settings.context * (rows.stop - rows.start)))
        pad_x = int(round(settings.context * (cols.stop - cols.start)))
        top, bottom = max(rows.start - pad_y, 0), min(rows.stop + pad_y, shape[0])
        left, right = max(cols.start - pad_x, 0), min(cols.stop + pad_x, shape[1])
        pasted = paste_heatmap(heatmap, box, shape, (slice(top, bottom), slice(left, right)))
        inside = np.zeros(pasted.shape, bool)
        inside[rows.start - top:rows.stop - top, cols.start - left:cols.stop - left] = True
        mask = _grabcut_window(bgr[top:bottom, left:right], pasted, inside, settings, threshold, cv2)
        masks.append(BoxMask(mask, top, left, shape))
    return masks


def _grabcut_window(window: np.ndarray, pasted: np.ndarray, inside: np.ndarray, settings: SuperpixelSettings,
                    threshold: float, cv2) -> np.ndarray:
    """GrabCut's foreground in one window (bool, the window's size); the per-pixel mask where it cannot run."""
    seeds = np.where(pasted >= threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[pasted >= settings.sure_foreground] = cv2.GC_FGD
    seeds[(pasted <= settings.sure_background) | ~inside] = cv2.GC_BGD
    height, width = pasted.shape
    factor = min(1.0, settings.max_side / max(height, width))
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    if factor < 1:
        window = cv2.resize(window, small, interpolation=cv2.INTER_AREA)
        seeds = cv2.resize(seeds, small, interpolation=cv2.INTER_NEAREST)
    foreground = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    if not foreground.any() or foreground.all():   # GrabCut needs seeds of both kinds
        return pasted >= threshold
    cv2.setRNGSeed(0)   # GrabCut's k-means initialisation: the same masks on every run
    background, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(window), seeds, None, background, foreground_model,
                    int(settings.iterations), cv2.GC_INIT_WITH_MASK)
    except cv2.error:   # too few distinct colours for a model: keep the heatmap's own mask
        return pasted >= threshold
    result = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    if factor < 1:
        result = cv2.resize(result, (width, height), interpolation=cv2.INTER_NEAREST)
    return result.astype(bool) & inside


def _label_extents(labels: np.ndarray, count: int) -> np.ndarray:
    """Each label's bounding rows and columns, ``(n, 4)`` as ``top, bottom, left, right`` (exclusive)."""
    from scipy.ndimage import find_objects

    extents = np.zeros((count, 4), dtype=np.int64)
    for label, found in enumerate(find_objects(labels + 1, max_label=count)):
        extents[label] = (found[0].start, found[0].stop, found[1].start, found[1].stop)
    return extents


def _superpixel_mask(labels: np.ndarray, chosen: np.ndarray, extents: np.ndarray,
                     shape: tuple) -> BoxMask:
    """The chosen superpixels as a mask in their bounding window."""
    picked = extents[chosen]
    if not len(picked):
        return BoxMask(np.zeros((0, 0), dtype=bool), 0, 0, shape)
    top, bottom = picked[:, 0].min(), picked[:, 1].max()
    left, right = picked[:, 2].min(), picked[:, 3].max()
    return BoxMask(chosen[labels[top:bottom, left:right]], int(top), int(left), shape)


def _check_same_shape(labels: np.ndarray, pasted: np.ndarray) -> None:
    if labels.shape != pasted.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and pasted heatmap {pasted.shape} must be the "
                         f"same (H, W)")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be non-negative integers, got dtype {labels.dtype}")
