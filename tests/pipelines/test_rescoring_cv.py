"""Table 2's rescoring under the selection protocol: what each outer fold's SVMs and choice may see."""
from types import SimpleNamespace

import numpy as np
import pytest

from hypercolumns.classifiers.selection import ReportedImageError, nested_folds, reporting_on
from hypercolumns.pipelines.experiments import rescoring_cv
from hypercolumns.pipelines.experiments.nested_cv import NestedGrids
from hypercolumns.pipelines.experiments.rescoring_cv import CANDIDATES, COMPANION, Regions, nested_rescoring

IDS = [f"2008_{i:06d}" for i in range(30)]


def nested_regions():
    """Folds of 30 images and, per grid label, one region per image it holds out (tagged with its label)."""
    folds = nested_folds(IDS, outer=3, inner=2, seed=0)
    grids = NestedGrids(folds, {})
    coco = {"images": [{"id": i + 1, "dataset_image_id": image} for i, image in enumerate(IDS)]}
    coco_id = {image: i + 1 for i, image in enumerate(IDS)}
    members = {("outer", f.outer): f.reported for f in folds}
    members.update({("inner", f.outer, j): inner for f in folds for j, inner in enumerate(f.inner)})
    members.update({(COMPANION, f.outer): f.reported for f in folds})
    regions = {label: Regions([{"image_id": coco_id[i], "category_id": 8, "score": 0.5, "label": label}
                               for i in images], np.zeros((len(images), 4)), np.zeros(len(images)))
               for label, images in members.items()}
    return grids, coco, regions


def test_each_outer_fold_is_rescored_by_svms_and_a_choice_that_never_saw_it(monkeypatch, tmp_path):
    grids, coco, regions = nested_regions()
    dataset_id = {image["id"]: image["dataset_image_id"] for image in coco["images"]}
    names = list(CANDIDATES)
    # scripted criterion: each outer fold's inner folds favour another candidate (fold o: names[o + 1])
    favourite = {f.outer: names[f.outer + 1] for f in grids.folds}
    seen_by_choices = []

    def fake_candidates(train, test):
        assert not {r["image_id"] for r in train.results} & {r["image_id"] for r in test.results}
        return {name: [{**r, "candidate": name} for r in test.results] for name in CANDIDATES}

    def fake_score(results, annotations_path, path, images=None):
        name = results[0]["candidate"]
        covered = {dataset_id[r["image_id"]] for r in results}
        seen_by_choices.append(covered)
        fold = next((f.outer for f in grids.folds if covered == set(f.training)), None)
        best = favourite.get(fold, names[-1])       # the outer folds pooled: the last candidate
        return {"APr@0.5": 60.0 + 10 * (name == best), "APr@0.7": 30.0}

    fits = []

    def fake_fit(regions_in, C, per_class, combiner, feature_config=None):
        trained_on = {dataset_id[r["image_id"]] for r in regions_in.results}
        fits.append(((C, per_class, combiner), trained_on, {r["label"] for r in regions_in.results}))
        return SimpleNamespace(score=lambda descriptors, categories, scores, n=len(fits): np.full(len(scores), n))

    monkeypatch.setattr(rescoring_cv, "rescored_by_candidates", fake_candidates)
    monkeypatch.setattr(rescoring_cv, "score_covered", fake_score)
    monkeypatch.setattr(rescoring_cv, "fit_rescorer", fake_fit)
    monkeypatch.setattr(rescoring_cv, "rescore", lambda results, scores: [
        {**r, "fit": int(s)} for r, s in zip(results, scores)])
    report = nested_rescoring(grids, regions, coco, "annotations.json", tmp_path)

    for fold in grids.folds:
        choice = report.choices[fold.outer]
        assert choice.chosen == favourite[fold.outer] and choice.images == len(fold.training)
        fit_index = fold.outer       # the outer folds' final fits, in fold order
        params, trained_on, labels = fits[fit_index]
        assert params == CANDIDATES[favourite[fold.outer]]
        assert trained_on == set(fold.training)            # none of the fold's own images
        assert labels == {("inner", fold.outer, j) for j in range(2)}   # segmented by grids without the fold
        rescored = [r for r in report.outer["Hyp + rescoring"] if dataset_id[r["image_id"]] in fold.reported]
        assert len(rescored) == len(fold.reported) and {r["fit"] for r in rescored} == {fit_index + 1}
        assert {r["label"] for r in rescored} == {("outer", fold.outer)}
    allowed = [set(f.training) for f in grids.folds] + [set(IDS)]     # inner choices, then val's
    assert all(covered in allowed for covered in seen_by_choices)
    assert report.for_val.chosen == names[-1] and report.for_val.images == len(IDS)
    assert {r["label"] for r in report.outer[COMPANION]} == {(COMPANION, f.outer) for f in grids.folds}
    assert len(report.training.results) == len(IDS)
    assert {r["label"][0] for r in report.training.results} == {"outer"}

    with reporting_on([IDS[0]]), pytest.raises(ReportedImageError, match="rescoring"):
        nested_rescoring(grids, regions, coco, "annotations.json", tmp_path)


