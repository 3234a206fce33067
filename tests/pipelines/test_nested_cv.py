"""Nested cross-validation: each image scored by grids that never saw it, choices on training images only."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hypercolumns.classifiers import selection
from hypercolumns.classifiers.selection import ReportedImageError, nested_folds, reporting_on
from hypercolumns.classifiers.train import TrainOptions
from hypercolumns.data.datasets import load_val_records
from hypercolumns.pipelines.experiments.nested_cv import NestedGrids, nested_cv_report, train_nested_grids
from hypercolumns.pipelines.experiments.oracle import coco_annotations
from hypercolumns.pipelines.experiments.runner import System, load_systems, run_oracle_evaluation
from hypercolumns.data.files import write_json_atomic

sys.path.insert(0, str(Path(__file__).parents[1] / "classifiers"))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_every_grid_that_scores_an_image_was_trained_without_it(tmp_path):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, n_shards=2, boxes_per_shard=36)
    records = [SimpleNamespace(image_id=f"img{i:04d}") for i in range(24)]
    options = TrainOptions(C_grid=(1e-3,), n_jobs=1, show_progress=False)
    grids = train_nested_grids(shards, records, tmp_path / "cv", K=1, options=options, log=lambda *_: None)
    assert len(grids.models) == 3 * (1 + 2)
    left_out = {label: set(json.loads((path.parent / "train-summary.json").read_text())["options"]["exclude_images"])
                for label, path in grids.models.items()}
    for record in records:
        labels = grids.grids_of(record.image_id)
        assert sum(label[0] == "outer" for label in labels) == 1 and len(labels) == 3
        assert all(record.image_id in left_out[label] for label in labels)
    for fold in grids.folds:        # an inner grid also leaves out its outer fold: it never sees reported images
        assert all(set(fold.reported) <= left_out[("inner", fold.outer, j)] for j in range(2))


def test_pooled_projections_equal_one_run_and_choices_see_only_training_images(data_root, tmp_path, monkeypatch):
    records = load_val_records(data_root)[:9]         # standing in for training images: whole-box "grids"
    ids = [r.image_id for r in records]
    folds = nested_folds(ids, 3, 2)
    models = {("outer", f.outer): None for f in folds}
    models.update({("inner", f.outer, j): None for f in folds for j in range(2)})
    grids = NestedGrids(folds, models)
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, tmp_path / "annotations.json")
    engines = load_systems([System("whole box", None)])
    seen = []
    real = selection.check_training_only
    monkeypatch.setattr(selection, "check_training_only",
                        lambda image_ids, setting: seen.append(sorted(map(str, image_ids))) or real(image_ids, setting))
    with reporting_on(["not-a-training-image"]):
        report = nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "cv", engines,
                                  "box", seeds=(0,), projections=("felzenszwalb", "none"))
    reference = run_oracle_evaluation([System("whole box", None)], records, data_root, tmp_path / "ref",
                                      seeds=(0,), viz=False)["whole box"][0]
    for per_seed in [*report["per_projection"].values(), report["selected"]]:
        assert per_seed[0]["APr@0.5"] == reference["APr@0.5"]
        np.testing.assert_array_equal(per_seed[0]["instance_iou"], reference["instance_iou"])
    assert [report["choices"][f.outer].chosen for f in folds] == ["felzenszwalb"] * 3   # a tie: the first
    assert seen == [sorted(f.training) for f in folds] + [sorted(ids)]
    assert report["for_report"].selected_on == "training images, 3-fold by image"
    with reporting_on(ids[:1]), pytest.raises(ReportedImageError, match="projection"):
        nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "cv2", engines, "box",
                         seeds=(0,), projections=("none",))


def whole_box_folds(data_root, tmp_path, count=9):
    """Nested folds of the first ``count`` val images (standing in for training images) whose grids are
    all whole-box "grids" (no model), with the images' COCO annotations written to ``tmp_path``."""
    records = load_val_records(data_root)[:count]
    folds = nested_folds([r.image_id for r in records], 3, 2)
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    coco = coco_annotations(records, data_root)
    return records, folds, NestedGrids(folds, dict.fromkeys(labels)), coco, write_json_atomic(
        coco, tmp_path / "annotations.json")


def tagging(real_segment):
    """``segment_systems`` that tags every result with the name of the system that made it."""
    def tagged(systems, *args, **kwargs):
        results = real_segment(systems, *args, **kwargs)
        for name, entries in results.items():
            for entry in entries:
                entry["system"] = name
        return results
    return tagged


