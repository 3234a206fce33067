"""compare-quality's table: each candidate's AP^r, its difference to today's default, mean IoU and cost,
checked on hand-made masks whose scores are known."""
import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.data.files import write_json_atomic
from hypercolumns.data.masks import encode_rle
from hypercolumns.pipelines.experiments.compare_quality import parse_variants, quality_rows
from hypercolumns.pipelines.experiments.runner import score_results


def square(top, left, side=10, size=20):
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_rows_give_each_candidate_its_hand_computed_scores_and_cost(tmp_path):
    # two images, one instance each: a 10 x 10 square at (5, 5)
    images = [{"id": i, "width": 20, "height": 20, "file_name": f"{i}.png", "dataset_image_id": f"img{i}"}
              for i in (1, 2)]
    annotations = [{"id": i, "image_id": i, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0,
                    "segmentation": encode_rle(square(5, 5))} for i in (1, 2)]
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}
    annotations_path = write_json_atomic(coco, tmp_path / "annotations.json")

    def summary(mask, name):
        results = [{"image_id": i, "category_id": 1, "bbox": [5, 5, 10, 10], "score": 1.0,
                    "segmentation": encode_rle(mask)} for i in (1, 2)]
        return {0: score_results(results, coco, annotations_path, tmp_path, name, 0)}

    # exact masks; and a square shifted by 2 px right and 2 down: overlap 8 x 8 = 64, union 136, IoU 0.47
    # (a miss at 0.5 and 0.7); and shifted 1 px right: overlap 90, union 110, IoU 0.818 (a hit at both)
    report = {"per_projection": {"none": summary(square(5, 5), "exact"), "grabcut": summary(square(7, 7), "far"),
                                 "flips+none": summary(square(5, 6), "near")},
              "selected": summary(square(5, 6), "selected"),
              "candidates": {"none": (None, "none"), "grabcut": (None, "grabcut"), "flips+none": ("flips", "none")}}
    costs = {"cnn": 150.0, "none": 0.5, "grabcut": 30.0, "boxes": 2}
    rows = {row["candidate"]: row for row in quality_rows(report, coco, costs, {"default": 100, "flips": 200},
                                                          replicates=200)}
    exact, far, near = rows["none"], rows["grabcut"], rows["flips+none"]
    assert exact["APr@0.5"] == exact["APr@0.7"] == 100 and exact["mean IoU"] == pytest.approx(100)
    assert "diff@0.5 vs none" not in exact
    assert far["APr@0.5"] == far["APr@0.7"] == 0 and far["mean IoU"] == pytest.approx(100 * 64 / 136)
    assert far["diff@0.5 vs none"].startswith("-100.0") and far["diff@0.7 vs none"].startswith("-100.0")
    assert near["APr@0.7"] == 100 and near["mean IoU"] == pytest.approx(100 * 90 / 110)
    assert near["diff@0.7 vs none"].startswith("+0.0")
    assert near["95% interval IoU"] == "[81.8, 81.8]"      # both images alike: no spread over images
    # cost: a projection's own, a variant's rows beside its projection's
    assert (exact["ms per box after the CNN"], exact["stage-one rows"]) == (0.5, 100)
    assert (far["ms per box after the CNN"], far["stage-one rows"]) == (30.0, 100)
    assert (near["ms per box after the CNN"], near["stage-one rows"]) == (0.5, 200)
    selected = rows["selected (inner folds' choice per outer fold)"]
    assert selected["mean IoU"] == pytest.approx(100 * 90 / 110) and "stage-one rows" not in selected


@pytest.mark.parametrize("flag", ["flips", "=work/x", "a+b=work/x"])
def test_a_malformed_variant_is_refused_naming_it(flag):
    with pytest.raises(InputError, match="--variant"):
        parse_variants([flag])
    assert parse_variants(["flips=work/f", "rows2=work/r"])["rows2"].as_posix() == "work/r"
    with pytest.raises(InputError, match="once"):
        parse_variants(["a=x", "a=y"])


def test_the_command_chooses_among_variants_and_projections_and_writes_its_table(data_root, tmp_path, monkeypatch):
    """End to end on 9 images with whole-box "grids" standing in for the default and one variant (no
    network): every (variant, projection) candidate gets a row, the nested choice is recorded, and no
    val image reaches a choice (they are absent: the records stand in for training images)."""
    import json

    from hypercolumns.classifiers.selection import nested_folds
    from hypercolumns.data import datasets
    from hypercolumns.data.datasets import load_val_records
    from hypercolumns.pipelines.experiments import compare_quality, nested_cv
    from hypercolumns.pipelines.experiments.nested_cv import NestedGrids

    records = load_val_records(data_root)[:9]
    folds = nested_folds([r.image_id for r in records], 3, 2)
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    trained = []

    def fold_grids_of(model, shards, records_in, out):
        trained.append((str(shards), str(out)))
        return NestedGrids(folds, dict.fromkeys(labels))

    monkeypatch.setattr(datasets, "load_training_records", lambda root: records)
    monkeypatch.setattr(nested_cv, "fold_grids_of", fold_grids_of)
    monkeypatch.setattr(compare_quality, "projection_costs",
                        lambda model, records, projections, device, images: {"cnn": 100.0, "boxes": 4,
                                                                             **dict.fromkeys(projections, 1.0)})
    monkeypatch.setattr(compare_quality, "stage_one_rows", lambda folder: 10 if "flips" not in str(folder) else 20)
    result = compare_quality.compare_quality(data_root, tmp_path / "grid.h5", tmp_path / "features",
                                             {"flips": tmp_path / "flips"}, tmp_path / "out", tmp_path / "cv",
                                             tmp_path / "variants", ["slic"], seeds=(0,), replicates=50)
    assert trained == [(str(tmp_path / "features"), str(tmp_path / "cv")),
                       (str(tmp_path / "flips"), str(tmp_path / "variants" / "flips"))]
    candidates = [row["candidate"] for row in result["rows"]]
    assert candidates[:4] == ["none", "slic", "flips+none", "flips+slic"] and candidates[4].startswith("selected")
    assert {row["stage-one rows"] for row in result["rows"][:4]} == {10, 20}
    # whole-box grids: every candidate's masks are the boxes, so every row scores alike
    assert len({(row["APr@0.5"], row["APr@0.7"]) for row in result["rows"]}) == 1
    assert set(result["selection"]["per_outer_fold"]) == {"0", "1", "2"}
    written = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert written["rows"][0]["candidate"] == "none" and (tmp_path / "out" / "quality.md").is_file()
