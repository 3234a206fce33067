"""bench-scale: the copies, the slope and projection arithmetic on hand numbers, and the stages run in
their own processes on synthetic images."""
import sys
from pathlib import Path

import numpy as np
import pytest

from hypercolumns.pipelines.bench.bench_scale import (SBD_TRAIN_IMAGES, SBD_VAL_IMAGES, replicated, run_stage,
                                                      scale_report, slope)

sys.path.insert(0, str(Path(__file__).parents[1] / "extract"))
from test_features import synthetic_records  # noqa: E402


def test_copies_are_the_same_images_under_new_ids(tmp_path):
    records = synthetic_records(tmp_path, count=2)
    copies = replicated(records, 3)
    assert [r.image_id for r in copies] == ["img0", "img1", "img0#copy1", "img1#copy1", "img0#copy2", "img1#copy2"]
    assert copies[4].path == records[0].path and copies[4].instances is records[0].instances


def test_slope_peak_ratio_and_projection_on_hand_numbers():
    assert slope([(100, 12.0), (200, 22.0), (400, 42.0)]) == pytest.approx(0.1)
    rows = lambda s, peaks: [{"boxes": b, "seconds": s * b, "peak_mb": p} for b, p in zip((100, 200, 400), peaks)]
    report = scale_report({"features": rows(0.1, (900, 900, 900)), "train-grid": rows(0.01, (1000, 1500, 2000)),
                           "segment": rows(0.2, (800, 800, 880))}, boxes_per_image=20)
    assert report["stages"]["train-grid"]["peak_ratio"] == pytest.approx(2.0)
    assert report["stages"]["segment"]["peak_ratio"] == pytest.approx(1.1)
    hours = report["sbd_projection_hours"]
    assert hours["features"] == pytest.approx(0.1 * SBD_TRAIN_IMAGES * 20 / 3600)
    assert hours["train-grid + fold grids"] == pytest.approx(0.01 * SBD_TRAIN_IMAGES * 20 * 3 / 3600)
    assert hours["segment (eval-sds)"] == pytest.approx(0.2 * 5 * (SBD_TRAIN_IMAGES + 3 * SBD_VAL_IMAGES) / 3600)


def test_each_stage_runs_in_its_own_process_on_the_folder_before_it(tmp_path, random_vgg16):
    from hypercolumns.extract.weights import save_weights

    weights = save_weights(random_vgg16(0), "random-vgg16", tmp_path / "cache")
    records = synthetic_records(tmp_path, count=5)       # enough images for train-grid's held-out C search
    features = run_stage("features", records, tmp_path, weights)
    assert features["boxes"] == 20 and features["peak_mb"] > 50       # 4 boxes per instance, 1 instance each
    grid = run_stage("train-grid", records, tmp_path, weights)
    assert grid["boxes"] == 20 and (tmp_path / "models" / "grid-K10.h5").is_file()
    segmented = run_stage("segment", records, tmp_path, weights)
    assert segmented["boxes"] == 5 and segmented["seconds"] > 0
    with pytest.raises(RuntimeError, match="train-grid died"):      # a stage's failure ends the run, no hang
        run_stage("train-grid", records[:1], tmp_path / "one", weights)
    assert not np.isnan(segmented["peak_mb"])