def test_regions_cache_round_trips_and_a_changed_key_is_a_miss(tmp_path):
    _, _, regions = nested_regions()
    regions = {label: Regions([{k: v for k, v in r.items() if k != "label"} for r in part.results],
                              None if label[0] == COMPANION else np.arange(4.0 * len(part.results)).reshape(-1, 4),
                              np.linspace(0, 1, len(part.results)))
               for label, part in regions.items()}
    key = {"grids": {"outer 0 ": ["a.h5", 1.5]}, "pool": "abc"}
    rescoring_cv._write_cache(tmp_path / "cache", key, regions)
    back = rescoring_cv._read_cache(tmp_path / "cache", key, list(regions))
    for label, part in regions.items():
        assert back[label].results == part.results
        np.testing.assert_array_equal(back[label].ious, part.ious)
        if part.descriptors is None:
            assert back[label].descriptors is None
        else:
            np.testing.assert_array_equal(back[label].descriptors, part.descriptors)
    assert rescoring_cv._read_cache(tmp_path / "cache", {**key, "pool": "abd"}, list(regions)) is None


def test_fold_regions_describe_each_region_with_its_own_grids_mask_and_cache_them(data_root, tiny_cnn, tmp_path,
                                                                                  monkeypatch):
    from hypercolumns.classifiers.selection import NestedFold
    from hypercolumns.data.boxes import xywh_to_xyxy
    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.data.masks import decode_rle, encode_rle
    from hypercolumns.pipelines.experiments.oracle import coco_annotations
    from hypercolumns.pipelines.system2.region_descriptor import region_descriptors

    cnn = tiny_cnn[0]
    records = load_val_records(data_root)[:2]
    ids = [r.image_id for r in records]
    folds = [NestedFold(0, (ids[0],), ((ids[1],),)), NestedFold(1, (ids[1],), ((ids[0],),))]
    paths = {}
    for name in ("outer-0", "outer-1", "inner-0", "inner-1", "global-0", "global-1"):
        paths[name] = tmp_path / f"{name}.h5"
        paths[name].write_bytes(b"")
    grids = NestedGrids(folds, {("outer", 0): paths["outer-0"], ("outer", 1): paths["outer-1"],
                                ("inner", 0, 0): paths["inner-0"], ("inner", 1, 0): paths["inner-1"]})
    companions = {COMPANION: {0: paths["global-0"], 1: paths["global-1"]}}
    coco = coco_annotations(records, data_root)
    pool = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in coco["annotations"]]

    def box_mask(entry, shrink):
        height, width = coco["images"][entry["image_id"] - 1]["height"], coco["images"][entry["image_id"] - 1]["width"]
        x, y, w, h = entry["bbox"]
        mask = np.zeros((height, width), bool)
        mask[int(y + shrink * h):int(y + h), int(x):int(x + w * (1 - shrink))] = True
        return mask

    def fake_segment(grids_in, records_in, coco_in, pool_in, root, engines, projections, score, companions):
        assert score == "detection" and projections == ("none",)
        out = {}
        labels = list(grids_in.models) + [(n, o) for n, by_fold in companions.items() for o in by_fold]
        for number, label in enumerate(labels):   # each grid its own mask: cut by a different amount
            held = {i for i in ids if label in grids_in.grids_of(i) or (label[0] == COMPANION and i in
                                                                          folds[label[1]].reported)}
            out[(label, "none")] = [
                {**e, "segmentation": encode_rle(box_mask(e, 0.1 * number))}
                if coco["images"][e["image_id"] - 1]["dataset_image_id"] in held else None for e in pool_in]
        return out

    monkeypatch.setattr(rescoring_cv, "segment_folds", fake_segment)
    engines = SimpleNamespace(grid=lambda path: SimpleNamespace(cnn=cnn))
    regions = rescoring_cv.fold_regions(grids, companions, records, coco, pool, data_root, engines, "none",
                                        tmp_path / "cache")
    for label, part in regions.items():
        assert part.results and all(r["segmentation"] for r in part.results)
        if label[0] == COMPANION:
            assert part.descriptors is None
            continue
        for result, row in zip(part.results, part.descriptors, strict=True):
            image = records[result["image_id"] - 1].load_image()
            expected = region_descriptors(cnn, image, xywh_to_xyxy([result["bbox"]]),
                                          decode_rle(result["segmentation"]).astype(bool)[None])[0]
            np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-5)
        truth = {a["id"]: decode_rle(a["segmentation"]).astype(bool) for a in coco["annotations"]}
        for result, iou in zip(part.results, part.ious):
            mine = decode_rle(result["segmentation"]).astype(bool)
            best = max((mine & truth[a["id"]]).sum() / (mine | truth[a["id"]]).sum() for a in coco["annotations"]
                       if a["image_id"] == result["image_id"] and a["category_id"] == result["category_id"])
            assert iou == pytest.approx(best)
    monkeypatch.setattr(rescoring_cv, "segment_folds", lambda *args, **kwargs: pytest.fail("not cached"))
    again = rescoring_cv.fold_regions(grids, companions, records, coco, pool, data_root, engines, "none",
                                      tmp_path / "cache")
    for label, part in regions.items():
        assert again[label].results == part.results
        if part.descriptors is not None:
            np.testing.assert_array_equal(again[label].descriptors, part.descriptors)