def test_each_outer_fold_is_reported_by_its_own_grid_with_its_own_inner_choice(data_root, tmp_path, monkeypatch):
    """Every result is tagged with the system that made it; the inner choices are scripted to differ."""
    from dataclasses import replace

    from hypercolumns.pipelines.experiments import nested_cv

    records, folds, grids, coco, annotations = whole_box_folds(data_root, tmp_path)
    tagged, real_choose = tagging(nested_cv.segment_systems), nested_cv.choose

    picks = iter(["slic", "none", "slic"])             # the inner choice of outer folds 0, 1, 2

    def scripted(setting, scores, image_ids, **options):
        selection = real_choose(setting, scores, image_ids, **options)
        return replace(selection, chosen=next(picks)) if "outside outer fold" in options["selected_on"] else selection

    monkeypatch.setattr(nested_cv, "segment_systems", tagged)
    monkeypatch.setattr(nested_cv, "choose", scripted)
    report = nested_cv_report(grids, records, coco, annotations, data_root, tmp_path,
                              load_systems([System("box", None)]), "box", seeds=(0,), projections=("none", "slic"),
                              companions={"other row": {f.outer: None for f in folds}})
    dataset_id = {image["id"]: image["dataset_image_id"] for image in coco["images"]}
    outer_of = {i: f.outer for f in folds for i in f.reported}

    def systems_of(path):
        entries = json.loads(path.read_text())
        return [(dataset_id[e["image_id"]], e["system"]) for e in entries]

    for projection in ("none", "slic"):
        made = systems_of(tmp_path / "results" / f"box_{projection}_seed0.json")
        assert len(made) == len(coco["annotations"])
        assert all(system == f"outer {outer_of[image]} {projection}" for image, system in made)
    annotated = {dataset_id[a["image_id"]] for a in coco["annotations"]}
    chosen = ["slic", "none", "slic"]
    made = systems_of(tmp_path / "results" / "box_selected_seed0.json")
    assert all(system == f"outer {outer_of[image]} {chosen[outer_of[image]]}" for image, system in made)
    assert {system.split()[-1] for _, system in made} == {"none", "slic"}
    # another row's grids: each outer fold by that row's grid of the fold, projected as the fold chose
    made = systems_of(tmp_path / "results" / "other_row_seed0.json")
    assert len(made) == len(coco["annotations"]) and set(report["companions"]) == {"other row"}
    assert all(system == f"other row {outer_of[image]} {chosen[outer_of[image]]}" for image, system in made)
    for fold in folds:
        inner_of = {i: j for j, members in enumerate(fold.inner) for i in members}
        made = systems_of(tmp_path / "inner" / f"fold-{fold.outer}" / "box_none_seed0.json")
        assert {image for image, _ in made} == set(fold.training) & annotated
        assert all(system == f"inner {fold.outer} {inner_of[image]} none" for image, system in made)


def test_projection_names_carry_their_size_parameter():
    from hypercolumns.pipelines.experiments.nested_cv import PROJECTIONS
    from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings, projection_settings

    assert projection_settings("none") == SuperpixelSettings()
    assert projection_settings("slic") == SuperpixelSettings(method="slic", n_segments=1000)
    assert projection_settings("slic-n300") == SuperpixelSettings(method="slic", n_segments=300)
    assert projection_settings("felzenszwalb-scale30") == SuperpixelSettings(method="felzenszwalb", scale=30.0)
    for bad in ("none-n3", "slic-scale30", "felzenszwalb-scale0", "slic-n", "mcg", "slic-nfoo"):
        with pytest.raises(ValueError, match="projection"):
            projection_settings(bad)
    assert PROJECTIONS[0] == "none" and len({projection_settings(p) for p in PROJECTIONS}) == len(PROJECTIONS)


def test_a_companion_with_a_box_regressor_segments_its_folds_boxes_as_that_regressor_refines_them(
        data_root, tmp_path, monkeypatch):
    from hypercolumns.pipelines.experiments import nested_cv

    records = load_val_records(data_root)[:6]
    folds = nested_folds([r.image_id for r in records], 3, 2)
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    grids = NestedGrids(folds, dict.fromkeys(labels))
    coco = coco_annotations(records, data_root)
    detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"]}
                  for a in coco["annotations"]]
    asked = []

    def fake(systems, records_in, coco_in, dets, root, engines, score):
        asked.extend((s.name, s.model_path, s.box_regressor) for s in systems)
        return {s.name: [{**d, "by": (s.model_path, s.box_regressor)} for d in dets] for s in systems}

    monkeypatch.setattr(nested_cv, "segment_systems", fake)
    companions = {"refined": {f.outer: (f"tuned-{f.outer}", f"reg-{f.outer}") for f in folds},
                  "plain": {f.outer: f"plain-{f.outer}" for f in folds}}
    results = nested_cv.segment_folds(grids, records, coco, detections, data_root, None, ("none",),
                                      companions=companions)
    dataset_id = {image["id"]: image["dataset_image_id"] for image in coco["images"]}
    outer_of = {i: f.outer for f in folds for i in f.reported}
    for o in range(3):
        for result in results[(("refined", o), "none")]:
            if result is not None:
                assert outer_of[dataset_id[result["image_id"]]] == o and result["by"] == (f"tuned-{o}", f"reg-{o}")
        assert any(r is not None for r in results[(("refined", o), "none")])
        assert all(r is None or r["by"] == (f"plain-{o}", None) for r in results[(("plain", o), "none")])
    assert all(regressor is None for name, _, regressor in asked if not name.startswith("refined"))


