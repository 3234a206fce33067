"""Inference: boxes in, instance masks and heatmaps out (``hypercolumns segment``).

From Python (load once, segment many images)::

    from hypercolumns.pipelines.inference.segment import Segmenter
    segmenter = Segmenter("work/models/grid-K10.h5")
    result = segmenter.segment(image, boxes, categories)   # image HWC uint8 RGB, boxes (N, 4) xyxy
    result.masks      # (N, H, W) bool
    result.heatmaps   # (N, 50, 50) float32, probabilities over the expanded boxes
    result.scores     # (N,) mean heatmap probability inside each mask

A System 1 model (layer spec with ``inout`` / ``candidate`` blocks) refines
region candidates: pass one image-sized bool mask per box,
``segmenter.segment(image, boxes, categories, candidates=masks)``; the CLI
reads each detection's ``segmentation`` (COCO RLE or polygons) as its candidate.

Each box is expanded, cropped, warped and passed through the frozen CNN
(``extract.cnn``, the same crops as stage one); the grid runs as convolutions
on the native maps (``conv_trick``), its probabilities are interpolated by
position (Eq. 3), pasted into the image and thresholded, after averaging over
superpixels when those are on.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.data.files import write_json_atomic
from hypercolumns.extract.candidate_features import candidate_inputs
from hypercolumns.extract.cnn import FrozenCNN, check_weights_match
from hypercolumns.extract.shared_features import feature_cnn
from hypercolumns.extract.weights import resolve_weights
from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor
from hypercolumns.pipelines.inference.paste import paste_heatmaps
from hypercolumns.pipelines.inference.superpixels import (THRESHOLD, SuperpixelCache, SuperpixelSettings,
                                                heatmaps_to_masks)

# Felzenszwalb projection measured best on the shared val images (results/sds, README)
DEFAULT_SUPERPIXELS = SuperpixelSettings(method="felzenszwalb")


@dataclass
class Segmentation:
    """What :meth:`Segmenter.segment` returns for N boxes of an H x W image.

    Attributes
    ----------
    masks : ndarray of shape (N, H, W), bool
    heatmaps : ndarray of shape (N, 50, 50), float32
        Interpolated probabilities on each expanded box's grid.
    expanded_boxes : ndarray of shape (N, 4), float64
        The boxes the heatmaps cover.
    scores : ndarray of shape (N,), float64
        Mean pasted probability inside each mask (0 for an empty mask).
    """

    masks: np.ndarray
    heatmaps: np.ndarray
    expanded_boxes: np.ndarray
    scores: np.ndarray

    def pasted(self, image_shape) -> np.ndarray:
        """Heatmaps pasted into the image, ``(N, H, W)`` float32."""
        return paste_heatmaps(self.heatmaps, self.expanded_boxes, image_shape)


def model_weights_file(model, model_path) -> Path | None:
    """The weights a fine-tuned grid names (saved beside it), or None for the ImageNet ones."""
    name = model.info.get("weights_file")
    return Path(model_path).parent / name if name else None


class Segmenter:
    """A trained grid and its frozen CNN, loaded once.

    Parameters
    ----------
    model_path : str or Path
        A grid file from ``hypercolumns train-grid``.
    weights : str or Path, optional
        Network weights (default: the converted ImageNet VGG16 in the cache);
        their sha256 must be the one the model's features were made with.
    superpixels : SuperpixelSettings
        ``method="none"`` thresholds each pixel.
    threshold : float
        Binarisation threshold on the (superpixel-averaged) probability.
    batch_size : int
    device : str, optional
        Default: CUDA when available, else CPU.
    """

    def __init__(self, model_path, weights=None, superpixels: SuperpixelSettings = DEFAULT_SUPERPIXELS,
                 threshold: float = THRESHOLD, batch_size: int = 16, device=None):
        self.model = load_grid(model_path)
        config = self.model.feature_config
        weights = resolve_weights(weights or model_weights_file(self.model, model_path))
        check_weights_match(config, weights)
        self.cnn = feature_cnn(FrozenCNN(weights, padding=config.padding, device=device),
                               config.feature_source)
        if self.cnn.crop_size != config.crop_size or self.cnn.name != config.network:
            raise ValueError(f"{model_path}: made for {config.network} at {config.crop_size} px, "
                             f"the weights are {self.cnn.name} at {self.cnn.crop_size} px")
        self.predictor = ConvTrickPredictor(self.model, self.cnn.name)
        self.layers = self.model.spec.network_layers(self.cnn.name)
        self.superpixels = SuperpixelCache(superpixels)
        self.threshold = threshold
        self.batch_size = batch_size

    def layer_outputs(self, image: np.ndarray, expanded_boxes: np.ndarray) -> dict:
        """The CNN's maps for the boxes (for callers that run several models on them)."""
        return self.cnn.box_outputs(image, expanded_boxes, self.layers)

    @property
    def needs_candidates(self) -> bool:
        """Whether the model refines region candidates (System 1's blocks in its spec)."""
        return self.model.spec.needs_candidates

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray, categories,
                 candidates=None) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated probabilities ``(N, 50, 50)`` and the expanded boxes ``(N, 4)``.

        ``candidates``: one ``(H, W)`` bool mask per box, needed by a model
        with candidate blocks, ignored by any other.
        """
        boxes = _check_boxes(boxes)
        categories = _per_box(categories, len(boxes))
        candidates = self._candidates(candidates, np.shape(image)[:2], len(boxes))
        expanded = self.cnn.expand(boxes)
        heatmaps = []
        for start in range(0, len(boxes), self.batch_size):
            batch = slice(start, start + self.batch_size)
            outputs = self.layer_outputs(image, expanded[batch])
            if candidates is not None:
                outputs.update(candidate_inputs(candidates[batch], expanded[batch], self.cnn.device))
            heatmaps.append(self.predictor(outputs, categories[batch]).cpu().numpy())
        size = self.model.feature_config.heatmap_size
        heatmaps = np.concatenate(heatmaps) if heatmaps else np.zeros((0, size, size), np.float32)
        return heatmaps, expanded

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

    def segment(self, image: np.ndarray, boxes: np.ndarray, categories="__all__",
                image_key: str | None = None, candidates=None) -> Segmentation:
        """Masks for ``boxes (N, 4)`` (x0, y0, x1, y1) of ``image`` (HWC uint8 RGB).

        ``categories`` is one name or one per box (it picks each box's grid
        in a per-category model). ``image_key`` lets superpixels be cached
        across calls on the same image. ``candidates`` are the region
        candidates a System 1 model refines, one ``(H, W)`` bool mask per box.
        """
        image = _check_image(image)
        heatmaps, expanded = self.heatmaps(image, boxes, categories, candidates)
        labels = self.superpixels.labels(image_key or content_key(image), image)
        masks = heatmaps_to_masks(heatmaps, expanded, image.shape, labels, self.threshold)
        return Segmentation(masks, heatmaps, expanded, mask_scores(heatmaps, expanded, masks))


def content_key(image: np.ndarray) -> str:
    """A cache key from the pixels themselves (``id()`` of an array is reused once it is freed)."""
    import hashlib

    digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()
    return f"{image.shape}:{digest}"


def mask_scores(heatmaps: np.ndarray, expanded_boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Mean pasted probability inside each mask (0 where the mask is empty)."""
    scores = np.zeros(len(masks))
    for index, (heatmap, box, mask) in enumerate(zip(heatmaps, expanded_boxes, masks)):
        if mask.any():
            pasted = paste_heatmaps(heatmap[None], box[None], mask.shape)[0]
            scores[index] = float(pasted[mask].mean())
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

