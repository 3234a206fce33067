"""Inference: boxes in, instance masks and heatmaps out (``hypercolumns segment``).

From Python (load once; per image, what belongs to the image is computed once)::

    from hypercolumns.pipelines.inference import Segmenter
    segmenter = Segmenter("work/models/grid-K10.h5")
    segmenter.set_image(image)                       # HWC uint8 RGB: superpixels (shared mode: its maps)
    result = segmenter.predict(boxes, categories)    # boxes (N, 4) x0, y0, x1, y1; as often as wanted
    result.masks      # N BoxMask: each mask in its window (``.mask``, ``.top``, ``.left``, ``.full()``, ``.rle()``)
    result.heatmaps   # (N, 50, 50) float32, probabilities over the expanded boxes
    result.scores     # (N,) mean heatmap probability inside each mask
    result.full_masks(), result.rles()               # (N, H, W) bool / COCO RLE, on request

``segmenter.segment(image, boxes, categories)`` is the one-call form.

A System 1 model (layer spec with ``inout`` / ``candidate`` blocks) refines
region candidates: pass one image-sized bool mask per box,
``segmenter.predict(boxes, categories, candidates=masks)``; the CLI reads each
detection's ``segmentation`` (COCO RLE or polygons) as its candidate.

Each box is expanded, cropped, warped and passed through the frozen CNN
(``extract.cnn``, the same crops as stage one); the grid runs as convolutions
on the native maps (``conv_trick``), its probabilities are interpolated by
position (Eq. 3), pasted into the image and thresholded, after averaging over
superpixels when those are on (``superpixels``).
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hypercolumns.data.coco import read_coco_json
from hypercolumns.data.detections import (check_box_format, read_detections, read_detections_of_files,
                                          select_detections, wholly_outside)
from hypercolumns.data.errors import InputError
from hypercolumns.data.files import write_json_atomic
from hypercolumns.pipelines.inference.engine import Engine, images_of_detections
from hypercolumns.pipelines.inference.paste import paste_heatmap, paste_heatmaps
from hypercolumns.pipelines.inference.profile import Profile, timed
from hypercolumns.pipelines.inference.superpixels import (THRESHOLD, SuperpixelCache, SuperpixelSettings,
                                                          projection_settings)

# the projection `make eval-sds` chooses by cross-validation on the shared training images (README,
# *How choices are made*): per-pixel thresholding beat Felzenszwalb and SLIC on all three outer folds
DEFAULT_SUPERPIXELS = SuperpixelSettings(method="none")


@dataclass
class Segmentation:
    """What :meth:`Segmenter.predict` returns for N boxes of an H x W image.

    Attributes
    ----------
    masks : list of N BoxMask
        Each instance mask in its window of the image (no image-sized arrays).
    heatmaps : ndarray of shape (N, 50, 50), float32
        Interpolated probabilities on each expanded box's grid.
    expanded_boxes : ndarray of shape (N, 4), float64
        The boxes the heatmaps cover.
    scores : ndarray of shape (N,), float64
        Mean pasted probability inside each mask (0 for an empty mask).
    image_shape : tuple
        ``(H, W)``.
    """

    masks: list
    heatmaps: np.ndarray
    expanded_boxes: np.ndarray
    scores: np.ndarray
    image_shape: tuple
    _rles: list | None = field(default=None, repr=False, compare=False)

    def full_masks(self) -> np.ndarray:
        """The masks at the image's size, ``(N, H, W)`` bool."""
        full = np.zeros((len(self.masks), *self.image_shape), dtype=bool)
        for index, mask in enumerate(self.masks):
            full[index][mask.window] = mask.mask
        return full

    def rles(self) -> list:
        """The masks as COCO RLE, each encoded from its window (no image-sized array)."""
        return self._rles if self._rles is not None else [mask.rle() for mask in self.masks]

    def encode(self) -> list:
        """:meth:`rles`, kept for later calls (``segment_many`` encodes on its CPU threads)."""
        self._rles = self.rles()
        return self._rles

    def pasted(self) -> np.ndarray:
        """Heatmaps pasted into the image, ``(N, H, W)`` float32."""
        return paste_heatmaps(self.heatmaps, self.expanded_boxes, self.image_shape)


