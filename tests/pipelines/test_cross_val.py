"""Cross-validated AP^r: folds by image, grids that never see their fold, pooled results in order."""
import json
import sys
from pathlib import Path
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from hypercolumns.classifiers.train import TrainOptions
from hypercolumns.data.datasets import load_val_records
from hypercolumns.classifiers.selection import image_folds
from hypercolumns.pipelines.experiments.cross_val import cross_validated_apr, train_fold_grids
from hypercolumns.pipelines.experiments.runner import System, run_oracle_evaluation

sys.path.insert(0, str(Path(__file__).parents[1] / "classifiers"))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_each_fold_grid_leaves_out_exactly_its_images_and_is_not_retrained(tmp_path):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, n_shards=2, boxes_per_shard=24)
    records = [SimpleNamespace(image_id=f"img{i:04d}") for i in range(16)]
    logged = []
    options = TrainOptions(C_grid=(1e-3,), n_jobs=1, show_progress=False)
    models = train_fold_grids({"synthetic": shards}, records, 2, tmp_path / "cv", K=2,
                              options=options, log=logged.append)
    folds = image_folds([r.image_id for r in records], 2)
    for fold in range(2):
        summary = json.loads((models[("synthetic", fold)].parent / "train-summary.json").read_text())
        seen = set(summary["split"]["train_images"]) | set(summary["split"]["heldout_images"])
        in_fold = {r.image_id for r, f in zip(records, folds) if f == fold}
        assert set(summary["options"]["exclude_images"]) == in_fold
        assert seen == {r.image_id for r in records} - in_fold
    logged.clear()
    again = train_fold_grids({"synthetic": shards}, records, 2, tmp_path / "cv", K=2,
                             options=replace(options, n_jobs=2), log=logged.append)
    assert again == models and not logged                  # how the work is spread changes nothing
    train_fold_grids({"synthetic": shards}, records, 2, tmp_path / "cv", K=2,
                     options=replace(options, C_grid=(1e-2,)), log=logged.append)
    assert len(logged) > 2 and "fold 0: training" in logged[0]     # another C: trained again
    with pytest.raises(ValueError, match="not among the 15 records"):
        train_fold_grids({"synthetic": shards}, records[1:], 2, tmp_path / "cv2", K=2, options=options)
    with pytest.raises(ValueError, match="another fold split"):
        cross_validated_apr(models, records, "unused", tmp_path / "out", folds=2, fold_seed=1)


def test_pooled_results_equal_one_run_over_all_images(data_root, tmp_path):
    records = load_val_records(data_root)[:6]
    models = {(name, fold): None for name in ("box a", "box b") for fold in range(2)}
    report = cross_validated_apr(models, records, data_root, tmp_path / "cv", folds=2,
                                 replicates=20)
    reference = run_oracle_evaluation([System("whole box", None)], records, data_root,
                                      tmp_path / "ref", seeds=(0,), viz=False)["whole box"][0]
    for name in ("box a", "box b"):
        summary = report["summaries"][name][0]
        assert summary["APr@0.5"] == reference["APr@0.5"]
        np.testing.assert_array_equal(summary["instance_iou"], reference["instance_iou"])
    pooled = json.loads((tmp_path / "cv" / "results" / "box_a_seed0.json").read_text())
    assert pooled == json.loads((tmp_path / "ref" / "results" / "whole_box_seed0.json").read_text())
    assert report["bootstrap"]["APr@0.5"]["interval"] == [0.0, 0.0]
    assert report["instances"] == sum(len(r.instances) for r in records)


def test_iou_by_size_bins_instances_by_their_side_relative_to_the_image():
    from hypercolumns.pipelines.experiments.cross_val import iou_by_size

    coco = {"images": [{"id": 1, "width": 100, "height": 100}],
            "annotations": [{"image_id": 1, "bbox": [0, 0, w, w]} for w in (3, 4, 30, 30, 90)]}
    rows = iou_by_size(coco, {"a": [0.1, 0.3, 0.5, 0.7, 0.9]})
    assert [r["instances"] for r in rows] == [2, 0, 0, 2, 1]       # sides 0.03, 0.04 | 0.3, 0.3 | 0.9
    assert rows[0]["a"] == 20.0 and rows[3]["a"] == 60.0 and rows[4]["a"] == 90.0
    assert np.isnan(rows[1]["a"])


