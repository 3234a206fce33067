"""Table 1's refined rows under cross-validation: each outer fold's box regressor and fine-tuning never see it."""
import os

import pytest
from types import SimpleNamespace

from hypercolumns.classifiers.selection import nested_folds
from hypercolumns.pipelines.experiments import table1
from hypercolumns.pipelines.experiments.nested_cv import NestedGrids

IDS = [f"2008_{i:06d}" for i in range(12)]


def test_each_outer_fold_gets_a_regressor_and_a_finetuning_run_made_without_its_images(tmp_path, monkeypatch):
    folds = nested_folds(IDS, 3, 2)
    grids = NestedGrids(folds, {})
    for f in folds:
        grids.models[("outer", f.outer)] = tmp_path / f"outer-{f.outer}.h5"
        grids.models[("outer", f.outer)].write_bytes(b"")
    calls = []

    def regressor(data_root, shards, out, exclude_images, descriptor_cache):
        calls.append(("bbox", out.name, tuple(exclude_images), descriptor_cache))
        out.mkdir(parents=True, exist_ok=True)
        (out / "bbox-reg.h5").write_bytes(b"")

    def finetune(data_root, base, out, device, exclude_images):
        assert not (out / "checkpoint.pt").exists()     # a run of other images or another grid never resumes
        calls.append(("ft", base.name, tuple(exclude_images)))
        out.mkdir(parents=True, exist_ok=True)
        (out / "grid-K10-ft.h5").write_bytes(b"")

    monkeypatch.setattr(table1, "train_box_regressor", regressor)
    monkeypatch.setattr(table1, "run_finetune", finetune)
    monkeypatch.setattr(table1, "list_shards", lambda shards: [])
    monkeypatch.setattr(table1, "shards_config", lambda paths: SimpleNamespace(config_hash="abc"))
    made = table1.fold_refinements("data", "shards", tmp_path / "models", tmp_path / "work", grids)
    assert set(made) == {"Hyp + bbox-reg", "Hyp + FT + bbox-reg"}
    for f in folds:
        folder = tmp_path / "work" / "cross-val" / "refined" / f"fold-{f.outer}"
        assert ("bbox", folder.name, f.reported, tmp_path / "models" / "bbox-descriptors.npz") in calls
        assert ("ft", f"outer-{f.outer}.h5", f.reported) in calls
        assert made["Hyp + bbox-reg"][f.outer] == (grids.models[("outer", f.outer)], folder / "bbox-reg.h5")
        assert made["Hyp + FT + bbox-reg"][f.outer] == (folder / "finetune" / "grid-K10-ft.h5",
                                                        folder / "bbox-reg.h5")
    assert len(calls) == 6
    table1.fold_refinements("data", "shards", tmp_path / "models", tmp_path / "work", grids)
    assert len(calls) == 6                       # made without the same images from the same grid: kept
    base = grids.models[("outer", 1)]
    os.utime(base, (base.stat().st_atime, base.stat().st_mtime + 10))   # fold 1's grid retrained
    (tmp_path / "work" / "cross-val" / "refined" / "fold-1" / "finetune" / "checkpoint.pt").write_bytes(b"old")
    table1.fold_refinements("data", "shards", tmp_path / "models", tmp_path / "work", grids)
    assert [c[0] for c in calls[6:]] == ["bbox", "ft"] and calls[7][1] == "outer-1.h5"


def test_finetuning_without_a_folds_images_trains_on_the_other_images_boxes_only(monkeypatch, tmp_path):
    from hypercolumns.pipelines.finetune import training

    records = [SimpleNamespace(image_id=i) for i in ("a", "b", "c")]
    jobs = [SimpleNamespace(record=r) for r in (0, 0, 1, 2, 2)]
    monkeypatch.setattr(training, "load_grid", lambda model: SimpleNamespace(feature_config=None))
    monkeypatch.setattr(training, "load_cnn", lambda config, device: SimpleNamespace(
        per_box=SimpleNamespace(network=SimpleNamespace(to=lambda **kw: None), device="cpu")))
    monkeypatch.setattr(training, "trainable_network", lambda network, start: None)
    monkeypatch.setattr(training, "HypercolumnNet", lambda network, grid: SimpleNamespace(to=lambda device: None))
    monkeypatch.setattr("hypercolumns.data.datasets.load_training_records", lambda root: records)
    monkeypatch.setattr(training, "plan_boxes", lambda records_in, config: jobs)
    trained_on = []

    class Stop(Exception):
        pass

    def capture(net, cnn, jobs_in, records_in, out, options):
        trained_on.extend(records_in[j.record].image_id for j in jobs_in)
        raise Stop

    monkeypatch.setattr(training, "finetune", capture)
    try:
        training.run_finetune("data", "grid.h5", tmp_path, exclude_images=("a", "c"))
    except Stop:
        pass
    assert trained_on == ["b"]


class _Stop(Exception):
    pass


def test_with_eval_sds_summary_only_the_projections_its_inner_folds_chose_are_cross_validated(tmp_path, monkeypatch):
    import json

    from hypercolumns.data import datasets
    from hypercolumns.pipelines.experiments import nested_cv, oracle

    folds = nested_folds(IDS, 3, 2)
    chosen = {0: "none", 1: "felzenszwalb-scale30", 2: "none"}
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"cross_validation": {"selection": {
        "for_val": {"chosen": "none"},
        "per_outer_fold": {str(f.outer): {"chosen": chosen[f.outer], "images": len(f.training)} for f in folds}}}}))
    asked = []

    def report(grids, records, coco, annotations, data_root, out, engines, name, seeds, projections, companions):
        asked.append(projections)
        raise _Stop

    monkeypatch.setattr(datasets, "load_training_records", lambda root: [SimpleNamespace(image_id=i) for i in IDS])
    monkeypatch.setattr(nested_cv, "fold_grids_of", lambda *args: NestedGrids(folds, {}))
    monkeypatch.setattr(nested_cv, "nested_cv_report", report)
    monkeypatch.setattr(oracle, "coco_annotations", lambda records, root: {"images": [], "annotations": []})
    monkeypatch.setattr(table1, "fold_models", lambda *args: {})
    monkeypatch.setattr(table1, "fold_refinements", lambda *args: {})
    monkeypatch.setattr(table1, "load_systems", lambda systems, device=None: None)
    for projections in (summary, None):
        with pytest.raises(_Stop):
            table1.cross_validate_table1(tmp_path, "shards", tmp_path, tmp_path, tmp_path, tmp_path / "out", 3, (0,),
                                         10, projections=projections)
    assert asked == [("none", "felzenszwalb-scale30"), nested_cv.PROJECTIONS]
    summary.write_text(json.dumps({"cross_validation": {"selection": {
        "for_val": {"chosen": "none"}, "per_outer_fold": {"0": {"chosen": "none", "images": 1}}}}}))
    from hypercolumns.data.errors import InputError
    with pytest.raises(InputError, match="outer folds"):
        table1.cross_validate_table1(tmp_path, "shards", tmp_path, tmp_path, tmp_path, tmp_path / "out", 3, (0,), 10,
                                     projections=summary)