def read_detections(path) -> list:
    """A COCO results list (``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``)."""
    from hypercolumns.eval.coco import read_json

    entries = read_json(path)
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of detections (COCO results format)")
    for index, entry in enumerate(entries):
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if k not in entry]
        if missing:
            raise ValueError(f"{path}: detection {index} lacks {', '.join(missing)}")
        if len(entry["bbox"]) != 4 or entry["bbox"][2] <= 0 or entry["bbox"][3] <= 0:
            raise ValueError(f"{path}: detection {index} has bbox {entry['bbox']}; expected "
                             "[x, y, w, h] with w, h > 0")
    return entries


def category_names(annotations_path) -> dict:
    """``{category id: name}`` from a COCO JSON (ids themselves if it lists no categories)."""
    from hypercolumns.data.coco import read_coco_json

    return {c["id"]: c["name"] for c in read_coco_json(annotations_path)["categories"]}


def segment_detections(segmenter: Segmenter, annotations, image_root, detections: list,
                       viz_dir=None, show_progress: bool = True, source="detections") -> list:
    """Add ``segmentation`` (COCO RLE) to each detection; returns the new list, input order kept.

    A model that refines region candidates reads each detection's own
    ``segmentation`` (RLE or polygons) as its candidate and replaces it with
    the refined mask.  ``source`` names the detections in error messages.
    """
    from hypercolumns.data.coco import read_coco_images, segmentation_to_mask
    from hypercolumns.data.images import read_image
    from hypercolumns.eval.masks import encode_rle
    from hypercolumns.pipelines.inference.viz import save_visualization

    images = read_coco_images(annotations)
    names = category_names(annotations)
    by_image: dict = {}
    for index, entry in enumerate(detections):
        if entry["image_id"] not in images:
            raise ValueError(f"detection {index} has image_id {entry['image_id']}, which "
                             f"{annotations} does not list")
        if names and entry["category_id"] not in names:
            raise ValueError(f"detection {index} has category_id {entry['category_id']}, which "
                             f"{annotations} does not list")
        if segmenter.needs_candidates and "segmentation" not in entry:
            raise ValueError(f"{source}: detection {index} has no `segmentation`, but the model "
                             "refines region candidates and needs candidate masks: give each "
                             "detection its candidate as a COCO RLE or polygons")
        by_image.setdefault(entry["image_id"], []).append(index)
    results = [dict(entry) for entry in detections]
    for image_id, indices in tqdm(by_image.items(), desc="segment", unit="image",
                                  disable=not show_progress):
        info = images[image_id]
        image = read_image(Path(image_root) / info.file_name)
        if image.shape[:2] != (info.height, info.width):
            raise ValueError(f"{Path(image_root) / info.file_name} is {image.shape[1]}x{image.shape[0]}, "
                             f"{annotations} says {info.width}x{info.height}")
        xywh = np.array([detections[i]["bbox"] for i in indices], dtype=np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        categories = [names.get(detections[i]["category_id"], str(detections[i]["category_id"]))
                      for i in indices]
        candidates = None
        if segmenter.needs_candidates:
            candidates = np.stack([segmentation_to_mask(detections[i]["segmentation"], info.height,
                                                        info.width, f"{source}: detection {i}")
                                   for i in indices])
        result = segmenter.segment(image, boxes, categories, image_key=str(image_id),
                                   candidates=candidates)
        for mask, index in zip(result.masks, indices):
            results[index]["segmentation"] = encode_rle(mask)
        if viz_dir is not None:
            labels = [f"{c} {detections[i]['score']:.2f}" for c, i in zip(categories, indices)]
            save_visualization(image, boxes, result.pasted(image.shape), result.masks, labels,
                               Path(viz_dir) / f"{Path(info.file_name).stem}.png")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hypercolumns segment",
                                     description="segment detections into instance masks")
    parser.add_argument("--annotations", required=True, type=Path,
                        help="COCO JSON whose `images` list (id, file_name, width, height) names the images")
    parser.add_argument("--image-root", required=True, type=Path)
    parser.add_argument("--detections", required=True, type=Path,
                        help="COCO results list (for a model that refines region candidates, "
                             "each entry's `segmentation` is its candidate)")
    parser.add_argument("--model", required=True, type=Path, help="grid file from train-grid")
    parser.add_argument("--out", required=True, type=Path, help="results JSON (detections + RLE)")
    parser.add_argument("--weights", default=None, help="network weights (default: cached VGG16)")
    parser.add_argument("--no-superpixels", action="store_true", help="threshold each pixel")
    parser.add_argument("--superpixels", default=DEFAULT_SUPERPIXELS.method,
                        choices=["slic", "felzenszwalb"],
                        help="superpixel method when projection is on (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--viz", type=Path, default=None, help="write a picture per image here")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    detections = read_detections(args.detections)
    settings = SuperpixelSettings(method="none" if args.no_superpixels else args.superpixels)
    segmenter = Segmenter(args.model, args.weights, settings, args.threshold, device=args.device)
    results = segment_detections(segmenter, args.annotations, args.image_root, detections, args.viz,
                                 source=str(args.detections))
    write_json_atomic(results, args.out)
    print(f"segmented {len(results)} detections on {segmenter.cnn.device}")
    print(f"wrote {args.out}")
    if args.viz is not None:
        print(f"wrote pictures to {args.viz}/")
    return 0
