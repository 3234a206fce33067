"""System 1's candidate features: hand-computed geometry, the training stand-in, stage-one rows."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.box_sampling import image_rng, stratified_locations
from hypercolumns.extract.candidate_features import (candidate_features, candidate_inputs,
                                                     degraded_candidate)
from hypercolumns.extract.features import feature_config, plan_boxes, run_features
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.shards import list_shards, read_rows


def test_a_box_sticking_out_right_by_hand():
    mask = np.zeros((10, 10), bool)
    mask[:, 5:] = True                                  # the right half of the image
    inout, vector = candidate_features(mask, np.array([0.0, 0.0, 20.0, 10.0]))
    # cell x's centre is at image x = (x + 0.5) * 0.4: cells 12..24 fall on columns 5..9
    expected_row = np.r_[np.zeros(12), np.ones(13), np.zeros(25)]
    np.testing.assert_array_equal(inout, np.broadcast_to(expected_row, (50, 50)))
    assert inout.dtype == np.float32
    # each 10 x 10 column covers 2 px: [0, 2), [2, 4) empty, [4, 6) half, [6, 10) full,
    # [10, 20) outside the image
    np.testing.assert_allclose(vector.reshape(10, 10),
                               np.broadcast_to([0, 0, 0.5, 1, 1, 0, 0, 0, 0, 0], (10, 10)))


def test_a_box_sticking_out_left_with_fractional_corners_by_hand():
    mask = np.zeros((8, 9), bool)
    mask[2, 1] = True                                   # one pixel: [1, 2) x [2, 3)
    inout, vector = candidate_features(mask, np.array([-2.4, 1.0, 7.6, 6.0]))
    # centres x = -2.4 + (x + 0.5) * 0.2 lie in [1, 2) for x = 17..21,
    # centres y = 1 + (y + 0.5) * 0.1 lie in [2, 3) for y = 10..19
    expected = np.zeros((50, 50), np.float32)
    expected[10:20, 17:22] = 1
    np.testing.assert_array_equal(inout, expected)
    # 10 x 10 cells are 1 px wide from x = -2.4 and 0.5 px high from y = 1:
    # the pixel covers 0.6 of column 3 ([0.6, 1.6)) and 0.4 of column 4, all of rows 2 and 3
    grid = np.zeros((10, 10))
    grid[2:4, 3], grid[2:4, 4] = 0.6, 0.4
    np.testing.assert_allclose(vector.reshape(10, 10), grid, atol=1e-6)


def test_candidate_inputs_stack_a_batch():
    masks = np.zeros((2, 10, 10), bool)
    masks[1, :, 5:] = True
    boxes = np.array([[0, 0, 10, 10], [0, 0, 20, 10]], float)
    inputs = candidate_inputs(masks, boxes)
    assert inputs["inout"].shape == (2, 1, 50, 50) and inputs["candidate"].shape == (2, 100)
    assert inputs["inout"].dtype == torch.float32 and inputs["inout"][0].sum() == 0
    np.testing.assert_array_equal(inputs["candidate"][1].numpy(),
                                  candidate_features(masks[1], boxes[1])[1])
    with pytest.raises(ValueError, match="2 candidate masks for 1 boxes"):
        candidate_inputs(masks, boxes[:1])


def ellipse(shape, centre, axes):
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_degraded_candidates_are_imperfect_reproducible_and_never_empty():
    mask = ellipse((120, 160), (80, 60), (40, 30))
    candidates = [degraded_candidate(mask, np.random.default_rng(seed)) for seed in range(20)]
    overlaps = np.array([iou(c, mask) for c in candidates])
    assert 0.5 < overlaps.min() and overlaps.max() < 0.99 and overlaps.std() > 0.02
    np.testing.assert_array_equal(degraded_candidate(mask, np.random.default_rng(3)), candidates[3])
    tiny = np.zeros((50, 50), bool)
    tiny[20:22, 20:22] = True
    assert all(degraded_candidate(tiny, np.random.default_rng(seed)).any() for seed in range(10))


def synthetic_records(tmp_path, count=2):
    rng = np.random.default_rng(0)
    records = []
    for index in range(count):
        image = rng.integers(0, 255, size=(90, 120, 3), dtype=np.uint8)
        path = tmp_path / f"img{index}.png"
        cv2.imwrite(str(path), image)
        mask = ellipse((90, 120), (60, 45), (30 + 3 * index, 25))
        records.append(ImageRecord(f"img{index}", path, 90, 120, [Instance(mask, "thing")]))
    return records


def test_stage_one_rows_carry_each_box_candidate(tmp_path, tiny_cnn):
    cnn, _ = tiny_cnn
    plain = LayerSpec.parse("conv4_3").resolve(cnn.network)
    spec = LayerSpec.parse("conv4_3,inout,candidate").resolve(cnn.network)
    records = synthetic_records(tmp_path)
    folders = {}
    for name, layer_spec in (("plain", plain), ("candidates", spec)):
        config = feature_config(cnn, layer_spec, boxes_per_instance=2)
        folders[name] = tmp_path / name
        run_features(records, folders[name], cnn, layer_spec, config, boxes_per_shard=4,
                     batch_size=2, show_progress=False)
    rows = read_rows(list_shards(folders["candidates"])[0])
    plain_rows = read_rows(list_shards(folders["plain"])[0])
    # the candidate is drawn after the locations: the rows sit where a plain spec puts them
    np.testing.assert_array_equal(rows["location"], plain_rows["location"])
    np.testing.assert_array_equal(rows["features"][:, :512], plain_rows["features"][:, :512])
    # recompute box 3's candidate from its generator: locations first, then the candidate
    jobs = plan_boxes(records, config)
    job, box_index = jobs[3], 3
    rng = image_rng(config.seed, f"{records[job.record].image_id}:{job.box.tobytes().hex()}")
    where = stratified_locations(rng, 1, 10)
    candidate = degraded_candidate(records[job.record].instances[0].mask, rng)
    inout, vector = candidate_features(candidate, cnn.expand(job.box[None])[0])
    box_rows = rows["features"][rows["box_index"] == box_index].astype(np.float32)
    np.testing.assert_array_equal(rows["location"][rows["box_index"] == box_index], where)
    np.testing.assert_array_equal(box_rows[:, 512], inout.reshape(-1)[where])
    np.testing.assert_allclose(box_rows[:, 513:613], np.broadcast_to(vector, (100, 100)), atol=1e-3)
    # an imperfect candidate: its bit mostly, not always, agrees with the figure-ground label
    agreement = (rows["features"][:, 512] == rows["labels"]).mean()
    assert 0.8 < agreement < 1.0
    rerun = tmp_path / "rerun"
    run_features(records, rerun, cnn, spec, config, boxes_per_shard=4, batch_size=2,
                 show_progress=False)
    np.testing.assert_array_equal(read_rows(list_shards(rerun)[0])["features"], rows["features"])
    # the shards record how their training candidates were made; another stand-in is refused
    from hypercolumns.extract.candidate_features import standin_source
    from hypercolumns.extract.shards import check_shard, read_config

    assert read_config(list_shards(rerun)[0]).candidate_source == standin_source()
    assert "grow=0.08" in standin_source()
    assert read_config(list_shards(folders["plain"])[0]).candidate_source == "none"
    with pytest.raises(ValueError, match="candidate_source"):
        check_shard(list_shards(rerun)[0], replace(config, candidate_source="mcg"))
