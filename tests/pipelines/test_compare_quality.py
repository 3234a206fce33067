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
              "selected": summary(square(5, 6), "selected")}
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