def test_compare_shared_rows_carry_the_bootstrap_and_the_mean_over_seeds():
    from hypercolumns.pipelines.experiments.compare_shared import cross_val_rows

    entry = {"a": 50.0, "b": 48.0, "difference": 2.0, "interval": [-1.04, 4.96], "share_a_lower": 0.1}
    report = {"seeds": [0, 1], "bootstrap": {"APr@0.5": entry, "APr@0.7": dict(entry, a=30.0)},
              "summaries": {"per-box": {0: {"mean_best_iou": 50.0}, 1: {"mean_best_iou": 52.0}},
                            "shared": {0: {"mean_best_iou": 47.0}, 1: {"mean_best_iou": 48.0}}}}
    rows = cross_val_rows(report)
    assert [r["threshold"] for r in rows] == ["APr@0.5", "APr@0.7"] and rows[1]["per-box"] == 30.0
    assert rows[0]["shared APr"] == 48.0 and rows[0]["shared"] == "shared"
    assert rows[0]["95% interval"] == "[-1.0, 5.0]" and rows[0]["seeds"] == "0 1"
    assert rows[0]["replicates with shared > per-box"] == "10%"
    assert rows[0]["mean best IoU per-box"] == 51.0 and rows[0]["mean best IoU shared"] == 47.5


def test_compare_shared_gives_val_the_margin_the_training_folds_score_best(tmp_path, monkeypatch):
    import hypercolumns.data.datasets as datasets
    import hypercolumns.eval.bootstrap as bootstrap
    from hypercolumns.classifiers.selection import ReportedImageError
    from hypercolumns.pipelines.experiments import compare_shared, cross_val

    train = [SimpleNamespace(image_id=f"train{i}") for i in range(6)]
    val = [SimpleNamespace(image_id=f"val{i}") for i in range(2)]
    grids = {}
    for name in ("per-box", "margin16", "margin0"):
        grids[name] = tmp_path / f"{name}.h5"
        grids[name].write_bytes(b"")
    # scripted scores: margin 0 is better on the training folds (criterion: mean of AP^r@0.5 and @0.7)
    scores = {"per-box": (60.0, 30.0), "shared@224 margin 16": (50.0, 20.0), "shared@224 margin 0": (55.0, 21.0)}
    monkeypatch.setattr(compare_shared, "candidate_name", lambda path: f"shared@224 margin {Path(path).stem[6:]}")
    monkeypatch.setattr(datasets, "load_val_records", lambda root: val)
    monkeypatch.setattr(datasets, "load_training_records", lambda root: train)
    monkeypatch.setattr(cross_val, "train_fold_grids", lambda shards, records, folds, work: {
        (name, f): tmp_path / f"{name}-{f}.h5" for name in shards for f in range(folds)})
    monkeypatch.setattr(cross_val, "cross_validated_apr", lambda models, records, root, out, folds, seeds, device: {
        "summaries": {name: {s: {"APr@0.5": a5, "APr@0.7": a7, "mean_best_iou": 50.0} for s in seeds}
                      for name, (a5, a7) in scores.items()},
        "seeds": list(seeds), "images": len(records), "instances": 9, "classes_with_instances": 2,
        "iou_by_size": []})
    entry = {"a": 1.0, "b": 1.0, "difference": 0.0, "interval": [0.0, 0.0], "share_a_lower": 0.0}
    monkeypatch.setattr(bootstrap, "paired_bootstrap_of_summaries",
                        lambda a, b, **kw: {"APr@0.5": entry, "APr@0.7": entry})
    compared, checked = [], []
    monkeypatch.setattr(compare_shared, "check_shards_of", lambda model, shards: checked.append((model, shards)))
    monkeypatch.setattr(compare_shared, "_compare_on_val", lambda records, root, per_box, shared, name, *rest:
                        compared.append((records, shared, name)))
    compare_shared.compare_shared(tmp_path, grids["per-box"], [grids["margin16"], grids["margin0"]], tmp_path / "out",
                                  cross_val_folds=2, shared_shards=[tmp_path / "s16", tmp_path / "s0"], cv_seeds=[0])
    assert compared == [(val, grids["margin0"], "shared@224 margin 0")]
    assert checked == [(grids["margin16"], tmp_path / "s16"), (grids["margin0"], tmp_path / "s0")]
    written = json.loads((tmp_path / "out" / "compare-shared.json").read_text())
    assert written["selection"]["chosen"] == "shared@224 margin 0"
    assert written["selection"]["scores"] == {"shared@224 margin 16": 35.0, "shared@224 margin 0": 38.0}
    assert written["selection"]["selected_on"] == "training images, 2-fold by image"
    monkeypatch.setattr(datasets, "load_training_records", lambda root: train + val[:1])
    with pytest.raises(ReportedImageError):   # a val image among the folds' images: refused before val is run
        compare_shared.compare_shared(tmp_path, grids["per-box"], [grids["margin16"], grids["margin0"]],
                                      tmp_path / "out2", cross_val_folds=2,
                                      shared_shards=[tmp_path / "s16", tmp_path / "s0"], cv_seeds=[0])
    assert len(compared) == 1
