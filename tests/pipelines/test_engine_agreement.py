"""The engines-cv bench: each engine's masks against fp32 torch's, AP^r with paired differences."""
import numpy as np

from hypercolumns.data.datasets import load_val_records
from hypercolumns.data.files import write_json_atomic
from hypercolumns.data.masks import decode_rle, encode_rle
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.bench import bench_engines
from hypercolumns.pipelines.experiments.nested_cv import NestedGrids
from hypercolumns.classifiers.selection import nested_folds
from hypercolumns.pipelines.experiments.oracle import coco_annotations


def ground_truth_results(coco):
    """One result per annotation: its own mask, at a score falling with the index."""
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 1.0 - 0.01 * i, "segmentation": a["segmentation"]} for i, a in enumerate(coco["annotations"])]


def test_agreement_counts_each_instances_mask_iou_and_the_ap_difference(data_root, tmp_path):
    records = load_val_records(data_root)[:3]
    coco = coco_annotations(records, data_root)
    annotations = write_json_atomic(coco, tmp_path / "annotations.json")
    reference = ground_truth_results(coco)
    other = [dict(r) for r in reference]
    mask = decode_rle(other[0]["segmentation"]).astype(bool)
    rows = np.flatnonzero(mask.any(axis=1))
    halved = mask.copy()
    halved[rows[len(rows) // 2]:] = False                # keep the top half of instance 0's rows
    other[0] = {**other[0], "segmentation": encode_rle(halved)}
    empty = encode_rle(np.zeros(reference[1]["segmentation"]["size"], bool))   # empty from both: they agree
    reference[1] = {**reference[1], "segmentation": empty}
    other[1] = {**other[1], "segmentation": empty}
    table = bench_engines.engine_agreement({"torch": reference, "slow": other}, coco, annotations, tmp_path / "o")
    by_engine = {row["engine"]: row for row in table}
    assert by_engine["torch"]["mean_mask_iou_vs_reference"] == 1.0 and "diff@0.5 vs torch" not in by_engine["torch"]
    expected_iou = halved.sum() / mask.sum()             # halved lies inside mask
    n = len(reference)
    assert np.isclose(by_engine["slow"]["min_mask_iou_vs_reference"], expected_iou)
    assert np.isclose(by_engine["slow"]["mean_mask_iou_vs_reference"], (expected_iou + n - 1) / n)
    assert by_engine["slow"]["below_min_mask_iou"] == 1 and by_engine["torch"]["below_min_mask_iou"] == 0
    # over images: a draw without instance 0's image agrees everywhere (chance (2/3)^3 per draw, far above
    # 2.5 %), one with it three times has the lowest mean
    low, high = by_engine["slow"]["mean_mask_iou_interval"]
    assert high == 1.0 and low < by_engine["slow"]["mean_mask_iou_vs_reference"]
    first_image = [a for a in coco["annotations"] if a["image_id"] == coco["annotations"][0]["image_id"]]
    assert low >= (expected_iou + len(first_image) - 1) / len(first_image) - 1e-12
    assert by_engine["torch"]["mean_mask_iou_interval"] == [1.0, 1.0]
    # AP^r as evaluate gives it on the same files, and the difference between them
    write_json_atomic(other, tmp_path / "other.json")
    write_json_atomic(reference, tmp_path / "reference.json")
    ap_other, ap_reference = (evaluate_coco(annotations, tmp_path / f"{name}.json") for name in ("other", "reference"))
    assert by_engine["slow"]["APr@0.5"] == ap_other["APr@0.5"] and by_engine["torch"]["APr@0.7"] == ap_reference["APr@0.7"]
    difference = float(by_engine["slow"]["diff@0.7 vs torch"].split()[0])
    assert np.isclose(difference, ap_other["APr@0.7"] - ap_reference["APr@0.7"], atol=0.05)


def test_cross_validated_agreement_segments_every_box_once_per_engine_with_its_outer_grid(data_root, tmp_path,
                                                                                         monkeypatch):
    from hypercolumns.data import datasets
    from hypercolumns.pipelines.experiments import nested_cv

    records = load_val_records(data_root)[:6]                 # standing in for the training images
    folds = nested_folds([r.image_id for r in records], 3, 2)
    labels = [("outer", f.outer) for f in folds] + [("inner", f.outer, j) for f in folds for j in range(2)]
    monkeypatch.setattr(datasets, "load_training_records", lambda root: records)
    monkeypatch.setattr(nested_cv, "fold_grids_of", lambda *a, **k: NestedGrids(folds, dict.fromkeys(labels)))
    result = bench_engines.cross_validated_agreement(data_root, None, None, None, tmp_path, device="cpu",
                                                     engines=["torch-nchw", "torch"])
    assert [row["engine"] for row in result["engines"]] == ["torch", "torch-nchw"]   # the reference first
    coco = coco_annotations(records, data_root)
    for row in result["engines"]:   # whole-box "grids" (no model): every engine's masks are the boxes
        assert row["instances"] == len(coco["annotations"]) and row["mean_mask_iou_vs_reference"] == 1.0
        assert row["seconds_per_box"] > 0
    assert result["engines"][1]["diff@0.5 vs torch"].startswith("+0.0")


def test_an_unknown_engine_is_refused_before_any_image_is_read(data_root, tmp_path, monkeypatch):
    import pytest

    from hypercolumns.data import datasets
    from hypercolumns.data.errors import InputError

    monkeypatch.setattr(datasets, "load_training_records", lambda root: pytest.fail("read the training images"))
    with pytest.raises(InputError, match="'torch-fp8' is unknown"):
        bench_engines.cross_validated_agreement(data_root, None, None, None, tmp_path, device="cpu",
                                                engines=["torch-fp8"])
