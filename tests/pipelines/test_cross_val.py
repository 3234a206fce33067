"""Fold grids that never see their fold's images, and instance IoU by size."""
import json
import sys
from pathlib import Path
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from hypercolumns.classifiers.train import TrainOptions
from hypercolumns.classifiers.selection import fold_members, image_folds
from hypercolumns.pipelines.experiments.cross_val import train_grids_without

sys.path.insert(0, str(Path(__file__).parents[1] / "classifiers"))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_each_fold_grid_leaves_out_exactly_its_images_and_is_not_retrained(tmp_path):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, n_shards=2, boxes_per_shard=24)
    records = [SimpleNamespace(image_id=f"img{i:04d}") for i in range(16)]
    ids = [r.image_id for r in records]
    left_out = {f"fold {f}": members for f, members in enumerate(fold_members(ids, image_folds(ids, 2), 2))}
    logged = []
    options = TrainOptions(C_grid=(1e-3,), n_jobs=1, show_progress=False)
    models = train_grids_without(shards, set(ids), left_out, tmp_path / "cv", 2, options, log=logged.append)
    for label, excluded in left_out.items():
        summary = json.loads((models[label].parent / "train-summary.json").read_text())
        seen = set(summary["split"]["train_images"]) | set(summary["split"]["heldout_images"])
        assert set(summary["options"]["exclude_images"]) == set(excluded) and excluded
        assert seen == set(ids) - set(excluded)
    logged.clear()
    again = train_grids_without(shards, set(ids), left_out, tmp_path / "cv", 2, replace(options, n_jobs=2),
                                log=logged.append)
    assert again == models and not logged                  # how the work is spread changes nothing
    train_grids_without(shards, set(ids), left_out, tmp_path / "cv", 2, replace(options, C_grid=(1e-2,)),
                        log=logged.append)
    assert len(logged) > 2 and "fold 0: training" in logged[0]     # another C: trained again
    with pytest.raises(ValueError, match="not among the 15 records"):
        train_grids_without(shards, set(ids[1:]), left_out, tmp_path / "cv2", 2, options)


def test_iou_by_size_bins_instances_by_their_side_relative_to_the_image():
    from hypercolumns.pipelines.experiments.cross_val import iou_by_size

    coco = {"images": [{"id": 1, "width": 100, "height": 100}],
            "annotations": [{"image_id": 1, "bbox": [0, 0, w, w]} for w in (3, 4, 30, 30, 90)]}
    rows = iou_by_size(coco, {"a": [0.1, 0.3, 0.5, 0.7, 0.9]})
    assert [r["instances"] for r in rows] == [2, 0, 0, 2, 1]       # sides 0.03, 0.04 | 0.3, 0.3 | 0.9
    assert rows[0]["a"] == 20.0 and rows[3]["a"] == 60.0 and rows[4]["a"] == 90.0
    assert np.isnan(rows[1]["a"])