def test_a_variants_folds_are_segmented_by_its_own_grids_and_chosen_among_with_the_projections(
        data_root, tmp_path, monkeypatch):
    """A variant (the same folds trained on other shards): its outer and inner grids score the same
    images as the grids' own, its candidates are ``<variant>+<projection>``, and an inner choice of it
    reports that fold with the variant's outer grid."""
    from dataclasses import replace

    from hypercolumns.pipelines.experiments import nested_cv

    records, folds, grids, coco, annotations = whole_box_folds(data_root, tmp_path)
    variant = NestedGrids(folds, dict.fromkeys(grids.models))
    tagged, real_choose = tagging(nested_cv.segment_systems), nested_cv.choose

    picks = iter(["flips+none", "none", "flips+none"])

    def scripted(setting, scores, image_ids, **options):
        assert set(scores) == {"none", "flips+none"} and setting == "training variant and projection"
        selection = real_choose(setting, scores, image_ids, **options)
        return replace(selection, chosen=next(picks)) if "outside outer fold" in options["selected_on"] else selection

    monkeypatch.setattr(nested_cv, "segment_systems", tagged)
    monkeypatch.setattr(nested_cv, "choose", scripted)
    engines = load_systems([System("box", None)])
    report = nested_cv_report(grids, records, coco, annotations, data_root, tmp_path, engines, "box", seeds=(0,),
                              projections=("none",), variants={"flips": variant})
    assert set(report["per_projection"]) == {"none", "flips+none"}
    dataset_id = {image["id"]: image["dataset_image_id"] for image in coco["images"]}
    outer_of = {i: f.outer for f in folds for i in f.reported}

    def systems_of(path):
        return [(dataset_id[e["image_id"]], e["system"]) for e in json.loads(path.read_text())]

    made = systems_of(tmp_path / "results" / "box_flips_none_seed0.json")
    assert len(made) == len(coco["annotations"])
    assert all(system == f"flips outer {outer_of[image]} none" for image, system in made)
    chosen = ["flips ", "", "flips "]
    made = systems_of(tmp_path / "results" / "box_selected_seed0.json")
    assert all(system == f"{chosen[outer_of[image]]}outer {outer_of[image]} none" for image, system in made)
    for fold in folds:
        inner_of = {i: j for j, members in enumerate(fold.inner) for i in members}
        made = systems_of(tmp_path / "inner" / f"fold-{fold.outer}" / "box_flips+none_seed0.json")
        assert made and all(system == f"flips inner {fold.outer} {inner_of[image]} none" for image, system in made)
    with pytest.raises(ValueError, match="companions"):
        nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "b", engines, "box",
                         projections=("none",), variants={"flips": variant}, companions={"row": {}})
    other = NestedGrids(nested_folds([r.image_id for r in records], 3, 2, seed=1), dict.fromkeys(grids.models))
    with pytest.raises(ValueError, match="other folds"):
        nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "c", engines, "box",
                         projections=("none",), variants={"flips": other})


def test_choices_made_among_some_candidates_never_pick_the_others(data_root, tmp_path, monkeypatch):
    """Every candidate is a whole-box "grid", so all tie and a tie goes to the first candidate offered:
    the grids' own ``none`` without ``choose_among``, the first variant with it; the candidates left out
    are still reported, held fixed, and their inner folds are not scored."""
    records, folds, grids, coco, annotations = whole_box_folds(data_root, tmp_path)
    variants = {name: NestedGrids(folds, dict.fromkeys(grids.models)) for name in ("a", "b")}
    engines = load_systems([System("box", None)])
    every = nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "every", engines, "box",
                             projections=("none",), variants=variants)
    assert every["for_report"].chosen == "none" and {c.chosen for c in every["choices"].values()} == {"none"}
    some = nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "some", engines, "box",
                            projections=("none",), variants=variants, choose_among=["a+none", "b+none"],
                            setting="shared features")
    assert set(some["per_projection"]) == {"none", "a+none", "b+none"}
    assert some["for_report"].chosen == "a+none" and set(some["for_report"].scores) == {"a+none", "b+none"}
    assert {c.chosen for c in some["choices"].values()} == {"a+none"}
    assert some["for_report"].setting == "shared features"
    assert some["selected"][0]["APr@0.5"] == some["per_projection"]["none"][0]["APr@0.5"]   # all tie
    for fold in folds:
        scored = {p.name for p in (tmp_path / "some" / "inner" / f"fold-{fold.outer}").iterdir()}
        assert scored == {"box_a+none_seed0.json", "box_b+none_seed0.json"}
    with pytest.raises(ValueError, match="choose_among"):
        nested_cv_report(grids, records, coco, annotations, data_root, tmp_path / "bad", engines, "box",
                         projections=("none",), variants=variants, choose_among=["c+none"])
