"""bench-large-image: the synthetic photo and detections, and the profiled segment run in a fresh process."""
import json

import cv2
import numpy as np

from hypercolumns.pipelines.bench.bench_large_image import bench_large_image, random_detections


def test_detections_lie_inside_the_image_with_sides_in_range():
    detections = random_detections(1200, 900, 50, category_id=3, seed=1)
    boxes = np.array([d["bbox"] for d in detections])
    assert len(detections) == 50 and {d["category_id"] for d in detections} == {3}
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 1200).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 900).all()
    assert (boxes[:, 2:] >= 100).all() and (boxes[:, 2] <= 1200).all() and (boxes[:, 3] <= 900).all()
    scores = [d["score"] for d in detections]
    assert scores == sorted(scores, reverse=True)


def test_the_profiled_run_segments_every_detection_and_reports_its_peak(tmp_path, random_grid_file, random_vgg16):
    weights_path, model_path = random_grid_file(tmp_path)
    weights = random_vgg16(0)   # the grid file's weights
    bench_large_image(model_path, tmp_path / "out", width=640, height=480, boxes=3, weights=str(weights_path))
    result = json.loads((tmp_path / "out" / "bench-large-image.json").read_text())
    assert result["results"] == 3 and result["boxes"] == 3
    assert cv2.imread(str(tmp_path / "out" / "large-image" / "photo.jpg")).shape == (480, 640, 3)
    # the child's peak holds at least the photo's decoded pixels and the network's weights
    weight_mb = sum(t.numel() * t.element_size() for t in weights.state_dict.values()) / 2 ** 20
    assert result["peak_mb"] > weight_mb + 640 * 480 * 3 / 2 ** 20
    assert result["seconds"]["cnn"] > 0 and 0 <= result["after_cnn_share"]
    assert 0 < result["start_up_seconds"] < 120