def eval_sds_summary(tmp_path, folds, per_fold: dict, for_val: str, images=None):
    import json

    selection = {"for_val": {"setting": "projection", "chosen": for_val},
                 "per_outer_fold": {str(o): {"chosen": p, "images": len(IDS) - len(folds[o].reported)
                                             if images is None else images} for o, p in per_fold.items()}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"cross_validation": {"selection": selection}}))
    return path


def test_each_outer_fold_takes_the_projection_its_inner_folds_chose_in_eval_sds(tmp_path):
    from hypercolumns.data.errors import InputError

    folds = nested_folds(IDS, outer=3, inner=2, seed=0)
    summary = eval_sds_summary(tmp_path, folds, {0: "none", 1: "slic", 2: "felzenszwalb"}, "none")
    assert rescoring_cv.chosen_projections(summary, folds) == ({0: "none", 1: "slic", 2: "felzenszwalb"}, "none")
    with pytest.raises(InputError, match=r"summary.json.*outer folds \['0', '1'\], these folds are \[0, 1, 2\]"):
        rescoring_cv.chosen_projections(eval_sds_summary(tmp_path, folds, {0: "none", 1: "slic"}, "none"), folds)
    with pytest.raises(InputError, match="chosen on 5 images"):   # eval-sds ran on other folds
        rescoring_cv.chosen_projections(eval_sds_summary(tmp_path, folds, {0: "none", 1: "none", 2: "none"},
                                                         "none", images=5), folds)
    with pytest.raises(Exception, match="eval-sds summary not found"):
        rescoring_cv.chosen_projections(tmp_path / "absent.json", folds)
    outer_only = [type(f)(f.outer, f.reported, ()) for f in folds]   # plain protocol: val's choice everywhere
    assert rescoring_cv.chosen_projections(eval_sds_summary(tmp_path, folds, {}, "slic"), outer_only) == \
        ({0: "slic", 1: "slic", 2: "slic"}, "slic")
    nested_summary = eval_sds_summary(tmp_path, folds, {0: "none", 1: "felzenszwalb", 2: "none"}, "slic")
    assert rescoring_cv.chosen_projections(nested_summary, outer_only) == ({0: "slic", 1: "slic", 2: "slic"}, "slic")
    (tmp_path / "summary.json").write_text('{"cross_validation": {"rows": []}}')   # eval-sds --protocol fixed
    with pytest.raises(InputError, match="no cross_validation.selection.for_val"):
        rescoring_cv.chosen_projections(tmp_path / "summary.json", folds)


def test_fold_regions_segment_each_grid_with_its_outer_folds_projection(tiny_cnn, tmp_path, monkeypatch):
    folds = nested_folds(IDS, outer=3, inner=2, seed=0)
    paths = {}
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    for label in labels + [(COMPANION, f.outer) for f in folds]:
        paths[label] = tmp_path / ("-".join(map(str, label)) + ".h5")
        paths[label].write_bytes(b"")
    grids = NestedGrids(folds, {label: paths[label] for label in labels})
    companions = {COMPANION: {f.outer: paths[(COMPANION, f.outer)] for f in folds}}
    coco = {"images": [{"id": i + 1, "dataset_image_id": image, "height": 4, "width": 4}
                       for i, image in enumerate(IDS)], "annotations": []}
    pool = [{"image_id": i + 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": 0.5} for i in range(len(IDS))]
    chosen = {0: "none", 1: "slic", 2: "felzenszwalb"}
    asked = []

    def fake_segment(grids_in, records, coco_in, pool_in, root, engines, projections, score, companions):
        asked.append(projections)
        every = list(grids_in.models) + [(n, o) for n, by_fold in companions.items() for o in by_fold]
        return {(label, p): [{**e, "projection": p, "segmentation": None} for e in pool_in]
                for label in every for p in projections}

    monkeypatch.setattr(rescoring_cv, "segment_folds", fake_segment)
    monkeypatch.setattr(rescoring_cv, "describe_regions", lambda cnn, coco, root, results: {
        label: np.zeros((len(entries), 4), np.float32) for label, entries in results.items()})
    monkeypatch.setattr(rescoring_cv, "best_ious", lambda coco, results: np.zeros(len(results)))
    engines = SimpleNamespace(grid=lambda path: SimpleNamespace(cnn=tiny_cnn[0]))
    regions = rescoring_cv.fold_regions(grids, companions, [], coco, pool, None, engines, chosen, tmp_path / "c")
    assert sorted(asked[0]) == sorted(set(chosen.values()))   # every projection projects the same heatmaps
    for label, part in regions.items():
        assert {r["projection"] for r in part.results} == {chosen[label[1]]}, label
