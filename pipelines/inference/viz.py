"""A picture per image, as detectron2's ``Visualizer`` draws one: each instance's mask filled in its own
colour, its outline and a label (``person 0.98``); or its heatmap and box.

Modes (:data:`VIZ_MODES`, ``segment --viz-mode``): ``masks`` (the default: filled masks at ``alpha``,
outlines, labels), ``boxes`` (the same and each box), ``heatmaps`` (each pasted heatmap in the jet
colour map, opacity ``alpha`` times its value, with outlines, boxes and labels: what the grid saw).

Drawn with OpenCV rather than matplotlib so that the picture has the image's
exact size and pixels away from every instance keep their values (a test
relies on it).  Colours are RGB until the file is written.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# distinct colours, RGB, cycled over instances (matplotlib's tab10, which detectron2's palette resembles)
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))

VIZ_MODES = ("masks", "boxes", "heatmaps")
DEFAULT_ALPHA = {"masks": 0.5, "boxes": 0.5, "heatmaps": 0.6}


def render_visualization(image: np.ndarray, boxes: np.ndarray, heatmaps_pasted: np.ndarray,
                         masks: np.ndarray, labels, alpha: float | None = None, mode: str = "masks") -> np.ndarray:
    """Draw instances over an image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, RGB
    boxes : ndarray of shape (N, 4)
        ``x0, y0, x1, y1``, continuous pixel frame (drawn clipped to the image).
    heatmaps_pasted : ndarray of shape (N, H, W), float, values in [0, 1]
        Each instance's pasted heatmap (0 outside its box); blended in with
        the jet colour map, opacity ``alpha * value``.
    masks : ndarray of shape (N, H, W), bool
        Each instance's mask; its outline is drawn.
    labels : sequence of N str
        Text for each instance, e.g. ``"person 0.93"``.
    alpha : float, optional
        Opacity of a filled mask, or of a heatmap where its value is 1 (default :data:`DEFAULT_ALPHA`).
    mode : {"masks", "boxes", "heatmaps"}
        See the module.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, RGB
    """
    if mode not in VIZ_MODES:
        raise ValueError(f"viz mode must be one of {', '.join(VIZ_MODES)}, got {mode!r}")
    alpha = DEFAULT_ALPHA[mode] if alpha is None else float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"viz alpha must lie in [0, 1], got {alpha}")
    image, boxes, heatmaps_pasted, masks = _check_inputs(image, boxes, heatmaps_pasted,
                                                         masks, labels)
    canvas = image.astype(np.float32)
    if mode == "heatmaps":
        for heatmap in heatmaps_pasted:
            heatmap = np.clip(heatmap, 0.0, 1.0)
            opacity = (alpha * heatmap)[..., None]
            canvas = canvas * (1.0 - opacity) + _jet(heatmap) * opacity
    else:
        for index, mask in enumerate(masks):   # later instances over earlier ones, as detectron2 draws
            _fill(canvas, mask, PALETTE[index % len(PALETTE)], alpha)
    canvas = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    for index, (box, mask, label) in enumerate(zip(boxes, masks, labels)):
        colour = PALETTE[index % len(PALETTE)]
        _draw_outline(canvas, mask, colour)
        if mode != "masks":
            _draw_box(canvas, box, colour)
        _draw_label(canvas, box, str(label), colour)
    return canvas


def save_visualization(image: np.ndarray, boxes: np.ndarray, heatmaps_pasted: np.ndarray,
                       masks: np.ndarray, labels, path, mode: str = "masks", alpha: float | None = None) -> Path:
    """Draw instances over an image (see :func:`render_visualization`) and write a PNG.

    Returns
    -------
    Path
        ``path``; its folder is created if missing.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"visualizations are written as PNG; got the path {path}")
    picture = render_visualization(image, boxes, heatmaps_pasted, masks, labels, alpha, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def _jet(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` in [0, 1] -> ``(H, W, 3)`` float32 RGB jet colours."""
    bgr = cv2.applyColorMap(np.rint(values * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return bgr[..., ::-1].astype(np.float32)


def _draw_outline(canvas: np.ndarray, mask: np.ndarray, colour) -> None:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(canvas, contours, -1, colour, thickness=1)


def _box_pixels(canvas: np.ndarray, box: np.ndarray) -> tuple[int, int, int, int]:
    """The first and last pixel column and row inside the box, clipped to the image."""
    height, width = canvas.shape[:2]
    x0, x1 = np.clip([np.floor(box[0]), np.ceil(box[2]) - 1], 0, width - 1).astype(int)
    y0, y1 = np.clip([np.floor(box[1]), np.ceil(box[3]) - 1], 0, height - 1).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _draw_box(canvas: np.ndarray, box: np.ndarray, colour) -> None:
    x0, y0, x1, y1 = _box_pixels(canvas, box)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness=1)


def _draw_label(canvas: np.ndarray, box: np.ndarray, label: str, colour) -> None:
    if not label:
        return
    x0, y0, _, _ = _box_pixels(canvas, box)
    font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (text_width, text_height), baseline = cv2.getTextSize(label, font, font_scale, 1)
    top = max(y0 - text_height - baseline, 0)  # above the box, or inside it at the top edge
    cv2.rectangle(canvas, (x0, top), (x0 + text_width, top + text_height + baseline), colour,
                  thickness=-1)
    cv2.putText(canvas, label, (x0, top + text_height), font, font_scale, (0, 0, 0), 1,
                cv2.LINE_AA)


def _check_inputs(image, boxes, heatmaps_pasted, masks, labels):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HWC uint8 RGB, got shape {image.shape} and dtype "
                         f"{image.dtype}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    expected = (len(boxes), *image.shape[:2])
    heatmaps_pasted = _per_instance(heatmaps_pasted, np.float32, image.shape[:2])
    masks = _per_instance(masks, bool, image.shape[:2])
    if heatmaps_pasted.shape != expected or masks.shape != expected or len(labels) != len(boxes):
        raise ValueError(f"expected one (H, W) = {image.shape[:2]} heatmap and mask and one "
                         f"label per box ({len(boxes)} boxes); got heatmaps "
                         f"{heatmaps_pasted.shape}, masks {masks.shape}, {len(labels)} labels")
    return image, boxes, heatmaps_pasted, masks


def _per_instance(values, dtype, image_size) -> np.ndarray:
    """``(N, H, W)`` array; an empty list becomes ``(0, H, W)``."""
    array = np.asarray(values, dtype=dtype)
    return array.reshape(0, *image_size) if array.size == 0 else array


PANEL_HEIGHT = 160


def render_panel(image: np.ndarray, box: np.ndarray, heatmap_pasted: np.ndarray, mask: np.ndarray,
                 ground_truth: np.ndarray | None = None, label: str = "", height: int = PANEL_HEIGHT) -> np.ndarray:
    """One detection, for looking at a failure: the crop · its heatmap · its mask · the ground truth
    (the best-overlapping instance, when given), each over the box with a tenth of its size around it,
    scaled to ``height`` px, side by side with 4 px between, the label over the first tile.

    ``image`` (H, W, 3) uint8 RGB; ``box`` x0, y0, x1, y1; ``heatmap_pasted`` (H, W) in [0, 1];
    ``mask``, ``ground_truth`` (H, W) bool.  Returns (height, width, 3) uint8 RGB.
    """
    image_height, image_width = image.shape[:2]
    x0, y0, x1, y1 = np.asarray(box, float)
    margin_x, margin_y = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    left, top = int(max(np.floor(x0 - margin_x), 0)), int(max(np.floor(y0 - margin_y), 0))
    right = int(min(np.ceil(x1 + margin_x), image_width))
    bottom = int(min(np.ceil(y1 + margin_y), image_height))
    right, bottom = max(right, left + 1), max(bottom, top + 1)
    crop = image[top:bottom, left:right].astype(np.float32)
    heat = np.clip(heatmap_pasted[top:bottom, left:right], 0.0, 1.0)
    tiles = [crop, _jet(heat), _fill(crop.copy(), mask[top:bottom, left:right], PALETTE[0], 0.5)]
    if ground_truth is not None:
        tiles.append(_fill(crop.copy(), ground_truth[top:bottom, left:right], PALETTE[2], 0.5))
    width = max(1, round((right - left) * height / (bottom - top)))
    tiles = [cv2.resize(np.clip(np.rint(t), 0, 255).astype(np.uint8), (width, height),
                        interpolation=cv2.INTER_NEAREST) for t in tiles]
    gap = np.full((height, 4, 3), 255, np.uint8)
    panel = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    if label:
        _draw_label(panel, np.array([0.0, 0.0, width, height]), label, PALETTE[0])
    return panel


def _fill(canvas: np.ndarray, mask: np.ndarray, colour, alpha: float) -> np.ndarray:
    """``canvas`` (float32 RGB) with ``mask`` filled in ``colour`` at opacity ``alpha``, in place; returned."""
    canvas[mask] = canvas[mask] * (1.0 - alpha) + np.float32(colour) * alpha
    return canvas


def save_panel(panel: np.ndarray, path) -> Path:
    """Write a :func:`render_panel` picture as PNG; its folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
