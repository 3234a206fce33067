"""compare-shared: per-box the reference, the shared candidates chosen on training images by nested folds."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hypercolumns.classifiers.selection import ReportedImageError, nested_folds
from hypercolumns.data.datasets import load_val_records
from hypercolumns.pipelines.experiments.nested_cv import NestedGrids
from hypercolumns.pipelines.experiments.oracle import coco_annotations, oracle_detections

MARGIN16, MARGIN0 = "shared@224 margin 16", "shared@224 margin 0"


def scripted_masks(records, coco, real_segment):
    """``segment_systems`` of whole-box "grids" whose masks are set by the grid's name: per-box (grids
    without a variant) gives every ground-truth mask, margin 0 every other one, margin 16 none (whole
    boxes throughout). So per-box scores best, margin 0 second."""
    annotation_of = {tuple(d["bbox"]): a for d, a in zip(oracle_detections(coco, 0), coco["annotations"])}

    def segment(systems, records_in, coco_in, detections, *args, **kwargs):
        results = real_segment(systems, records_in, coco_in, detections, *args, **kwargs)
        for system in systems:
            for result in results[system.name]:
                annotation = annotation_of[tuple(result["bbox"])]
                if (system.name.startswith(("outer", "inner"))
                        or system.name.startswith(MARGIN0) and annotation["id"] % 2 == 0):
                    result["segmentation"] = annotation["segmentation"]
        return results
    return segment


def test_val_gets_the_shared_candidate_the_folds_choose_never_per_box(data_root, tmp_path, monkeypatch):
    import hypercolumns.data.datasets as datasets
    from hypercolumns.pipelines.experiments import compare_shared, nested_cv

    training = load_val_records(data_root)[:9]       # stand-ins for training images
    val = [SimpleNamespace(image_id=f"val{i}") for i in range(2)]
    coco = coco_annotations(training, data_root)
    folds = nested_folds([r.image_id for r in training], 3, 2)
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    grids = {name: tmp_path / f"{name}.h5" for name in ("per-box", "margin16", "margin0")}
    for path in grids.values():
        path.write_bytes(b"")
    trained = []

    def fold_grids(model, shards, records, work, outer, inner):
        trained.append((Path(model).stem, Path(shards).name, Path(work).name, outer, inner))
        return NestedGrids(nested_folds([r.image_id for r in records], outer, 2) if inner else
                           [nested_cv.NestedFold(f.outer, f.reported, ()) for f in folds], dict.fromkeys(labels))

    monkeypatch.setattr(datasets, "load_val_records", lambda root: val)
    monkeypatch.setattr(datasets, "load_training_records", lambda root: training)
    monkeypatch.setattr(nested_cv, "fold_grids_of", fold_grids)
    monkeypatch.setattr(nested_cv, "segment_systems", scripted_masks(training, coco, nested_cv.segment_systems))
    monkeypatch.setattr(compare_shared, "candidate_name", lambda path: f"shared@224 margin {Path(path).stem[6:]}")
    monkeypatch.setattr(compare_shared, "check_shards_of", lambda model, shards: None)
    compared = []
    monkeypatch.setattr(compare_shared, "_compare_on_val", lambda records, root, per_box, shared, name, *rest:
                        compared.append((records, shared, name)))
    compare_shared.compare_shared(data_root, grids["per-box"], [grids["margin16"], grids["margin0"]],
                                  tmp_path / "out", protocol="nested-cv", per_box_shards=tmp_path / "features",
                                  shared_shards=[tmp_path / "s16", tmp_path / "s0"],
                                  per_box_cv_work=tmp_path / "sds-cv", cv_seeds=[0], replicates=50)
    assert trained == [("per-box", "features", "sds-cv", 3, 2), ("margin16", "s16", "shared_224_margin_16", 3, 2),
                       ("margin0", "s0", "shared_224_margin_0", 3, 2)]
    assert compared == [(val, grids["margin0"], MARGIN0)]
    written = json.loads((tmp_path / "out" / "compare-shared.json").read_text())
    assert written["selection"]["chosen"] == f"{MARGIN0}+none"
    assert set(written["selection"]["scores"]) == {f"{MARGIN16}+none", f"{MARGIN0}+none"}   # per-box not a candidate
    assert written["selection"]["selected_on"] == "training images, 3-fold by image"
    per_fold = written["cross_val"]["selection"]["per_outer_fold"]
    assert [per_fold[str(f)]["chosen"] for f in range(3)] == [f"{MARGIN0}+none"] * 3
    rows = {row["system"]: row for row in written["cross_val"]["rows"]}
    assert list(rows) == ["per-box", MARGIN16, MARGIN0, "shared, selected on inner folds"]
    assert rows["per-box"]["APr@0.5"] == 100.0 and "diff@0.5 vs per-box" not in rows["per-box"]
    assert rows[MARGIN0]["chosen"] == "for val" and rows[MARGIN16]["chosen"] is None
    assert rows[MARGIN16]["APr@0.5"] < rows[MARGIN0]["APr@0.5"] < 100.0
    assert rows["shared, selected on inner folds"]["APr@0.5"] == rows[MARGIN0]["APr@0.5"]
    assert rows[MARGIN16]["diff@0.5 vs per-box"].startswith(f"{rows[MARGIN16]['APr@0.5'] - 100.0:+.1f} [")

    monkeypatch.setattr(datasets, "load_training_records", lambda root: training[:8] + val[:1])
    with pytest.raises(ReportedImageError):   # a val image among the folds' images: refused before val is run
        compare_shared.compare_shared(data_root, grids["per-box"], [grids["margin16"], grids["margin0"]],
                                      tmp_path / "out2", protocol="nested-cv", shared_shards=[tmp_path / "s16",
                                      tmp_path / "s0"], cv_seeds=[0], replicates=50)
    assert len(compared) == 1 and len(trained) == 3       # and no fold grid was trained for it


def test_several_candidates_need_the_training_images_to_choose(data_root, tmp_path, monkeypatch):
    from hypercolumns.data.errors import InputError
    from hypercolumns.pipelines.experiments import compare_shared

    grids = [tmp_path / f"{name}.h5" for name in ("per-box", "margin16", "margin0")]
    for path in grids:
        path.write_bytes(b"")
    with pytest.raises(InputError, match="--protocol nested-cv or plain"):
        compare_shared.compare_shared(data_root, grids[0], grids[1:], tmp_path / "out", protocol="fixed")
    with pytest.raises(InputError, match="one folder per --shared grid"):
        compare_shared.compare_shared(data_root, grids[0], grids[1:], tmp_path / "out", shared_shards=[tmp_path])
    with pytest.raises(InputError, match="--inner-folds must be >= 2"):
        compare_shared.compare_shared(data_root, grids[0], grids[1:], tmp_path / "out", inner_folds=1)
    assert not (tmp_path / "out").exists()
