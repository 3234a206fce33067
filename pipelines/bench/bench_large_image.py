"""``hypercolumns bench-large-image``: ``segment`` on one phone-sized photo with many detections.

A synthetic ``--width`` x ``--height`` JPEG (default 4000 x 3000, 12 MP: smooth
shading, a few hundred filled shapes and noise, so that superpixels have edges
to follow) and ``--boxes`` random detections on it (default 100, COCO's most
per image; sides of 100-1,500 px), written as COCO files and segmented by
``segment``'s own code (:func:`~hypercolumns.pipelines.inference.segment.segment_detections`)
in a fresh process, under its profile. Printed: the peak resident memory of
that process (model included) and the time of each stage.

Also timed, in its own interpreter: ``segment``'s start-up (Python, the imports
and the model's loading with its CNN), what a user waits before the first image.

Goals (issue 19): peak under 1.5 GB, whatever the number of detections; the
time after the CNN (superpixels, projection, RLE) under 10 % of the CNN's;
start-up under 3 s.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from hypercolumns.pipelines.bench.report import in_fresh_process, peak_resident_mb, write_bench_json

PEAK_GOAL_MB = 1500
AFTER_CNN_GOAL = 0.10
START_UP_GOAL_SECONDS = 3.0


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with shading, filled rectangles and circles, and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([120 + 80 * np.sin(x / 700 + c) * np.cos(y / 500 - c) for c in range(3)], axis=-1)
    image = image.astype(np.uint8)
    for _ in range(300):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cx, cy, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(20, 400))
        if rng.random() < 0.5:
            cv2.rectangle(image, (cx - r, cy - r // 2), (cx + r, cy + r // 2), colour, -1)
        else:
            cv2.circle(image, (cx, cy), r, colour, -1)
    noise = rng.normal(0, 8, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def random_detections(width: int, height: int, count: int, category_id: int, seed: int = 0) -> list:
    """``count`` COCO results on image 1: boxes of 100-1,500 px sides inside the image, falling scores."""
    rng = np.random.default_rng(seed)
    detections = []
    for index in range(count):
        w, h = (int(v) for v in rng.integers(100, 1501, 2))
        w, h = min(w, width), min(h, height)
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        detections.append({"image_id": 1, "category_id": category_id, "bbox": [x, y, w, h],
                           "score": round(1.0 - index / (2 * count), 4)})
    return detections


def write_inputs(folder: Path, category: str, width: int, height: int, boxes: int) -> None:
    """The photo (``photo.jpg``), its COCO annotations and the detections (``annotations.json``,
    ``detections.json``) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "photo.jpg"), synthetic_photo(width, height)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    annotations = {"images": [{"id": 1, "file_name": "photo.jpg", "width": width, "height": height}],
                   "categories": [{"id": 1, "name": category}], "annotations": []}
    (folder / "annotations.json").write_text(json.dumps(annotations))
    (folder / "detections.json").write_text(json.dumps(random_detections(width, height, boxes, 1)))


def _segment_profiled(model: str, folder: str, weights, superpixels: str, engine: str) -> dict:
    """In the fresh process: segment the detections under a profile; its figures and the peak MB."""
    from hypercolumns.data.detections import read_detections
    from hypercolumns.pipelines.inference.profile import Profile
    from hypercolumns.pipelines.inference.segment import Segmenter, coco_images_and_names, segment_detections
    from hypercolumns.pipelines.inference.superpixels import projection_settings

    folder = Path(folder)
    segmenter = Segmenter(model, weights, projection_settings(superpixels), device="cpu", cnn_engine=engine)
    with Profile() as profile:
        images, names = coco_images_and_names(folder / "annotations.json")
        results = segment_detections(segmenter, images, names, folder, read_detections(folder / "detections.json"),
                                     show_progress=False)
    return {"seconds": profile.seconds, "boxes": profile.boxes, "wall_seconds": profile.wall,
            "after_cnn_share": profile.after_cnn_share(), "line": profile.line(), "results": len(results),
            "peak_mb": peak_resident_mb()}


def start_up_seconds(model: Path, weights=None, engine: str = "torch") -> float:
    """Wall seconds of a new interpreter that imports ``segment``'s code and loads ``model`` (and its CNN)."""
    import subprocess
    import sys
    import time

    code = ("import sys; from hypercolumns.pipelines.inference.segment import Segmenter; "
            "Segmenter(sys.argv[1], sys.argv[2] if sys.argv[2] != '-' else None, device='cpu', cnn_engine=sys.argv[3])")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(model), str(weights) if weights else "-", engine], check=True)
    return time.perf_counter() - start


def bench_large_image(model: Path, out: Path, width: int = 4000, height: int = 3000, boxes: int = 100,
                      superpixels: str | None = None, weights=None, engine: str = "torch") -> list:
    """Write the inputs under ``out/large-image``, segment them in a fresh process, print and write the figures."""
    from hypercolumns.classifiers.model_file import load_grid
    from hypercolumns.pipelines.inference.segment import DEFAULT_SUPERPIXELS

    superpixels = superpixels or DEFAULT_SUPERPIXELS.method
    category = load_grid(model).categories[0]
    folder = Path(out) / "large-image"
    write_inputs(folder, category, width, height, boxes)
    result = in_fresh_process("bench-large-image", _segment_profiled, str(model), str(folder), weights,
                              superpixels, engine)
    result["start_up_seconds"] = start_up_seconds(model, weights, engine)
    result.update({"width": width, "height": height, "detections": boxes, "superpixels": superpixels,
                   "engine": engine, "goals": {"peak_mb": PEAK_GOAL_MB, "after_cnn_share": AFTER_CNN_GOAL,
                                                "start_up_seconds": START_UP_GOAL_SECONDS}})
    print(f"segment on a {width} x {height} photo ({width * height / 1e6:.0f} MP) with {boxes} detections, "
          f"projection {superpixels}, engine {engine}:")
    print(f"  peak resident memory {result['peak_mb']:,.0f} MB (goal < {PEAK_GOAL_MB:,} MB, model included)")
    print(f"  {result['line']} (goal < {100 * AFTER_CNN_GOAL:.0f}%)")
    print(f"  start-up (Python, imports, model and CNN loaded) {result['start_up_seconds']:.2f} s "
          f"(goal < {START_UP_GOAL_SECONDS:.0f} s)")
    return write_bench_json(result, out, "bench-large-image")