class Segmenter:
    """A trained grid and its frozen CNN, loaded once.

    Parameters
    ----------
    model_path : str or Path
        A grid file from ``hypercolumns train-grid``.
    weights : str or Path, optional
        Network weights (default: those the model names, else the converted
        ImageNet VGG16 in the cache); their sha256 must be the one the model's
        features were made with.
    superpixels : SuperpixelSettings
        ``method="none"`` thresholds each pixel.
    threshold : float
        Binarisation threshold on the (superpixel-averaged) probability.
    batch_size : int
    device : str, optional
        Default: CUDA when available, else CPU.
    engine : Engine, optional
        Share loaded networks with other segmenters.
    cnn_engine : str
        What runs the CNN's forward when no ``engine`` is given (:mod:`~hypercolumns.extract.engines`:
        ``torch`` fp32 by default, ``torch-nchw``, ``torch-bf16``, ``onnxruntime``, ``auto``).
    """

    def __init__(self, model_path, weights=None, superpixels: SuperpixelSettings = DEFAULT_SUPERPIXELS,
                 threshold: float = THRESHOLD, batch_size: int = 16, device=None, engine=None,
                 cnn_engine: str = "torch"):
        self.engine = engine or Engine(device=device, batch_size=batch_size, engine=cnn_engine)
        self.grid = self.engine.grid(model_path, weights)
        self.superpixels = SuperpixelCache(superpixels)
        self.threshold = threshold
        self._image = self._image_key = None

    @property
    def model(self):
        return self.grid.model

    @property
    def cnn(self):
        return self.grid.cnn

    @property
    def needs_candidates(self) -> bool:
        """Whether the model refines region candidates (System 1's blocks in its spec)."""
        return self.grid.needs_candidates

    def set_image(self, image: np.ndarray, image_key: str | None = None) -> None:
        """Take ``image`` (HWC uint8 RGB) for the next :meth:`predict` calls.

        Computes what belongs to the image once: its superpixels (cached by
        ``image_key``, default a key of its pixels) and, for a grid on shared
        whole-image features, its feature maps.
        """
        from hypercolumns.data.images import image_key as content_key

        image = _check_image(image)
        self._image_key = image_key or content_key(image)
        with timed("superpixels"):
            self.superpixels.labels(self._image_key, image)   # the image's superpixels, cut once for its boxes
        if hasattr(self.cnn, "image_frame"):
            self.cnn.image_frame(image, self.grid.layers)
        self._image = image

    def predict(self, boxes: np.ndarray, categories="__all__", candidates=None) -> Segmentation:
        """Masks for ``boxes (N, 4)`` (x0, y0, x1, y1) of the image given to :meth:`set_image`.

        ``categories`` is one name or one per box (it picks each box's grid in
        a per-category model). ``candidates`` are the region candidates a
        System 1 model refines, one ``(H, W)`` bool mask per box.
        """
        if self._image is None:
            raise RuntimeError("call set_image(image) before predict(boxes)")
        heatmaps, expanded = self.heatmaps(self._image, boxes, categories, candidates)
        return self.masks_of(self._image, self._image_key, heatmaps, expanded)

    def masks_of(self, image: np.ndarray, image_key: str, heatmaps: np.ndarray,
                 expanded_boxes: np.ndarray) -> Segmentation:
        """The :class:`Segmentation` of ``heatmaps (N, 50, 50)`` over ``expanded_boxes`` of ``image``: its
        superpixels (cached by ``image_key``), each mask projected and scored. Safe to call from several
        threads at once (``segment_many``'s)."""
        with timed("superpixels"):
            self.superpixels.labels(image_key, image)
        with timed("projection"):
            masks = self.superpixels.masks(image_key, image, heatmaps, expanded_boxes, self.threshold)
        return Segmentation(masks, heatmaps, expanded_boxes, mask_scores(heatmaps, expanded_boxes, masks),
                            image.shape[:2])

    def segment_many(self, items, batch_size: int | None = None, threads: int | None = None):
        """``(tag, image, Segmentation)`` for each ``(tag, image, boxes, categories[, image_key[, candidates]])``
        of the iterable ``items`` (``tag``: anything, handed back), in order, with the CNN kept busy: images
        read ahead, the boxes of consecutive images in shared batches, the masks and RLE made on ``threads``
        CPU threads meanwhile (:mod:`~.stream`). The same masks as :meth:`segment` on each image."""
        from hypercolumns.pipelines.inference.stream import segment_stream

        return segment_stream(self, items, batch_size, threads)

    def segment(self, image: np.ndarray, boxes: np.ndarray, categories="__all__",
                image_key: str | None = None, candidates=None) -> Segmentation:
        """``set_image(image, image_key)`` then ``predict(boxes, categories, candidates)``."""
        self.set_image(image, image_key)
        return self.predict(boxes, categories, candidates)

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray, categories,
                 candidates=None) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated probabilities ``(N, 50, 50)`` and the expanded boxes ``(N, 4)``."""
        boxes = _check_boxes(boxes)
        categories = _per_box(categories, len(boxes))
        candidates = self._candidates(candidates, np.shape(image)[:2], len(boxes))
        [heatmaps] = self.engine.heatmaps(image, boxes, categories, [self.grid], candidates)
        return heatmaps, self.cnn.expand(boxes)

    def _candidates(self, candidates, image_shape: tuple, count: int) -> np.ndarray | None:
        """The candidate masks as a checked ``(N, H, W)`` bool stack, or None when the model takes none."""
        if not self.needs_candidates:
            return None
        if candidates is None:
            raise ValueError(f"the model's layer spec {self.model.spec} has candidate blocks: it "
                             "refines region candidates and needs candidate masks, one per box")
        stack = np.asarray(candidates, dtype=bool)
        if stack.shape != (count, *image_shape):
            raise ValueError(f"expected {count} candidate masks of the image's size {image_shape}, "
                             f"got an array of shape {stack.shape}")
        return stack


def mask_scores(heatmaps: np.ndarray, expanded_boxes: np.ndarray, masks: list) -> np.ndarray:
    """Mean pasted probability inside each :class:`BoxMask` (0 where the mask is empty)."""
    scores = np.zeros(len(masks))
    for index, (heatmap, box, mask) in enumerate(zip(heatmaps, expanded_boxes, masks)):
        if mask.mask.any():
            pasted = paste_heatmap(heatmap, box, mask.image_shape, window=mask.window)
            scores[index] = float(pasted[mask.mask].mean())
    return scores


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HWC uint8 RGB image, got shape {image.shape} dtype {image.dtype}")
    return image


def _check_boxes(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4) as x0, y0, x1, y1, got {boxes.shape}")
    if len(boxes) and not ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all():
        bad = np.flatnonzero(~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])))[0]
        raise ValueError(f"box {bad} has no area: {boxes[bad].tolist()} (expected x0 < x1, y0 < y1)")
    return boxes


def _per_box(categories, count: int) -> list:
    if isinstance(categories, str):
        return [categories] * count
    categories = list(categories)
    if len(categories) != count:
        raise ValueError(f"got {len(categories)} categories for {count} boxes")
    return categories


# ------------------------------------------------------------------ files

def coco_images_and_names(annotations_path, data: dict | None = None) -> tuple[dict, dict]:
    """``({image id: CocoImage}, {category id: name})`` of a COCO JSON (no names if it lists no categories);
    ``data``: the file as :func:`~hypercolumns.data.coco.read_coco_json` read it, if the caller has it."""
    from hypercolumns.data.coco import coco_images, read_coco_json

    data = read_coco_json(annotations_path) if data is None else data
    return coco_images(data, annotations_path), {c["id"]: c["name"] for c in data["categories"]}


def segment_detections(segmenter: Segmenter, images: dict, names: dict, image_root, detections: list,
                       viz_dir=None, show_progress: bool = True, source="detections",
                       described_in="the annotations", viz_mode: str = "masks",
                       viz_alpha: float | None = None, panels_of: dict | None = None) -> list:
    """Add ``segmentation`` (COCO RLE) to each detection; returns the new list, input order kept.

    ``images``: ``{image id: CocoImage}`` (file name under ``image_root``, size), ``names``:
    ``{category id: name}`` (empty: ids stand for names), both as ``described_in`` lists them
    (:func:`coco_images_and_names` of a COCO JSON).  A model that refines region candidates reads
    each detection's own ``segmentation`` (RLE or polygons) as its candidate and replaces it with
    the refined mask.  ``source`` names the detections in error messages; ``viz_mode``, ``viz_alpha``:
    the pictures' (:func:`~.viz.render_visualization`); ``panels_of``: with ``viz_dir``, also a panel per
    detection (:func:`~.viz.render_panel`) in ``viz_dir/panels/<image>-<detection>.png``, its ground truth
    the best-overlapping of ``panels_of(image id)`` (a list of masks; empty: no ground truth).
    """
    from hypercolumns.data.masks import encode_rle, segmentation_to_mask
    from hypercolumns.pipelines.inference.viz import save_visualization

    for index, entry in enumerate(detections):
        if entry["image_id"] not in images:
            raise InputError(f"{source}: detection {entry_number(entry, index)} has image_id "
                             f"{entry['image_id']!r}, which {described_in} does not list")
        if names and entry["category_id"] not in names:
            raise InputError(f"{source}: detection {entry_number(entry, index)} has category_id "
                             f"{entry['category_id']!r}, which {described_in} does not list")
        if segmenter.needs_candidates and "segmentation" not in entry:
            raise InputError(f"{source}: detection {entry_number(entry, index)} has no `segmentation`, "
                             "but the model "
                             "refines region candidates and needs candidate masks: give each "
                             "detection its candidate as a COCO RLE or polygons")
    outside = boxes_outside_their_images(detections, images, source)
    results = [dict(entry) for entry in detections]
    for index in outside:  # kept, so that results stay aligned with the input
        image = images[detections[index]["image_id"]]
        results[index]["segmentation"] = encode_rle(np.zeros((image.height, image.width), bool))

    def image_file(image_id):
        info = images[image_id]
        return Path(image_root) / info.file_name, (info.height, info.width)

    def work():   # read on segment_many's read-ahead thread; an InputError surfaces in its place
        for image_id, image, indices, boxes in images_of_detections(detections, image_file, show_progress,
                                                                    str(described_in)):
            inside = [k for k, i in enumerate(indices) if i not in outside]
            if not inside:
                continue
            indices, boxes = [indices[k] for k in inside], boxes[inside]
            categories = [names.get(detections[i]["category_id"], str(detections[i]["category_id"]))
                          for i in indices]
            candidates = None
            if segmenter.needs_candidates:
                candidates = np.stack([segmentation_to_mask(detections[i]["segmentation"], *image.shape[:2],
                                                            f"{source}: detection {entry_number(detections[i], i)}")
                                       for i in indices])
            yield (image_id, indices, categories, boxes), image, boxes, categories, str(image_id), candidates

    for (image_id, indices, categories, boxes), image, result in segmenter.segment_many(work()):
        for rle, index in zip(result.rles(), indices):
            results[index]["segmentation"] = rle
        if viz_dir is not None:
            labels = [f"{c} {detections[i]['score']:.2f}" for c, i in zip(categories, indices)]
            with timed("pictures"):
                save_visualization(image, boxes, result.pasted(), result.full_masks(), labels,
                                   Path(viz_dir) / f"{Path(images[image_id].file_name).stem}.png",
                                   viz_mode, viz_alpha)
                if panels_of is not None:
                    save_panels(image, boxes, result, labels, [entry_number(detections[i], i) for i in indices],
                                panels_of(image_id), Path(viz_dir) / "panels" / Path(images[image_id].file_name).stem)
    return results


def boxes_outside_their_images(detections: list, images: dict, source) -> set:
    """Indices of the detections whose box does not touch its image; warns once for each.

    Such a box has no pixel to segment: it gets an empty mask, not an error (a
    detector may emit one), but the user is told, since it usually means a
    wrong image id or box format.
    """
    outside = set()
    for index, entry in enumerate(detections):
        image = images[entry["image_id"]]
        if wholly_outside(entry["bbox"], image.height, image.width):
            outside.add(index)
            warnings.warn(f"{source}: detection {entry_number(entry, index)} has bbox {entry['bbox']}, "
                          f"wholly outside image "
                          f"{entry['image_id']} ({image.width}x{image.height}); its mask is empty",
                          stacklevel=2)
    return outside


def ground_truth_masks(annotations, data: dict, listed: dict):
    """``masks_of(image id) -> [mask, ...]``: the instances of one image of the COCO file ``annotations``
    (``data``, as read; crowd regions left out), decoded only when a panel asks for them (a file of COCO
    val's size holds ~36k masks)."""
    from hypercolumns.data.masks import segmentation_to_mask

    by_image: dict = {}
    for index, annotation in enumerate(data["annotations"]):
        if isinstance(annotation, dict) and not annotation.get("iscrowd") and "segmentation" in annotation:
            by_image.setdefault(annotation.get("image_id"), []).append((index, annotation["segmentation"]))

    def masks_of(image_id) -> list:
        image = listed[image_id]
        return [segmentation_to_mask(segmentation, image.height, image.width, f"{annotations}: annotation {index}")
                for index, segmentation in by_image.get(image_id, [])]
    return masks_of


def entry_number(entry: dict, index: int) -> int:
    """The detection's number in its file (``_entry``, where the list was filtered), else ``index``."""
    return entry.get("_entry", index)


def save_panels(image, boxes, result, labels, numbers, ground_truth: list, stem: Path) -> None:
    """One :func:`~.viz.render_panel` per detection of an image, as ``<stem>-<detection number>.png``."""
    from hypercolumns.eval.masks import mask_iou
    from hypercolumns.pipelines.inference.viz import render_panel, save_panel

    pasted, masks = result.pasted(), result.full_masks()
    overlaps = mask_iou(masks, ground_truth) if ground_truth else None
    for k, number in enumerate(numbers):
        best = ground_truth[int(np.argmax(overlaps[k]))] if ground_truth else None
        save_panel(render_panel(image, boxes[k], pasted[k], masks[k], best, labels[k]),
                   stem.with_name(f"{stem.name}-{number}.png"))


def read_category_map(path) -> dict:
    """``{your name: the grid's name}`` of a ``--category-map`` JSON object (empty without one)."""
    from hypercolumns.data.errors import require_file
    from hypercolumns.data.files import read_json

    if path is None:
        return {}
    mapping = read_json(require_file(path, "category map"))
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise InputError(f"{path}: expected a JSON object from your category names to the grid's, "
                         'e.g. {"motorcycle": "motorbike"}')
    return mapping


def grid_category_names(entries: list, names: dict, mapping: dict, model, source) -> dict:
    """``{category id: the grid's name}`` for every detection's category: its name (or its id as text
    where there are no names) through ``mapping``; InputError naming the first detection whose category
    the model serves with no grid (a per-category model without it and without an agnostic grid)."""
    served = {}
    for index, entry in enumerate(entries):
        category_id = entry["category_id"]
        if category_id in served or names and category_id not in names:   # the latter: refused later, by id
            continue
        name = str(names.get(category_id, category_id))
        name = mapping.get(name, name)
        try:
            model.category_key(name)
        except ValueError:
            raise InputError(f"{source}: detection {entry_number(entry, index)} has category {name!r}, for "
                             "which the model has no "
                             f"grid (it has {', '.join(model.categories)}); map your names onto its with "
                             "--category-map") from None
        served[category_id] = name
    return {**names, **served}


def as_given(result: dict) -> dict:
    """A result as the file gave its detection, plus ``segmentation``: the box in its own format, the
    entry's own keys and values where it named its image by file (no image id made up)."""
    result.pop("_entry", None)
    if "bbox_as_given" in result:
        result["bbox"] = result.pop("bbox_as_given")
    if "as_given" in result:
        result = {**result["as_given"], "segmentation": result["segmentation"]}
    return result


def segment_file(annotations: Path | None, image_root: Path | None, detections: Path, model: Path, out: Path,
                 weights=None, superpixels: str = DEFAULT_SUPERPIXELS.method,
                 threshold: float = THRESHOLD, viz: Path | None = None, device=None,
                 profile: bool = False, engine: str = "torch", box_format: str | None = None,
                 confidence_threshold: float | None = None, max_per_image: int | None = None,
                 images: Path | None = None, viz_mode: str = "masks", viz_alpha: float | None = None,
                 category_map: Path | None = None, viz_panels: bool = False) -> Path:
    """Segment a COCO results file's detections and write them with their RLE masks to ``out``.

    The images are those ``annotations`` (a COCO JSON) lists under ``image_root``; or, with ``images``
    (a folder) and neither of those, the files the detections name
    (:func:`~hypercolumns.data.detections.read_detections_of_files`: each entry's ``file_name``, or an
    ``images`` list inside the detections file), their sizes read from the files.  ``category_map``: a
    JSON object from the detections' category names (or ids, as text) to the grid's, where they differ;
    a detection whose category no grid of the model serves is refused before any image is read.
    ``viz_panels``: with ``viz``, also a panel per detection (crop, heatmap, mask, and with
    ``annotations`` the best-overlapping ground truth) in ``viz/panels/``.

    ``box_format``: the file's ``bbox`` as ``xywh`` (COCO) or ``xyxy``; the results keep each box as
    given. Left out (None: xywh), a file whose boxes mostly reach past their images but fit in xyxy is
    refused naming it; given, the format is taken as said. ``confidence_threshold``, ``max_per_image``:
    only the detections scored at least that, and at most that many per image, the highest scored
    (:func:`~hypercolumns.data.detections.select_detections`), are segmented and written.

    ``superpixels``: the projection by name (:func:`~.superpixels.projection_settings`: ``"none"``
    thresholds each pixel; ``slic``, ``felzenszwalb``, ``grabcut``, with or without a size);
    ``viz``: a folder for one picture per image; ``profile``: also print the seconds of each stage
    (:mod:`~.profile`; the model's loading before it is not counted); ``engine``: what runs the CNN
    (a name or ``auto``, :class:`~hypercolumns.extract.cnn.FrozenCNN`).  Prints what it wrote.
    """
    try:
        projection = projection_settings(superpixels)
    except ValueError as error:
        raise InputError(f"--superpixels: {error}") from None
    if viz_alpha is not None and not 0.0 <= viz_alpha <= 1.0:
        raise InputError(f"--viz-alpha must lie in [0, 1], got {viz_alpha}")
    by_files = images is not None
    if by_files and (annotations or image_root) or not by_files and not (annotations and image_root):
        raise InputError("give --annotations COCO.json with --image-root DIR, or --images DIR with detections "
                         "that name their files")
    format_given, box_format = box_format is not None, box_format or "xywh"
    if images is None:
        entries = read_detections(detections, box_format)
        coco = read_coco_json(annotations)           # once: also the panels' ground truth
        listed, names = coco_images_and_names(annotations, coco)
        described_in = str(annotations)
    else:
        entries, listed, names = read_detections_of_files(detections, images, box_format)
        described_in, image_root = str(detections), images
    entries = [{**entries[i], "_entry": i} for i in select_detections(entries, confidence_threshold, max_per_image)]
    sizes = {image_id: (info.height, info.width) for image_id, info in listed.items()}
    if not format_given:
        check_box_format([e for e in entries if e["image_id"] in sizes], sizes, box_format, detections)
    segmenter = Segmenter(model, weights, projection, threshold, device=device, cnn_engine=engine)
    names = grid_category_names(entries, names, read_category_map(category_map), segmenter.model, detections)
    panels_of = None
    if viz_panels and viz is not None:
        panels_of = ground_truth_masks(annotations, coco, listed) if annotations is not None else (lambda image_id: [])
    timings = Profile(synchronize=True)
    with timings if profile else nullcontext():
        results = segment_detections(segmenter, listed, names, image_root, entries, viz, source=str(detections),
                                     described_in=described_in, viz_mode=viz_mode, viz_alpha=viz_alpha,
                                     panels_of=panels_of)
    outside = sum(wholly_outside(r["bbox"], *r["segmentation"]["size"]) for r in results)
    results = [as_given(result) for result in results]
    write_json_atomic(results, out)
    print(f"segmented {len(results)} detections on {segmenter.cnn.device}"
          + (f" ({outside} wholly outside their images: empty masks)" if outside else ""))
    if profile:
        print(timings.line())
    print(f"wrote {out}")
    if viz is not None:
        print(f"wrote pictures to {viz}/")
    return Path(out)
